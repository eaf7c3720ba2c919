//! AWS's documented behaviour put between the SDK and moto: a proxy on 127.0.0.1 that forwards every
//! call to moto's server and, on the way, does what AWS does and moto does not.
//!
//! - IAM is eventually consistent: for `role_lag` after `CreateRole`, `CreateFunction` with that role
//!   is refused with `InvalidParameterValueException: The role defined for the function cannot be
//!   assumed by Lambda.`
//! - A new function is `State: Pending`, an updated one `LastUpdateStatus: InProgress`, for `settle`;
//!   meanwhile another update (or a delete) is refused with 409 `ResourceConflictException`.
//! - A new DynamoDB table is `CREATING` for `settle`.
//! - Every list answers `page_size` items a page, with a next token (API Gateway's `GetApis`,
//!   `GetRoutes`, `GetIntegrations`, `GetAuthorizers`, `GetStages`; Logs' `DescribeLogGroups`;
//!   Cognito's `ListUserPools` and `ListUserPoolClients`).
//! - Every `throttle_every`-th call is throttled before it reaches moto, in the shape each service
//!   uses (429 `TooManyRequestsException`, IAM's `Throttling`, `ThrottlingException`).
//!
//! moto's server does not implement `GetAuthorizers`; the proxy answers it from the authorizers it
//! saw created, as API Gateway would. Each fault is counted ([`Counts`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use serde_json::{Value, json};

/// What the proxy does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Behaviour {
    /// How long a new role is not assumable by Lambda.
    pub(crate) role_lag: Duration,
    /// How long a function stays Pending / InProgress and a table CREATING.
    pub(crate) settle: Duration,
    /// Items per page of every list.
    pub(crate) page_size: usize,
    /// Every n-th call is throttled (0: none).
    pub(crate) throttle_every: usize,
    /// The first this many function updates are refused with 409, as when a teammate's update
    /// of the same function is in flight.
    pub(crate) foreign_updates: usize,
}

impl Default for Behaviour {
    fn default() -> Behaviour {
        Behaviour {
            role_lag: Duration::from_millis(2500),
            settle: Duration::from_millis(1500),
            page_size: 2,
            throttle_every: 7,
            foreign_updates: 1,
        }
    }
}

/// How many faults were injected (each one absorbed, or the run would have failed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Calls that reached the proxy.
    pub(crate) calls: usize,
    /// Calls throttled.
    pub(crate) throttled: usize,
    /// `CreateFunction` refused while the role propagates.
    pub(crate) role_refusals: usize,
    /// Updates refused with 409 while the function settles.
    pub(crate) conflicts: usize,
    /// Reads answered Pending / InProgress / CREATING.
    pub(crate) settling_reads: usize,
    /// Pages served after the first (a caller that reads one page only sees none of these).
    pub(crate) later_pages: usize,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} calls: {} throttled, {} role-propagation refusals, {} update conflicts, {} settling reads, {} later pages",
            self.calls,
            self.throttled,
            self.role_refusals,
            self.conflicts,
            self.settling_reads,
            self.later_pages
        )
    }
}

