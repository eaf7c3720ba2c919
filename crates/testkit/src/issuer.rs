//! An OIDC issuer on 127.0.0.1 with an ephemeral port: discovery and JWKS, with failure knobs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// Mints tokens for `POST /token` (a development issuer).
struct Minter {
    key: crate::TestKey,
    audience: String,
}

/// Which documents the failure knobs ([`Issuer::fail_next`], [`Issuer::serve_garbage`],
/// [`Issuer::serve_streamed`]) apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Faults {
    /// Discovery and the key set (the default).
    #[default]
    Everywhere,
    /// Only the discovery document: the key set answers normally.
    Discovery,
    /// Only the key set: discovery answers normally, so a failure is the key fetch's own.
    Jwks,
}

/// The documents an issuer serves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Document {
    Discovery,
    Jwks,
}

#[derive(Default)]
struct Knobs {
    minter: Option<Minter>,
    jwks: Mutex<Value>,
    advertised_jwks_uri: Mutex<Option<String>>,
    advertised_issuer: Mutex<Option<String>>,
    discovery_document: Mutex<Option<Value>>,
    faults: Mutex<Faults>,
    streamed: AtomicBool,
    fail_next: AtomicU64,
    delay_ms: AtomicU64,
    garbage: AtomicBool,
    down: AtomicBool,
    jwks_fetches: AtomicU64,
    discovery_fetches: AtomicU64,
}

/// A running test issuer. Dropping it stops the server.
pub struct Issuer {
    url: String,
    knobs: Arc<Knobs>,
    stop: Option<oneshot::Sender<()>>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Issuer({})", self.url)
    }
}

impl Issuer {
    /// Starts serving `jwks` at `{url}/jwks.json` and discovery at
    /// `{url}/.well-known/openid-configuration`, on 127.0.0.1 with a port the OS picks.
    pub async fn start(jwks: Value) -> std::io::Result<Issuer> {
        Self::start_on(
            "127.0.0.1:0",
            Knobs {
                jwks: Mutex::new(jwks),
                ..Knobs::default()
            },
        )
        .await
    }

    /// A development issuer: publishes `key` and mints tokens signed with it at `POST /token`
    /// (form fields `client_id` → `sub`, `scope`, optional `email`, `token_use`, `ttl`), audience
    /// `audience`. `listen` is a loopback address (`127.0.0.1:0` for any port).
    pub async fn start_minting(
        key: crate::TestKey,
        audience: &str,
        listen: &str,
    ) -> std::io::Result<Issuer> {
        let jwks = crate::jwks([key.jwk()]);
        let minter = Minter {
            key,
            audience: audience.to_owned(),
        };
        Self::start_on(
            listen,
            Knobs {
                jwks: Mutex::new(jwks),
                minter: Some(minter),
                ..Knobs::default()
            },
        )
        .await
    }

