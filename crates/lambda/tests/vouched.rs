//! Gateway mode: events as API Gateway sends them (payload 2.0 and 1.0, with odd claim values) become
//! the same `Caller`, and requests without authorizer claims are refused.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request};
use portcullis_claims::{Caller, Gate, IdentitySource, OidcMapping};
use portcullis_lambda::{VouchedLayer, http, normalize_event};
use portcullis_testkit::events::{alb_event, http_api_event, http_api_event_v1, rest_api_event};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

/// A payload-2.0 event for `GET /user/profile`, with `authorizer` as given.
fn v2_event(authorizer: Option<Value>) -> Value {
    http_api_event("GET", "/user/profile", authorizer)
}

/// A payload-1.0 event (the REST-style shape HTTP APIs send with payload format 1.0).
fn v1_event(authorizer: Value) -> Value {
    http_api_event_v1("/user/profile", authorizer)
}

fn request(mut event: Value) -> Request {
    normalize_event(&mut event);
    let parsed: LambdaRequest =
        serde_json::from_value(event).expect("lambda_http reads the normalised event");
    parsed.into()
}

/// Runs the request through the gateway layer (route scopes as given) and returns the status and,
/// when admitted, the caller the handler saw.
async fn judge(request: Request, route_scopes: &'static [&'static str]) -> (u16, Option<Value>) {
    judge_behind(
        request,
        route_scopes,
        Gate::HttpApi,
        IdentitySource::default(),
    )
    .await
}

/// [`judge`] with the layer deployed behind `gate`, reading its token from `source`.
async fn judge_behind(
    request: Request,
    route_scopes: &'static [&'static str],
    gate: Gate,
    source: IdentitySource,
) -> (u16, Option<Value>) {
    let inner = tower::service_fn(|request: Request| async move {
        let caller = request
            .extensions()
            .get::<Caller>()
            .cloned()
            .expect("the layer set a caller");
        let seen = json!({
            "claims": caller.claims.as_map(), "identity": &*caller.identity, "scopes": caller.gateway_scopes,
        });
        Ok::<_, Infallible>(http::Response::new(Body::from(seen.to_string())))
    });
    let layer = VouchedLayer::behind(gate, source, vec![], Arc::new(OidcMapping), move |_, _| {
        route_scopes.iter().map(|s| s.to_string()).collect()
    });
    let response = layer
        .layer(inner)
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status().as_u16();
    let body = match response.into_body() {
        Body::Text(text) => text,
        Body::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Body::Empty => String::new(),
        _ => String::new(),
    };
    (
        status,
        (status == 200).then(|| serde_json::from_str(&body).expect("json")),
    )
}

#[tokio::test]
async fn payload_2_claims_become_the_caller() {
    let authorizer = json!({"jwt": {
        "claims": {"sub": "u1", "cognito:groups": "[admin poweruser]", "scope": "profile/read", "exp": "1795514400"},
        "scopes": ["profile/read"],
    }});
    // The token the authorizer verified, as API Gateway passes it on in the header.
    let token = token_with(&json!({
        "sub": "u1", "cognito:groups": ["admin", "poweruser"], "scope": "profile/read", "exp": 1795514400,
    }));
    let (status, seen) = judge(
        request(v2_event_with_token(authorizer, &token)),
        &["profile/read"],
    )
    .await;
    assert_eq!(status, 200);
    let seen = seen.expect("caller");
    assert_eq!(seen["identity"]["subject"], "u1");
    assert_eq!(seen["identity"]["groups"], json!(["admin", "poweruser"]));
    assert_eq!(
        seen["claims"]["exp"], 1_795_514_400,
        "numeric dates come back as numbers"
    );
    assert_eq!(seen["scopes"], json!(["profile/read"]));
}

#[tokio::test]
async fn non_string_claim_values_do_not_break_the_event() {
    // What a hand-written test event or another integration might send: numbers, booleans, lists,
    // objects and nulls where API Gateway promises strings.
    let authorizer = json!({"jwt": {
        "claims": {"sub": "u1", "exp": 1795514400, "email_verified": true, "groups": ["a", "b"], "address": {"c": "NL"}, "nickname": null},
        "scopes": "not-a-list",
    }});
    let (status, seen) = judge(request(v2_event(Some(authorizer))), &[]).await;
    assert_eq!(status, 200);
    let seen = seen.expect("caller");
    assert_eq!(seen["claims"]["exp"], 1_795_514_400);
    assert_eq!(seen["claims"]["email_verified"], "true");
    // Normalised to API Gateway's rendering, which is kept (no token to recover the list from).
    assert_eq!(seen["identity"]["groups"], json!(["[a b]"]));
    assert_eq!(seen["claims"]["address"], json!({"c": "NL"}));
    assert!(seen["claims"].get("nickname").is_none());
    assert_eq!(seen["scopes"], Value::Null);
}

