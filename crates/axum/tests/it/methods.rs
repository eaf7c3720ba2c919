//! The layer judges every method a route serves: HEAD, which axum answers with a route's GET
//! handler, is held to the GET rule's scopes; OPTIONS is judged like any other request (a CORS
//! layer placed outside answers preflights itself, as API Gateway does only when the API has a
//! CORS configuration).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::routing::get;
use portcullis_axum::{AuthLayer, Authenticated};
use portcullis_claims::{Authorizer, AuthorizerConfig, OidcMapping, VerifierOptions};
use portcullis_testkit::{Issuer, TestKey, unix_now};
use serde_json::json;
use tower::ServiceExt;

async fn app() -> (Router, TestKey, Issuer) {
    app_serving("/report").await
}

/// The handler served at the axum route `route`, behind the layer.
async fn app_serving(route: &str) -> (Router, TestKey, Issuer) {
    let key = TestKey::rsa("k1");
    let issuer = Issuer::start(portcullis_testkit::jwks([key.jwk()]))
        .await
        .expect("issuer");
    let config = AuthorizerConfig::new(issuer.url(), ["api"]).expect("config");
    let authorizer = Authorizer::new([config], VerifierOptions::default()).expect("authorizer");
    // GET /report needs report/read; no other rule.
    let layer = AuthLayer::new(authorizer, Arc::new(OidcMapping), |method, path| {
        if method == Method::GET && path == "/report" {
            vec!["report/read".to_owned()]
        } else {
            Vec::new()
        }
    });
    let app = Router::new()
        .route(
            route,
            get(|Authenticated(_): Authenticated| async { "secret report" }),
        )
        .route_layer(layer);
    (app, key, issuer)
}

fn token(key: &TestKey, issuer: &Issuer, scope: &str) -> String {
    let now = unix_now();
    key.mint(&json!({
        "iss": issuer.url(), "aud": "api", "sub": "u1", "scope": scope, "iat": now, "exp": now + 600,
    }))
}

async fn status(app: &Router, method: Method, bearer: Option<&str>) -> StatusCode {
    let mut request = Request::builder().method(method).uri("/report");
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    app.clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("answer")
        .status()
}

#[tokio::test]
async fn head_is_held_to_the_get_rule_s_scopes() {
    let (app, key, issuer) = app().await;
    let without_scope = token(&key, &issuer, "profile/read");
    let with_scope = token(&key, &issuer, "report/read");
    assert_eq!(
        status(&app, Method::GET, Some(&without_scope)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(&app, Method::HEAD, Some(&without_scope)).await,
        StatusCode::FORBIDDEN,
        "HEAD runs the GET handler, so the GET rule applies"
    );
    assert_eq!(
        status(&app, Method::HEAD, Some(&with_scope)).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, Method::HEAD, None).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn options_is_judged_like_any_request() {
    let (app, key, issuer) = app().await;
    assert_eq!(
        status(&app, Method::OPTIONS, None).await,
        StatusCode::UNAUTHORIZED,
        "no token, no pass: preflights are a CORS layer's to answer"
    );
    let valid = token(&key, &issuer, "report/read");
    // A valid token reaches the router, which serves no OPTIONS here.
    assert_eq!(
        status(&app, Method::OPTIONS, Some(&valid)).await,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn the_rule_is_found_by_the_request_path_not_by_the_services_own_route() {
    // The service serves everything from one wildcard route, while the gateway's rule is for
    // `/report`: the rule must be looked up by the path the client sent (as API Gateway matches
    // it), not by the service's matched route `/{*rest}`, which no rule names.
    let (app, key, issuer) = app_serving("/{*rest}").await;
    let other = token(&key, &issuer, "other/scope");
    let reader = token(&key, &issuer, "report/read");
    assert_eq!(
        status(&app, Method::GET, Some(&other)).await,
        StatusCode::FORBIDDEN,
        "GET /report's scopes apply whatever route of the service answers it"
    );
    assert_eq!(
        status(&app, Method::GET, Some(&reader)).await,
        StatusCode::OK
    );
}