#[derive(Default)]
struct State {
    counts: Counts,
    foreign_updates: usize,
    roles: HashMap<String, Instant>,
    /// Function name → (held until, "Pending" or "InProgress").
    functions: HashMap<String, (Instant, &'static str)>,
    tables: HashMap<String, Instant>,
    /// API id → authorizers created through the proxy.
    authorizers: HashMap<String, Vec<Value>>,
}

struct Shared {
    moto: String,
    behaviour: Behaviour,
    client: reqwest::Client,
    state: Mutex<State>,
}

/// The running proxy; stops when dropped.
pub(crate) struct Faults {
    url: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Faults {
    /// A proxy in front of the moto server at `moto`.
    pub(crate) fn start(moto: &str, behaviour: Behaviour) -> Faults {
        let shared = Arc::new(Shared {
            moto: moto.trim_end_matches('/').to_owned(),
            behaviour,
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
            state: Mutex::new(State::default()),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, address) = std::sync::mpsc::channel();
        let serving = shared.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                ready
                    .send(listener.local_addr().expect("address"))
                    .expect("ready");
                let app = axum::Router::new().fallback(move |request: Request<Body>| {
                    let shared = serving.clone();
                    async move { handle(&shared, request).await }
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("serve");
            });
        });
        let address = address
            .recv_timeout(Duration::from_secs(10))
            .expect("the proxy listens");
        Faults {
            url: format!("http://{address}"),
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Where the SDK should send its calls.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The faults injected so far.
    pub(crate) fn counts(&self) -> Counts {
        self.shared.state.lock().expect("state").counts
    }
}

impl Drop for Faults {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The AWS service a call is for, from its SigV4 credential scope.
fn service(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|scope| scope.split('/').nth(3))
        .unwrap_or_default()
        .to_owned()
}

/// The value of `name` in an `application/x-www-form-urlencoded` body.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The operation: from `X-Amz-Target`, the query protocol's `Action`, or method and path.
fn operation(
    service: &str,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or_default().to_owned();
    }
    if let Some(action) = form_value(body, "Action") {
        return action;
    }
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let named = match (service, method.as_str(), parts.as_slice()) {
        ("lambda", "POST", [_, "functions"]) => "CreateFunction",
        ("lambda", "GET", [_, "functions", _]) => "GetFunction",
        ("lambda", "DELETE", [_, "functions", _]) => "DeleteFunction",
        ("lambda", "GET", [_, "functions", _, "configuration"]) => "GetFunctionConfiguration",
        ("lambda", "PUT", [_, "functions", _, "configuration"]) => "UpdateFunctionConfiguration",
        ("lambda", "PUT", [_, "functions", _, "code"]) => "UpdateFunctionCode",
        ("apigateway", "GET", ["v2", "apis"]) => "GetApis",
        ("apigateway", "DELETE", ["v2", "apis", _]) => "DeleteApi",
        ("apigateway", "GET", ["v2", "apis", _, "routes"]) => "GetRoutes",
        ("apigateway", "GET", ["v2", "apis", _, "integrations"]) => "GetIntegrations",
        ("apigateway", "GET", ["v2", "apis", _, "authorizers"]) => "GetAuthorizers",
        ("apigateway", "POST", ["v2", "apis", _, "authorizers"]) => "CreateAuthorizer",
        ("apigateway", "PATCH", ["v2", "apis", _, "authorizers", _]) => "UpdateAuthorizer",
        ("apigateway", "GET", ["v2", "apis", _, "stages"]) => "GetStages",
        _ => "",
    };
    named.to_owned()
}

/// The function name in a Lambda path (`/2015-03-31/functions/{name}/…`).
fn function_in_path(path: &str) -> Option<String> {
    path.split('/').nth(3).map(str::to_owned)
}

fn json_response(status: StatusCode, headers: &[(&str, &str)], body: Value) -> Response<Body> {
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, *value);
    }
    response
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("response")
}

