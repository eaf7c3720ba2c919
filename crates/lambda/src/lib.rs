//! Portcullis on AWS Lambda, through `lambda_http`.
//!
//! Two ways to know the caller:
//!
//! - **gateway** (behind an HTTP API JWT authorizer): API Gateway has verified the token and passes its
//!   claims in `requestContext.authorizer.jwt.claims` and `scopes` (payload 2.0; payload 1.0 puts them
//!   at `requestContext.authorizer.claims`). [`GatewayLayer`] turns them into the same
//!   [`portcullis_claims::Caller`] the standalone server builds, and refuses a request that carries
//!   none: a route left without an authorizer must not become public. Behind a REST API's JWT
//!   authorizer (JSON-typed claims) or an ALB's `jwt-validation` action (the token passed on
//!   untouched), [`GatewayLayer::behind`] names the gate, and only that gate's events are trusted.
//! - **verify** (function URLs, ALB, or no authorizer): the function checks the `Authorization`
//!   header itself with `portcullis-axum`'s `AuthLayer`, keys hydrated during init.
//!
//! [`run`] serves any tower service (an axum `Router`) on the Lambda Runtime API. Before `lambda_http`
//! reads an event, claim maps are normalised leniently: a number, boolean, list or object where API
//! Gateway promises a string is rendered as API Gateway renders it, so one odd claim never makes the
//! whole event fail to deserialize.

#![warn(missing_docs)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::{Body, Request, Response};
use lambda_runtime::{Diagnostic, LambdaEvent};
use portcullis_claims::http::{Admission, Inbound, Route};
use portcullis_claims::metrics::Metrics;
use portcullis_claims::{Claims, Gate, IdentityMapping, IdentitySource, gateway_value};
use serde_json::Value;
use tower::{Layer, Service};

/// Rewrites the authorizer claims of a raw API Gateway event so they always read as API Gateway
/// documents them: in `authorizer.jwt` (payload 2.0) and `authorizer` (payload 1.0), non-string claim
/// values become API Gateway's string rendering, nulls are dropped, and scopes that are not a list of
/// strings are dropped.
pub fn normalize_event(event: &mut Value) {
    // A REST API's proxy event (no `version`, unlike both HTTP API payloads) carries the JWT
    // authorizer's claims with their JSON types: kept as they are, read as they are.
    let rest = event.get("version").is_none() && event.get("httpMethod").is_some();
    let Some(authorizer) = event
        .pointer_mut("/requestContext/authorizer")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if !rest {
        normalize_claims(authorizer);
    }
    if let Some(jwt) = authorizer.get_mut("jwt").and_then(Value::as_object_mut) {
        normalize_claims(jwt);
    }
}

fn normalize_claims(holder: &mut serde_json::Map<String, Value>) {
    match holder.get_mut("claims") {
        Some(Value::Object(claims)) => {
            let rendered: serde_json::Map<String, Value> = claims
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), Value::String(gateway_value(v)?))))
                .collect();
            *claims = rendered;
        }
        Some(_) => {
            holder.remove("claims");
        }
        None => {}
    }
    match holder.get_mut("scopes") {
        Some(Value::Array(scopes)) => scopes.retain(Value::is_string),
        Some(Value::Null) | None => {}
        Some(_) => {
            holder.insert("scopes".into(), Value::Null);
        }
    }
}

/// The claims (and scopes) the gate in front of the function vouched for, if any; `None` for an
/// event that gate does not send, so a function deployed behind one gate never trusts the shape
/// of another's event.
///
/// - HTTP API: `authorizer.jwt` (payload 2.0) or `authorizer.claims` (payload 1.0). The context
///   holds only API Gateway's string rendering (a list `["Everyone", "Not admin"]` arrives as
///   `"[Everyone Not admin]"`), so the exact claims are taken from the token in the gate's
///   identity `source` when — and only when — it renders to exactly that context (the token the
///   authorizer verified); otherwise the rendering is kept as it is, never split into guessed
///   members.
/// - REST API: `authorizer.claims`, each top-level claim with its JSON type: the claims as they are.
/// - ALB: the request as it came, the token untouched in `Authorization`: the claims are read from
///   it ([`Claims::from_forwarded_token`]). Only an ALB event, and only with `gate` the ALB: every
///   listener rule that forwards to the function must have the `jwt-validation` action.
pub fn gateway_claims_behind<B>(
    request: &http::Request<B>,
    gate: Gate,
    source: &IdentitySource,
) -> Option<(Claims, Option<Vec<String>>)> {
    let context = request.extensions().get::<RequestContext>()?;
    // The gate's identity source, read as the gate reads it (a repeated one is none).
    let token = portcullis_claims::http::identity(request.uri(), request.headers(), source)
        .ok()
        .flatten();
    match (gate, context) {
        (Gate::Alb, RequestContext::Alb(_)) => {
            return Claims::from_forwarded_token(&token?).map(|claims| (claims, None));
        }
        (Gate::Alb, _) | (_, RequestContext::Alb(_)) => return None,
        _ => {}
    }
    let authorizer = context.authorizer()?;
    let exact = |rendered: std::collections::BTreeMap<String, String>| {
        token
            .as_deref()
            .and_then(|text| Claims::from_verified_header(text, &rendered))
            .unwrap_or_else(|| Claims::from_gateway_rendering(&rendered))
    };
    if let Some(jwt) = authorizer.jwt.as_ref().filter(|jwt| !jwt.claims.is_empty()) {
        if gate != Gate::HttpApi {
            return None;
        }
        let rendered = jwt
            .claims
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        return Some((exact(rendered), jwt.scopes.clone()));
    }
    let claims = authorizer
        .fields
        .get("claims")?
        .as_object()
        .filter(|c| !c.is_empty())?;
    if !claims.values().all(Value::is_string) {
        // Only a REST API's authorizer passes JSON types (the HTTP API payload 1.0 renders
        // every claim as a string, and `normalize_event` keeps it so).
        return match gate {
            Gate::RestApi => Some((Claims::from_json(Value::Object(claims.clone()))?, None)),
            _ => None,
        };
    }
    let strings = claims
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect();
    let scopes = authorizer
        .fields
        .get("scopes")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        });
    Some((exact(strings), scopes))
}

