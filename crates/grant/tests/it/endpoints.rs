//! The token and discovery requests against endpoints on loopback: a token endpoint's redirect is
//! not followed (it would carry the client secret elsewhere), HTTP Basic credentials are
//! form-urlencoded first (RFC 6749 §2.3.1), and oversized answers are cut off while streaming.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use base64::Engine;
use portcullis_grant::{ClientCredentials, GrantError};

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn a_token_endpoint_s_redirect_is_not_followed() {
    let captured = Arc::new(AtomicUsize::new(0));
    let seen = captured.clone();
    let elsewhere = serve(Router::new().route(
        "/capture",
        post(move || {
            seen.fetch_add(1, Ordering::SeqCst);
            async { "{\"access_token\":\"x\"}" }
        }),
    ))
    .await;
    let target = format!("{elsewhere}/capture");
    let endpoint = serve(Router::new().route(
        "/token",
        post(move || {
            let target = target.clone();
            async move { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, target)]) }
        }),
    ))
    .await;
    let request = ClientCredentials::new(format!("{endpoint}/token"), "client", "s3cret", &[]);
    let error = request.request().await.unwrap_err();
    assert!(
        matches!(error, GrantError::Refused { status: 307, .. }),
        "{error}"
    );
    assert_eq!(
        captured.load(Ordering::SeqCst),
        0,
        "the form with the secret went nowhere else"
    );
}

#[tokio::test]
async fn basic_credentials_are_form_urlencoded_first() {
    let endpoint = serve(Router::new().route(
        "/token",
        post(|headers: HeaderMap| async move {
            let sent = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Basic "))
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            axum::Json(serde_json::json!({ "access_token": sent, "token_type": "Bearer" }))
        }),
    ))
    .await;
    let mut request =
        ClientCredentials::new(format!("{endpoint}/token"), "app:one", "p@ss word/+", &[]);
    request.basic_auth = true;
    let granted = request.request().await.expect("granted");
    assert_eq!(granted.access_token, "app%3Aone:p%40ss+word%2F%2B");
}

#[tokio::test]
async fn an_oversized_answer_is_cut_off_while_streaming() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A raw endpoint sending 2 MiB in chunks, with no length announced.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}/token", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request).await;
        let _ = socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
            .await;
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..32 {
            let head = format!("{:x}\r\n", chunk.len());
            if socket.write_all(head.as_bytes()).await.is_err()
                || socket.write_all(&chunk).await.is_err()
                || socket.write_all(b"\r\n").await.is_err()
            {
                return;
            }
        }
        let _ = socket.write_all(b"0\r\n\r\n").await;
    });
    let error = ClientCredentials::new(endpoint, "c", "s", &[])
        .request()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("more than"), "{error}");
}

#[tokio::test]
async fn discovery_follows_no_redirect_off_its_host() {
    let elsewhere = serve(Router::new().route(
        "/.well-known/openid-configuration",
        get(|| async {
            axum::Json(serde_json::json!({
                "authorization_endpoint": "https://evil.example.com/authorize",
                "token_endpoint": "https://evil.example.com/token",
            }))
        }),
    ))
    .await;
    let target = format!("{elsewhere}/.well-known/openid-configuration");
    let issuer = serve(Router::new().route(
        "/.well-known/openid-configuration",
        get(move || {
            let target = target.clone();
            async move { (StatusCode::FOUND, [(header::LOCATION, target)]) }
        }),
    ))
    .await;
    let config = portcullis_claims::AuthorizerConfig::new(&issuer, ["api"]).expect("config");
    let found = portcullis_grant::Endpoints::discover(&config).await;
    assert!(found.is_err(), "{found:?}");
}
