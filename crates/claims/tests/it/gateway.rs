//! Claims as API Gateway hands them to Lambda (payload 2.0 `requestContext.authorizer.jwt`), and back.

use portcullis_claims::Claims;
use serde_json::{Value, json};

#[test]
fn claim_values_render_as_api_gateway_renders_them() {
    let cases: [(&str, Value, Option<&str>); 11] = [
        ("string stays itself", json!("alice"), Some("alice")),
        (
            "integer as its digits",
            json!(1_700_000_000),
            Some("1700000000"),
        ),
        ("float as JSON text", json!(1.5), Some("1.5")),
        ("true", json!(true), Some("true")),
        ("false", json!(false), Some("false")),
        ("null is omitted", Value::Null, None),
        (
            "string array Go-style",
            json!(["admin", "poweruser"]),
            Some("[admin poweruser]"),
        ),
        ("empty array", json!([]), Some("[]")),
        (
            "mixed array",
            json!(["a", 1, true, null]),
            Some("[a 1 true <nil>]"),
        ),
        (
            "object as JSON text",
            json!({"country": "NL", "zip": 1}),
            Some(r#"{"country":"NL","zip":1}"#),
        ),
        ("array of objects", json!([{"a": 1}]), Some(r#"[{"a":1}]"#)),
    ];
    for (name, value, expected) in cases {
        let claims = Claims::from_json(json!({ "c": value })).expect("object");
        assert_eq!(
            claims.to_gateway_claims().get("c").map(String::as_str),
            expected,
            "{name}"
        );
    }
}

#[test]
fn scopes_are_null_on_unscoped_routes_and_the_full_list_on_scoped_ones() {
    let claims = Claims::from_json(json!({"scope": "a b", "scp": ["c"]})).expect("object");
    assert_eq!(claims.gateway_scopes(false), None);
    assert_eq!(
        claims.gateway_scopes(true),
        Some(vec!["a".into(), "b".into(), "c".into()])
    );
}

#[test]
fn gateway_map_parses_back_to_typed_claims() {
    let original = Claims::from_json(json!({
        "sub": "5f1c", "iss": "https://issuer", "aud": "client", "token_use": "access",
        "scope": "profile/read openid", "cognito:groups": ["admin", "poweruser"],
        "exp": 1_700_000_000, "iat": 1_699_996_400, "auth_time": 1_699_996_400,
        "email_verified": true, "address": {"country": "NL"}, "nickname": null,
    }))
    .expect("object");
    let back = Claims::from_gateway_claims(original.to_gateway_claims());
    assert_eq!(back.sub(), Some("5f1c"));
    assert_eq!(back.aud(), ["client"]);
    assert_eq!(back.scopes(), ["profile/read", "openid"]);
    assert_eq!(back.groups(), ["admin", "poweruser"]);
    assert_eq!(
        (back.exp(), back.iat()),
        (Some(1_700_000_000), Some(1_699_996_400))
    );
    assert_eq!(back.get("address"), Some(&json!({"country": "NL"})));
    assert_eq!(
        back.get("email_verified"),
        Some(&json!("true")),
        "booleans stay strings: the map cannot tell"
    );
    assert_eq!(back.get("nickname"), None);
    // Rendering the parsed map again gives the same strings: the round trip is stable.
    assert_eq!(back.to_gateway_claims(), original.to_gateway_claims());
}

#[test]
fn gateway_map_with_numeric_dates_that_are_not_numbers_keeps_them_as_strings() {
    let back = Claims::from_gateway_claims([("exp", "soon"), ("iat", "[1 2]")]);
    assert_eq!(back.exp(), None);
    assert_eq!(back.get("exp"), Some(&json!("soon")));
    assert_eq!(back.get("iat"), Some(&json!(["1", "2"])));
}

/// Found by `cargo xtask fuzz` (target gateway): a claim holding a number too large for an integer
/// (`exp` of 121 digits, read as a float). The claims of the very token whose rendering is the
/// request context are recovered whole, that float included; another token's are not. (The fuzz
/// target had re-serialized the claims before making its token, and serde_json's shortest form of a
/// float need not read back to the same float: the target now makes the token of the input bytes.)
#[test]
fn a_token_with_a_huge_numeric_claim_is_recovered_from_its_own_rendering() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = br#"{"sub": "criu", "groups": ["Everyone", "'Not a"], "exp": 19011111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111000000000, "o": {"k": [1, "two"]}, "n": null, "b": false}"#;
    let claims =
        Claims::from_json(serde_json::from_slice(payload).expect("JSON")).expect("an object");
    let rendered = claims.to_gateway_claims();
    assert_eq!(rendered["groups"], "[Everyone 'Not a]");
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k"}"#);
    let token =
        |payload: &[u8]| format!("Bearer {header}.{}.c2ln", URL_SAFE_NO_PAD.encode(payload));
    assert_eq!(
        Claims::from_verified_header(&token(payload), &rendered),
        Some(claims.clone())
    );
    // The same claims with one key added render differently: not recovered.
    let mut other = claims.as_map().clone();
    other.insert("extra".into(), serde_json::json!(1));
    let other = serde_json::to_vec(&other).expect("serializes");
    assert_eq!(
        Claims::from_verified_header(&token(&other), &rendered),
        None
    );
}
