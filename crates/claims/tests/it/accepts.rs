//! Tokens shaped as real providers issue them are accepted, with the claims a handler needs.

use crate::common;

use common::{AUDIENCE, Fixture};
use portcullis_claims::{Algorithm, AuthorizerConfig, Claims, Gate};
use portcullis_testkit::{TestKey, unix_now};
use serde_json::json;

async fn accept(
    fx: &Fixture,
    config: portcullis_claims::AuthorizerConfig,
    token: &str,
    scopes: &[&str],
) -> Claims {
    fx.verifier(config)
        .authorize(Some(&format!("Bearer {token}")), scopes)
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"))
}

#[tokio::test]
async fn cognito_id_token_is_accepted_by_its_client_audience() {
    let fx = Fixture::start().await;
    let claims = json!({
        "sub": "5f1c", "aud": AUDIENCE, "email_verified": true, "token_use": "id",
        "auth_time": unix_now(), "iss": fx.iss(), "cognito:username": "alice",
        "cognito:groups": ["admin", "poweruser"], "exp": unix_now() + 3600, "iat": unix_now(),
        "email": "alice@example.com",
    });
    let verified = accept(
        &fx,
        fx.config().with_token_use("id"),
        &fx.rsa.mint(&claims),
        &[],
    )
    .await;
    assert_eq!(verified.username(), Some("alice"));
    assert_eq!(verified.groups(), ["admin", "poweruser"]);
    assert_eq!(verified.email(), Some("alice@example.com"));
    assert_eq!(verified.token_use(), Some("id"));
}

#[tokio::test]
async fn cognito_access_token_is_accepted_by_client_id_without_aud() {
    let fx = Fixture::start().await;
    let claims = json!({
        "sub": "5f1c", "token_use": "access", "scope": "aws.cognito.signin.user.admin profile/read",
        "iss": fx.iss(), "client_id": AUDIENCE, "username": "alice", "exp": unix_now() + 3600,
        "iat": unix_now(), "jti": "0f3a",
    });
    let verified = accept(
        &fx,
        fx.config().with_token_use("access"),
        &fx.rsa.mint(&claims),
        &["profile/read"],
    )
    .await;
    assert_eq!(verified.client_id(), Some(AUDIENCE));
    assert!(verified.aud().is_empty());
    assert_eq!(
        verified.scopes(),
        ["aws.cognito.signin.user.admin", "profile/read"]
    );
}

#[tokio::test]
async fn auth0_token_with_trailing_slash_issuer_and_permissions_is_accepted() {
    let fx = Fixture::start().await;
    let issuer = format!("{}/", fx.iss());
    // Auth0's discovery names its issuer with the slash, as its tokens do.
    fx.issuer.set_discovery_issuer(&issuer);
    let config = portcullis_claims::AuthorizerConfig::new(&issuer, ["https://api.example.com"])
        .expect("config");
    let claims = json!({
        "iss": issuer, "sub": "auth0|abc", "aud": ["https://api.example.com", format!("{issuer}userinfo")],
        "azp": "client-1", "scope": "openid profile/write", "permissions": ["profile/write"],
        "https://example.com/roles": ["editor"], "exp": unix_now() + 3600, "iat": unix_now(),
    });
    let verified = accept(&fx, config, &fx.rsa.mint(&claims), &["profile/write"]).await;
    assert_eq!(verified.sub(), Some("auth0|abc"));
    assert_eq!(verified.get("permissions"), Some(&json!(["profile/write"])));
}

#[tokio::test]
async fn okta_token_with_scp_array_and_cid_is_accepted() {
    let fx = Fixture::start().await;
    let claims = json!({
        "ver": 1, "jti": "AT.x", "iss": fx.iss(), "aud": "api://default", "iat": unix_now(),
        "exp": unix_now() + 3600, "cid": "0oa1", "uid": "00u1", "scp": ["profile/read", "openid"],
        "sub": "alice@example.com", "groups": ["Everyone"],
    });
    let config =
        portcullis_claims::AuthorizerConfig::new(fx.iss(), ["api://default"]).expect("config");
    let verified = accept(&fx, config, &fx.rsa.mint(&claims), &["profile/read"]).await;
    assert_eq!(verified.scopes(), ["profile/read", "openid"]);
    assert_eq!(verified.groups(), ["Everyone"]);
}

