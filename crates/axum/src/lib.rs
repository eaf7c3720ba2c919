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

pub mod cors;
pub mod runtime;

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
use portcullis_claims::metrics::{Decision, Metrics};
use portcullis_claims::{AuthError, Authorizer, Caller, IdentityMapping};
use tower::{Layer, Service};

pub use portcullis_claims::http::ScopeRule;

/// A tower layer that authorizes requests as API Gateway's JWT authorizer does.
#[derive(Clone)]
pub struct AuthLayer {
    state: Arc<AuthState>,
}

#[derive(Clone)]
struct AuthState {
    authorizer: Authorizer,
    mapping: Arc<dyn IdentityMapping>,
    scopes: ScopeRule,
    metrics: Option<Metrics>,
}

impl std::fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLayer")
            .field("authorizer", &self.state.authorizer)
            .finish_non_exhaustive()
    }
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
            state: Arc::new(AuthState {
                authorizer,
                mapping,
                scopes: Arc::new(scopes),
                metrics: None,
            }),
        }
    }

    /// Counts every decision in `metrics` (by route, issuer and reason, with its latency). Each
    /// refusal is logged either way ([`Decision::log`]).
    pub fn with_metrics(self, metrics: Metrics) -> AuthLayer {
        // Judgements are timed, and cache hits counted, only for metrics.
        self.state.authorizer.count_statistics();
        let mut state = (*self.state).clone();
        state.metrics = Some(metrics);
        AuthLayer {
            state: Arc::new(state),
        }
    }

    /// The authorizer (to hydrate its keys at start-up).
    pub fn authorizer(&self) -> &Authorizer {
        &self.state.authorizer
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            state: self.state.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around a router or handler.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    state: Arc<AuthState>,
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
        let state = self.state.clone();
        Box::pin(async move {
            // Every method is judged, OPTIONS included: API Gateway answers a CORS preflight itself
            // only when the API has a CORS configuration, and a CORS layer placed outside this one
            // ([`cors::CorsLayer`]) does the same here. The rule is looked up by the request's own
            // path, as API Gateway matches it (not by the route the service matched), and HEAD is
            // held to the GET rule, whose handler axum runs.
            let method = portcullis_claims::http::rule_method(request.method());
            let scopes = (state.scopes)(&method, request.uri().path());
            let judgement = state
                .authorizer
                .judge_request(request.uri(), request.headers(), &scopes)
                .await;
            if state.metrics.is_some() || (judgement.verdict.is_err() && Decision::logged()) {
                let route = route_name(&request);
                Metrics::observe(state.metrics.as_ref(), &Decision::of(&route, &judgement));
            }
            match judgement.verdict {
                Ok(claims) => {
                    let caller = Caller::remembered(claims, &state.mapping, !scopes.is_empty());
                    request.extensions_mut().insert(caller);
                    inner.call(request).await
                }
                Err(refusal) => Ok(portcullis_claims::http::refusal_for(
                    state.authorizer.gate(),
                    &refusal,
                )),
            }
        })
    }
}

/// The route a request is counted and logged under, named as API Gateway names route keys: its
/// method and the path template axum matched (`GET /items/{id}`), or `$default` when no route
/// matched (the layer put on a whole router). A method outside the standard ones is `OTHER`, so
/// no label is a sender's free text.
fn route_name<B>(request: &Request<B>) -> String {
    let method = match *request.method() {
        Method::GET
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::HEAD
        | Method::OPTIONS => request.method().as_str(),
        _ => "OTHER",
    };
    match request.extensions().get::<MatchedPath>() {
        Some(path) => format!("{method} {}", path.as_str()),
        None => "$default".to_owned(),
    }
}

/// API Gateway's answer to a refusal: status, `{"message":…}` body, `WWW-Authenticate`
/// ([`portcullis_claims::http::refusal`], the one every runtime sends).
pub fn refusal_response(refusal: &AuthError) -> Response {
    portcullis_claims::http::refusal(refusal)
}

/// The authenticated caller; refuses with 401 when no authorization layer ran (fail closed).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Caller>() {
            Some(caller) => Ok(Authenticated(caller.clone())),
            None => {
                tracing::error!("a protected handler ran without an authorization layer; refusing");
                Err(refusal_response(&AuthError::MissingToken))
            }
        }
    }
}

/// The README's examples, compiled (and those without `no_run` run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
