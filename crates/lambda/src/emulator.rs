//! A local stand-in for what sits around a deployed function: an HTTP API with a JWT authorizer, and
//! the Lambda Runtime API the function's `bootstrap` polls. Both listen on 127.0.0.1.
//!
//! - The gateway matches the request to a route (`404 {"message":"Not Found"}` otherwise), runs the
//!   JWT authorizer on protected routes with [`portcullis_claims::Authorizer`] (answering 401/403
//!   itself, as API Gateway does), and builds a payload-2.0 event: headers lower-cased and joined with
//!   commas, cookies split out, `requestContext.authorizer.jwt.{claims,scopes}` rendered as API Gateway
//!   renders them.
//! - The Runtime API speaks the documented protocol (`/2018-06-01/runtime/invocation/next`,
//!   `…/{id}/response`, `…/{id}/error`, `/2018-06-01/runtime/init/error`): one long poll hands out the
//!   next event, the function posts the answer back, and the gateway turns it into the HTTP response.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use portcullis_claims::{Authorizer, Caller, OidcMapping};
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

/// How long the gateway waits for the function (API Gateway's HTTP API limit is 30 s).
pub const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request body the gateway forwards (API Gateway: 10 MB).
const MAX_BODY: usize = 10 * 1024 * 1024;

/// A route of the emulated HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRoute {
    /// `GET`, `POST`, … or `ANY`.
    pub method: String,
    /// The exact path, e.g. `/user/profile`.
    pub path: String,
    /// Whether the JWT authorizer protects it.
    pub authorized: bool,
    /// Authorization scopes (at least one needed), for protected routes.
    pub scopes: Vec<String>,
}

impl ApiRoute {
    /// Routes from a `(method, path, protected)` table, each protected route's scopes from
    /// `scopes(method, path)`.
    pub fn table(
        routes: &[(&str, &str, bool)],
        scopes: impl Fn(&str, &str) -> Vec<String>,
    ) -> Vec<ApiRoute> {
        routes
            .iter()
            .map(|(method, path, authorized)| ApiRoute {
                method: (*method).to_owned(),
                path: (*path).to_owned(),
                authorized: *authorized,
                scopes: if *authorized {
                    scopes(method, path)
                } else {
                    Vec::new()
                },
            })
            .collect()
    }

    fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

struct Invocation {
    id: String,
    event: Value,
}

#[derive(Default)]
struct Queue {
    pending: Mutex<VecDeque<Invocation>>,
    arrived: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Result<Value, Value>>>>,
    invocations: std::sync::atomic::AtomicU64,
}

struct Gateway {
    authorizer: Authorizer,
    routes: Vec<ApiRoute>,
    queue: Arc<Queue>,
    domain: String,
}

/// A running emulator. Dropping it stops both servers.
pub struct Emulator {
    gateway: SocketAddr,
    runtime_api: SocketAddr,
    queue: Arc<Queue>,
    stop: Vec<oneshot::Sender<()>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("gateway", &self.gateway)
            .field("runtime_api", &self.runtime_api)
            .finish()
    }
}

