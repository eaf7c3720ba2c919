//! One serving stack for every listener Portcullis runs — the standalone server, and in
//! development the local gateway, its console and the local Lambda Runtime API — so what a client
//! can hold of any of them is decided here, once:
//!
//! - a connection whose request head has not fully arrived within [`Limits::header_timeout`] is
//!   closed: slow headers, a silent connection, and a kept-alive one idle between requests alike
//!   (hyper starts the timer whenever it waits for a request head);
//! - at most [`Limits::max_connections`] are served at once; the next waits in the listen backlog;
//! - a request whose request line and header values together pass [`Limits::head_bytes`] (API
//!   Gateway's 10,240 bytes) is answered `413 {"message":"Request Entity Too Large"}` before any
//!   routing; a head of more than 32 KiB as received (names, separators and line ends counted
//!   too) is refused by hyper itself with `431` and the connection closed;
//! - a body over [`Limits::body_bytes`] (API Gateway's 10 MB payload) is answered 413 when its
//!   `Content-Length` says so, and cut where it passes the limit when it is chunked;
//! - a path that a backend could read as another ([`ambiguous_path`]) is answered
//!   `400 {"message":"Bad Request"}`.
//!
//! Each rejection is counted ([`Rejection`]) when the listener is given [`Metrics`].
//!
//! AWS documents the 10,240 bytes ("total combined size of request line and header values", HTTP
//! API quotas) but not its answer past them, nor how names count; the answer is REST API's
//! `REQUEST_TOO_LARGE` gateway response status (413) with the HTTP API's message body (**U**).

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use http_body_util::Limited;
use hyper::body::Incoming;
use portcullis_claims::metrics::{Metrics, Rejection};
use tower::Service;

/// API Gateway's bound on a request's line and header values together (HTTP API quotas).
pub const HEAD_BYTES: usize = 10_240;

/// API Gateway's payload bound (HTTP API quotas: 10 MB).
pub const BODY_BYTES: usize = 10 * 1024 * 1024;

/// hyper's own bound on a request head as received: above [`HEAD_BYTES`] of values, so every
/// request AWS would take reaches our count, and small enough that no client makes us buffer
/// more.
const WIRE_HEAD_BYTES: usize = 32 * 1024;

/// How long in-flight requests may take to finish after `shutdown`.
const DRAIN: Duration = Duration::from_secs(30);

/// What one client may hold of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From the moment the server waits for a request (a new connection, or the next request on a
    /// kept-alive one) until its head has arrived; then the connection is closed. Bounds slow
    /// headers and idle connections alike.
    pub header_timeout: Duration,
    /// Connections served at once; the next waits in the listen backlog until one closes.
    pub max_connections: usize,
    /// The request line and header values together, in bytes.
    pub head_bytes: usize,
    /// A request body, in bytes.
    pub body_bytes: usize,
    /// From the moment a handler first waits for the request body until all of it has arrived:
    /// past it the body fails, so a client that sends a body a byte a minute holds nothing for
    /// long (API Gateway's integration timeout is 30 s, for the whole request).
    pub body_timeout: Duration,
}

impl Default for Limits {
    /// API Gateway's sizes, a 10 s header timeout and 1024 connections.
    fn default() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            max_connections: 1024,
            head_bytes: HEAD_BYTES,
            body_bytes: BODY_BYTES,
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `app` on `listener` with the default [`Limits`], uncounted, until `shutdown` completes,
/// then lets in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, Limits::default(), None, shutdown).await
}

/// Serves `app` on `listener` within `limits` (HTTP/1.1) until `shutdown` completes, then lets
/// in-flight requests finish (at most 30 s). Rejections are counted in `metrics` when given.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    metrics: Option<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(WIRE_HEAD_BYTES)
        .keep_alive(true);
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let screened = tower::service_fn(move |request: Request<Incoming>| {
        let mut app = app.clone();
        let metrics = metrics.clone();
        async move {
            match screen(&request, &limits) {
                Err(rejection) => {
                    tracing::info!(
                        target: "portcullis::decision",
                        reason = rejection.reason(),
                        status = rejection.status(),
                        "request rejected"
                    );
                    if let Some(metrics) = &metrics {
                        metrics.reject(rejection);
                    }
                    Ok::<_, Infallible>(rejected(rejection))
                }
                Ok(()) => {
                    // A request without a body (most of them) needs no bounds around nothing.
                    let request = request.map(|body| {
                        if hyper::body::Body::is_end_stream(&body) {
                            return Body::empty();
                        }
                        Body::new(Deadline {
                            inner: Limited::new(body, limits.body_bytes),
                            after: limits.body_timeout,
                            sleep: None,
                        })
                    });
                    app.call(request).await
                }
            }
        }
    });
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = builder.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(screened.clone()),
        );
        let mut stopped = stopped.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stopped.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
        // Finished connections are reaped as they go, so the set stays as large as what is open.
        while connections.try_join_next().is_some() {}
    }
    let _ = stop.send(true);
    let _ = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}