/// A throttling answer in the shape `service` uses.
fn throttled(service: &str) -> Response<Body> {
    match service {
        "iam" | "sts" => Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .header("content-type", "text/xml")
            .body(Body::from(
                "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>\
                 <Message>Rate exceeded</Message></Error><RequestId>faults</RequestId></ErrorResponse>",
            ))
            .expect("response"),
        "dynamodb" => json_response(
            StatusCode::BAD_REQUEST,
            &[],
            json!({ "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "Rate exceeded" }),
        ),
        "logs" => json_response(
            StatusCode::BAD_REQUEST,
            &[],
            json!({ "__type": "ThrottlingException", "message": "Rate exceeded" }),
        ),
        "cognito-idp" => json_response(
            StatusCode::BAD_REQUEST,
            &[],
            json!({ "__type": "TooManyRequestsException", "message": "Rate exceeded" }),
        ),
        _ => json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &[("x-amzn-errortype", "TooManyRequestsException")],
            json!({ "message": "Rate exceeded", "Reason": "CallerRateLimitExceeded" }),
        ),
    }
}

fn lambda_error(status: StatusCode, kind: &str, message: &str) -> Response<Body> {
    json_response(
        status,
        &[("x-amzn-errortype", kind)],
        json!({ "Type": "User", "message": message }),
    )
}

/// Where a list's items, its next token and the request's token live.
struct Listing {
    items: &'static str,
    next: &'static str,
    /// In the query string (REST) or the JSON body.
    in_query: bool,
}

fn listing(operation: &str) -> Option<Listing> {
    let rest = |items| Listing {
        items,
        next: "nextToken",
        in_query: true,
    };
    match operation {
        "GetApis" | "GetRoutes" | "GetIntegrations" | "GetStages" | "GetAuthorizers" => {
            Some(rest("items"))
        }
        "DescribeLogGroups" => Some(Listing {
            items: "logGroups",
            next: "nextToken",
            in_query: false,
        }),
        "ListUserPools" => Some(Listing {
            items: "UserPools",
            next: "NextToken",
            in_query: false,
        }),
        "ListUserPoolClients" => Some(Listing {
            items: "UserPoolClients",
            next: "NextToken",
            in_query: false,
        }),
        _ => None,
    }
}

const TOKEN_PREFIX: &str = "faults-page-";

async fn handle(shared: &Shared, request: Request<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let service = service(&parts.headers);
    let path = parts.uri.path().to_owned();
    let operation = operation(&service, &parts.method, &path, &parts.headers, &body);
    let behaviour = shared.behaviour;
    let now = Instant::now();

    // Faults decided before moto sees the call.
    {
        let mut state = shared.state.lock().expect("state");
        state.counts.calls += 1;
        if behaviour.throttle_every > 0
            && state.counts.calls.is_multiple_of(behaviour.throttle_every)
        {
            state.counts.throttled += 1;
            return throttled(&service);
        }
        if operation == "CreateFunction" {
            let role = serde_json::from_slice::<Value>(&body).ok().and_then(|b| {
                b["Role"]
                    .as_str()
                    .map(|arn| arn.rsplit('/').next().unwrap_or_default().to_owned())
            });
            if let Some(created) = role.and_then(|r| state.roles.get(&r).copied())
                && now.duration_since(created) < behaviour.role_lag
            {
                state.counts.role_refusals += 1;
                return lambda_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidParameterValueException",
                    "The role defined for the function cannot be assumed by Lambda.",
                );
            }
        }
        let update = matches!(
            operation.as_str(),
            "UpdateFunctionCode" | "UpdateFunctionConfiguration"
        );
        if update && state.foreign_updates < behaviour.foreign_updates {
            state.foreign_updates += 1;
            state.counts.conflicts += 1;
            return lambda_error(
                StatusCode::CONFLICT,
                "ResourceConflictException",
                "The operation cannot be performed at this time. An update is in progress for resource: (another caller)",
            );
        }
        if (update || operation == "DeleteFunction")
            && let Some(name) = function_in_path(&path)
            && let Some((until, status)) = state.functions.get(&name).copied()
            && now < until
        {
            state.counts.conflicts += 1;
            return lambda_error(
                StatusCode::CONFLICT,
                "ResourceConflictException",
                &format!(
                    "The operation cannot be performed at this time. The function is currently in the following state: {status}"
                ),
            );
        }
        if operation == "GetAuthorizers" {
            let api = path.split('/').nth(3).unwrap_or_default().to_owned();
            let items = state.authorizers.get(&api).cloned().unwrap_or_default();
            drop(state);
            return page(
                shared,
                &parts.uri,
                &body,
                &operation,
                json!({ "items": items }),
                StatusCode::OK,
                HeaderMap::new(),
            );
        }
    }

    // Forward, without the paging the proxy does itself.
    let mut uri = parts.uri.clone();
    let mut forward_body = body.clone();
    if let Some(list) = listing(&operation) {
        if list.in_query {
            let kept: Vec<(String, String)> =
                url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                    .filter(|(k, _)| k != "nextToken" && k != "maxResults")
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(kept)
                .finish();
            let text = if query.is_empty() {
                path.clone()
            } else {
                format!("{path}?{query}")
            };
            uri = text.parse().expect("uri");
        } else if let Ok(mut json) = serde_json::from_slice::<Value>(&body) {
            if let Some(object) = json.as_object_mut() {
                object.remove(list.next);
                if object.contains_key("MaxResults") {
                    object.insert("MaxResults".into(), json!(60));
                }
                object.remove("limit");
            }
            forward_body = Bytes::from(json.to_string());
        }
    }
    let target = format!(
        "{}{}",
        shared.moto,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut forward = shared.client.request(parts.method.clone(), &target);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            forward = forward.header(name, value);
        }
    }
    let answered = match forward.body(forward_body).send().await {
        Ok(answered) => answered,
        Err(error) => {
            return Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .body(Body::from(format!(
                    "faults proxy: moto did not answer: {error}"
                )))
                .expect("response");
        }
    };
    let status = answered.status();
    let mut headers = answered.headers().clone();
    for hop in ["content-length", "transfer-encoding", "connection"] {
        headers.remove(hop);
    }
    let bytes = answered.bytes().await.unwrap_or_default();
    if !status.is_success() {
        return respond(status, headers, bytes);
    }
    let Ok(mut json) = serde_json::from_slice::<Value>(&bytes) else {
        // XML (IAM) or empty answers: only CreateRole matters.
        if operation == "CreateRole"
            && let Some(role) = form_value(&body, "RoleName")
        {
            shared.state.lock().expect("state").roles.insert(role, now);
        }
        return respond(status, headers, bytes);
    };

    // Faults applied to moto's answer (an answer that is not an object is passed on as it is).
    if !json.is_object() {
        return respond(status, headers, bytes);
    }
    let mut state = shared.state.lock().expect("state");
    let settle_until = now + behaviour.settle;
    match operation.as_str() {
        "CreateFunction" => {
            if let Some(name) = json["FunctionName"].as_str() {
                state
                    .functions
                    .insert(name.to_owned(), (settle_until, "Pending"));
            }
            json["State"] = json!("Pending");
            json["StateReasonCode"] = json!("Creating");
        }
        "UpdateFunctionCode" | "UpdateFunctionConfiguration" => {
            if let Some(name) = json["FunctionName"].as_str() {
                state
                    .functions
                    .insert(name.to_owned(), (settle_until, "InProgress"));
            }
            json["LastUpdateStatus"] = json!("InProgress");
        }
        "GetFunction" | "GetFunctionConfiguration" => {
            let config = if operation == "GetFunction" {
                &mut json["Configuration"]
            } else {
                &mut json
            };
            if config.is_object()
                && let Some(name) = config["FunctionName"].as_str().map(str::to_owned)
                && let Some((until, status)) = state.functions.get(&name).copied()
                && now < until
            {
                state.counts.settling_reads += 1;
                if status == "Pending" {
                    config["State"] = json!("Pending");
                } else {
                    config["LastUpdateStatus"] = json!("InProgress");
                }
            }
        }
        "CreateTable" => {
            if let Some(name) = json["TableDescription"]["TableName"].as_str() {
                state.tables.insert(name.to_owned(), settle_until);
                json["TableDescription"]["TableStatus"] = json!("CREATING");
            }
        }
        "DescribeTable" => {
            if let Some(name) = json["Table"]["TableName"].as_str()
                && state.tables.get(name).is_some_and(|until| now < *until)
            {
                state.counts.settling_reads += 1;
                json["Table"]["TableStatus"] = json!("CREATING");
            }
        }
        "CreateAuthorizer" => {
            let api = path.split('/').nth(3).unwrap_or_default().to_owned();
            state.authorizers.entry(api).or_default().push(json.clone());
        }
        "UpdateAuthorizer" => {
            let api = path.split('/').nth(3).unwrap_or_default().to_owned();
            if let Some(known) = state.authorizers.get_mut(&api) {
                for item in known.iter_mut() {
                    if item["authorizerId"] == json["authorizerId"] {
                        *item = json.clone();
                    }
                }
            }
        }
        "DeleteApi" => {
            let api = path.split('/').nth(3).unwrap_or_default().to_owned();
            state.authorizers.remove(&api);
        }
        _ => {}
    }
    drop(state);
    if listing(&operation).is_some() {
        return page(shared, &parts.uri, &body, &operation, json, status, headers);
    }
    respond(status, headers, Bytes::from(json.to_string()))
}

