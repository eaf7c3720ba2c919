//! Portcullis for axum and any tower stack.
//!
//! - [`AuthLayer`]: judges each request's `Authorization` header exactly as an API Gateway HTTP API JWT
//!   authorizer would, with the route's scopes, and answers refusals with API Gateway's 401/403 bodies
//!   and `WWW-Authenticate` header. Accepted requests carry a [`Caller`] extension. Every method is
//!   judged, OPTIONS included (a CORS layer placed outside answers preflights, as API Gateway does
//!   when the API has a CORS configuration); HEAD is held to the GET rule, whose handler axum runs.
//! - [`cors::CorsLayer`]: an HTTP API's CORS configuration — preflights answered before routing
//!   and judging, CORS headers on every cross-origin answer.
//! - [`Authenticated`]: the extractor handlers use; a route without the layer refuses (fails closed).
//! - [`runtime`]: what the standalone server needs around a router: request ids, sensitive headers,
//!   tracing, timeouts, `/healthz`, graceful shutdown, JSON or pretty logs.
//! - [`serve`]: the listener every Portcullis server runs on: header timeout, connection bound,
//!   API Gateway's head and body sizes, ambiguous paths refused, each rejection counted.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use portcullis_axum::{AuthLayer, Authenticated};
//! use portcullis_claims::{Authorizer, AuthorizerConfig, OidcMapping, VerifierOptions};
//!
//! async fn me(Authenticated(caller): Authenticated) -> String {
//!     caller.identity.subject.clone().unwrap_or_default()
//! }
//!
//! let config = AuthorizerConfig::new("https://issuer.example.com", ["my-api"]).unwrap();
//! let authorizer = Authorizer::new([config], VerifierOptions::default()).unwrap();
//! let layer = AuthLayer::new(authorizer, Arc::new(OidcMapping), |_method, _path| vec![]);
//! let app: Router = Router::new().route("/me", get(me)).route_layer(layer);
//! ```

#![warn(missing_docs)]

pub mod cors;
pub mod runtime;
pub mod serve;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{Method, Request};
use axum::response::Response;
use portcullis_claims::http::{Admission, Inbound, Route, unadmitted};
use portcullis_claims::metrics::Metrics;
use portcullis_claims::{Authorizer, Caller, Gate, IdentityMapping};
use tower::{Layer, Service};

/// A tower layer that admits requests as API Gateway's JWT authorizer does, through the one
/// [`Admission`] every runtime calls.
#[derive(Clone, Debug)]
pub struct AuthLayer {
    admission: Admission,
}

impl AuthLayer {
    /// A layer judging with `authorizer`, mapping claims with `mapping`, and asking `scopes` which
    /// scopes each request requires, given its method and path as the client sent it (`POST`,
    /// `/user/profile`), as API Gateway matches a route: `portcullis_config::Routes::scopes`
    /// matches `/items/42` to the route `GET /items/{id}`.
    pub fn new(
        authorizer: Authorizer,
        mapping: Arc<dyn IdentityMapping>,
        scopes: impl Fn(&Method, &str) -> Vec<String> + Send + Sync + 'static,
    ) -> AuthLayer {
        AuthLayer {
            admission: Admission::verifying(authorizer, mapping, scopes),
        }
    }

    /// Counts every decision in `metrics` (by route, issuer and reason, with its latency). Each
    /// refusal is logged either way.
    pub fn with_metrics(self, metrics: Metrics) -> AuthLayer {
        AuthLayer {
            admission: self.admission.with_metrics(metrics),
        }
    }

    /// The authorizer (to hydrate its keys at start-up).
    pub fn authorizer(&self) -> &Authorizer {
        self.admission
            .authorizer()
            .expect("an AuthLayer's admission verifies")
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            admission: self.admission.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around a router or handler.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    admission: Admission,
}

impl<S> std::fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthService")
    }
}

impl<S> Service<Request<Body>> for AuthService<S>
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

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        // The ready inner service handles this request; a fresh clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let admission = self.admission.clone();
        Box::pin(async move {
            // Every method is judged, OPTIONS included: API Gateway answers a CORS preflight itself
            // only when the API has a CORS configuration, and a CORS layer placed outside this one
            // ([`cors::CorsLayer`]) does the same here.
            let method = request.method();
            let matched = request.extensions().get::<MatchedPath>();
            let name = || route_name(method, matched);
            let inbound = Inbound {
                method,
                uri: request.uri(),
                headers: request.headers(),
                route: Route::Lookup { name: &name },
            };
            match admission.admit(&inbound).await {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                    inner.call(request).await
                }
                Err(refusal) => Ok(refusal),
            }
        })
    }
}

/// The route a request is counted and logged under, named as API Gateway names route keys: its
/// method and the path template axum matched (`GET /items/{id}`), or `$default` when no route
/// matched (the layer put on a whole router). A method outside the standard ones is `OTHER`, so
/// no label is a sender's free text.
fn route_name(method: &Method, matched: Option<&MatchedPath>) -> String {
    let method = match *method {
        Method::GET
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::HEAD
        | Method::OPTIONS => method.as_str(),
        _ => "OTHER",
    };
    match matched {
        Some(path) => format!("{method} {}", path.as_str()),
        None => "$default".to_owned(),
    }
}

/// The authenticated caller. A handler reached without an admission in front of it (no
/// [`AuthLayer`] or Lambda gateway layer on its route) refuses as the request's gate refuses a
/// missing token (fail closed): the [`Gate`] in the request's extensions (the tutorial's service
/// puts its configured gate there), else an HTTP API's 401.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Caller>() {
            Some(caller) => Ok(Authenticated(caller.clone())),
            None => {
                let gate = parts.extensions.get::<Gate>().copied().unwrap_or_default();
                let route = route_name(&parts.method, parts.extensions.get::<MatchedPath>());
                Err(unadmitted(gate, &route))
            }
        }
    }
}

/// The README's examples, compiled (and those without `no_run` run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