/// A body that fails once `after` has passed since it was first waited for.
struct Deadline<B> {
    inner: B,
    after: Duration,
    /// Started at the first poll that had to wait: a body that is there at once costs no timer.
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<B> hyper::body::Body for Deadline<B>
where
    B: hyper::body::Body<Data = axum::body::Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        let this = self.get_mut();
        if let Poll::Ready(frame) = std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let after = this.after;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(after)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(format!(
                "the request body did not arrive within {after:?}"
            )
            .into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `request` is within `limits` and unambiguous, judged on its head alone.
fn screen<B: hyper::body::Body>(request: &Request<B>, limits: &Limits) -> Result<(), Rejection> {
    if head_size(request) > limits.head_bytes {
        return Err(Rejection::HeadTooLarge);
    }
    if ambiguous_path(request.uri().path()) {
        return Err(Rejection::AmbiguousPath);
    }
    if request.body().size_hint().lower() > limits.body_bytes as u64 {
        return Err(Rejection::BodyTooLarge);
    }
    Ok(())
}

/// The size API Gateway bounds: the request line (`GET /p?q HTTP/1.1`) and every header value.
pub fn head_size<B>(request: &Request<B>) -> usize {
    let line = request.method().as_str().len() + 1 + target_len(request.uri()) + 1 + 8;
    line + request
        .headers()
        .values()
        .map(|value| value.len())
        .sum::<usize>()
}

/// The request target's length as the client wrote it: a path and query, or an absolute URL.
fn target_len(uri: &Uri) -> usize {
    let path_and_query = uri.path_and_query().map_or(0, |p| p.as_str().len());
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => {
            scheme.len() + "://".len() + authority.as_str().len() + path_and_query
        }
        (None, Some(authority)) => authority.as_str().len() + path_and_query,
        _ => path_and_query,
    }
}

/// Whether `path` could mean another path to a backend that decodes or normalises it: a `.` or
/// `..` segment (also as `%2e`), an empty segment (`//`, which many servers merge), a backslash, a
/// `;` (servlet containers and some frameworks cut a segment there, so `/public/..;/admin` is
/// `/admin` to them), or a percent escape of a slash, a backslash, a `;`, a `%`, or of a character
/// that needs none (a letter, digit, `-`, `.`, `_`, `~`: `/users/%6de` is `/users/me` to a backend
/// that decodes, but not to the route table). A route is chosen on the path as sent, so such a path
/// is refused rather than matched to one route and served by another (API Gateway's handling of
/// them is undocumented; refusing is the safe emulation). No allocation: it runs on every request.
pub fn ambiguous_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes.iter().any(|b| matches!(b, b'\\' | b';')) || path.contains("//") {
        return true;
    }
    let escaped = |at: usize| -> Option<u8> {
        let digit = |b: u8| (b as char).to_digit(16);
        let high = digit(*bytes.get(at + 1)?)?;
        let low = digit(*bytes.get(at + 2)?)?;
        Some((high * 16 + low) as u8)
    };
    for (at, _) in bytes.iter().enumerate().filter(|(_, b)| **b == b'%') {
        if let Some(byte) = escaped(at)
            && (byte.is_ascii_alphanumeric() || b"-._~/\\;%".contains(&byte))
        {
            return true;
        }
    }
    path.split('/').any(|segment| matches!(segment, "." | ".."))
}

/// Whether `error` (a body's, or one that wraps it) is the listener cutting a body at
/// [`Limits::body_bytes`], rather than its body timeout or the client going away.
pub fn over_the_body_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(error) = source {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// An answer API Gateway gives itself: `{"message": …}` as JSON.
pub fn gateway_answer(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "message": message }).to_string(),
    )
        .into_response()
}

fn rejected(rejection: Rejection) -> Response {
    match rejection {
        Rejection::HeadTooLarge | Rejection::BodyTooLarge => {
            gateway_answer(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large")
        }
        Rejection::AmbiguousPath => gateway_answer(StatusCode::BAD_REQUEST, "Bad Request"),
    }
}

#[cfg(test)]
mod tests {
    use super::{ambiguous_path, head_size};
    use axum::http::Request;

    #[test]
    fn paths_that_a_backend_could_read_as_another_path_are_ambiguous() {
        for path in [
            "/public/../admin",
            "/public/%2e%2e/admin",
            "/public/.%2E/admin",
            "/public/%2e/admin",
            "/./admin",
            "/public/..\\admin",
            "/public/a%2fb",
            "/public/a%5Cb",
            "/..",
            "/public/..;/orders",
            "/public/x;y/../orders",
            "/public/x;y",
            "/public/x%3By",
            "/users/%6de",
            "/users/%4De",
            "/a//admin",
            "/a/%25%32%65%25%32%65/b",
            "/a/%7e",
        ] {
            assert!(ambiguous_path(path), "{path}");
        }
        for path in [
            "/",
            "/admin",
            "/a/b.c",
            "/a/..b",
            "/a%20b/c",
            "/a/",
            "/a/%C3%A9",
            "/a/%",
            "/a/%zz",
        ] {
            assert!(!ambiguous_path(path), "{path}");
        }
    }

    #[test]
    fn the_head_size_is_the_request_line_and_the_header_values() {
        let request = Request::get("/p?q=1")
            .header("authorization", "Bearer abc")
            .header("x-two", "zz")
            .body(())
            .expect("request");
        // "GET /p?q=1 HTTP/1.1" is 19 bytes; the values 10 and 2.
        assert_eq!(head_size(&request), 19 + 10 + 2);
        let absolute = Request::get("http://example.com/p")
            .body(())
            .expect("request");
        assert_eq!(
            head_size(&absolute),
            "GET http://example.com/p HTTP/1.1".len()
        );
    }
}
