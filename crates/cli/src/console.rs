//! The console: one local page that replaces the tutorial's test loop (sign in, copy the token,
//! paste it into a decoder, paste it into an HTTP client, guess why a 401 came back). Served by
//! `portcullis dev` and `portcullis gateway` on a loopback listener of its own, never by a deployed
//! build; its page and script are compiled into this binary (no CDN, no network).
//!
//! - **Sign in**: mint a token from the development issuer (subject, email, groups, scopes, token
//!   use, lifetime), or sign in with the configured provider (authorization code + PKCE, the
//!   redirect coming back here).
//! - **Inspect**: header, claims and the gate's verdict rule by rule ([`Authorizer::explain`]),
//!   with each route's scope rule and the exact 401/403 answer of a refusal.
//! - **Call**: a request to the API with the token attached; status, headers and body back, and
//!   for a Lambda function the payload 2.0 event it was handed.
//! - **History** of calls since the console started, and the issuers' current key sets.
//!
//! Tokens live in the page and, for a sign-in's hand-over, in this process's memory until the page
//! takes them: never in a log or a file. The API answers only requests from its own page: the
//! `Host` must be the console's address and an `Origin`, when sent, its own.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portcullis_claims::explain::{Explanation, Outcome, rule_of};
use portcullis_claims::{AuthError, Authorizer, Gate, VerifierOptions};
use portcullis_config::{AuthSettings, Routes};
use portcullis_grant::{AuthorizationCode, Endpoints};
use portcullis_testkit::Issuer;
use serde_json::{Value, json};

const PAGE: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/console.js");
const STYLE: &str = include_str!("../console/console.css");

/// Calls kept in the history (the oldest go first).
const HISTORY: usize = 200;
/// The longest request path kept in the history (characters).
const MAX_HISTORY_PATH: usize = 2048;
/// Sign-ins waiting for their redirect (the oldest go first).
const PENDING_SIGN_INS: usize = 16;
/// The longest response body shown from the API.
const MAX_SHOWN_BODY: usize = 64 * 1024;

/// What the console needs of the running service.
pub(crate) struct ConsoleSetup {
    /// Judges tokens exactly as the service does.
    pub(crate) authorizer: Authorizer,
    /// The routes, with their scopes (the service's own included).
    pub(crate) routes: Routes,
    /// The API's base URL.
    pub(crate) api: String,
    /// The development issuer, when the service trusts it: tokens are minted from it.
    pub(crate) issuer: Option<Arc<Issuer>>,
    /// The provider's sign-in page, when a client id is configured (`OAUTH_CLIENT_ID`).
    pub(crate) sign_in: Option<SignIn>,
    /// With a Lambda function behind the local gateway: the events it was handed, by request id.
    pub(crate) events: Option<Arc<portcullis_emulator::runtime_api::Queue>>,
}

impl ConsoleSetup {
    /// The console of a service judging by `auth` over `routes` at `api`: an authorizer of its own
    /// from the same settings, and the provider's sign-in when `OAUTH_CLIENT_ID` names a client
    /// (discovered only then).
    pub(crate) async fn new(
        auth: &AuthSettings,
        routes: Routes,
        api: String,
        issuer: Option<Arc<Issuer>>,
        events: Option<Arc<portcullis_emulator::runtime_api::Queue>>,
    ) -> Result<ConsoleSetup> {
        let authorizer = auth.authorizer(VerifierOptions::default())?;
        Ok(ConsoleSetup {
            sign_in: SignIn::from_env(&authorizer).await?,
            authorizer,
            routes,
            api,
            issuer,
            events,
        })
    }
}

/// The configured provider's authorization code + PKCE sign-in.
#[derive(Debug, Clone)]
pub(crate) struct SignIn {
    pub(crate) endpoints: Endpoints,
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<String>,
    pub(crate) scopes: Vec<String>,
}

impl SignIn {
    /// The sign-in of the first trusted issuer, found by OIDC discovery, when `OAUTH_CLIENT_ID`
    /// names a client (`OAUTH_CLIENT_SECRET` for a confidential one). `None` without a client id.
    pub(crate) async fn from_env(authorizer: &Authorizer) -> Result<Option<SignIn>> {
        let Some(client_id) = std::env::var("OAUTH_CLIENT_ID")
            .ok()
            .filter(|id| !id.is_empty())
        else {
            return Ok(None);
        };
        let config = authorizer.verifiers()[0].config();
        let endpoints = Endpoints::discover(config).await.with_context(|| {
            format!(
                "the console's sign-in: discovering {}'s endpoints",
                config.issuer()
            )
        })?;
        Ok(Some(SignIn {
            endpoints,
            client_id,
            client_secret: std::env::var("OAUTH_CLIENT_SECRET")
                .ok()
                .filter(|s| !s.is_empty()),
            scopes: ["openid", "profile", "email"].map(str::to_owned).to_vec(),
        }))
    }
}

