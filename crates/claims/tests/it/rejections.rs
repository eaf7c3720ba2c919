//! One named test per rejection rule: the request, then the status and error description the client
//! must see. Each case runs against a real issuer on 127.0.0.1 (discovery + JWKS over HTTP).

use crate::common;

use common::{AUDIENCE, Fixture};
use portcullis_claims::explain::Outcome;
use portcullis_claims::{Algorithm, AuthorizerConfig, Gate};
use portcullis_testkit::{Faults, TestKey, b64, hs256};
use serde_json::json;

/// What a case sends, and to which verifier.
struct Req {
    authorization: Option<String>,
    scopes: Vec<&'static str>,
    config: Option<AuthorizerConfig>,
}

fn bearer(token: impl std::fmt::Display) -> Req {
    header(format!("Bearer {token}"))
}
fn header(value: impl Into<String>) -> Req {
    Req {
        authorization: Some(value.into()),
        scopes: vec![],
        config: None,
    }
}
impl Req {
    fn scopes(mut self, scopes: &[&'static str]) -> Req {
        self.scopes = scopes.to_vec();
        self
    }
    fn config(mut self, config: AuthorizerConfig) -> Req {
        self.config = Some(config);
        self
    }
}

/// `{"alg":"RS256","kid":"k1"}` plus `extra` members.
fn rs256_header(extra: serde_json::Value) -> serde_json::Value {
    let mut header = json!({"alg": "RS256", "kid": "k1", "typ": "JWT"});
    for (k, v) in extra.as_object().expect("object") {
        header[k] = v.clone();
    }
    header
}

macro_rules! rejects {
    ($($name:ident: |$fx:ident| $req:expr => ($status:expr, $description:expr);)*) => {$(
        #[tokio::test]
        async fn $name() {
            let $fx = Fixture::start().await;
            let req: Req = $req;
            let verifier = $fx.verifier(req.config.clone().unwrap_or_else(|| $fx.config()));
            let refusal = verifier
                .authorize(req.authorization.as_deref(), &req.scopes)
                .await
                .expect_err("the request must be refused");
            assert_eq!(refusal.status(), $status, "status of {refusal:?}");
            assert_eq!(refusal.description(), $description);
            // The inspector's account of the same token names the same rule, with every rule
            // before it passed and none after it reached.
            if $status == 401 {
                let explanation = verifier
                    .explain(req.authorization.as_deref().unwrap_or_default())
                    .await;
                assert_eq!(explanation.verdict.as_ref().err(), Some(&refusal));
                let failed = portcullis_claims::explain::rule_of(
                    &refusal,
                    req.authorization.as_deref().unwrap_or_default(),
                );
                let at = explanation.rules.iter().position(|r| r.rule == failed).expect("the rule is listed");
                assert_eq!(explanation.rules[at].outcome, Outcome::Failed(refusal.clone()));
                for before in &explanation.rules[..at] {
                    let unrequired = before.rule == "token_use" && verifier.config().token_use().is_none();
                    let expected = if unrequired { Outcome::NotReached } else { Outcome::Passed };
                    assert_eq!(before.outcome, expected, "{before:?}");
                }
                for after in &explanation.rules[at + 1..] {
                    assert_eq!(after.outcome, Outcome::NotReached, "{after:?}");
                }
            }
            let error = if $status == 403 { "insufficient_scope" } else { "invalid_token" };
            assert!(
                refusal.www_authenticate().contains(&format!(r#"error="{error}" error_description="{}""#, $description)),
                "{}", refusal.www_authenticate()
            );
        }
    )*};
}

rejects! {
    // Identity source.
    missing_header_is_refused: |fx| Req { authorization: None, scopes: vec![], config: None }
        => (401, "the request has no token");
    empty_header_is_refused: |fx| header("") => (401, "the request has no token");
    bearer_without_token_is_refused: |fx| header("Bearer") => (401, "the request has no token");
    bearer_with_blank_token_is_refused: |fx| header("Bearer    ") => (401, "the request has no token");
    other_scheme_is_not_stripped: |fx| header(format!("Basic {}", fx.rsa.mint(&fx.claims())))
        => (401, "the token is not valid base64url");
    oversize_token_is_refused_before_decoding: |fx| bearer("!".repeat(10_241))
        => (401, "the token is too large");

    // Structure.
    two_segments_are_malformed: |fx| bearer("eyJhbGciOiJSUzI1NiJ9.e30") => (401, "the token does not have three segments");
    four_segments_are_malformed: |fx| bearer(format!("{}.e30", fx.rsa.mint(&fx.claims())))
        => (401, "the token does not have three segments");
    header_not_base64url_is_refused: |fx| bearer("ey!!.e30.c2ln") => (401, "the token is not valid base64url");
    // Signed over its very text, so only the decoding can refuse it.
    payload_not_base64url_is_refused: |fx| {
        let input = format!("{}.e30!", b64(br#"{"alg":"RS256","kid":"k1"}"#));
        let signature = b64(&fx.rsa.sign(input.as_bytes()));
        bearer(format!("{input}.{signature}"))
    } => (401, "the token is not valid base64url");
    padded_base64_is_refused: |fx| bearer(format!("{}=.e30.c2ln", b64(br#"{"alg":"RS256","kid":"k1"}"#)))
        => (401, "the token is not valid base64url");
    signature_not_base64url_is_refused: |fx| {
        let token = fx.rsa.mint(&fx.claims());
        let (input, _) = token.rsplit_once('.').expect("three parts");
        bearer(format!("{input}.++//"))
    } => (401, "the token is not valid base64url");
    header_not_json_is_refused: |fx| bearer(format!("{}.e30.c2ln", b64(b"not json")))
        => (401, "the token header is not a valid JSON object");
    header_json_array_is_refused: |fx| bearer(format!("{}.e30.c2ln", b64(b"[\"RS256\"]")))
        => (401, "the token header is not a valid JSON object");
    header_with_repeated_member_is_refused: |fx| bearer(fx.rsa.sign_raw(r#"{"alg":"RS256","kid":"k1","kid":"ec1"}"#, &fx.claims().to_string()))
        => (401, "the token header is not a valid JSON object");
    payload_not_json_is_refused: |fx| bearer(fx.rsa.sign_raw(r#"{"alg":"RS256","kid":"k1"}"#, "not json"))
        => (401, "the token payload is not a valid JSON object");
    payload_json_string_is_refused: |fx| bearer(fx.rsa.sign_raw(r#"{"alg":"RS256","kid":"k1"}"#, r#""a string""#))
        => (401, "the token payload is not a valid JSON object");
    payload_with_repeated_member_is_refused: |fx| {
        let payload = format!(r#"{{"iss":"{}","aud":"{AUDIENCE}","exp":9999999999,"sub":"a","sub":"b"}}"#, fx.iss());
        bearer(fx.rsa.sign_raw(r#"{"alg":"RS256","kid":"k1"}"#, &payload))
    } => (401, "the token payload is not a valid JSON object");

    // Algorithm.
    alg_none_is_refused: |fx| bearer(format!("{}.{}.", b64(br#"{"alg":"none","kid":"k1"}"#), b64(fx.claims().to_string().as_bytes())))
        => (401, "the token is not signed");
    alg_none_in_mixed_case_is_refused: |fx| bearer(format!("{}.{}.", b64(br#"{"alg":"nOnE","kid":"k1"}"#), b64(fx.claims().to_string().as_bytes())))
        => (401, "the token is not signed");
    hs256_keyed_with_the_rsa_public_key_is_refused: |fx| {
        let public = fx.rsa.public_key_bytes();
        bearer(hs256(&public, &json!({"alg": "HS256", "kid": "k1"}), &fx.claims()))
    } => (401, "signing method HS256 is invalid");
    hs256_keyed_with_the_jwk_text_is_refused: |fx| {
        let jwk = fx.rsa.jwk().to_string();
        bearer(hs256(jwk.as_bytes(), &json!({"alg": "HS256", "kid": "k1"}), &fx.claims()))
    } => (401, "signing method HS256 is invalid");
    algorithm_outside_allow_list_is_refused: |fx| bearer(TestKey::es256("ec1").mint(&fx.claims()))
        => (401, "signing method ES256 is invalid");
    missing_alg_is_refused: |fx| bearer(fx.rsa.mint_with_header(&json!({"kid": "k1"}), &fx.claims()))
        => (401, "signing method unknown is invalid");
    unregistered_alg_is_not_echoed: |fx| bearer(fx.rsa.mint_with_header(&json!({"alg": "RS256\" evil=\"1", "kid": "k1"}), &fx.claims()))
        => (401, "signing method unknown is invalid");
    alg_rsa_with_ec_key_is_refused: |fx| bearer(fx.rsa.mint_with_header(&rs256_header(json!({"kid": "ec1"})), &fx.claims()))
        .config(AuthorizerConfig::for_gate(Gate::RestApi, fx.iss(), [AUDIENCE]).and_then(|c| c.with_algorithms([Algorithm::RS256, Algorithm::ES256])).expect("algorithms"))
        => (401, "the signing key does not match the token's algorithm");
    alg_differing_from_the_jwk_alg_is_refused: |fx| bearer(TestKey::rsa_alg("k1", "PS256").mint(&fx.claims()))
        .config(fx.config().with_algorithms([Algorithm::RS256, Algorithm::PS256]).expect("algorithms"))
        => (401, "the signing key does not match the token's algorithm");

    // Header parameters.
    unknown_crit_is_refused: |fx| bearer(fx.rsa.mint_with_header(&rs256_header(json!({"crit": ["exp"], "exp": 1})), &fx.claims()))
        => (401, "the token header has unsupported critical parameters");
    missing_kid_is_refused: |fx| bearer(fx.rsa.mint_with_header(&json!({"alg": "RS256"}), &fx.claims()))
        => (401, "the token header has no kid");
    empty_kid_is_refused: |fx| bearer(fx.rsa.mint_with_header(&json!({"alg": "RS256", "kid": ""}), &fx.claims()))
        => (401, "the token header has no kid");
    non_string_kid_is_refused: |fx| bearer(fx.rsa.mint_with_header(&json!({"alg": "RS256", "kid": 1}), &fx.claims()))
        => (401, "the token header has no kid");
    unknown_kid_is_refused: |fx| bearer(TestKey::rsa("nobody").mint(&fx.claims()))
        => (401, "no signing key matches the token's kid");
    embedded_jwk_is_never_a_key_source: |fx| {
        let attacker = TestKey::rsa_other("attacker");
        bearer(attacker.mint_with_header(&json!({"alg": "RS256", "kid": "attacker", "jwk": attacker.jwk()}), &fx.claims()))
    } => (401, "no signing key matches the token's kid");
    embedded_jwk_with_a_known_kid_is_ignored: |fx| {
        let attacker = TestKey::rsa_other("k1");
        bearer(attacker.mint_with_header(&rs256_header(json!({"jwk": attacker.jwk()})), &fx.claims()))
    } => (401, "the token signature is invalid");

    // Keys.
    duplicate_kid_in_jwks_is_refused: |fx| bearer(TestKey::rsa("dup").mint(&fx.claims()))
        => (401, "the signing key for the token's kid is ambiguous");
    rsa_key_under_2048_bits_is_unusable: |fx| bearer(TestKey::rsa("weak").mint(&fx.claims()))
        => (401, "no signing key matches the token's kid");

    // Signature.
    stripped_signature_is_refused: |fx| {
        let token = fx.rsa.mint(&fx.claims());
        bearer(format!("{}.", token.rsplit_once('.').expect("parts").0))
    } => (401, "the token signature is invalid");
    foreign_signature_is_refused: |fx| bearer(TestKey::rsa_other("k1").mint(&fx.claims()))
        => (401, "the token signature is invalid");
    signature_of_another_token_is_refused: |fx| {
        let mine = fx.rsa.mint(&fx.claims_with(json!({"sub": "admin"})));
        let other = fx.rsa.mint(&fx.claims());
        let (input, _) = mine.rsplit_once('.').expect("parts");
        let (_, signature) = other.rsplit_once('.').expect("parts");
        bearer(format!("{input}.{signature}"))
    } => (401, "the token signature is invalid");

    // Issuer.
    wrong_iss_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"iss": "https://evil.example.com"}))))
        => (401, "the token does not have a valid issuer");
    missing_iss_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"iss": null}))))
        => (401, "the token does not have a valid issuer");
    iss_differing_by_a_trailing_slash_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"iss": format!("{}/", fx.iss())}))))
        => (401, "the token does not have a valid issuer");
    non_string_iss_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"iss": [fx.iss()]}))))
        => (401, "the token does not have a valid issuer");

    // Audience.
    wrong_aud_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"aud": "another-api"}))))
        => (401, "the token does not have a valid audience");
    aud_list_without_a_match_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"aud": ["a", "b"]}))))
        => (401, "the token does not have a valid audience");
    // As aws-jwt-verify and golang-jwt refuse it: an `aud` list is a list of strings.
    aud_list_with_a_non_string_member_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"aud": [AUDIENCE, 42]}))))
        => (401, "the token does not have a valid audience");
    numeric_aud_is_refused_even_beside_a_matching_client_id: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"aud": 42, "client_id": AUDIENCE}))))
        => (401, "the token does not have a valid audience");
    object_aud_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"aud": {AUDIENCE: true}}))))
        => (401, "the token does not have a valid audience");
    empty_aud_list_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"aud": [], "client_id": AUDIENCE}))))
        => (401, "the token does not have a valid audience");
    non_matching_aud_beside_matching_client_id_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"aud": "another-api", "client_id": AUDIENCE}))))
        => (401, "the token does not have a valid audience");
    client_id_without_aud_must_match: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"aud": null, "client_id": "another-client"}))))
        => (401, "the token does not have a valid audience");
    neither_aud_nor_client_id_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"aud": null}))))
        => (401, "the token does not have a valid audience");

    // Time.
    expired_token_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"exp": portcullis_testkit::unix_now() - 1}))))
        => (401, "the token has expired");
    missing_exp_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"exp": null}))))
        => (401, "the token has no valid exp claim");
    string_exp_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"exp": "9999999999"}))))
        => (401, "the token has no valid exp claim");
    boolean_exp_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"exp": true}))))
        => (401, "the token has no valid exp claim");
    future_nbf_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"nbf": portcullis_testkit::unix_now() + 600}))))
        => (401, "the token is not valid yet");
    string_nbf_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"nbf": "0"}))))
        => (401, "the token has an invalid nbf claim");
    future_iat_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"iat": portcullis_testkit::unix_now() + 600}))))
        => (401, "the token was issued in the future");
    string_iat_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"iat": "0"}))))
        => (401, "the token has an invalid iat claim");

    // Token use (opt-in).
    id_token_where_access_token_required_is_refused: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"token_use": "id"}))))
        .config(fx.config().with_token_use("access"))
        => (401, "the token is not of the required token use");

    // Scopes.
    missing_route_scope_is_forbidden: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"scope": "profile/read openid"}))))
        .scopes(&["profile/write"])
        => (403, "the token does not have the required scopes");
    token_without_any_scope_is_forbidden_on_scoped_route: |fx| bearer(fx.rsa.mint(&fx.claims()))
        .scopes(&["profile/read"])
        => (403, "the token does not have the required scopes");
    scp_array_without_route_scope_is_forbidden: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"scp": ["email"]}))))
        .scopes(&["profile/read", "profile/write"])
        => (403, "the token does not have the required scopes");
    scope_prefix_is_not_a_match: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"scope": "profile"}))))
        .scopes(&["profile/read"])
        => (403, "the token does not have the required scopes");
    // RFC 6749 §3.3: scopes are separated by single spaces (U+0020); any other whitespace is part
    // of a scope's name, so "profile/write<NBSP>x" is one scope, not profile/write.
    scope_split_on_other_whitespace_is_not_a_match: |fx| bearer(fx.rsa.mint(&fx.claims_with(json!({"scope": "profile/write\u{00a0}x profile/read\tx"}))))
        .scopes(&["profile/write", "profile/read"])
        => (403, "the token does not have the required scopes");

    // The issuer's keys (a key set that fails after a good discovery: see keys_unavailable below).
    discovery_answering_html_fails_closed: |fx| {
        fx.issuer.set_faults(Faults::Discovery);
        fx.issuer.serve_garbage(true);
        bearer(fx.rsa.mint(&fx.claims()))
    } => (401, "the issuer's signing keys are unavailable");
    unreachable_issuer_fails_closed: |fx| bearer(fx.rsa.mint(&fx.claims()))
        .config(AuthorizerConfig::new("http://127.0.0.1:9", [AUDIENCE]).expect("config"))
        => (401, "the issuer's signing keys are unavailable");
}

