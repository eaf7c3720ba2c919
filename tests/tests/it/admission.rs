//! One admission, four callers: the same requests, refused and admitted, through the axum layer, the
//! local gateway (HTTP proxy integration to a backend on 127.0.0.1), the Lambda gateway layer (the
//! events API Gateway would send for them) and the `Authenticated` extractor with no layer in
//! front. Each answers with the same status, body and headers and writes the same `request
//! refused` line, behind an HTTP API and behind an ALB.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use lambda_http::request::LambdaRequest;
use portcullis_axum::{AuthLayer, Authenticated};
use portcullis_claims::{Gate, OidcMapping, VerifierOptions};
use portcullis_config::{Settings, Sources, load};
use portcullis_emulator::{Emulator, Integration, Setup};
use portcullis_lambda::VouchedLayer;
use portcullis_testkit::events::http_api_event;
use portcullis_testkit::{Issuer, TestKey, jwks, unix_now};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};
use tracing_subscriber::layer::SubscriberExt;

const KID: &str = "dev-key";
const CLIENT: &str = "dev-client";
const PATH: &str = "/user/profile";

/// What one caller answered, reduced to what must be the same everywhere.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    status: u16,
    body: String,
    /// `content-type` and `www-authenticate`, when present.
    headers: BTreeMap<&'static str, String>,
    /// The `request refused` lines written while answering (their structured fields).
    lines: Vec<Value>,
}

/// The `portcullis::decision` lines written since the last [`Lines::take`].
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lines").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn take(&self) -> Vec<Value> {
        let bytes = std::mem::take(&mut *self.0.lock().expect("lines"));
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| {
                serde_json::from_str::<Value>(line).expect("a JSON log line")["fields"].clone()
            })
            .collect()
    }
}

/// A request of the table: method, and the `Authorization` values sent.
struct Row {
    name: &'static str,
    method: &'static str,
    authorization: Vec<String>,
}

struct Tokens {
    access: String,
    read_only: String,
    expired: String,
    foreign: String,
}

fn tokens(issuer: &str) -> Tokens {
    let now = unix_now();
    let claims = |scope: &str, exp: i64| {
        json!({
            "iss": issuer, "aud": CLIENT, "client_id": CLIENT, "sub": "user-1", "token_use": "access",
            "scope": scope, "iat": now, "exp": exp,
        })
    };
    let key = TestKey::rsa(KID);
    Tokens {
        access: key.mint(&claims("profile/read profile/write", now + 3600)),
        read_only: key.mint(&claims("profile/read", now + 3600)),
        expired: key.mint(&claims("profile/write", now - 10)),
        foreign: TestKey::rsa_other(KID).mint(&claims("profile/write", now + 3600)),
    }
}

fn rows(tokens: &Tokens) -> Vec<Row> {
    let bearer = |token: &str| vec![format!("Bearer {token}")];
    let row = |name, method, authorization| Row {
        name,
        method,
        authorization,
    };
    vec![
        row("no token", "GET", vec![]),
        row("malformed", "GET", vec!["Bearer not.a.token".into()]),
        row("expired", "GET", bearer(&tokens.expired)),
        row("signed by another key", "GET", bearer(&tokens.foreign)),
        row("two Authorization headers", "GET", {
            let mut two = bearer(&tokens.access);
            two.extend(bearer(&tokens.access));
            two
        }),
        row("lacks the route's scope", "POST", bearer(&tokens.read_only)),
        row("admitted (GET)", "GET", bearer(&tokens.access)),
        row("admitted (POST)", "POST", bearer(&tokens.access)),
    ]
}

fn settings(issuer: &str, gate: Gate) -> Settings {
    let text = format!(
        "[auth]\ngate = \"{gate}\"\nprovider = \"oidc\"\nissuer = \"{issuer}\"\naudience = \"{CLIENT}\"\n\
         [routes.\"GET {PATH}\"]\n[routes.\"POST {PATH}\"]\nscopes = [\"profile/write\"]\n"
    );
    load(&Sources::text(&text)).expect("settings")
}

fn scopes_of(settings: &Settings) -> impl Fn(&http::Method, &str) -> Vec<String> + Clone + use<> {
    let routes = settings.routes.clone();
    move |method: &http::Method, path: &str| routes.scopes(method.as_str(), path).to_vec()
}