#[tokio::test]
async fn payload_1_claims_are_read_too() {
    let authorizer = json!({"claims": {"sub": "u1", "scope": "profile/read profile/write"}, "scopes": ["profile/write"]});
    let (status, seen) = judge(request(v1_event(authorizer)), &["profile/write"]).await;
    assert_eq!(status, 200);
    assert_eq!(
        seen.expect("caller")["identity"]["scopes"],
        json!(["profile/read", "profile/write"])
    );
}

#[tokio::test]
async fn request_without_authorizer_claims_is_refused() {
    for event in [
        v2_event(None),
        v2_event(Some(json!({}))),
        v2_event(Some(json!({"jwt": {"claims": {}}}))),
    ] {
        let (status, seen) = judge(request(event), &[]).await;
        assert_eq!(
            status, 401,
            "a route without an authorizer must not become public"
        );
        assert!(seen.is_none());
    }
}

#[tokio::test]
async fn configured_route_scopes_are_checked_again() {
    let authorizer =
        json!({"jwt": {"claims": {"sub": "u1", "scope": "profile/read"}, "scopes": null}});
    let (status, _) = judge(request(v2_event(Some(authorizer))), &["profile/write"]).await;
    assert_eq!(
        status, 403,
        "a gateway route configured without scopes still fails closed here"
    );
}

/// [`v2_event`] with another method.
fn v2_event_with_method(method: &str, authorizer: Option<Value>) -> Value {
    http_api_event(method, "/user/profile", authorizer)
}

/// The status the layer answers when GET /user/profile needs `profile/write` and nothing else
/// has a rule.
async fn judge_with_get_rule(request: Request) -> u16 {
    let inner = tower::service_fn(|_: Request| async move {
        Ok::<_, Infallible>(http::Response::new(Body::from("handled")))
    });
    let layer = VouchedLayer::new(Arc::new(OidcMapping), |method, path| {
        if method == http::Method::GET && path == "/user/profile" {
            vec!["profile/write".to_owned()]
        } else {
            Vec::new()
        }
    });
    let response = layer
        .layer(inner)
        .oneshot(request)
        .await
        .expect("infallible");
    response.status().as_u16()
}

#[tokio::test]
async fn options_without_authorizer_claims_is_refused_like_any_request() {
    assert_eq!(
        judge_with_get_rule(request(v2_event_with_method("OPTIONS", None))).await,
        401,
        "no claims, no pass, whatever the method"
    );
}

#[tokio::test]
async fn head_is_held_to_the_get_rule_s_scopes() {
    let read_only =
        json!({"jwt": {"claims": {"sub": "u1", "scope": "profile/read"}, "scopes": null}});
    assert_eq!(
        judge_with_get_rule(request(v2_event_with_method("HEAD", Some(read_only)))).await,
        403
    );
    let writer =
        json!({"jwt": {"claims": {"sub": "u1", "scope": "profile/write"}, "scopes": null}});
    assert_eq!(
        judge_with_get_rule(request(v2_event_with_method("HEAD", Some(writer)))).await,
        200
    );
}

/// [`v2_event`] with `Authorization: Bearer {token}` (the authorizer's identity source).
fn v2_event_with_token(authorizer: Value, token: &str) -> Value {
    let mut event = v2_event(Some(authorizer));
    event["headers"]["authorization"] = json!(format!("Bearer {token}"));
    event
}

/// A JWT with `payload` (the signature is not looked at: the gateway verified the token).
fn token_with(payload: &Value) -> String {
    use base64::Engine;
    let part = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.c2ln",
        part(&json!({"alg": "RS256", "kid": "k"})),
        part(payload)
    )
}

/// The request was admitted, and its caller is not in a group `admin`.
fn assert_no_admin_group(status: u16, seen: Option<Value>) {
    assert_eq!(status, 200);
    let groups = seen.expect("caller")["identity"]["groups"].clone();
    assert!(
        !groups
            .as_array()
            .into_iter()
            .flatten()
            .any(|g| g == "admin"),
        "no group `admin` is invented: {groups}"
    );
}

#[tokio::test]
async fn group_names_with_spaces_are_not_split_into_invented_groups() {
    // API Gateway renders ["Everyone", "Not admin"] as "[Everyone Not admin]".
    let authorizer = json!({"jwt": {
        "claims": {"sub": "u1", "cognito:groups": "[Everyone Not admin]"}, "scopes": null,
    }});
    let (status, seen) = judge(request(v2_event(Some(authorizer))), &[]).await;
    assert_no_admin_group(status, seen);
}