/// The status and description of the refusal `verifier` gives `token` on a route without scopes.
async fn refused(verifier: &portcullis_claims::Verifier, token: &str, case: &str) -> (u16, String) {
    let refusal = verifier
        .authorize(Some(&format!("Bearer {token}")), &[] as &[&str])
        .await
        .expect_err(case);
    (refusal.status(), refusal.description())
}

/// `jku` and `x5u` name a live attacker's issuer on loopback publishing the attacker's key under
/// the real kid: a verifier that followed them would accept. It never asks that issuer.
#[tokio::test]
async fn jku_and_x5u_headers_are_never_a_key_source() {
    let fx = Fixture::start().await;
    let attacker = TestKey::rsa_other("k1");
    let theirs = portcullis_testkit::Issuer::start(portcullis_testkit::jwks([attacker.jwk()]))
        .await
        .expect("attacker's issuer");
    let verifier = fx.verifier(fx.config());
    for member in ["jku", "x5u"] {
        let header = rs256_header(json!({ member: theirs.jwks_url() }));
        let token = attacker.mint_with_header(&header, &fx.claims());
        assert_eq!(
            refused(&verifier, &token, member).await,
            (401, "the token signature is invalid".to_owned()),
            "{member}"
        );
    }
    assert_eq!(
        theirs.jwks_fetches(),
        0,
        "the attacker's key set was never fetched"
    );
    assert_eq!(theirs.discovery_fetches(), 0);
    assert!(
        fx.issuer.jwks_fetches() >= 1,
        "keys came from the configured issuer"
    );
}

