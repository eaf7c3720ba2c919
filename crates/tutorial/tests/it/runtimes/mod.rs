//! The runtimes the request table runs against, and what a case sends and snapshots.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use portcullis_axum::AuthLayer;
use portcullis_axum::runtime::harden;
use portcullis_axum::serve::serve;
use portcullis_claims::{Gate, VerifierOptions};
use portcullis_config::{Settings, Sources, load};
use portcullis_emulator::{Emulator, Setup};
use portcullis_testkit::{Issuer, TestKey, unix_now};
use portcullis_tutorial::run::with_cors;
use portcullis_tutorial::{API_ROUTES, ProfileIssuers, ProfileStore, Service, SqliteStore, app};
use serde_json::{Value, json};

pub const CLIENT: &str = "dev-client";
const KID: &str = "dev-key";

/// A request of the table.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: &'static str,
    pub path: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

impl Request {
    pub fn get(path: &'static str) -> Request {
        Request {
            method: "GET",
            path,
            headers: vec![],
            body: None,
        }
    }
    pub fn other(method: &'static str, path: &'static str) -> Request {
        Request {
            method,
            path,
            headers: vec![],
            body: None,
        }
    }
    pub fn post(path: &'static str, body: &str) -> Request {
        Request {
            method: "POST",
            path,
            headers: vec![("content-type", "application/json".into())],
            body: Some(body.into()),
        }
    }
    pub fn bearer(mut self, token: &str) -> Request {
        self.headers
            .push(("authorization", format!("Bearer {token}")));
        self
    }
    pub fn content_type(mut self, value: &str) -> Request {
        self.headers.retain(|(k, _)| *k != "content-type");
        self.headers.push(("content-type", value.into()));
        self
    }
    pub fn if_match(mut self, value: &str) -> Request {
        self.headers.push(("if-match", value.into()));
        self
    }
    pub fn header(mut self, name: &'static str, value: &str) -> Request {
        self.headers.push((name, value.into()));
        self
    }
    /// A CORS preflight from `origin` asking for `method` with `headers`.
    pub fn preflight(path: &'static str, origin: &str, method: &str, headers: &str) -> Request {
        Request::other("OPTIONS", path)
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", headers)
    }
}

/// What came back, reduced to what must be identical across runtimes.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    /// Texts that differ per run (the issuer's port) and are replaced in snapshots.
    pub volatile: Vec<(String, &'static str)>,
}

impl Answer {
    /// Status, the headers that matter, and the body (JSON pretty-printed, times and ports masked).
    pub fn render(&self) -> String {
        let mut out = format!("{}\n", self.status);
        for name in [
            "content-type",
            "etag",
            "www-authenticate",
            "access-control-allow-origin",
            "access-control-allow-credentials",
            "access-control-allow-methods",
            "access-control-allow-headers",
            "access-control-expose-headers",
            "access-control-max-age",
            "vary",
        ] {
            if let Some(value) = self.headers.get(name) {
                out.push_str(&format!("{name}: {value}\n"));
            }
        }
        out.push('\n');
        let body = match serde_json::from_str::<Value>(&self.body) {
            Ok(mut json) => {
                if let Some(claims) = json.get_mut("claims").and_then(Value::as_object_mut) {
                    for time in ["exp", "iat", "nbf", "auth_time"] {
                        if claims.contains_key(time) {
                            claims.insert(time.into(), json!("[time]"));
                        }
                    }
                }
                serde_json::to_string_pretty(&json).unwrap_or_default()
            }
            Err(_) => self.body.clone(),
        };
        let mut body = body;
        for (text, mask) in &self.volatile {
            body = body.replace(text, mask);
        }
        out + &body
    }
}

/// A Lambda proxy response document (what the function posts to the Runtime API), rendered as
/// [`Answer::render`] renders an HTTP answer.
pub fn render_lambda_answer(answer: &Value, issuer: &str) -> String {
    let mut headers = BTreeMap::new();
    for (name, value) in answer["headers"].as_object().into_iter().flatten() {
        headers.insert(
            name.to_ascii_lowercase(),
            value.as_str().unwrap_or_default().to_owned(),
        );
    }
    for (name, values) in answer["multiValueHeaders"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let joined: Vec<&str> = values
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        headers
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| joined.join(", "));
    }
    assert_ne!(
        answer["isBase64Encoded"],
        json!(true),
        "a JSON service answers text"
    );
    Answer {
        status: answer["statusCode"].as_u64().expect("statusCode") as u16,
        headers,
        body: answer["body"].as_str().unwrap_or_default().to_owned(),
        volatile: vec![(issuer.to_owned(), "[issuer]")],
    }
    .render()
}

