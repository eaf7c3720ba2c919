//! The HTTP API in front of the integration: route matching, the JWT authorizer, then the route's
//! integration (Lambda proxy through the Runtime API, or HTTP proxy).

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::Response;
use portcullis_axum::serve::gateway_answer as api_error;
use portcullis_claims::http::{Admission, Inbound};
use portcullis_claims::{Gate, OidcMapping};
use portcullis_config::Routes;

use crate::runtime_api::Queue;
use crate::{INTEGRATION_TIMEOUT, Integration, Setup, event, upstream};

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
        setup: Setup,
        queue: Arc<Queue>,
        domain: String,
    ) -> std::io::Result<Arc<Gateway>> {
        let Setup {
            authorizer,
            routes,
            integration,
            metrics,
            ..
        } = setup;
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
        let mut admission = Admission::matched_routes_only(authorizer, Arc::new(OidcMapping));
        if let Some(metrics) = metrics {
            admission = admission.with_metrics(metrics);
        }
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

async fn handle(State(gateway): State<Arc<Gateway>>, request: Request<Body>) -> Response {
    // Ambiguous paths and oversized requests were answered by the listener before routing
    // (`portcullis_axum::serve`).
    let method = request.method().clone();
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
            // The listener bounds the body's size and the time it takes to arrive.
            let body = match to_bytes(body, portcullis_axum::serve::BODY_BYTES).await {
                Ok(body) => body,
                Err(error) if portcullis_axum::serve::over_the_body_limit(&error) => {
                    return api_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
                }
                // Too slow (the listener's body timeout) or gone: API Gateway's answer is U.
                Err(_) => return api_error(StatusCode::REQUEST_TIMEOUT, "Request Timeout"),
            };
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