/// The handler every admitting caller runs: who was admitted.
async fn admitted(Authenticated(caller): Authenticated) -> String {
    format!(
        "admitted {}",
        caller.identity.subject.as_deref().unwrap_or("?")
    )
}

fn router() -> Router {
    Router::new().route(PATH, get(admitted).post(admitted))
}

fn answer(status: u16, body: String, headers: &http::HeaderMap, lines: &Lines) -> Answer {
    let mut kept = BTreeMap::new();
    for name in ["content-type", "www-authenticate"] {
        if let Some(value) = headers.get(name) {
            kept.insert(name, value.to_str().expect("ASCII").to_owned());
        }
    }
    Answer {
        status,
        body,
        headers: kept,
        lines: lines.take(),
    }
}

fn request(row: &Row) -> http::Request<axum::body::Body> {
    let mut request = http::Request::builder().method(row.method).uri(PATH);
    for value in &row.authorization {
        request = request.header("authorization", value);
    }
    request.body(axum::body::Body::empty()).expect("request")
}

async fn through_axum(app: &Router, row: &Row, lines: &Lines) -> Answer {
    let response = app.clone().oneshot(request(row)).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.expect("body");
    let body = String::from_utf8_lossy(&bytes).into_owned();
    answer(parts.status.as_u16(), body, &parts.headers, lines)
}

async fn through_gateway(gateway: &str, row: &Row, lines: &Lines) -> Answer {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let method = reqwest::Method::from_bytes(row.method.as_bytes()).expect("method");
    let mut request = client.request(method, format!("{gateway}{PATH}"));
    for value in &row.authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.expect("body");
    // The gateway's server task writes its line on this thread before the answer is read.
    answer(status, body, &headers, lines)
}

/// The payload-2.0 event an HTTP API would hand the function for `row`, its authorizer having
/// verified `claims` (`None`: the route has no authorizer, so nothing was verified).
async fn through_lambda(
    layer: &VouchedLayer,
    row: &Row,
    claims: Option<Value>,
    lines: &Lines,
) -> Answer {
    let authorizer = claims.map(|claims| {
        let scope = claims["scope"].as_str().unwrap_or_default().to_owned();
        let rendered: serde_json::Map<String, Value> = claims
            .as_object()
            .expect("claims")
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    json!(portcullis_claims::gateway_value(v).unwrap_or_default()),
                )
            })
            .collect();
        json!({"jwt": {"claims": rendered, "scopes": scope.split(' ').collect::<Vec<_>>()}})
    });
    let mut event = http_api_event(row.method, PATH, authorizer);
    if let Some(value) = row.authorization.first() {
        event["headers"]["authorization"] = json!(value);
    }
    portcullis_lambda::normalize_event(&mut event);
    let parsed: LambdaRequest = serde_json::from_value(event).expect("lambda_http reads the event");
    let request: lambda_http::Request = parsed.into();
    let inner = tower::service_fn(|request: lambda_http::Request| async move {
        let caller = request
            .extensions()
            .get::<portcullis_claims::Caller>()
            .cloned();
        let subject = caller
            .and_then(|c| c.identity.subject.clone())
            .unwrap_or_default();
        let mut response =
            http::Response::new(lambda_http::Body::from(format!("admitted {subject}")));
        response.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        Ok::<_, Infallible>(response)
    });
    let response = layer
        .layer(inner)
        .oneshot(request)
        .await
        .expect("infallible");
    let (parts, body) = response.into_parts();
    let body = match body {
        lambda_http::Body::Text(text) => text,
        lambda_http::Body::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        _ => String::new(),
    };
    answer(parts.status.as_u16(), body, &parts.headers, lines)
}