/// Tokens for the table, all from the development issuer except `foreign`.
pub struct Tokens {
    pub id: String,
    pub access: String,
    pub read_only: String,
    pub expired: String,
    pub foreign: String,
}

impl Tokens {
    pub fn mint(issuer: &str) -> Tokens {
        Tokens::mint_for(issuer, Gate::HttpApi)
    }

    /// The table's tokens for `gate`: behind a REST API, access tokens carry `aud` too (as
    /// Auth0's and Okta's do): its authorizer requires `aud` and never reads `client_id`, so a
    /// Cognito access token, which has none, is refused there (GATES.md §6, row 1).
    pub fn mint_for(issuer: &str, gate: Gate) -> Tokens {
        let key = TestKey::rsa(KID);
        let now = unix_now();
        let id = json!({
            "iss": issuer, "aud": CLIENT, "sub": "user-1", "token_use": "id", "email": "alice@example.com",
            "cognito:username": "alice", "cognito:groups": ["admin", "poweruser"], "email_verified": true,
            "iat": now, "exp": now + 3600,
        });
        let access = |scope: &str, exp: i64| {
            let mut claims = json!({
                "iss": issuer, "client_id": CLIENT, "sub": "user-1", "token_use": "access", "username": "alice",
                "scope": scope, "iat": now, "exp": exp,
            });
            if gate == Gate::RestApi {
                claims["aud"] = json!(CLIENT);
            }
            claims
        };
        Tokens {
            id: key.mint(&id),
            access: key.mint(&access("profile/read profile/write", now + 3600)),
            read_only: key.mint(&access("profile/read", now + 3600)),
            expired: key.mint(&access("profile/read profile/write", now - 10)),
            foreign: TestKey::rsa_other(KID)
                .mint(&access("profile/read profile/write", now + 3600)),
        }
    }
}

/// The configuration every runtime uses: the development issuer, the tutorial's routes.
pub fn settings_text(issuer: &str) -> String {
    format!("{}{CORS}", settings_text_without_cors(issuer))
}

/// The web page the table's cross-origin requests come from, and the API's CORS configuration.
pub const PAGE_ORIGIN: &str = "https://app.example.com";
const CORS: &str = "[cors]\nallow_origins = [\"https://app.example.com\"]\n\
    allow_methods = [\"GET\", \"POST\"]\nallow_headers = [\"authorization\", \"content-type\", \"if-match\"]\n\
    expose_headers = [\"etag\"]\nmax_age_seconds = 600\n";

/// [`settings_text`] without its `[cors]` section.
pub fn settings_text_without_cors(issuer: &str) -> String {
    format!(
        "[auth]\nprovider = \"oidc\"\nissuer = \"{issuer}\"\naudience = \"{CLIENT}\"\n\
         [routes.\"POST /user/profile\"]\nscopes = [\"profile/write\"]\n"
    )
}

/// [`settings_text`] with `auth.gate` set to `gate`; without `[cors]` behind an ALB, which has no
/// CORS configuration (preflights reach its listener rules like any request).
pub fn settings_text_for(issuer: &str, gate: Gate) -> String {
    let text = match gate {
        Gate::Alb => settings_text_without_cors(issuer),
        Gate::HttpApi | Gate::RestApi => settings_text(issuer),
    };
    text.replacen("[auth]\n", &format!("[auth]\ngate = \"{gate}\"\n"), 1)
}

/// [`settings_text`], loaded.
pub fn settings(issuer: &str) -> Settings {
    load(&Sources::text(&settings_text(issuer))).expect("test settings")
}

/// A scratch folder removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(label: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("portcullis-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Something that answers HTTP requests for the profile service.
pub trait Runtime {
    fn tokens(&self) -> Tokens;
    /// The gate in front of the service (its snapshots are named after it but for the HTTP API).
    fn gate(&self) -> Gate {
        Gate::HttpApi
    }
    async fn send(&self, request: &Request) -> Answer;
}

