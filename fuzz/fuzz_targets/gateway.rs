//! The Lambda event normaliser and the claim rendering round trip: any event normalises without a
//! panic (twice gives what once gave), and claims rendered as API Gateway renders them come back
//! exactly from the token they were rendered from.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use portcullis_claims::Claims;
use portcullis_claims::fuzzing::parse_object;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    // Any value as an event, and as the authorizer context of one.
    for mut event in [
        value.clone(),
        serde_json::json!({"requestContext": {"authorizer": {"jwt": {"claims": value.clone(), "scopes": value.clone()}}}}),
        serde_json::json!({"requestContext": {"authorizer": value.clone()}}),
    ] {
        portcullis_lambda::normalize_event(&mut event);
        let once = event.clone();
        portcullis_lambda::normalize_event(&mut event);
        assert_eq!(event, once, "normalising is idempotent");
    }
    let Some(claims) = Claims::from_json(value) else {
        return;
    };
    let rendered = claims.to_gateway_claims();
    let _ = Claims::from_gateway_rendering(&rendered);
    let _ = Claims::from_gateway_claims(&rendered);
    // A token whose payload is these very bytes renders to exactly the context API Gateway built
    // from it: its claims come back whole (the strict parser reads the payload, as the verifier
    // does; an input it refuses, a repeated member, is not a token's payload).
    let Some(payload) = parse_object(data) else {
        return;
    };
    let claims = Claims::from_json(Value::Object(payload)).expect("an object");
    let rendered = claims.to_gateway_claims();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k"}"#);
    let authorization = format!("Bearer {header}.{}.c2ln", URL_SAFE_NO_PAD.encode(data));
    assert_eq!(
        Claims::from_verified_header(&authorization, &rendered),
        Some(claims),
        "the token's own claims were not recovered from its rendering"
    );
});