struct Console {
    setup: ConsoleSetup,
    /// The console's own origin, `http://127.0.0.1:PORT`.
    origin: String,
    /// The secret of the printed URL; the page holds it as the cookie named `cookie`. Another
    /// program on this machine, which has not seen the URL, gets nothing.
    key: String,
    cookie: String,
    http: reqwest::Client,
    history: Mutex<Vec<Value>>,
    /// Sign-ins waiting for their redirect, by `state`.
    pending: Mutex<Vec<AuthorizationCode>>,
    /// A signed-in token waiting for the page to take it (once).
    handed_over: Mutex<Option<Value>>,
}

/// Where `--console` asks the console to listen: `None` for `off`; refused unless a loopback
/// address (checked before anything starts).
pub(crate) fn address(flag: &str) -> Result<Option<std::net::SocketAddr>> {
    if flag == "off" {
        return Ok(None);
    }
    let address: std::net::SocketAddr = flag.parse().map_err(|_| {
        anyhow::anyhow!(
            "--console {flag:?}: expected a loopback address like 127.0.0.1:3001, or off"
        )
    })?;
    if !address.ip().is_loopback() {
        anyhow::bail!(
            "--console {flag:?}: expected a loopback address (127.0.0.1 or [::1]): the console mints and shows tokens"
        );
    }
    Ok(Some(address))
}

/// Starts the console as `flag` says (`off`: not at all, and `setup` is never awaited, so no
/// authorizer is built and no provider asked); answers its URL, which carries the console's key,
/// and its task, which serves until aborted. Only a loopback address is taken: the console hands
/// out tokens.
pub(crate) async fn start(
    flag: &str,
    setup: impl std::future::Future<Output = Result<ConsoleSetup>>,
) -> Result<Option<(String, tokio::task::JoinHandle<()>)>> {
    let Some(address) = address(flag)? else {
        return Ok(None);
    };
    let setup = setup.await?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} for the console (--console ADDR)"))?;
    let key = portcullis_grant::random_text();
    let url = format!("http://{}/?key={key}", listener.local_addr()?);
    let task = serve(listener, setup, key)?;
    Ok(Some((url, task)))
}

/// Serves the console on `listener` until the task is dropped or aborted.
fn serve(
    listener: tokio::net::TcpListener,
    setup: ConsoleSetup,
    key: String,
) -> Result<tokio::task::JoinHandle<()>> {
    let address = listener.local_addr()?;
    let origin = format!("http://{address}");
    // Cookies are kept per host, not per port: one name per console.
    let cookie = format!("portcullis-console-{}", address.port());
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the console's HTTP client")?;
    if let Some(events) = &setup.events {
        events.keep_recent_events();
    }
    let console = Arc::new(Console {
        setup,
        origin,
        key,
        cookie,
        http,
        history: Mutex::default(),
        pending: Mutex::default(),
        handed_over: Mutex::default(),
    });
    let app = Router::new()
        .route(
            "/",
            get(|| async { page(PAGE, "text/html; charset=utf-8") }),
        )
        .route(
            "/console.js",
            get(|| async { page(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/console.css",
            get(|| async { page(STYLE, "text/css; charset=utf-8") }),
        )
        .route("/api/info", get(info))
        .route("/api/mint", post(mint))
        .route("/api/inspect", post(inspect))
        .route("/api/call", post(call))
        .route("/api/history", get(history))
        .route("/api/keys", get(keys))
        .route("/api/signed-in", post(signed_in))
        .route("/sign-in", get(sign_in))
        .route("/callback", get(callback))
        .layer(axum::middleware::from_fn_with_state(
            console.clone(),
            same_origin_only,
        ))
        .with_state(console);
    Ok(tokio::spawn(async move {
        let _ = portcullis_axum::serve::serve(listener, app, std::future::pending()).await;
    }))
}

fn page(text: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            ),
        ],
        text,
    )
        .into_response()
}

