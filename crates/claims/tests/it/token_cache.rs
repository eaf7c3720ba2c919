//! The verified-token cache is bounded by bytes as well as by count: distinct valid tokens with
//! bulky claims cannot grow it past its byte budget (4,096 tokens near API Gateway's 10 KiB bound
//! were tens of MB of claims under the count bound alone, more with allocator overhead).

use crate::common;

use std::sync::Arc;

use common::{AUDIENCE, Fixture};
use portcullis_claims::{
    AuthorizerConfig, Caller, Claims, Identity, IdentityMapping, OidcMapping, Verifier,
    VerifierOptions,
};
use serde_json::json;

/// A remembered token is mapped once per mapping: every request carrying it shares the identity;
/// another mapping gets its own, never the first one's.
#[tokio::test]
async fn a_remembered_token_is_mapped_once_per_mapping() {
    #[derive(Debug)]
    struct Shouting;
    impl IdentityMapping for Shouting {
        fn identity(&self, claims: &Claims) -> Identity {
            let mut identity = OidcMapping.identity(claims);
            identity.subject = identity.subject.map(|s| s.to_uppercase());
            identity
        }
    }
    let fx = Fixture::start().await;
    let verifier = Verifier::new(AuthorizerConfig::new(fx.iss(), [AUDIENCE]).expect("config"))
        .expect("verifier");
    let token = fx.rsa.mint(&fx.claims_with(json!({ "sub": "alice" })));
    let verified = || async {
        verifier
            .authorize(Some(&format!("Bearer {token}")), &[] as &[&str])
            .await
            .expect("valid")
    };
    let (oidc, shouting): (Arc<dyn IdentityMapping>, Arc<dyn IdentityMapping>) =
        (Arc::new(OidcMapping), Arc::new(Shouting));
    let first = Caller::remembered(verified().await, &oidc, false);
    let second = Caller::remembered(verified().await, &oidc, false);
    assert!(
        Arc::ptr_eq(&first.identity, &second.identity),
        "mapped once"
    );
    assert_eq!(first.identity.subject.as_deref(), Some("alice"));
    let other = Caller::remembered(verified().await, &shouting, false);
    assert_eq!(other.identity.subject.as_deref(), Some("ALICE"));
    let again = Caller::remembered(verified().await, &oidc, false);
    assert!(Arc::ptr_eq(&first.identity, &again.identity));
    let fresh = Caller::new(verified().await, oidc.as_ref(), false);
    assert_eq!(fresh, first, "the same caller as one mapped anew");
}

#[tokio::test]
async fn bulky_distinct_tokens_stay_within_the_byte_budget() {
    let fx = Fixture::start().await;
    // Each entry below costs about 20 KB: its 5 KiB claim, that claim's gateway rendering, and the
    // token's own text (kept to compare a hit byte for byte).
    let budget = 128 * 1024;
    let config = AuthorizerConfig::new(fx.iss(), [AUDIENCE]).expect("config");
    let verifier = Verifier::with_options(
        config,
        VerifierOptions {
            token_cache_entries: 4096,
            token_cache_bytes: budget,
            ..VerifierOptions::default()
        },
    )
    .expect("verifier");
    // As bulky as a token may be (API Gateway bounds the request line and headers to 10 KiB).
    let bulk = "x".repeat(5 * 1024);
    for i in 0..200 {
        let token = fx
            .rsa
            .mint(&fx.claims_with(json!({ "sub": format!("user-{i}"), "bulk": bulk })));
        verifier
            .authorize(Some(&format!("Bearer {token}")), &[] as &[&str])
            .await
            .expect("valid");
        let (entries, bytes) = verifier.token_cache_usage();
        assert!(
            bytes <= budget,
            "{bytes} bytes in {entries} entries after {i} tokens"
        );
    }
    let (entries, bytes) = verifier.token_cache_usage();
    assert!(
        entries >= 5,
        "the cache still serves: {entries} entries, {bytes} bytes"
    );
    assert!(entries < 200, "bounded by bytes, not count: {entries}");
    // Small tokens: the count bound still holds.
    let small = Verifier::with_options(
        AuthorizerConfig::new(fx.iss(), [AUDIENCE]).expect("config"),
        VerifierOptions {
            token_cache_entries: 8,
            ..VerifierOptions::default()
        },
    )
    .expect("verifier");
    for i in 0..20 {
        let token = fx
            .rsa
            .mint(&fx.claims_with(json!({ "sub": format!("u{i}") })));
        small
            .authorize(Some(&format!("Bearer {token}")), &[] as &[&str])
            .await
            .expect("valid");
    }
    assert_eq!(small.token_cache_usage().0, 8);
    // A single token larger than the whole budget is verified, never cached.
    let tiny = Verifier::with_options(
        AuthorizerConfig::new(fx.iss(), [AUDIENCE]).expect("config"),
        VerifierOptions {
            token_cache_bytes: 1024,
            ..VerifierOptions::default()
        },
    )
    .expect("verifier");
    let token = fx.rsa.mint(&fx.claims_with(json!({ "bulk": bulk })));
    tiny.authorize(Some(&format!("Bearer {token}")), &[] as &[&str])
        .await
        .expect("valid");
    assert_eq!(tiny.token_cache_usage(), (0, 0));
}