impl Emulator {
    /// Starts the gateway on `gateway_listen` (a loopback address; port 0 picks one) and the Runtime
    /// API on an OS-chosen loopback port.
    pub async fn start(
        authorizer: Authorizer,
        routes: Vec<ApiRoute>,
        gateway_listen: &str,
    ) -> std::io::Result<Emulator> {
        let queue = Arc::new(Queue::default());
        let runtime_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let gateway_listener = tokio::net::TcpListener::bind(gateway_listen).await?;
        let runtime_api = runtime_listener.local_addr()?;
        let gateway = gateway_listener.local_addr()?;
        let runtime_app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(invocation_response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(queue.clone());
        let state = Arc::new(Gateway {
            authorizer,
            routes,
            queue: queue.clone(),
            domain: gateway.to_string(),
        });
        let gateway_app = Router::new().fallback(handle).with_state(state);
        let mut stop = Vec::new();
        for (listener, app) in [
            (runtime_listener, runtime_app),
            (gateway_listener, gateway_app),
        ] {
            let (tx, rx) = oneshot::channel::<()>();
            stop.push(tx);
            tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
        }
        Ok(Emulator {
            gateway,
            runtime_api,
            queue,
            stop,
        })
    }

    /// The gateway's base URL, `http://127.0.0.1:PORT`.
    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway)
    }

    /// The value for the function's `AWS_LAMBDA_RUNTIME_API` variable (`127.0.0.1:PORT`).
    pub fn runtime_api(&self) -> String {
        self.runtime_api.to_string()
    }

    /// Invocations the function has answered so far.
    pub fn invocations(&self) -> u64 {
        self.queue
            .invocations
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The environment a `bootstrap` needs to run against this emulator.
    pub fn function_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_LAMBDA_RUNTIME_API", self.runtime_api()),
            ("AWS_LAMBDA_FUNCTION_NAME", "portcullis-local".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "local".into()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "/aws/lambda/portcullis-local".into(),
            ),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        for stop in self.stop.drain(..) {
            let _ = stop.send(());
        }
    }
}

fn api_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "message": message }).to_string(),
    )
        .into_response()
}

async fn handle(State(gateway): State<Arc<Gateway>>, request: Request<Body>) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = gateway
        .routes
        .iter()
        .find(|r| r.path == path && r.method == method.as_str())
        .or_else(|| {
            gateway
                .routes
                .iter()
                .find(|r| r.path == path && r.method == "ANY")
        });
    let Some(route) = route.cloned() else {
        return api_error(StatusCode::NOT_FOUND, "Not Found");
    };
    let mut caller = None;
    if route.authorized && method != Method::OPTIONS {
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        match gateway
            .authorizer
            .authorize(authorization.as_deref(), &route.scopes)
            .await
        {
            Ok(claims) => {
                caller = Some(Caller::new(claims, &OidcMapping, !route.scopes.is_empty()))
            }
            Err(refusal) => return crate::refusal::<Body>(&refusal),
        }
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return api_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let event = event(
        &gateway.domain,
        &route,
        &parts.method,
        &parts.uri,
        &parts.headers,
        &body,
        caller.as_ref(),
    );
    let id = uuid::Uuid::new_v4().to_string();
    let (answer, wait) = oneshot::channel();
    lock(&gateway.queue.waiting).insert(id.clone(), answer);
    lock(&gateway.queue.pending).push_back(Invocation {
        id: id.clone(),
        event,
    });
    gateway.queue.arrived.notify_one();
    match tokio::time::timeout(INTEGRATION_TIMEOUT, wait).await {
        Ok(Ok(Ok(response))) => lambda_response(&response),
        Ok(Ok(Err(error))) => {
            tracing::error!(%error, "the function reported an error");
            api_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
        _ => {
            lock(&gateway.queue.waiting).remove(&id);
            api_error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
    }
}

/// The payload-2.0 event API Gateway sends for this request.
fn event(
    domain: &str,
    route: &ApiRoute,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &Bytes,
    caller: Option<&Caller>,
) -> Value {
    let mut joined: HashMap<String, String> = HashMap::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == header::COOKIE {
            cookies.extend(
                value
                    .split(';')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        joined
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let query = uri.query().unwrap_or_default();
    let mut parameters = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let entry = parameters
            .entry(k.to_owned())
            .or_insert_with(|| Value::String(String::new()));
        if let Value::String(existing) = entry {
            if !existing.is_empty() {
                existing.push(',');
            }
            existing.push_str(v);
        }
    }
    let (body, is_base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (STANDARD.encode(body), true),
    };
    let mut context = json!({
        "accountId": "000000000000",
        "apiId": "local",
        "domainName": domain,
        "domainPrefix": "local",
        "http": {
            "method": method.as_str(),
            "path": uri.path(),
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": joined.get("user-agent").cloned().unwrap_or_default(),
        },
        "requestId": uuid::Uuid::new_v4().to_string(),
        "routeKey": route.key(),
        "stage": "$default",
        "time": clf_time(now.as_secs()),
        "timeEpoch": now.as_millis() as u64,
    });
    if let Some(caller) = caller {
        context["authorizer"] = json!({ "jwt": caller.gateway_jwt() });
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.key(),
        "rawPath": uri.path(),
        "rawQueryString": query,
        "headers": joined,
        "requestContext": context,
        "isBase64Encoded": is_base64,
    });
    if !parameters.is_empty() {
        event["queryStringParameters"] = Value::Object(parameters);
    }
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !body.is_empty() {
        event["body"] = json!(body);
    }
    event
}

/// A Lambda proxy response (format 2.0) as the HTTP response API Gateway sends.
fn lambda_response(answer: &Value) -> Response {
    let status = answer
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::OK);
    let text = answer
        .get("body")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let body = if answer.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        match STANDARD.decode(text) {
            Ok(bytes) => bytes,
            Err(_) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        }
    } else {
        text.as_bytes().to_vec()
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let mut insert = |name: &str, value: &str| {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            headers.append(name, value);
        }
    };
    if let Some(map) = answer.get("headers").and_then(Value::as_object) {
        for (name, value) in map {
            if let Some(value) = value.as_str() {
                insert(name, value);
            }
        }
    }
    if let Some(map) = answer.get("multiValueHeaders").and_then(Value::as_object) {
        for (name, values) in map {
            for value in values
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                insert(name, value);
            }
        }
    }
    for cookie in answer
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        insert("set-cookie", cookie);
    }
    response
}