/// Answers the console's own page only. Refused: a `Host` other than the console's address (DNS
/// rebinding), an `Origin` other than its own (another site's script or form), and, but for the
/// page's script and style, a request without the console's key (another program on this
/// machine). The printed URL's `?key=` sets the key as an HttpOnly, SameSite=Lax cookie (Lax: the
/// provider's redirect to `/callback` is a top-level navigation from another site, and carries it).
async fn same_origin_only(
    State(console): State<Arc<Console>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers();
    let own_host = console.origin.trim_start_matches("http://");
    let localhost = console.origin.replace("127.0.0.1", "localhost");
    let host_ok = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|host| host == own_host || host == localhost.trim_start_matches("http://"));
    let origin_ok = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_none_or(|origin| origin == console.origin || origin == localhost);
    if !(host_ok && origin_ok) {
        return refused("the console answers its own page only");
    }
    let path = request.uri().path();
    let query_key =
        url::form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
            .find(|(name, _)| name == "key")
            .map(|(_, value)| value.into_owned());
    if path == "/" && query_key.as_deref() == Some(console.key.as_str()) {
        let cookie = format!(
            "{}={}; HttpOnly; SameSite=Lax; Path=/",
            console.cookie, console.key
        );
        let mut response = Redirect::to("/").into_response();
        if let Ok(value) = header::HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        return guarded(response);
    }
    let has_key = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == console.cookie && value == console.key);
    if !has_key && !matches!(path, "/console.js" | "/console.css") {
        return refused(
            "open the console through the URL portcullis printed: it carries the console's key",
        );
    }
    guarded(next.run(request).await)
}

/// Every answer: no content sniffing.
fn guarded(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    response
}

fn refused(message: &'static str) -> Response {
    guarded((StatusCode::FORBIDDEN, message).into_response())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": message.into()})),
    )
        .into_response()
}

async fn info(State(console): State<Arc<Console>>) -> Response {
    let setup = &console.setup;
    let routes: Vec<Value> = setup
        .routes
        .iter()
        .map(|route| json!({"route": route.key(), "scopes": route.scopes(), "protected": route.is_protected()}))
        .collect();
    let issuers: Vec<&str> = setup
        .authorizer
        .verifiers()
        .iter()
        .map(|v| v.config().issuer())
        .collect();
    axum::Json(json!({
        "api": setup.api,
        "issuers": issuers,
        "routes": routes,
        "can_mint": setup.issuer.is_some(),
        "can_sign_in": setup.sign_in.is_some(),
    }))
    .into_response()
}

/// `POST /api/mint`: a token from the development issuer.
async fn mint(
    State(console): State<Arc<Console>>,
    axum::Json(form): axum::Json<Value>,
) -> Response {
    let Some(issuer) = &console.setup.issuer else {
        return bad_request(
            "no development issuer: this service trusts the configured provider (sign in instead)",
        );
    };
    let text = |name: &str| {
        form.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
    };
    let subject = if text("subject").is_empty() {
        "dev-user"
    } else {
        text("subject")
    };
    let minutes = match form.get("lifetime_minutes") {
        None | Some(Value::Null) => 60,
        Some(value) => match value.as_i64() {
            Some(minutes) if (-1440..=1440).contains(&minutes) && minutes != 0 => minutes,
            _ => {
                return bad_request(format!(
                    "lifetime {value} minutes: expected a whole number from -1440 to 1440, not 0 (negative: already expired)"
                ));
            }
        },
    };
    let token_use = match text("token_use") {
        "" | "access" => "access",
        "id" => "id",
        other => {
            return bad_request(format!(
                "token use {other:?}: expected \"access\" or \"id\""
            ));
        }
    };
    let mut extra = json!({"token_use": token_use});
    if !text("email").is_empty() {
        extra["email"] = json!(text("email"));
    }
    let groups: Vec<&str> = text("groups")
        .split([',', ' '])
        .filter(|g| !g.is_empty())
        .collect();
    if !groups.is_empty() {
        extra["groups"] = json!(groups);
    }
    let scopes = text("scopes")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    match issuer.mint_for(subject, &scopes, minutes * 60, &extra) {
        Some(token) => axum::Json(json!({"token": token})).into_response(),
        None => bad_request("the development issuer does not mint tokens"),
    }
}

/// `POST /api/inspect`: the token's verdict rule by rule, and each route's scope rule.
async fn inspect(
    State(console): State<Arc<Console>>,
    axum::Json(form): axum::Json<Value>,
) -> Response {
    let token = bare(
        form.get("token")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    axum::Json(explained(&console, &authorization(token)).await).into_response()
}

/// A pasted token without a leading `Bearer ` (in any case) and surrounding white space.
fn bare(pasted: &str) -> &str {
    let pasted = pasted.trim();
    match pasted.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => pasted[7..].trim_start(),
        _ => pasted,
    }
}

