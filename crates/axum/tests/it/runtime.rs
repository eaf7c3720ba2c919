//! What the server crate adds around a service: the fail-closed extractor, the header bytes a
//! client may send, and `harden()` (request ids, timeout, the open health check).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::routing::get;
use http_body_util::BodyExt;
use portcullis_axum::runtime::harden;
use portcullis_axum::{AuthLayer, Authenticated};
use portcullis_claims::{Authorizer, AuthorizerConfig, OidcMapping, VerifierOptions};
use portcullis_testkit::{Issuer, TestKey, jwks};
use tower::ServiceExt;

async fn answer(
    app: &Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app.clone().oneshot(request).await.expect("answer");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn get_request(path: &str) -> axum::http::request::Builder {
    Request::builder().uri(path)
}

#[tokio::test]
async fn a_protected_handler_without_an_authorization_layer_refuses() {
    // The layer was forgotten: the extractor fails closed instead of serving.
    let app = Router::new().route(
        "/report",
        get(|Authenticated(_): Authenticated| async { "secret report" }),
    );
    let (status, headers, body) =
        answer(&app, get_request("/report").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, r#"{"message":"Unauthorized"}"#);
    assert_eq!(
        headers["www-authenticate"],
        r#"Bearer scope="" error="invalid_token" error_description="the request has no token""#
    );
}

#[tokio::test]
async fn authorization_bytes_that_are_not_utf8_are_refused() {
    let key = TestKey::rsa("k1");
    let issuer = Issuer::start(jwks([key.jwk()])).await.expect("issuer");
    let config = AuthorizerConfig::new(issuer.url(), ["api"]).expect("config");
    let authorizer = Authorizer::new([config], VerifierOptions::default()).expect("authorizer");
    let app = Router::new()
        .route(
            "/report",
            get(|Authenticated(_): Authenticated| async { "secret report" }),
        )
        .route_layer(AuthLayer::new(authorizer, Arc::new(OidcMapping), |_, _| {
            Vec::new()
        }));
    for bytes in [
        &b"Bearer a\xff.b.c"[..],
        b"Bearer \xc3\x28.e30.c2ln",
        b"\x80\x81\x82",
    ] {
        let value = HeaderValue::from_bytes(bytes).expect("obs-text is a valid header value");
        let request = get_request("/report")
            .header("authorization", value)
            .body(Body::empty())
            .unwrap();
        let (status, headers, body) = answer(&app, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bytes:?}");
        assert_eq!(body, r#"{"message":"Unauthorized"}"#, "{bytes:?}");
        let challenge = headers["www-authenticate"].to_str().expect("ASCII");
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
    }
    assert_eq!(
        issuer.jwks_fetches(),
        0,
        "refused before any key was needed"
    );
}

#[tokio::test]
async fn harden_adds_request_ids_a_timeout_and_an_open_health_check() {
    let app = harden(
        Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(600)).await;
                    "never"
                }),
            )
            .route("/fast", get(|| async { "fast" })),
        Duration::from_millis(100),
    );
    // The health check needs no token and answers plainly.
    let (status, _, body) =
        answer(&app, get_request("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    // A request id is made when the client sends none (a UUID), and kept when it sends one.
    let (_, headers, _) = answer(&app, get_request("/fast").body(Body::empty()).unwrap()).await;
    let made = headers["x-request-id"].to_str().expect("ASCII");
    assert_eq!(made.len(), 36, "{made}");
    assert_eq!(made.matches('-').count(), 4, "{made}");
    let request = get_request("/fast")
        .header("x-request-id", "client-chosen-7")
        .body(Body::empty())
        .unwrap();
    let (_, headers, _) = answer(&app, request).await;
    assert_eq!(headers["x-request-id"], "client-chosen-7");
    // A handler that overruns the request timeout is answered 408, with its request id.
    let (status, headers, _) =
        answer(&app, get_request("/slow").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert!(
        headers.contains_key("x-request-id"),
        "the timed-out request keeps its id"
    );
}
