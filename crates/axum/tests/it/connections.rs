//! The standalone server bounds what a client can hold: a connection that does not send a whole
//! request head within the header timeout (slow headers, or idle between kept-alive requests) is
//! closed, and at most `max_connections` are served at once (the next waits to be accepted).

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use portcullis_axum::serve::{Limits, serve_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn server(limits: Limits) -> String {
    serve_app(Router::new().route("/", get(|| async { "ok" })), limits).await
}

async fn serve_app(app: Router, limits: Limits) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    tokio::spawn(serve_with(
        listener,
        app,
        limits,
        None,
        std::future::pending(),
    ));
    address
}

/// Reads until the peer closes or `within` passes; whether it closed.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match tokio::time::timeout(deadline - Instant::now(), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
    false
}

#[tokio::test]
async fn slow_headers_and_idle_connections_are_closed_after_the_header_timeout() {
    let address = server(Limits {
        // Long enough that a stalled test machine does not close a connection before it writes,
        // short beside the 10 s each close is waited for.
        header_timeout: Duration::from_secs(1),
        max_connections: 16,
        ..Limits::default()
    })
    .await;
    // Half a request head, then nothing.
    let mut slow = TcpStream::connect(&address).await.expect("connect");
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    assert!(
        closed_within(&mut slow, Duration::from_secs(10)).await,
        "a client sending headers slowly is cut off"
    );
    // A connection that never sends anything.
    let mut silent = TcpStream::connect(&address).await.expect("connect");
    assert!(closed_within(&mut silent, Duration::from_secs(10)).await);
    // A kept-alive connection idle after its answer.
    let mut idle = TcpStream::connect(&address).await.expect("connect");
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = [0u8; 256];
    let read = idle.read(&mut answer).await.expect("answer");
    assert!(String::from_utf8_lossy(&answer[..read]).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut idle, Duration::from_secs(10)).await);
}

#[tokio::test]
async fn connections_beyond_the_bound_wait_to_be_served() {
    let address = server(Limits {
        header_timeout: Duration::from_secs(10),
        max_connections: 2,
        ..Limits::default()
    })
    .await;
    // Two kept-alive connections, each answered once: an answer proves the server holds it (no
    // guessing how long accepting takes).
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut answer = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
            .await
            .expect("answered")
            .expect("read");
        assert!(String::from_utf8_lossy(&answer[..read]).starts_with("HTTP/1.1 200"));
        held.push(stream);
    }
    let mut third = TcpStream::connect(&address)
        .await
        .expect("connect (the OS backlog)");
    third
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let waited =
        tokio::time::timeout(Duration::from_millis(500), third.read_to_end(&mut answer)).await;
    assert!(waited.is_err(), "not served while two connections are held");
    let second = held.pop();
    drop(held);
    let served = tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut answer))
        .await
        .expect("served once a connection closes")
        .expect("read");
    assert!(served > 0);
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    drop(second);
}

#[tokio::test]
async fn a_body_sent_too_slowly_fails_after_the_body_timeout() {
    let app = Router::new().route(
        "/",
        axum::routing::post(|body: axum::body::Bytes| async move { format!("{}", body.len()) }),
    );
    let limits = Limits {
        body_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let address = serve_app(app, limits).await;
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
        .await
        .expect("write");
    let started = Instant::now();
    let mut answer = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("answered within 10 s")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(900), "{answer}");
}