/// The `Authorization` value a call sends with `token`: what Inspect judges too, so the two agree
/// to the byte (the size bound counts the prefix).
fn authorization(token: &str) -> String {
    if token.is_empty() {
        String::new()
    } else {
        format!("Bearer {token}")
    }
}

/// The refusal of `authorization` as `gate` answers it (an ALB: an empty 401, no challenge), and
/// the rule that made it.
fn answer(gate: Gate, refusal: &AuthError, authorization: &str) -> Value {
    json!({
        "status": gate.status(refusal),
        "body": gate.body(refusal),
        "www_authenticate": gate.www_authenticate(refusal),
        "reason": refusal.reason(),
        "rule": rule_of(refusal, authorization),
    })
}

async fn explained(console: &Console, authorization: &str) -> Value {
    let authorizer = &console.setup.authorizer;
    let Explanation {
        header,
        claims,
        verdict,
        rules,
    } = authorizer.explain(authorization).await;
    let rules: Vec<Value> = rules
        .iter()
        .map(|check| {
            let (outcome, refusal) = match &check.outcome {
                Outcome::Passed => ("passed", Value::Null),
                Outcome::Failed(refusal) => ("failed", answer(authorizer.gate(), refusal, authorization)),
                Outcome::NotReached => ("not_reached", Value::Null),
            };
            json!({"rule": check.rule, "outcome": outcome, "detail": check.detail, "refusal": refusal})
        })
        .collect();
    let mut routes = Vec::new();
    for route in console.setup.routes.iter() {
        let key = route.key();
        let (outcome, refusal) = if !route.is_protected() {
            ("open", Value::Null)
        } else if verdict.is_err() {
            ("not_reached", Value::Null)
        } else {
            match authorizer
                .authorize(Some(authorization), route.scopes())
                .await
            {
                Ok(_) => ("passed", Value::Null),
                Err(refusal) => ("failed", answer(authorizer.gate(), &refusal, authorization)),
            }
        };
        routes.push(
            json!({"route": key, "scopes": route.scopes(), "outcome": outcome, "refusal": refusal}),
        );
    }
    json!({
        "header": header,
        "claims": claims,
        "verdict": match &verdict {
            Ok(()) => json!({"status": 200}),
            Err(refusal) => answer(authorizer.gate(), refusal, authorization),
        },
        "rules": rules,
        "routes": routes,
        "now": unix_now(),
    })
}

/// `POST /api/call`: the request to the API, with the token attached.
async fn call(
    State(console): State<Arc<Console>>,
    axum::Json(form): axum::Json<Value>,
) -> Response {
    let text = |name: &str| form.get(name).and_then(Value::as_str).unwrap_or_default();
    let method = match text("method").to_ascii_uppercase().as_str() {
        "" => reqwest::Method::GET,
        name @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => {
            reqwest::Method::from_bytes(name.as_bytes()).unwrap_or(reqwest::Method::GET)
        }
        other => {
            return bad_request(format!(
                "method {other:?}: expected GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS"
            ));
        }
    };
    let path = text("path").trim();
    if !path.starts_with('/') {
        return bad_request(format!("path {path:?}: expected one starting with /"));
    }
    let mut request = console
        .http
        .request(method.clone(), format!("{}{path}", console.setup.api));
    for line in text("headers")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let Some((name, value)) = line.split_once(':') else {
            return bad_request(format!("header line {line:?}: expected NAME: VALUE"));
        };
        request = request.header(name.trim(), value.trim());
    }
    let sent = authorization(bare(text("token")));
    if !sent.is_empty() {
        request = request.header(header::AUTHORIZATION, &sent);
    }
    if !text("body").is_empty() {
        request = request.body(text("body").to_owned());
    }
    let started = std::time::Instant::now();
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => {
            return bad_request(format!(
                "the API at {} did not answer: {error}",
                console.setup.api
            ));
        }
    };
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = response.text().await.unwrap_or_default();
    if body.len() > MAX_SHOWN_BODY {
        let mut end = MAX_SHOWN_BODY;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        body.truncate(end);
        body.push_str("\n… (cut)");
    }
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    // What the gate made of the token, for the history: never the token itself.
    let judged = if sent.is_empty() {
        Value::Null
    } else {
        let explained = console.setup.authorizer.explain(&sent).await;
        let subject = explained
            .claims
            .as_ref()
            .and_then(|c| c.get("sub"))
            .and_then(Value::as_str)
            .map(|s| s.chars().take(64).collect::<String>());
        let rule = explained.verdict.as_ref().err().map(|r| rule_of(r, &sent));
        json!({"sub": subject, "rule": rule})
    };
    let www_authenticate = headers
        .iter()
        .find(|(k, _)| k == header::WWW_AUTHENTICATE.as_str())
        .map(|(_, v)| v.clone());
    let entry = json!({
        "at": unix_now(),
        "method": method.as_str(),
        "path": path.chars().take(MAX_HISTORY_PATH).collect::<String>(),
        "status": status,
        "www_authenticate": www_authenticate,
        "token": judged,
        "ms": elapsed_ms,
    });
    {
        let mut history = lock(&console.history);
        if history.len() == HISTORY {
            history.remove(0);
        }
        history.push(entry);
    }
    // The payload 2.0 event the function was handed, found by API Gateway's request id.
    let event = console.setup.events.as_ref().and_then(|events| {
        let id = headers.iter().find(|(k, _)| k == "apigw-requestid")?;
        events.recent_event(&id.1)
    });
    axum::Json(json!({"status": status, "headers": headers, "body": body, "ms": elapsed_ms, "event": event}))
        .into_response()
}

