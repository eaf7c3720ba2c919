//! [`CorsLayer`]: what an HTTP API with a CORS configuration does before anything else — it
//! answers a preflight itself (`204`; routes and authorizers never see it) and puts the configured
//! headers on every answer to a cross-origin request, replacing any CORS headers from behind it.
//! See [`portcullis_claims::cors`] for the rules.
//!
//! Place it outside [`AuthLayer`](crate::AuthLayer) and the routing, so that a refusal carries the
//! headers a browser needs to let the page read it.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use portcullis_claims::cors::CorsConfiguration;
use tower::{Layer, Service};

/// Answers CORS preflights and adds CORS headers, as API Gateway does for an API with `cors`.
#[derive(Debug, Clone)]
pub struct CorsLayer {
    cors: Arc<CorsConfiguration>,
}

impl CorsLayer {
    /// The layer for `cors`.
    pub fn new(cors: CorsConfiguration) -> CorsLayer {
        CorsLayer {
            cors: Arc::new(cors),
        }
    }
}

impl<S> Layer<S> for CorsLayer {
    type Service = CorsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CorsService {
            inner,
            cors: self.cors.clone(),
        }
    }
}

/// The service [`CorsLayer`] wraps.
#[derive(Debug, Clone)]
pub struct CorsService<S> {
    inner: S,
    cors: Arc<CorsConfiguration>,
}

fn text(headers: &HeaderMap, name: HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn set(headers: &mut HeaderMap, answer: Vec<portcullis_claims::cors::Header>) {
    for (name, value) in answer {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.append(HeaderName::from_static(name), value);
        }
    }
}

impl<S> Service<Request<Body>> for CorsService<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let cors = self.cors.clone();
        Box::pin(async move {
            let headers = request.headers();
            let origin = text(headers, header::ORIGIN).map(str::to_owned);
            // A preflight: OPTIONS with Origin and Access-Control-Request-Method. Answered here,
            // allowed or not; without the CORS headers the browser does not send the request.
            if request.method() == Method::OPTIONS
                && let Some(origin) = &origin
                && let Some(method) = text(headers, header::ACCESS_CONTROL_REQUEST_METHOD)
            {
                let asked = text(headers, header::ACCESS_CONTROL_REQUEST_HEADERS);
                let mut response = StatusCode::NO_CONTENT.into_response();
                if let Some(answer) = cors.preflight(origin, method, asked) {
                    set(response.headers_mut(), answer);
                }
                return Ok(response);
            }
            let mut response = inner.call(request).await?;
            // With a CORS configuration API Gateway ignores the integration's own CORS headers.
            let headers = response.headers_mut();
            let theirs: Vec<HeaderName> = headers
                .keys()
                .filter(|name| name.as_str().starts_with("access-control-"))
                .cloned()
                .collect();
            for name in theirs {
                headers.remove(name);
            }
            if let Some(origin) = &origin {
                set(headers, cors.response_headers(origin));
            }
            Ok(response)
        })
    }
}