pub use lambda_http::http;

/// Trusts what the gate in front of the function vouched for (mode `gateway`), through the one
/// [`Admission`] every runtime calls: a request without claims is refused with 401, and a route's
/// configured scopes are checked again (403), so a misconfigured API fails closed.
#[derive(Clone, Debug)]
pub struct GatewayLayer {
    admission: Admission,
}

impl GatewayLayer {
    /// Maps gateway claims with `mapping`; `scopes` names each route's required scopes. Behind an
    /// HTTP API, its token in `Authorization`, until [`GatewayLayer::behind`] says otherwise.
    pub fn new(
        mapping: Arc<dyn IdentityMapping>,
        scopes: impl Fn(&http::Method, &str) -> Vec<String> + Send + Sync + 'static,
    ) -> GatewayLayer {
        GatewayLayer::behind(
            Gate::HttpApi,
            IdentitySource::default(),
            Vec::new(),
            mapping,
            scopes,
        )
    }

    /// Trusts `gate`'s events only, its token read from `source` ([`gateway_claims_behind`]): the
    /// gate and identity source the function is deployed behind. `issuers` are the configured
    /// issuers, the only ones a decision is counted under.
    pub fn behind(
        gate: Gate,
        source: IdentitySource,
        issuers: Vec<String>,
        mapping: Arc<dyn IdentityMapping>,
        scopes: impl Fn(&http::Method, &str) -> Vec<String> + Send + Sync + 'static,
    ) -> GatewayLayer {
        GatewayLayer {
            admission: Admission::vouched(gate, source, issuers, mapping, scopes),
        }
    }

    /// Counts every decision in `metrics`, by the route API Gateway matched, the issuer (the
    /// claims' `iss` when it is a configured one, else none) and reason. Each refusal is logged
    /// either way.
    pub fn with_metrics(self, metrics: Metrics) -> GatewayLayer {
        GatewayLayer {
            admission: self.admission.with_metrics(metrics),
        }
    }
}

/// The route a Lambda event names, as API Gateway writes route keys: payload 2.0's `routeKey`,
/// payload 1.0's method and resource, else `$default` (a function URL, an ALB).
fn route_name(context: Option<&RequestContext>) -> String {
    let named = match context {
        Some(RequestContext::ApiGatewayV2(context)) => context.route_key.clone(),
        Some(RequestContext::ApiGatewayV1(context)) => context
            .resource_path
            .as_ref()
            .map(|resource| format!("{} {resource}", context.http_method)),
        _ => None,
    };
    named.unwrap_or_else(|| "$default".to_owned())
}

impl<S> Layer<S> for GatewayLayer {
    type Service = GatewayService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GatewayService {
            inner,
            admission: self.admission.clone(),
        }
    }
}

/// The service of [`GatewayLayer`].
#[derive(Clone)]
pub struct GatewayService<S> {
    inner: S,
    admission: Admission,
}

impl<S> std::fmt::Debug for GatewayService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GatewayService")
    }
}

impl<S, B, ResBody> Service<http::Request<B>> for GatewayService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        // Every method is judged: OPTIONS reaches the function only through a route (API
        // Gateway answers CORS preflights itself when the API has a CORS configuration).
        let admission = &self.admission;
        let vouched =
            gateway_claims_behind(&request, admission.gate(), admission.identity_source());
        let context = request.extensions().get::<RequestContext>();
        let name = || route_name(context);
        let inbound = Inbound {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            route: Route::Lookup { name: &name },
        };
        let admitted = admission.admit_vouched(&inbound, vouched);
        Box::pin(async move {
            match admitted {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                    inner.call(request).await
                }
                Err(refusal) => Ok(refusal),
            }
        })
    }
}

/// Serves `service` on the Lambda Runtime API, normalising each event first (see [`normalize_event`]).
pub async fn run<S, R>(service: S) -> Result<(), lambda_runtime::Error>
where
    S: Service<Request, Response = R, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
    R: lambda_http::IntoResponse + 'static,
{
    lambda_runtime::run(Lenient {
        adapter: lambda_http::Adapter::from(service),
    })
    .await
}

