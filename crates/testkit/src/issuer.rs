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

#[derive(Default)]
struct Knobs {
    jwks: Mutex<Value>,
    advertised_jwks_uri: Mutex<Option<String>>,
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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let knobs = Arc::new(Knobs {
            jwks: Mutex::new(jwks),
            ..Knobs::default()
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks.json", get(keys))
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
    /// The JWKS URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks.json", self.url)
    }
    /// Replaces the published key set (key rotation).
    pub fn set_jwks(&self, jwks: Value) {
        *self.knobs.jwks.lock().unwrap_or_else(|p| p.into_inner()) = jwks;
    }
    /// Makes discovery advertise this `jwks_uri` instead of the issuer's own.
    pub fn set_discovery_jwks_uri(&self, uri: &str) {
        *self
            .knobs
            .advertised_jwks_uri
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(uri.to_owned());
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
    answer(&knobs, || json!({"issuer": url, "jwks_uri": jwks_uri})).await
}

async fn keys(State((knobs, _)): State<Shared>) -> Response {
    knobs.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    answer(&knobs, || {
        knobs.jwks.lock().unwrap_or_else(|p| p.into_inner()).clone()
    })
    .await
}

async fn answer(knobs: &Knobs, body: impl FnOnce() -> Value) -> Response {
    let delay = knobs.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let failing = knobs
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing || knobs.down.load(Ordering::SeqCst) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "issuer failure").into_response();
    }
    if knobs.garbage.load(Ordering::SeqCst) {
        return (
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Sign in</body></html>",
        )
            .into_response();
    }
    axum::Json(body()).into_response()
}