async fn history(State(console): State<Arc<Console>>) -> Response {
    axum::Json(Value::Array(lock(&console.history).clone())).into_response()
}

/// `GET /api/keys`: each trusted issuer's key set as it publishes it now.
async fn keys(State(console): State<Arc<Console>>) -> Response {
    let mut sets = Vec::new();
    for verifier in console.setup.authorizer.verifiers() {
        let issuer = verifier.config().issuer();
        match verifier.keys().fetch_document().await {
            Ok(document) => sets.push(json!({"issuer": issuer, "jwks": document})),
            Err(error) => sets.push(json!({"issuer": issuer, "error": error.to_string()})),
        }
    }
    axum::Json(Value::Array(sets)).into_response()
}

/// `GET /sign-in`: off to the provider's sign-in page, coming back to `/callback`.
async fn sign_in(State(console): State<Arc<Console>>) -> Response {
    let Some(sign_in) = &console.setup.sign_in else {
        return bad_request(
            "no provider sign-in: set OAUTH_CLIENT_ID (and OAUTH_CLIENT_SECRET for a confidential client) and start again",
        );
    };
    let redirect_uri = format!("{}/callback", console.origin);
    let mut grant = AuthorizationCode::new(
        sign_in.endpoints.clone(),
        &sign_in.client_id,
        &redirect_uri,
        &sign_in.scopes,
    );
    grant.client_secret = sign_in.client_secret.clone();
    let url = match grant.authorize_url() {
        Ok(url) => url,
        Err(error) => return bad_request(error.to_string()),
    };
    {
        let mut pending = lock(&console.pending);
        if pending.len() == PENDING_SIGN_INS {
            pending.remove(0);
        }
        pending.push(grant);
    }
    Redirect::to(url.as_str()).into_response()
}

/// `GET /callback`: the provider's redirect; the code is exchanged here and the token handed to
/// the page once.
async fn callback(State(console): State<Arc<Console>>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let state = url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "state")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let grant = {
        let mut pending = lock(&console.pending);
        let found = pending.iter().position(|g| g.state == state);
        found.map(|i| pending.remove(i))
    };
    let outcome = match grant {
        // Not ours: a hand-over already waiting for the page stays as it is.
        None => {
            return bad_request(
                "no sign-in of this console is waiting for this redirect (stale or forged state): sign in again",
            );
        }
        Some(grant) => {
            let code = grant.code_from_redirect(&query).map_err(|e| e.to_string());
            match code {
                Err(error) => Err(error),
                Ok(code) => grant.exchange(&code).await.map_err(|e| e.to_string()),
            }
        }
    };
    let handed = match outcome {
        Ok(granted) => json!({"access_token": granted.access_token, "id_token": granted.id_token}),
        Err(error) => json!({"error": error}),
    };
    *lock(&console.handed_over) = Some(handed);
    Redirect::to("/?signed-in").into_response()
}

/// `POST /api/signed-in`: the last sign-in's tokens, or its error, once.
async fn signed_in(State(console): State<Arc<Console>>) -> Response {
    let handed = lock(&console.handed_over).take();
    axum::Json(handed.unwrap_or(Value::Null)).into_response()
}