/// Normalises the raw event, then hands it to `lambda_http`'s own adapter.
struct Lenient<A> {
    adapter: A,
}

impl<A> Service<LambdaEvent<Value>> for Lenient<A>
where
    A: Service<LambdaEvent<LambdaRequest>, Error = Infallible>,
    A::Future: Send + 'static,
    A::Response: Send + 'static,
{
    type Response = A::Response;
    type Error = Diagnostic;
    type Future = Pin<Box<dyn Future<Output = Result<A::Response, Diagnostic>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.adapter.poll_ready(cx).map_err(|never| match never {})
    }

    fn call(&mut self, event: LambdaEvent<Value>) -> Self::Future {
        let LambdaEvent {
            mut payload,
            context,
        } = event;
        normalize_event(&mut payload);
        match serde_json::from_value::<LambdaRequest>(payload) {
            Ok(request) => {
                let future = self.adapter.call(LambdaEvent::new(request, context));
                Box::pin(async move { future.await.map_err(|never| match never {}) })
            }
            Err(error) => Box::pin(async move {
                Err(Diagnostic {
                    error_type: "UnsupportedEvent".into(),
                    error_message: format!("not an API Gateway or ALB HTTP event: {error}"),
                })
            }),
        }
    }
}

/// The response type `lambda_http` sends back.
pub type HttpResponse = Response<Body>;

/// How the function logs: `AWS_LAMBDA_LOG_FORMAT` and `AWS_LAMBDA_LOG_LEVEL`, which Lambda sets from
/// the function's logging configuration ("Configuring advanced logging controls": a custom runtime
/// reads them itself), then `RUST_LOG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// JSON lines (`JSON`, and our default when Lambda sets no format) or plain text (`Text`).
    pub json: bool,
    /// The tracing filter: a level from `AWS_LAMBDA_LOG_LEVEL` (`FATAL` is `error`), else `RUST_LOG`,
    /// else `info`.
    pub filter: String,
}

impl LogSettings {
    /// The settings for these variables' values.
    pub fn from_vars(
        format: Option<&str>,
        level: Option<&str>,
        rust_log: Option<&str>,
    ) -> LogSettings {
        let json = !format.is_some_and(|f| f.trim().eq_ignore_ascii_case("text"));
        let level = level.map(str::trim).filter(|l| !l.is_empty()).map(|l| {
            match l.to_ascii_uppercase().as_str() {
                "TRACE" => "trace",
                "DEBUG" => "debug",
                "WARN" => "warn",
                "ERROR" | "FATAL" => "error",
                _ => "info",
            }
            .to_owned()
        });
        let filter = level
            .or_else(|| {
                rust_log
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "info".to_owned());
        LogSettings { json, filter }
    }

    /// The settings of this process's environment.
    pub fn from_env() -> LogSettings {
        let var = |name: &str| std::env::var(name).ok();
        LogSettings::from_vars(
            var("AWS_LAMBDA_LOG_FORMAT").as_deref(),
            var("AWS_LAMBDA_LOG_LEVEL").as_deref(),
            var("RUST_LOG").as_deref(),
        )
    }
}

/// Installs the global tracing subscriber as [`LogSettings::from_env`] says (logs to stderr, which
/// Lambda sends to CloudWatch Logs).
pub fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let settings = LogSettings::from_env();
    let filter = settings
        .filter
        .parse::<tracing_subscriber::filter::Targets>()
        .unwrap_or_else(|_| {
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing_subscriber::filter::LevelFilter::INFO)
        });
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr);
    let _ = if settings.json {
        builder
            .json()
            .flatten_event(true)
            .finish()
            .with(filter)
            .try_init()
    } else {
        builder
            .with_ansi(false)
            .compact()
            .finish()
            .with(filter)
            .try_init()
    };
}

#[cfg(test)]
mod log_tests {
    use super::LogSettings;

    #[test]
    fn lambda_s_logging_configuration_wins_over_rust_log() {
        let cases = [
            // (AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL, RUST_LOG) → (json, filter)
            ((None, None, None), (true, "info")),
            ((Some("JSON"), Some("DEBUG"), Some("warn")), (true, "debug")),
            (
                (Some("Text"), None, Some("portcullis=trace")),
                (false, "portcullis=trace"),
            ),
            ((Some("text"), Some("FATAL"), None), (false, "error")),
            ((None, Some("WARN"), None), (true, "warn")),
            ((None, Some(""), Some("debug")), (true, "debug")),
            ((Some("Yaml"), Some("TRACE"), None), (true, "trace")),
        ];
        for ((format, level, rust_log), (json, filter)) in cases {
            assert_eq!(
                LogSettings::from_vars(format, level, rust_log),
                LogSettings {
                    json,
                    filter: filter.to_owned()
                },
                "{format:?} {level:?} {rust_log:?}"
            );
        }
    }
}

/// The README's examples, compiled (and those without `no_run` run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