/// One page of a full list answer `json`, as the request's token asks.
fn page(
    shared: &Shared,
    uri: &axum::http::Uri,
    body: &[u8],
    operation: &str,
    mut json: Value,
    status: StatusCode,
    headers: HeaderMap,
) -> Response<Body> {
    let list = listing(operation).expect("a list operation");
    let token = if list.in_query {
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .find(|(k, _)| k == "nextToken")
            .map(|(_, v)| v.into_owned())
    } else {
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|b| b[list.next].as_str().map(str::to_owned))
    };
    let offset = match token {
        None => 0,
        Some(token) => match token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(offset) => offset,
            // A token the proxy did not hand out: AWS answers BadRequest.
            None => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &[("x-amzn-errortype", "BadRequestException")],
                    json!({ "message": format!("Invalid pagination token {token}") }),
                );
            }
        },
    };
    if offset > 0 {
        shared.state.lock().expect("state").counts.later_pages += 1;
    }
    let items = json[list.items].as_array().cloned().unwrap_or_default();
    let size = shared.behaviour.page_size.max(1);
    let end = (offset + size).min(items.len());
    let slice: Vec<Value> = items
        .get(offset..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    json[list.items] = Value::Array(slice);
    match json.as_object_mut() {
        Some(object) if end < items.len() => {
            object.insert(list.next.into(), json!(format!("{TOKEN_PREFIX}{end}")));
        }
        Some(object) => {
            object.remove(list.next);
        }
        None => {}
    }
    respond(status, headers, Bytes::from(json.to_string()))
}

fn respond(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
        .headers_mut()
        .entry("content-type")
        .or_insert(HeaderValue::from_static("application/json"));
    response
}