/// The standalone axum server on 127.0.0.1, backed by SQLite in a scratch folder.
pub struct Standalone {
    pub base: String,
    pub issuer: Issuer,
    pub gate: Gate,
    client: reqwest::Client,
    _scratch: Scratch,
}

impl Standalone {
    pub async fn start() -> Standalone {
        Standalone::start_with(settings_text).await
    }

    /// The server with the settings `text` gives for the issuer's URL.
    pub async fn start_with(text: fn(&str) -> String) -> Standalone {
        Standalone::start_with_text(text, Gate::HttpApi).await
    }

    /// The server behind `gate`'s rules.
    pub async fn start_behind(gate: Gate) -> Standalone {
        Standalone::start_with_text(|issuer| settings_text_for(issuer, gate), gate).await
    }

    async fn start_with_text(text: impl Fn(&str) -> String, gate: Gate) -> Standalone {
        let issuer = Issuer::start(portcullis_testkit::jwks([TestKey::rsa(KID).jwk()]))
            .await
            .expect("issuer");
        let settings = load(&Sources::text(&text(issuer.url()))).expect("test settings");
        let scratch = Scratch::new("standalone");
        let issuers = ProfileIssuers::from_settings(&settings.auth);
        let store: Arc<dyn ProfileStore> = Arc::new(
            SqliteStore::open(&scratch.0.join("profiles.db"), Some(issuers.legacy()))
                .expect("store"),
        );
        let authorizer = settings
            .auth
            .authorizer(VerifierOptions::default())
            .expect("authorizer");
        let routes = settings.routes.clone();
        let auth = AuthLayer::new(authorizer, settings.auth.mapping.clone(), move |m, p| {
            routes.scopes(m.as_str(), p).to_vec()
        });
        let router = harden(
            with_cors(
                app(
                    Service::new(store, settings.server.body_limit, issuers),
                    auth,
                ),
                &settings,
            ),
            settings.server.request_timeout,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(serve(listener, router, std::future::pending()));
        Standalone {
            base,
            issuer,
            gate,
            client: reqwest::Client::new(),
            _scratch: scratch,
        }
    }
}

impl Runtime for Standalone {
    fn tokens(&self) -> Tokens {
        Tokens::mint_for(self.issuer.url(), self.gate)
    }
    fn gate(&self) -> Gate {
        self.gate
    }

    async fn send(&self, request: &Request) -> Answer {
        send(&self.client, &self.base, self.issuer.url(), request).await
    }
}

/// The real Lambda `bootstrap` binary, polling the local Runtime API behind the local HTTP API
/// gateway (JWT authorizer included), with SQLite in a scratch folder.
pub struct Lambda {
    pub issuer: Issuer,
    pub gate: Gate,
    pub emulator: Emulator,
    child: std::process::Child,
    client: reqwest::Client,
    _scratch: Scratch,
}

impl Lambda {
    pub async fn start() -> Lambda {
        Lambda::start_with("").await
    }

    /// [`Lambda::start`] with `extra` appended to the function's configuration file.
    pub async fn start_with(extra: &str) -> Lambda {
        Lambda::start_gate(extra, Gate::HttpApi).await
    }

    /// The function behind `gate`'s local emulation (its event shape, its refusals).
    pub async fn start_behind(gate: Gate) -> Lambda {
        Lambda::start_gate("", gate).await
    }