async fn next_invocation(State(queue): State<Arc<Queue>>) -> Response {
    loop {
        let arrived = queue.arrived.notified();
        if let Some(invocation) = lock(&queue.pending).pop_front() {
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                + INTEGRATION_TIMEOUT;
            let mut response = invocation.event.to_string().into_response();
            let headers = response.headers_mut();
            let mut set = |name: &'static str, value: String| {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            };
            set("lambda-runtime-aws-request-id", invocation.id);
            set(
                "lambda-runtime-deadline-ms",
                deadline.as_millis().to_string(),
            );
            set(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:000000000000:function:portcullis-local".into(),
            );
            set(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
            );
            set("content-type", "application/json".into());
            return response;
        }
        arrived.await;
    }
}

async fn invocation_response(
    State(queue): State<Arc<Queue>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    settle(
        &queue,
        &id,
        serde_json::from_slice(&body).map_err(|e| json!({ "errorMessage": e.to_string() })),
    )
}

async fn invocation_error(
    State(queue): State<Arc<Queue>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let error = serde_json::from_slice(&body)
        .unwrap_or_else(|_| json!({ "errorMessage": "unreadable error" }));
    settle(&queue, &id, Err(error))
}

async fn init_error(body: Bytes) -> StatusCode {
    tracing::error!(error = %String::from_utf8_lossy(&body), "the function failed to initialise");
    StatusCode::ACCEPTED
}

fn settle(queue: &Queue, id: &str, outcome: Result<Value, Value>) -> StatusCode {
    match lock(&queue.waiting).remove(id) {
        Some(waiter) => {
            queue
                .invocations
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = waiter.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `24/Nov/2026:09:00:00 +0000`, the form of `requestContext.time`.
fn clf_time(epoch_seconds: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (epoch_seconds / 86_400) as i64;
    let secs = epoch_seconds % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::clf_time;

    #[test]
    fn request_time_uses_api_gateway_s_format() {
        assert_eq!(clf_time(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf_time(1_795_510_111), "24/Nov/2026:08:48:31 +0000");
        assert_eq!(clf_time(951_782_400), "29/Feb/2000:00:00:00 +0000");
    }
}