/// The key set itself fails (discovery answers well): HTML, then HTTP 500. The refusal is the
/// key fetch's own: the key set was requested, and its failure is what the verifier saw.
#[tokio::test]
async fn keys_unavailable_when_the_key_set_answers_html_or_500() {
    type Break = fn(&portcullis_testkit::Issuer);
    let breaks: [(&str, Break); 2] = [
        ("html", |issuer| issuer.serve_garbage(true)),
        ("500", |issuer| issuer.fail_next(10)),
    ];
    for (what, break_it) in breaks {
        let fx = Fixture::start().await;
        fx.issuer.set_faults(Faults::Jwks);
        break_it(&fx.issuer);
        let verifier = fx.verifier(fx.config());
        let error = verifier.hydrate().await.expect_err(what);
        assert!(
            error.to_string().contains(&fx.issuer.jwks_url()),
            "{what}: the failure is the key set's: {error}"
        );
        assert_eq!(
            refused(&verifier, &fx.rsa.mint(&fx.claims()), what).await,
            (401, "the issuer's signing keys are unavailable".to_owned()),
            "{what}"
        );
        assert_eq!(fx.issuer.discovery_fetches(), 1, "{what}: discovery once");
        assert!(
            fx.issuer.jwks_fetches() >= 1,
            "{what}: the key set was requested"
        );
    }
}

