//! Your own `lambda_http` function checking tokens itself (verify mode): for a function URL, an ALB,
//! or any trigger without an API Gateway JWT authorizer in front. Keys are fetched during init, so
//! the first request does not wait for them.
//!
//! Set `ISSUER` and `AUDIENCE` in the function's environment; build with `cargo lambda build` or
//! `portcullis build`'s packaging, and test it locally with
//! `portcullis gateway --lambda target/debug/lambda-verify` (the gateway's own authorizer runs too).

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use portcullis_axum::{AuthLayer, Authenticated};
use portcullis_claims::{Authorizer, AuthorizerConfig, OidcMapping, VerifierOptions};

async fn hello(Authenticated(caller): Authenticated) -> String {
    format!(
        "hello {}\n",
        caller.identity.subject.as_deref().unwrap_or_default()
    )
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    portcullis_lambda::init_logging();
    let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let config = AuthorizerConfig::new(&var("ISSUER")?, [var("AUDIENCE")?])?;
    let authorizer = Authorizer::new([config], VerifierOptions::default())?;
    authorizer.hydrate().await?;
    let layer = AuthLayer::new(authorizer, Arc::new(OidcMapping), |_, _| Vec::new());
    let app = Router::new().route("/hello", get(hello)).route_layer(layer);
    portcullis_lambda::run(app).await
}
