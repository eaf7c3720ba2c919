//! The HTTP API in front of the integration: route matching, the JWT authorizer, then the route's
//! integration (Lambda proxy through the Runtime API, or HTTP proxy).

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_claims::http::{Admission, Inbound};
use portcullis_claims::{Authorizer, Gate, OidcMapping};
use portcullis_config::Routes;
use serde_json::json;

use crate::runtime_api::Queue;
use crate::{INTEGRATION_TIMEOUT, Integration, event, upstream};

/// Largest request body the gateway forwards (API Gateway: 10 MB).
const MAX_BODY: usize = 10 * 1024 * 1024;

pub(crate) struct Gateway {
    admission: Admission,
    routes: Routes,
    queue: Arc<Queue>,
    domain: String,
    integration: Integration,
    client: reqwest::Client,
}

impl Gateway {
    pub(crate) fn new(
        authorizer: Authorizer,
        routes: Routes,
        queue: Arc<Queue>,
        domain: String,
        integration: Integration,
    ) -> std::io::Result<Arc<Gateway>> {
        // API Gateway hands a backend's redirect to the client; it never follows one itself.
        // No proxy from the environment: the backend is on this machine, and a proxy would see
        // every forwarded token.
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(INTEGRATION_TIMEOUT)
            .build()
            .map_err(std::io::Error::other)?;
        // The route is matched here, as API Gateway matches it, so the admission has no rule table
        // of its own. The integration reads only the claims, never the mapped identity.
        let admission = Admission::matched_routes_only(authorizer, Arc::new(OidcMapping));
        Ok(Arc::new(Gateway {
            admission,
            routes,
            queue,
            domain,
            integration,
            client,
        }))
    }
}

pub(crate) fn router(
    gateway: Arc<Gateway>,
    cors: Option<portcullis_config::CorsSettings>,
) -> Router {
    let router = Router::new().fallback(handle).with_state(gateway);
    match cors {
        Some(cors) => router.layer(portcullis_axum::cors::CorsLayer::new(cors)),
        None => router,
    }
}

/// API Gateway's own answers: `{"message": …}` as JSON.
pub(crate) fn api_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "message": message }).to_string(),
    )
        .into_response()
}

/// Whether `path` could mean another path to a backend that decodes or normalises it: a `.` or
/// `..` segment (also as `%2e`), a backslash, or an encoded slash or backslash. The route is chosen
/// on the path as sent, so such a path is refused rather than matched to one route and served by
/// another (API Gateway's own handling of them is undocumented; refusing is the safe emulation).
pub(crate) fn ambiguous_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.contains('\\')
        || lower.contains("%2f")
        || lower.contains("%5c")
        || lower
            .split('/')
            .any(|segment| matches!(segment.replace("%2e", ".").as_str(), "." | ".."))
}

async fn handle(State(gateway): State<Arc<Gateway>>, request: Request<Body>) -> Response {
    let method = request.method().clone();
    if ambiguous_path(request.uri().path()) {
        return api_error(StatusCode::BAD_REQUEST, "Bad Request");
    }
    let Some(route) = gateway
        .routes
        .find(method.as_str(), request.uri().path())
        .cloned()
    else {
        return api_error(StatusCode::NOT_FOUND, "Not Found");
    };
    // OPTIONS is judged like any method: a CORS preflight was answered before routing when the
    // API has a CORS configuration ([`router`]); otherwise it is routed and judged.
    let mut caller = None;
    if route.is_protected() {
        let key = route.key();
        let inbound = Inbound {
            method: &method,
            uri: request.uri(),
            headers: request.headers(),
            route: portcullis_claims::http::Route::Matched {
                key: &key,
                scopes: route.scopes(),
            },
        };
        match gateway.admission.admit(&inbound).await {
            Ok(admitted) => caller = Some(admitted),
            Err(refusal) => return refusal,
        }
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return api_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    match &gateway.integration {
        Integration::Http(base) => {
            let request = upstream::Forward {
                route: &route,
                method: &parts.method,
                uri: &parts.uri,
                headers: &parts.headers,
                body,
                caller: caller.as_ref(),
                request_id: &request_id,
            };
            upstream::forward(&gateway.client, base, request).await
        }
        Integration::Lambda => {
            let event = match gateway.admission.gate() {
                Gate::HttpApi => event::event(
                    &gateway.domain,
                    &route.key(),
                    &parts.method,
                    &parts.uri,
                    &parts.headers,
                    &body,
                    caller.as_ref(),
                    &request_id,
                ),
                Gate::RestApi => event::rest_event(
                    &gateway.domain,
                    // A REST API's catch-all is the greedy `{proxy+}` resource.
                    route.path().unwrap_or("/{proxy+}"),
                    &parts.method,
                    &parts.uri,
                    &parts.headers,
                    &body,
                    caller.as_ref(),
                    &request_id,
                ),
                Gate::Alb => event::alb_event(&parts.method, &parts.uri, &parts.headers, &body),
            };
            let (id, wait) = gateway.queue.enqueue(event);
            let mut response = match tokio::time::timeout(INTEGRATION_TIMEOUT, wait).await {
                Ok(Ok(Ok(response))) => event::lambda_response(&response),
                Ok(Ok(Err(error))) => {
                    tracing::error!(%error, "the function reported an error");
                    api_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
                }
                _ => {
                    gateway.queue.forget(&id);
                    api_error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
                }
            };
            // API Gateway names each request in this header; here it also finds the event the
            // function was handed (`Emulator::events`).
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert("apigw-requestid", value);
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ambiguous_path;

    #[test]
    fn paths_that_a_backend_could_read_as_another_path_are_ambiguous() {
        for path in [
            "/public/../admin",
            "/public/%2e%2e/admin",
            "/public/.%2E/admin",
            "/public/%2e/admin",
            "/./admin",
            "/public/..\\admin",
            "/public/a%2fb",
            "/public/a%5Cb",
            "/..",
        ] {
            assert!(ambiguous_path(path), "{path}");
        }
        for path in [
            "/",
            "/admin",
            "/a/b.c",
            "/a/..b",
            "/a/%2e%2e%2e",
            "/a%20b/c",
        ] {
            assert!(!ambiguous_path(path), "{path}");
        }
    }
}