/// The claims in a token's payload (the tokens here are the test's own).
fn payload(authorization: &str) -> Value {
    use base64::Engine;
    let token = authorization.trim_start_matches("Bearer ");
    let part = token.split('.').nth(1).expect("a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

#[tokio::test]
async fn every_caller_of_the_admission_answers_and_logs_the_same() {
    let lines = Lines::default();
    let targets = tracing_subscriber::filter::Targets::new()
        .with_target("portcullis::decision", tracing::Level::INFO);
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer({
            let lines = lines.clone();
            move || lines.clone()
        })
        .finish()
        .with(targets);
    // A current-thread runtime: the gateway's and backend's tasks log on this thread too.
    let _guard = tracing::subscriber::set_default(subscriber);

    let key = TestKey::rsa(KID);
    let issuer = Issuer::start(jwks([key.jwk()])).await.expect("issuer");
    let tokens = tokens(issuer.url());
    let backend = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let backend_url = format!("http://{}", backend.local_addr().expect("addr"));
    tokio::spawn(async move {
        let app = Router::new().fallback(|| async { "admitted user-1" });
        let _ = axum::serve(backend, app).await;
    });

    for gate in [Gate::HttpApi, Gate::Alb] {
        let settings = settings(issuer.url(), gate);
        let authorizer = || {
            settings
                .auth
                .authorizer(VerifierOptions::default())
                .expect("authorizer")
        };
        let layer = AuthLayer::new(authorizer(), Arc::new(OidcMapping), scopes_of(&settings));
        let app = router().route_layer(layer);
        let unguarded = router().layer(axum::Extension(gate));
        let setup = Setup {
            integration: Integration::Http(backend_url.parse().expect("url")),
            ..Setup::new(authorizer(), settings.routes.clone())
        };
        let emulator = Emulator::start(setup, "127.0.0.1:0")
            .await
            .expect("gateway");
        let issuers = vec![issuer.url().to_owned()];
        let vouched = VouchedLayer::behind(
            gate,
            Default::default(),
            issuers,
            Arc::new(OidcMapping),
            scopes_of(&settings),
        );

        let (mut refused, mut unguarded_rows, mut lambda_rows) = (0, 0, 0);
        for row in rows(&tokens) {
            let context = format!("{gate}, {}", row.name);
            let axum_answer = through_axum(&app, &row, &lines).await;
            let gateway_answer = through_gateway(&emulator.gateway_url(), &row, &lines).await;
            assert_eq!(
                gateway_answer, axum_answer,
                "local gateway vs axum layer: {context}"
            );
            assert_eq!(
                axum_answer.lines.len(),
                usize::from(axum_answer.status != 200),
                "one line per refusal, none per admission: {context}: {axum_answer:?}"
            );
            if axum_answer.status == 200 {
                assert_eq!(axum_answer.body, "admitted user-1", "{context}");
                continue;
            }
            refused += 1;
            assert_eq!(
                axum_answer.lines[0]["route"],
                format!("{} {PATH}", row.method)
            );
            if row.authorization.is_empty() {
                let unguarded = through_axum(&unguarded, &row, &lines).await;
                assert_eq!(
                    unguarded, axum_answer,
                    "Authenticated alone vs axum layer: {context}"
                );
                unguarded_rows += 1;
            }
            // Behind an HTTP API, the function sees only what API Gateway let through: a route
            // whose authorizer is missing (no claims) and a token whose claims lack the scope
            // the function's own routes require.
            if gate == Gate::HttpApi {
                let claims = match row.name {
                    "no token" => Some(None),
                    "lacks the route's scope" => Some(Some(payload(&row.authorization[0]))),
                    _ => None,
                };
                if let Some(claims) = claims {
                    let lambda = through_lambda(&vouched, &row, claims, &lines).await;
                    assert_eq!(
                        lambda, axum_answer,
                        "Lambda gateway layer vs axum layer: {context}"
                    );
                    lambda_rows += 1;
                }
            }
        }
        assert_eq!(refused, 6, "{gate}: every refusal row was refused");
        assert_eq!(
            unguarded_rows, 1,
            "{gate}: the extractor alone was compared"
        );
        let expected_lambda_rows = if gate == Gate::HttpApi { 2 } else { 0 };
        assert_eq!(
            lambda_rows, expected_lambda_rows,
            "{gate}: Lambda rows compared"
        );
        // What an HTTP API vouched for, holding the route's scope, is admitted by the function.
        if gate == Gate::HttpApi {
            let row = &rows(&tokens)[7];
            let claims = Some(payload(&row.authorization[0]));
            let lambda = through_lambda(&vouched, row, claims, &lines).await;
            assert_eq!(
                (lambda.status, lambda.body.as_str()),
                (200, "admitted user-1")
            );
            assert!(lambda.lines.is_empty(), "no line for an admission");
        }
    }
}
