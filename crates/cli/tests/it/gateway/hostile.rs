//! `portcullis gateway --upstream` tried as a hostile client tries a reverse proxy, with an
//! upstream of our own on 127.0.0.1 recording every request that reaches it: nothing unjudged
//! gets through, oversized and ambiguous requests are refused before routing (and counted), large
//! answers stream through in bounded memory, and slow header senders are cut while valid requests
//! keep answering. The same listener serves the standalone server (the tutorial's `hostile` tests).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Request};
use axum::response::{IntoResponse, Response};
use portcullis_testkit::hostile::{
    AMBIGUOUS_PATHS, get_of_size, memory_kib, scrape, send_raw, slow_clients_beside_valid_requests,
};
use portcullis_testkit::{Issuer, TestKey};

use super::Gateway;
use crate::gateway::runtimes::{Scratch, Tokens, settings_text_without_cors};

/// What reached the upstream: method, path and query, headers.
type Seen = Arc<Mutex<Vec<(String, String, HeaderMap)>>>;

/// The byte at `offset` of every answer the upstream makes up: not a repeating short pattern, so
/// a dropped or doubled chunk shows.
fn byte_at(offset: usize) -> u8 {
    (offset % 251) as u8 ^ (offset / 65_536) as u8
}

/// A body of `left` made-up bytes, sent in 64 KiB chunks with no length announced (chunked).
struct Chunked {
    sent: usize,
    left: usize,
}

impl http_body::Body for Chunked {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(64 * 1024);
        let chunk: Vec<u8> = (self.sent..self.sent + n).map(byte_at).collect();
        self.sent += n;
        self.left -= n;
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(chunk)))))
    }
}