    async fn start_gate(extra: &str, gate: Gate) -> Lambda {
        let issuer = Issuer::start(portcullis_testkit::jwks([TestKey::rsa(KID).jwk()]))
            .await
            .expect("issuer");
        let text = settings_text_for(issuer.url(), gate);
        let settings = load(&Sources::text(&text)).expect("test settings");
        let scratch = Scratch::new("lambda");
        let file = format!(
            "{text}\n[store]\nkind = \"sqlite\"\npath = \"{}\"\n{extra}",
            scratch.0.join("profiles.db").display()
        );
        std::fs::write(scratch.0.join("portcullis.toml"), file).expect("config file");
        let authorizer = settings
            .auth
            .authorizer(VerifierOptions::default())
            .expect("authorizer");
        let routes = settings.routes.with_served(&API_ROUTES);
        let setup = Setup {
            cors: settings.cors.clone(),
            ..Setup::new(authorizer, routes)
        };
        let emulator = Emulator::start(setup, "127.0.0.1:0")
            .await
            .expect("emulator");
        let log = std::fs::File::create(scratch.0.join("bootstrap.log")).expect("log file");
        let child = std::process::Command::new(bootstrap_binary())
            .current_dir(&scratch.0)
            .envs(emulator.function_env())
            // As a deployment behind a REST API sets it (lambda_http puts the stage before paths).
            .envs(
                (gate == Gate::RestApi).then_some(("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true")),
            )
            .env("RUST_LOG", "warn")
            .stdout(std::fs::File::create(scratch.0.join("bootstrap.out")).expect("stdout file"))
            .stderr(log)
            .spawn()
            .expect("bootstrap starts");
        Lambda {
            issuer,
            gate,
            emulator,
            child,
            client: reqwest::Client::new(),
            _scratch: scratch,
        }
    }
}

impl Lambda {
    /// What the function has printed on stdout so far (where Lambda's embedded metric format
    /// lines go).
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self._scratch.0.join("bootstrap.out")).expect("stdout file")
    }

    /// Invokes the function directly with `event` (no gateway) and returns its response
    /// document; `name` names the case in a failure.
    pub async fn invoke(&self, name: &str, event: Value) -> Value {
        self.emulator
            .invoke(event)
            .await
            .unwrap_or_else(|error| panic!("{name}: no answer from the function: {error}"))
            .unwrap_or_else(|error| panic!("{name}: the function failed: {error}"))
    }
}

impl Drop for Lambda {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Runtime for Lambda {
    fn tokens(&self) -> Tokens {
        Tokens::mint_for(self.issuer.url(), self.gate)
    }
    fn gate(&self) -> Gate {
        self.gate
    }