#[tokio::test]
async fn exact_claims_come_from_the_verified_token_when_it_renders_to_the_context() {
    let payload =
        json!({"sub": "u1", "cognito:groups": ["Everyone", "Not admin"], "exp": 1795514400});
    let rendered =
        json!({"sub": "u1", "cognito:groups": "[Everyone Not admin]", "exp": "1795514400"});
    let authorizer = json!({"jwt": {"claims": rendered, "scopes": null}});
    let (status, seen) = judge(
        request(v2_event_with_token(authorizer, &token_with(&payload))),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let seen = seen.expect("caller");
    assert_eq!(seen["identity"]["groups"], json!(["Everyone", "Not admin"]));
    assert_eq!(
        seen["claims"]["cognito:groups"],
        json!(["Everyone", "Not admin"])
    );
}

#[tokio::test]
async fn a_header_token_that_does_not_render_to_the_context_is_not_used() {
    // Not the token the gateway verified (its claims differ from the context): ignored.
    let forged = json!({"sub": "u1", "cognito:groups": ["admin"]});
    let authorizer = json!({"jwt": {
        "claims": {"sub": "u1", "cognito:groups": "[Everyone Not admin]"}, "scopes": null,
    }});
    let (status, seen) = judge(
        request(v2_event_with_token(authorizer, &token_with(&forged))),
        &[],
    )
    .await;
    assert_no_admin_group(status, seen);
}

/// A function deployed behind one gate trusts no other gate's event: an ALB event (whose token
/// nothing in the event vouches for) and a REST event's typed claims are refused behind the HTTP
/// API, and each is admitted only behind its own gate.
#[tokio::test]
async fn each_gate_s_event_is_trusted_only_behind_that_gate() {
    let forged =
        token_with(&json!({"sub": "mallory", "scope": "profile/read", "exp": 4102444800u64}));
    let alb = || {
        request(alb_event(
            "GET",
            "/user/profile",
            Some(&format!("Bearer {forged}")),
        ))
    };
    let typed = json!({"sub": "u1", "exp": 4102444800u64, "email_verified": true});
    let rest = || request(rest_api_event("GET", "/user/profile", typed.clone()));
    let source = IdentitySource::default;
    assert_eq!(
        judge_behind(alb(), &[], Gate::HttpApi, source()).await.0,
        401
    );
    assert_eq!(
        judge_behind(alb(), &[], Gate::RestApi, source()).await.0,
        401
    );
    assert_eq!(
        judge_behind(rest(), &[], Gate::HttpApi, source()).await.0,
        401
    );
    assert_eq!(judge_behind(rest(), &[], Gate::Alb, source()).await.0, 401);
    let (status, seen) = judge_behind(alb(), &[], Gate::Alb, source()).await;
    assert_eq!(status, 200);
    assert_eq!(seen.expect("caller")["claims"]["sub"], "mallory");
    let (status, seen) = judge_behind(rest(), &[], Gate::RestApi, source()).await;
    assert_eq!(status, 200);
    assert_eq!(seen.expect("caller")["claims"]["email_verified"], true);
    // And an HTTP API event behind the REST gate or the ALB.
    let authorizer = json!({"jwt": {"claims": {"sub": "u1", "exp": "4102444800"}, "scopes": null}});
    for gate in [Gate::RestApi, Gate::Alb] {
        let event = request(v2_event(Some(authorizer.clone())));
        assert_eq!(
            judge_behind(event, &[], gate, source()).await.0,
            401,
            "{gate}"
        );
    }
}

/// The exact claims are recovered only from the token where the authorizer read it: behind an
/// authorizer whose identity source is `?token=`, an `Authorization` header that renders the same
/// (a forged `["Not", "admin"]` for the verified `["Not admin"]`) is not believed.
#[tokio::test]
async fn claims_are_recovered_only_from_the_identity_source_the_authorizer_read() {
    let authorizer = json!({"jwt": {
        "claims": {"sub": "u1", "cognito:groups": "[Not admin]", "exp": "4102444800"},
        "scopes": null,
    }});
    let verified =
        token_with(&json!({"sub": "u1", "cognito:groups": ["Not admin"], "exp": 4102444800u64}));
    let forged =
        token_with(&json!({"sub": "u1", "cognito:groups": ["Not", "admin"], "exp": 4102444800u64}));
    let mut event = v2_event_with_token(authorizer, &forged);
    event["rawQueryString"] = json!(format!("token={verified}"));
    event["queryStringParameters"] = json!({"token": verified});
    let query = IdentitySource::Query("token".into());
    let (status, seen) = judge_behind(request(event.clone()), &[], Gate::HttpApi, query).await;
    assert_eq!(status, 200);
    assert_eq!(
        seen.expect("caller")["identity"]["groups"],
        json!(["Not admin"]),
        "the verified token's groups, read from the query string"
    );
    // Reading the header would have believed the forgery.
    let (_, seen) = judge_behind(
        request(event),
        &[],
        Gate::HttpApi,
        IdentitySource::default(),
    )
    .await;
    assert_eq!(
        seen.expect("caller")["identity"]["groups"],
        json!(["Not", "admin"])
    );
}

/// Behind an ALB, two `Authorization` headers (the target group passes every value on) are
/// refused: which one `jwt-validation` checked is not documented, so neither is believed.
#[tokio::test]
async fn two_authorization_headers_behind_an_alb_are_refused() {
    let token = token_with(&json!({"sub": "u1", "exp": 4102444800u64}));
    let mut event = alb_event("GET", "/user/profile", Some(&format!("Bearer {token}")));
    event["multiValueHeaders"]["authorization"] = json!([format!("Bearer {token}"), "Bearer junk"]);
    let (status, _) = judge_behind(request(event), &[], Gate::Alb, IdentitySource::default()).await;
    assert_eq!(status, 401);
}