/// Records every request; `/big/N` answers N bytes with a `Content-Length`, `/chunked/N` the same
/// bytes chunked, anything else `ok`.
async fn recording_upstream() -> (String, Seen) {
    async fn record(State(seen): State<Seen>, request: Request<Body>) -> Response {
        let path = request.uri().path().to_owned();
        seen.lock().expect("lock").push((
            request.method().to_string(),
            request.uri().to_string(),
            request.headers().clone(),
        ));
        let size = |prefix: &str| path.strip_prefix(prefix).and_then(|n| n.parse().ok());
        if let Some(n) = size("/public/big/") {
            return Body::from((0..n).map(byte_at).collect::<Vec<u8>>()).into_response();
        }
        if let Some(n) = size("/public/chunked/") {
            return Body::new(Chunked { sent: 0, left: n }).into_response();
        }
        // Read the body whole, as a backend acting on it would.
        match axum::body::to_bytes(request.into_body(), usize::MAX).await {
            Ok(_) => "ok".into_response(),
            Err(_) => axum::http::StatusCode::BAD_REQUEST.into_response(),
        }
    }
    let seen = Seen::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let app = Router::new().fallback(record).with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

const MIB: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_reach_nothing_unjudged_and_cannot_hold_the_gateway() {
    let issuer = Issuer::start(portcullis_testkit::jwks([TestKey::rsa("dev-key").jwk()]))
        .await
        .expect("issuer");
    let (upstream, seen) = recording_upstream().await;
    let scratch = Scratch::new("gateway-hostile");
    let auth = settings_text_without_cors(issuer.url());
    let auth = auth.split("[routes").next().unwrap_or_default();
    std::fs::write(
        scratch.0.join("portcullis.toml"),
        format!(
            "{auth}[routes.\"ANY /public/{{proxy+}}\"]\nauthorization = \"none\"\n\
             [routes.\"ANY /orders\"]\n\n\
             [server]\nheader_timeout_ms = 1000\n[metrics]\nlisten = \"127.0.0.1:0\"\n"
        ),
    )
    .expect("config");
    let gateway = Gateway::start(&scratch.0, &["--upstream", &upstream, "--console", "off"]);
    let pid = gateway.child.id();
    let address = gateway.base.trim_start_matches("http://").to_owned();
    let metrics = gateway
        .printed
        .iter()
        .find_map(|l| l.strip_prefix("metrics: "))
        .unwrap_or_else(|| panic!("the metrics address is printed: {:?}", gateway.printed))
        .to_owned();
    let token = Tokens::mint(issuer.url()).access;

    // Each row: what was sent, the status it must get, and whether the upstream may see it.
    let host = address.as_str();
    let get = |path: &str, extra: &str| {
        format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n{extra}connection: close\r\n\r\n")
            .into_bytes()
    };
    let bearer = format!("authorization: Bearer {token}\r\n");
    let mut rows: Vec<(String, Vec<u8>, u16, bool)> = AMBIGUOUS_PATHS
        .iter()
        .map(|path| (format!("ambiguous {path}"), get(path, ""), 400, false))
        .collect();
    rows.extend([
        (
            "request line and header values of exactly 10,240 bytes".into(),
            get_of_size("/public/sized", host, 10_240),
            200,
            true,
        ),
        (
            "10,241 bytes".into(),
            get_of_size("/public/sized", host, 10_241),
            413,
            false,
        ),
        (
            "a 12 KB header".into(),
            get_of_size("/public/sized", host, 12 * 1024),
            413,
            false,
        ),
        ("no token".into(), get("/orders", ""), 401, false),
        (
            "two Authorization headers".into(),
            get("/orders", &format!("{bearer}{bearer}")),
            401,
            false,
        ),
        (
            "an absolute-form target without a token".into(),
            get("http://127.0.0.1:9/orders", ""),
            401,
            false,
        ),
        // Transfer-Encoding wins over Content-Length (RFC 9112 §6.3): the POST is forwarded with
        // its empty chunked body, and what follows is a request of its own, judged (401).
        (
            "Content-Length beside chunked, smuggling a second request".into(),
            format!(
                "POST /public/in HTTP/1.1\r\nhost: {host}\r\ncontent-length: 4\r\n\
                 transfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /orders HTTP/1.1\r\nhost: {host}\r\n\r\n"
            )
            .into_bytes(),
            200,
            true,
        ),
        (
            "an unknown Transfer-Encoding".into(),
            format!(
                "POST /public/in HTTP/1.1\r\nhost: {host}\r\ntransfer-encoding: gzip\r\n\
                 connection: close\r\n\r\nxyz"
            )
            .into_bytes(),
            400,
            false,
        ),
        (
            "a body announced over 10 MB".into(),
            format!(
                "POST /public/in HTTP/1.1\r\nhost: {host}\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\nxyz",
                10 * MIB + 1
            )
            .into_bytes(),
            413,
            false,
        ),
        // Chunked, so its size shows only on the way: cut at 10 MB, API Gateway's 413.
        (
            "a chunked body over 10 MB".into(),
            {
                let mut request = format!(
                    "POST /public/in HTTP/1.1\r\nhost: {host}\r\ntransfer-encoding: chunked\r\n\
                     connection: close\r\n\r\n"
                )
                .into_bytes();
                for _ in 0..11 {
                    request.extend_from_slice(format!("{:x}\r\n", MIB).as_bytes());
                    request.extend(std::iter::repeat_n(b'b', MIB));
                    request.extend_from_slice(b"\r\n");
                }
                request.extend_from_slice(b"0\r\n\r\n");
                request
            },
            413,
            true,
        ),
        ("a valid token".into(), get("/orders", &bearer), 200, true),
    ]);
    for (name, request, status, forwarded) in &rows {
        seen.lock().expect("lock").clear();
        let answer = send_raw(&address, request).await;
        assert_eq!(answer.status, *status, "{name}: {}", answer.body());
        let reached = seen.lock().expect("lock").clone();
        assert_eq!(
            reached.len(),
            usize::from(*forwarded),
            "{name}: {reached:?}"
        );
        for (_, uri, headers) in &reached {
            assert!(
                !uri.contains("orders") || headers.get("authorization").is_some(),
                "{name}: {uri} reached the upstream without a token"
            );
            assert!(
                !(headers.contains_key("content-length")
                    && headers.contains_key("transfer-encoding")),
                "{name}: the upstream got both framings"
            );
        }
        if *status >= 400 && *status != 401 {
            assert!(
                answer.body().is_empty() || answer.body().starts_with("{\"message\":"),
                "{name}: API Gateway's body: {}",
                answer.body()
            );
        }
    }
    let scraped = scrape(&metrics).await;
    for (reason, status, count) in [
        ("ambiguous_path", 400, AMBIGUOUS_PATHS.len()),
        ("head_too_large", 413, 2),
        ("body_too_large", 413, 1),
    ] {
        let line = format!(
            "portcullis_requests_rejected_total{{reason=\"{reason}\",status=\"{status}\"}} {count}"
        );
        assert!(scraped.contains(&line), "{line} in:\n{scraped}");
    }

    // Large answers: through in bounded memory, unchanged under 10 MB, API Gateway's error over it.
    let client = reqwest::Client::new();
    let peak_before = memory_kib(pid, "VmHWM");
    let over = client
        .get(format!("{}/public/big/{}", gateway.base, 30 * MIB))
        .send()
        .await
        .expect("answer");
    assert_eq!(over.status(), 500);
    assert_eq!(
        over.text().await.expect("body"),
        r#"{"message":"Internal Server Error"}"#
    );
    let cut = client
        .get(format!("{}/public/chunked/{}", gateway.base, 30 * MIB))
        .send()
        .await
        .expect("answer");
    let cut = cut.bytes().await;
    assert!(
        cut.as_ref().map_or(true, |b| b.len() < 30 * MIB),
        "a chunked answer over 10 MB never arrives whole"
    );
    for kind in ["big", "chunked"] {
        let size = 9 * MIB + 7;
        let answer = client
            .get(format!("{}/public/{kind}/{size}", gateway.base))
            .send()
            .await
            .expect("answer");
        assert_eq!(answer.status(), 200, "{kind}");
        let body = answer.bytes().await.expect("the whole body");
        assert_eq!(body.len(), size, "{kind}");
        assert!(
            body.iter().enumerate().all(|(i, b)| *b == byte_at(i)),
            "{kind}: every byte as the upstream sent it"
        );
    }
    let peak_after = memory_kib(pid, "VmHWM");
    let grown_mib = (peak_after.saturating_sub(peak_before)) as f64 / 1024.0;
    println!(
        "gateway peak RSS around 30 MB and 9 MB answers: {:.1} → {:.1} MiB (+{grown_mib:.1})",
        peak_before as f64 / 1024.0,
        peak_after as f64 / 1024.0
    );
    assert!(grown_mib < 16.0, "peak RSS grew by {grown_mib:.1} MiB");

    // 200 clients sending a header line every 300 ms, never finishing: each cut within the 1 s
    // header timeout (and some slack), while valid requests beside them keep answering.
    let slow = slow_clients_beside_valid_requests(&address, pid, "/public/ok").await;
    println!("gateway, 200 slow header senders: {slow}");
    assert!(slow.longest < Duration::from_secs(6), "{slow}");
    assert!(slow.answered > 0, "{slow}");
    assert!(
        seen.lock()
            .expect("lock")
            .iter()
            .all(|(_, uri, _)| !uri.contains("slow")),
        "no unfinished head reached the upstream"
    );
}