/// Each gate's opt-in algorithms verify with their keys: the RSA family on the HTTP API
/// (PKCS#1 v1.5 and PSS), RSA and ECDSA on REST. EdDSA, which no AWS gate takes, is refused by
/// every gate's configuration (`gates.rs`), though its keys parse.
#[tokio::test]
async fn every_opt_in_algorithm_verifies_with_its_key() {
    let fx = Fixture::start().await;
    let http_api = AuthorizerConfig::for_gate(Gate::HttpApi, fx.iss(), [AUDIENCE])
        .and_then(|c| c.with_algorithms(Gate::HttpApi.algorithms().iter().copied()))
        .expect("HTTP API algorithms");
    let rest_api = AuthorizerConfig::for_gate(Gate::RestApi, fx.iss(), [AUDIENCE])
        .and_then(|c| c.with_algorithms(Gate::RestApi.algorithms().iter().copied()))
        .expect("REST API algorithms");
    let cases = [
        (&http_api, TestKey::rsa("k1")),
        (&http_api, TestKey::rsa_alg("ps1", "PS256")),
        (&http_api, TestKey::rsa_other_alg("noalg", "RS384")),
        (&http_api, TestKey::rsa_other_alg("noalg", "RS512")),
        (&http_api, TestKey::rsa_other_alg("noalg", "PS384")),
        (&http_api, TestKey::rsa_other_alg("noalg", "PS512")),
        (&rest_api, TestKey::rsa("k1")),
        (&rest_api, TestKey::es256("ec1")),
        (&rest_api, TestKey::es384("ec384")),
        (&rest_api, TestKey::es512("ec521")),
    ];
    for (config, key) in cases {
        let token = key.mint(&fx.claims());
        let verified = fx.verifier(config.clone()).verify(&token).await;
        assert!(verified.is_ok(), "{key:?}: {verified:?}");
    }
    let ed = TestKey::ed25519("ed1");
    let keys = portcullis_claims::KeySet::parse(
        portcullis_testkit::jwks([ed.jwk()]).to_string().as_bytes(),
        &Algorithm::ALL,
    )
    .expect("an Ed25519 key set");
    assert_eq!(keys.len(), 1, "EdDSA keys parse");
}

#[tokio::test]
async fn identity_source_accepts_bare_tokens_and_any_case_of_bearer() {
    let fx = Fixture::start().await;
    let verifier = fx.verifier(fx.config());
    let token = fx.rsa.mint(&fx.claims());
    for value in [
        token.clone(),
        format!("Bearer {token}"),
        format!("bearer {token}"),
        format!("BEARER {token}"),
    ] {
        assert!(verifier.verify(&value).await.is_ok(), "{}", &value[..10]);
    }
}

#[tokio::test]
async fn leeway_admits_a_just_expired_token() {
    let fx = Fixture::start().await;
    let token = fx.rsa.mint(&fx.claims_with(json!({"exp": unix_now() - 5})));
    let strict = fx.verifier(fx.config());
    assert_eq!(
        strict.verify(&token).await.unwrap_err(),
        portcullis_claims::AuthError::Expired
    );
    let lenient = fx.verifier(fx.config().with_leeway(std::time::Duration::from_secs(60)));
    assert!(lenient.verify(&token).await.is_ok());
}

#[tokio::test]
async fn remembered_token_is_still_judged_on_time_and_scopes() {
    let fx = Fixture::start().await;
    let clock = common::manual_clock();
    let verifier = portcullis_claims::Verifier::with_options(
        fx.config(),
        portcullis_claims::VerifierOptions {
            clock: clock.clone(),
            ..common::fast_options()
        },
    )
    .expect("verifier");
    let exp = clock.unix().as_secs() + 3;
    let token = fx
        .rsa
        .mint(&fx.claims_with(json!({"exp": exp, "scope": "profile/read"})));
    let auth = format!("Bearer {token}");
    assert!(
        verifier
            .authorize(Some(&auth), &["profile/read"])
            .await
            .is_ok()
    );
    // From the cache now: scopes are still checked…
    let refusal = verifier
        .authorize(Some(&auth), &["profile/write"])
        .await
        .expect_err("scope");
    assert_eq!(refusal.status(), 403);
    // …and so is expiry: at exp itself the token is expired (exp is exclusive).
    clock.advance(std::time::Duration::from_secs(2));
    assert!(
        verifier
            .authorize(Some(&auth), &["profile/read"])
            .await
            .is_ok()
    );
    clock.advance(std::time::Duration::from_secs(1));
    let refusal = verifier
        .authorize(Some(&auth), &["profile/read"])
        .await
        .expect_err("expired");
    assert_eq!(refusal.description(), "the token has expired");
}

#[tokio::test]
async fn authorizer_with_two_issuers_routes_each_token_to_its_own_keys() {
    let first = Fixture::start().await;
    let second = Fixture::start().await;
    // The second issuer signs with another key under the same kid: only its own JWKS verifies it.
    second
        .issuer
        .set_jwks(portcullis_testkit::jwks([TestKey::rsa_other("k1").jwk()]));
    let authorizer = portcullis_claims::Authorizer::new(
        [first.config(), second.config()],
        common::fast_options(),
    )
    .expect("authorizer");
    let from_first = first.rsa.mint(&first.claims());
    let from_second = TestKey::rsa_other("k1").mint(&second.claims());
    assert!(authorizer.verify(&from_first).await.is_ok());
    assert!(
        authorizer
            .verify(&format!("Bearer {from_second}"))
            .await
            .is_ok()
    );
    assert_eq!(
        (first.issuer.jwks_fetches(), second.issuer.jwks_fetches()),
        (1, 1)
    );
    // A token naming neither issuer is judged by the first, as a single-issuer authorizer would.
    let stranger = first
        .rsa
        .mint(&first.claims_with(json!({"iss": "https://elsewhere.example.com"})));
    assert_eq!(
        authorizer.verify(&stranger).await.unwrap_err(),
        portcullis_claims::AuthError::InvalidIssuer
    );
    // Configuring one issuer twice is refused.
    let twice = portcullis_claims::Authorizer::new(
        [first.config(), first.config()],
        common::fast_options(),
    );
    assert!(twice.unwrap_err().to_string().contains("each issuer once"));
}
