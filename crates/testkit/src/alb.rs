//! A stand-in for an Application Load Balancer's signing, on 127.0.0.1: its regional public key
//! endpoint (`GET /{kid}` → the key as PEM) with failure knobs, and tokens shaped as the ALB's
//! `x-amzn-oidc-data` (ES256, metadata in the header, base64 segments padded with `=`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::TestKey;

/// The DER prefix of a P-256 SubjectPublicKeyInfo; the uncompressed point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// `key`'s public key as the ALB's key endpoint serves it: PEM `PUBLIC KEY` (an ES256 test key).
pub fn alb_pem(key: &TestKey) -> String {
    let mut der = P256_SPKI_PREFIX.to_vec();
    der.extend(key.public_key_bytes());
    let text = STANDARD.encode(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

/// A token as the ALB writes it: `header` and `payload` as given, signed by `key` (ES256, raw
/// R‖S), every segment base64url with `=` padding (`padded`) or without.
pub fn alb_token(key: &TestKey, header: &Value, payload: &Value, padded: bool) -> String {
    let encode = |bytes: &[u8]| {
        let text = URL_SAFE.encode(bytes);
        if padded {
            text
        } else {
            text.trim_end_matches('=').to_owned()
        }
    };
    let input = format!(
        "{}.{}",
        encode(header.to_string().as_bytes()),
        encode(payload.to_string().as_bytes())
    );
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", encode(&signature))
}

#[derive(Default)]
struct Knobs {
    keys: Mutex<HashMap<String, String>>,
    down: AtomicBool,
    oversized: AtomicBool,
    delay_ms: AtomicU64,
    fetches: AtomicU64,
}

/// The regional key endpoint: `GET /{kid}` answers the published key's PEM, 404 for another.
pub struct AlbKeyServer {
    url: String,
    knobs: Arc<Knobs>,
    _stop: oneshot::Sender<()>,
}

impl AlbKeyServer {
    /// Starts on 127.0.0.1, a port the OS picks, with no key published.
    pub async fn start() -> std::io::Result<AlbKeyServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let knobs = Arc::new(Knobs::default());
        let app = Router::new()
            .route("/{kid}", get(key))
            .with_state(knobs.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            let _ = serve.await;
        });
        Ok(AlbKeyServer {
            url,
            knobs,
            _stop: stop,
        })
    }

    /// The base URL, `http://127.0.0.1:PORT` (keys at `/{kid}`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Publishes `key` under its kid.
    pub fn publish(&self, key: &TestKey) {
        let mut keys = self.knobs.keys.lock().expect("lock");
        keys.insert(key.kid().to_owned(), alb_pem(key));
    }

    /// Key requests answered so far.
    pub fn fetches(&self) -> u64 {
        self.knobs.fetches.load(Ordering::SeqCst)
    }

    /// While on, every request is answered 503.
    pub fn set_down(&self, on: bool) {
        self.knobs.down.store(on, Ordering::SeqCst);
    }

    /// While on, every key is answered with 64 KiB of PEM-looking text.
    pub fn set_oversized(&self, on: bool) {
        self.knobs.oversized.store(on, Ordering::SeqCst);
    }

    /// Every answer waits this long first.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.knobs.delay_ms.store(ms, Ordering::SeqCst);
    }
}

async fn key(State(knobs): State<Arc<Knobs>>, Path(kid): Path<String>) -> Response {
    knobs.fetches.fetch_add(1, Ordering::SeqCst);
    let delay = knobs.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if knobs.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if knobs.oversized.load(Ordering::SeqCst) {
        return format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            "A".repeat(64 * 1024)
        )
        .into_response();
    }
    let pem = knobs.keys.lock().expect("lock").get(&kid).cloned();
    match pem {
        Some(pem) => pem.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
