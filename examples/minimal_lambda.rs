//! The smallest `lambda_http` function that answers `GET /user/profile` with JSON: no authorizer,
//! no store. `portcullis bench` builds it in the same run as the service and reports the service's
//! package size and cold start as ratios of this one's.

use lambda_http::{Body, Error, Request, Response, service_fn};

async fn profile(_: Request) -> Result<Response<Body>, Error> {
    let body = serde_json::json!({ "profile": null }).to_string();
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from(body))?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(profile)).await
}