#[tokio::test]
async fn forbidden_answer_lists_the_route_scopes() {
    let fx = Fixture::start().await;
    let verifier = fx.verifier(fx.config());
    let token = fx.rsa.mint(&fx.claims());
    let refusal = verifier
        .authorize(
            Some(&format!("Bearer {token}")),
            &["profile/read", "profile/write"],
        )
        .await
        .expect_err("no scope");
    assert_eq!(refusal.body(), r#"{"message":"Forbidden"}"#);
    assert_eq!(
        refusal.www_authenticate(),
        r#"Bearer scope="profile/read profile/write" error="insufficient_scope" error_description="the token does not have the required scopes""#
    );
}

/// Route scopes reach `WWW-Authenticate` as a quoted string: quotes, backslashes, control and
/// non-ASCII characters are dropped, so no scope name can end the quoted value or the header.
#[test]
fn www_authenticate_keeps_only_safe_characters_of_scope_names() {
    let refusal = portcullis_claims::AuthError::InsufficientScope {
        required: vec!["a\"b".into(), "c\\d\r\n\u{7f}é".into(), "e\tf".into()],
    };
    assert_eq!(
        refusal.www_authenticate(),
        r#"Bearer scope="ab cd ef" error="insufficient_scope" error_description="the token does not have the required scopes""#
    );
}

/// The verified-token cache finds a token by the tail of its text, its signature's: a token that
/// carries a remembered token's signature under other claims (or another header) lands on the
/// same slot, and must still be judged in full and refused, and leave the genuine one remembered.
#[tokio::test]
async fn a_remembered_tokens_signature_under_other_claims_is_no_cache_hit() {
    let fx = Fixture::start().await;
    let verifier = fx.verifier(fx.config());
    let genuine = fx
        .rsa
        .mint(&fx.claims_with(json!({"sub": "alice", "scope": "profile/read"})));
    let verified = verifier.verify(&genuine).await.expect("the genuine token");
    assert_eq!(verified.sub(), Some("alice"));
    assert_eq!(verifier.token_cache_usage().0, 1, "remembered");

    let (header, rest) = genuine.split_once('.').expect("a header");
    let signature = rest.rsplit_once('.').expect("a signature").1;
    let other_claims = b64(fx
        .claims_with(json!({"sub": "admin", "scope": "profile/write"}))
        .to_string()
        .as_bytes());
    let other_header = b64(
        json!({"alg": "RS256", "kid": fx.rsa.kid(), "typ": "at+jwt"})
            .to_string()
            .as_bytes(),
    );
    for forged in [
        format!("{header}.{other_claims}.{signature}"),
        format!("{other_header}.{}", rest),
    ] {
        assert_ne!(forged, genuine);
        assert_eq!(&forged[forged.len() - 32..], &genuine[genuine.len() - 32..]);
        let refusal = verifier
            .verify(&forged)
            .await
            .expect_err("a copied signature under other bytes");
        assert_eq!(refusal, portcullis_claims::AuthError::InvalidSignature);
    }
    assert_eq!(verifier.token_cache_usage().0, 1, "nothing else remembered");
    let again = verifier
        .verify(&genuine)
        .await
        .expect("still the genuine token");
    assert_eq!(again.sub(), Some("alice"));
}