    async fn send(&self, request: &Request) -> Answer {
        send(
            &self.client,
            &self.emulator.gateway_url(),
            self.issuer.url(),
            request,
        )
        .await
    }
}

/// The cases: a name, then the request built from the tokens.
pub fn cases(t: &Tokens) -> Vec<(&'static str, Request)> {
    let profile = json!({"name": "Alice", "team": "platform"}).to_string();
    vec![
        ("healthz_is_unprotected", Request::get("/healthz")),
        ("no_token", Request::get("/user/profile")),
        (
            "bad_token",
            Request::get("/user/profile").bearer("abc.def.ghi"),
        ),
        (
            // A valid token beside junk: neither is judged, whichever comes first.
            "two_authorization_headers",
            Request::get("/user/profile")
                .bearer(&t.access)
                .bearer("junk"),
        ),
        (
            // API Gateway routes `GET /user/profile` to GET only: HEAD finds no route.
            "head_is_not_a_route",
            Request::other("HEAD", "/user/profile").bearer(&t.read_only),
        ),
        (
            "delete_is_not_a_route",
            Request::other("DELETE", "/user/profile").bearer(&t.access),
        ),
        (
            // An OPTIONS that is no preflight (no Origin, no Access-Control-Request-Method) is
            // routed like any request, CORS configuration or not: no route.
            "options_that_is_no_preflight_is_not_a_route",
            Request::other("OPTIONS", "/user/profile"),
        ),
        (
            // The API's [cors] answers a preflight before routing and judging (no token).
            "preflight_from_the_allowed_origin",
            Request::preflight(
                "/user/profile",
                PAGE_ORIGIN,
                "POST",
                "authorization,content-type",
            ),
        ),
        (
            // Answered, but without CORS headers: the browser does not send the request.
            "preflight_from_another_origin",
            Request::preflight(
                "/user/profile",
                "https://evil.example",
                "POST",
                "authorization",
            ),
        ),
        (
            "preflight_asking_for_a_header_not_allowed",
            Request::preflight(
                "/user/profile",
                PAGE_ORIGIN,
                "GET",
                "authorization,x-secret",
            ),
        ),
        (
            // A refusal carries the CORS headers too, so the page can read why.
            "cross_origin_request_without_token",
            Request::get("/user/profile").header("origin", PAGE_ORIGIN),
        ),
        (
            "expired_token",
            Request::get("/user/profile").bearer(&t.expired),
        ),
        (
            "foreign_issuer_token",
            Request::get("/user/profile").bearer(&t.foreign),
        ),
        (
            "id_token_get_before_post",
            Request::get("/user/profile").bearer(&t.id),
        ),
        (
            "post_without_required_scope",
            Request::post("/user/profile", &profile).bearer(&t.read_only),
        ),
        (
            "post_wrong_content_type",
            Request::post("/user/profile", &profile)
                .bearer(&t.access)
                .content_type("text/plain"),
        ),
        (
            "post_invalid_json",
            Request::post("/user/profile", "{\"name\": ").bearer(&t.access),
        ),
        (
            "post_array",
            Request::post("/user/profile", "[1, 2]").bearer(&t.access),
        ),
        (
            "post_too_large",
            Request::post(
                "/user/profile",
                &format!("{{\"a\":\"{}\"}}", "x".repeat(17_000)),
            )
            .bearer(&t.access),
        ),
        (
            "post_if_match_before_any_profile",
            Request::post("/user/profile", &profile)
                .bearer(&t.access)
                .if_match("\"1\""),
        ),
        (
            "post_first_profile",
            Request::post("/user/profile", &profile).bearer(&t.access),
        ),
        (
            // RFC 9110 §13.1.1: If-Match compares strongly, so a weak tag never matches.
            "post_with_weak_if_match",
            Request::post("/user/profile", "{\"name\":\"Weak\"}")
                .bearer(&t.access)
                .if_match("W/\"1\""),
        ),
        (
            "access_token_get_after_post",
            Request::get("/user/profile").bearer(&t.access),
        ),
        (
            "cross_origin_get_from_the_allowed_origin",
            Request::get("/user/profile")
                .bearer(&t.access)
                .header("origin", PAGE_ORIGIN),
        ),
        (
            "cross_origin_get_from_another_origin",
            Request::get("/user/profile")
                .bearer(&t.access)
                .header("origin", "https://evil.example"),
        ),
        (
            "post_with_current_if_match",
            Request::post("/user/profile", "{\"name\":\"Alice B.\"}")
                .bearer(&t.access)
                .if_match("\"1\""),
        ),
        (
            "post_with_stale_if_match",
            Request::post("/user/profile", "{\"name\":\"Mallory\"}")
                .bearer(&t.access)
                .if_match("\"1\""),
        ),
        (
            "get_after_stale_post_is_unchanged",
            Request::get("/user/profile").bearer(&t.access),
        ),
        (
            "post_with_unparseable_if_match",
            Request::post("/user/profile", &profile)
                .bearer(&t.access)
                .if_match("version-2"),
        ),
    ]
}

/// Runs the table against `runtime`; every answer must equal the one snapshot of its case, kept
/// beside this file (`../snapshots/cases__NAME.snap`) whichever crate's test runs it.
pub async fn run_table(runtime: &impl Runtime) {
    let tokens = runtime.tokens();
    for (name, request) in cases(&tokens) {
        let answer: Answer = runtime.send(&request).await;
        insta::with_settings!({
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => false,
        }, {
            let snapshot = match runtime.gate() {
                Gate::HttpApi => format!("cases__{name}"),
                gate => format!("cases__{}__{name}", gate.as_str().replace('-', "_")),
            };
            insta::assert_snapshot!(snapshot, answer.render());
        });
    }
}

/// The tutorial's `bootstrap` (known only to the tutorial's own tests; crates/cli includes this
/// module without it).
fn bootstrap_binary() -> &'static str {
    match option_env!("CARGO_BIN_EXE_bootstrap") {
        Some(path) => path,
        None => panic!("the Lambda runtime needs the tutorial's bootstrap binary"),
    }
}

/// Sends `request` to `base` over HTTP and keeps what the snapshots compare.
pub async fn send(client: &reqwest::Client, base: &str, issuer: &str, request: &Request) -> Answer {
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).expect("method");
    let mut builder = client.request(method, format!("{base}{}", request.path));
    for (name, value) in &request.headers {
        builder = builder.header(*name, value);
    }
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    let response = builder.send().await.expect("the runtime answers");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response.text().await.expect("body");
    Answer {
        status,
        headers,
        body,
        volatile: vec![(issuer.to_owned(), "[issuer]")],
    }
}