    async fn start_on(listen: &str, knobs: Knobs) -> std::io::Result<Issuer> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let knobs = Arc::new(knobs);
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks.json", get(keys))
            .route("/token", axum::routing::post(token))
            .route("/redirect", get(redirect))
            .route("/chain/{hops}", get(chain))
            .with_state((knobs.clone(), url.clone()));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            let _ = serve.await;
        });
        Ok(Issuer {
            url,
            knobs,
            stop: Some(stop),
        })
    }

    /// The issuer identifier, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks.json", self.url)
    }
    /// Replaces the published key set (key rotation).
    pub fn set_jwks(&self, jwks: Value) {
        *self.knobs.jwks.lock().unwrap_or_else(|p| p.into_inner()) = jwks;
    }
    /// Makes discovery advertise this `issuer` instead of its own URL.
    pub fn set_discovery_issuer(&self, issuer: &str) {
        *self
            .knobs
            .advertised_issuer
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(issuer.to_owned());
    }

    /// Makes discovery advertise this `jwks_uri` instead of the issuer's own.
    pub fn set_discovery_jwks_uri(&self, uri: &str) {
        *self
            .knobs
            .advertised_jwks_uri
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(uri.to_owned());
    }
    /// Serves exactly `document` as the discovery document (a document without `jwks_uri`, say),
    /// instead of the one built from the issuer's URL and the other discovery knobs.
    pub fn set_discovery_document(&self, document: Value) {
        *self
            .knobs
            .discovery_document
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(document);
    }
    /// Confines the failure knobs to some documents (see [`Faults`]).
    pub fn set_faults(&self, faults: Faults) {
        *self.knobs.faults.lock().unwrap_or_else(|p| p.into_inner()) = faults;
    }
    /// Sends answers in 1 KiB chunks without `Content-Length` (chunked transfer coding), so a
    /// reader learns their size only by reading them.
    pub fn serve_streamed(&self, on: bool) {
        self.knobs.streamed.store(on, Ordering::SeqCst);
    }
    /// A URL on this issuer that answers with exactly `hops` redirects (302 to `/chain/{hops-1}`,
    /// and so on) before the key set itself.
    pub fn redirect_chain(&self, hops: u32) -> String {
        format!("{}/chain/{hops}", self.url)
    }
    /// The next `n` requests answer 500.
    pub fn fail_next(&self, n: u64) {
        self.knobs.fail_next.store(n, Ordering::SeqCst);
    }
    /// Every answer waits this long first.
    pub fn set_delay(&self, delay: Duration) {
        self.knobs
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }
    /// Answer 200 with an HTML page instead of JSON.
    pub fn serve_garbage(&self, on: bool) {
        self.knobs.garbage.store(on, Ordering::SeqCst);
    }
    /// A token from this issuer's minter (see [`Issuer::start_minting`]), without HTTP.
    pub fn mint(&self, sub: &str, scope: &str, extra: &Value) -> Option<String> {
        self.mint_for(sub, scope, 3600, extra)
    }
    /// [`Issuer::mint`] with a lifetime of `ttl` seconds from now (negative: already expired).
    pub fn mint_for(&self, sub: &str, scope: &str, ttl: i64, extra: &Value) -> Option<String> {
        let minter = self.knobs.minter.as_ref()?;
        Some(minter.key.mint(&minted_claims(
            &self.url,
            &minter.audience,
            sub,
            scope,
            ttl,
            extra,
        )))
    }
    /// JWKS documents served (successful or not).
    pub fn jwks_fetches(&self) -> u64 {
        self.knobs.jwks_fetches.load(Ordering::SeqCst)
    }
    /// Discovery documents served.
    pub fn discovery_fetches(&self) -> u64 {
        self.knobs.discovery_fetches.load(Ordering::SeqCst)
    }
    /// Takes the issuer down: the listener closes and any request still reaching it fails.
    pub fn stop(&mut self) {
        self.knobs.down.store(true, Ordering::SeqCst);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.stop();
    }
}

type Shared = (Arc<Knobs>, String);

async fn discovery(State((knobs, url)): State<Shared>) -> Response {
    knobs.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let advertised = knobs
        .advertised_jwks_uri
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let jwks_uri = advertised.unwrap_or_else(|| format!("{url}/jwks.json"));
    let issuer = knobs
        .advertised_issuer
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or(url);
    let custom = knobs
        .discovery_document
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    answer(&knobs, Document::Discovery, || {
        custom.unwrap_or_else(|| json!({"issuer": issuer, "jwks_uri": jwks_uri}))
    })
    .await
}

/// `GET /redirect?to=URL`: a 302 to `URL` (for redirect rules).
async fn redirect(axum::extract::RawQuery(query): axum::extract::RawQuery) -> Response {
    let to = query
        .as_deref()
        .and_then(|q| q.strip_prefix("to="))
        .map(decode_form)
        .unwrap_or_default();
    (StatusCode::FOUND, [(axum::http::header::LOCATION, to)]).into_response()
}

/// `GET /chain/{hops}`: a 302 to `/chain/{hops-1}`; `/chain/0` is the key set.
async fn chain(
    axum::extract::Path(hops): axum::extract::Path<u32>,
    state: State<Shared>,
) -> Response {
    match hops.checked_sub(1) {
        Some(next) => (
            StatusCode::FOUND,
            [(header::LOCATION, format!("{}/chain/{next}", state.0.1))],
        )
            .into_response(),
        None => keys(state).await,
    }
}

async fn keys(State((knobs, _)): State<Shared>) -> Response {
    knobs.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    answer(&knobs, Document::Jwks, || {
        knobs.jwks.lock().unwrap_or_else(|p| p.into_inner()).clone()
    })
    .await
}

async fn answer(knobs: &Knobs, document: Document, body: impl FnOnce() -> Value) -> Response {
    let delay = knobs.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if knobs.down.load(Ordering::SeqCst) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "issuer failure").into_response();
    }
    let faulty = match *knobs.faults.lock().unwrap_or_else(|p| p.into_inner()) {
        Faults::Everywhere => true,
        Faults::Discovery => document == Document::Discovery,
        Faults::Jwks => document == Document::Jwks,
    };
    if !faulty {
        return axum::Json(body()).into_response();
    }
    let failing = knobs
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return (StatusCode::INTERNAL_SERVER_ERROR, "issuer failure").into_response();
    }
    if knobs.garbage.load(Ordering::SeqCst) {
        return (
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Sign in</body></html>",
        )
            .into_response();
    }
    if knobs.streamed.load(Ordering::SeqCst) {
        let bytes = body().to_string().into_bytes();
        return (
            [(header::CONTENT_TYPE, "application/json")],
            axum::body::Body::new(Chunked(bytes)),
        )
            .into_response();
    }
    axum::Json(body()).into_response()
}

/// A body sent 1 KiB at a time with no size announced: hyper frames it with chunked coding.
struct Chunked(Vec<u8>);

impl http_body::Body for Chunked {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if self.0.is_empty() {
            return std::task::Poll::Ready(None);
        }
        let at = self.0.len().min(1024);
        let rest = self.0.split_off(at);
        let chunk = std::mem::replace(&mut self.0, rest);
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(chunk.into()))))
    }
}

fn minted_claims(iss: &str, aud: &str, sub: &str, scope: &str, ttl: i64, extra: &Value) -> Value {
    let now = crate::unix_now();
    let mut claims = json!({
        "iss": iss, "aud": aud, "sub": sub, "iat": now, "exp": now + ttl,
        "token_use": "access", "client_id": sub,
    });
    if !scope.is_empty() {
        claims["scope"] = json!(scope);
    }
    if let (Some(target), Some(more)) = (claims.as_object_mut(), extra.as_object()) {
        for (k, v) in more {
            target.insert(k.clone(), v.clone());
        }
    }
    claims
}

/// `POST /token`: a form-encoded request; answers like an OAuth token endpoint.
async fn token(State((knobs, url)): State<Shared>, body: String) -> Response {
    let Some(minter) = &knobs.minter else {
        return (StatusCode::NOT_FOUND, "this issuer does not mint tokens").into_response();
    };
    let form: std::collections::HashMap<String, String> = body
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode_form(k), decode_form(v)))
        .collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let sub = if field("client_id").is_empty() {
        "dev-user"
    } else {
        field("client_id")
    };
    let ttl = field("ttl")
        .parse::<i64>()
        .unwrap_or(3600)
        .clamp(-86_400, 86_400);
    let mut extra = json!({});
    for k in ["email", "token_use"] {
        if !field(k).is_empty() {
            extra[k] = json!(field(k));
        }
    }
    let claims = minted_claims(&url, &minter.audience, sub, field("scope"), ttl, &extra);
    axum::Json(json!({
        "access_token": minter.key.mint(&claims),
        "token_type": "Bearer",
        "expires_in": ttl.max(0),
        "scope": field("scope"),
    }))
    .into_response()
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte.
fn decode_form(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
