//! Property tests: hostile input never panics, and no mutation of a valid token is ever accepted.
//!
//! The issuer is a live testkit issuer on 127.0.0.1: a mutation that yields an unknown `kid` sends
//! the verifier to fetch keys, and that fetch must stay on loopback (it once went to a public host).
//! Failing cases are kept in `fuzz.proptest-regressions` beside this file and replayed first.

use std::sync::OnceLock;

use portcullis_claims::{AuthorizerConfig, Claims, Gate, Verifier};
use portcullis_testkit::{Issuer, TestKey, claims_for, jwks};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::json;

const AUDIENCE: &str = "api";

struct World {
    runtime: tokio::runtime::Runtime,
    issuer: Issuer,
    verifier: Verifier,
    rsa_token: String,
    ec_token: String,
}

/// One verifier for a loopback issuer serving the keys, seeded with them, and one valid token
/// per key type.
fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let rsa = TestKey::rsa("k1");
        let ec = TestKey::es256("ec1");
        let keys = jwks([rsa.jwk(), ec.jwk()]);
        let issuer = runtime
            .block_on(Issuer::start(keys.clone()))
            .expect("issuer");
        // The REST gate takes both key types this world signs with.
        let config = AuthorizerConfig::for_gate(Gate::RestApi, issuer.url(), [AUDIENCE])
            .and_then(|c| c.with_algorithms(Gate::RestApi.algorithms().iter().copied()))
            .expect("config");
        let verifier = Verifier::new(config).expect("verifier");
        verifier
            .keys()
            .seed(keys.to_string().as_bytes())
            .expect("seed");
        let mut claims = claims_for(issuer.url(), AUDIENCE, 3600);
        claims["scope"] = json!("profile/read");
        World {
            runtime,
            issuer,
            rsa_token: rsa.mint(&claims),
            ec_token: ec.mint(&claims),
            verifier,
        }
    })
}

fn verify(token: &str) -> Result<Claims, portcullis_claims::AuthError> {
    let w = world();
    w.runtime.block_on(w.verifier.verify(token))
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, u8),
    Delete(usize),
    Insert(usize, u8),
    Truncate(usize),
    SwapSegments(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (0..3usize, 0..3usize).prop_map(|(a, b)| Mutation::SwapSegments(a, b)),
    ]
}

fn apply(token: &str, mutations: &[Mutation]) -> String {
    let mut bytes = token.as_bytes().to_vec();
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Replace(i, b) if !bytes.is_empty() => bytes[i % len] = b,
            Mutation::Delete(i) if !bytes.is_empty() => {
                bytes.remove(i % len);
            }
            Mutation::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
            Mutation::Truncate(i) => bytes.truncate(i % len),
            Mutation::SwapSegments(a, b) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let mut parts: Vec<&str> = text.split('.').collect();
                if a < parts.len() && b < parts.len() {
                    parts.swap(a, b);
                }
                bytes = parts.join(".").into_bytes();
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn valid_tokens_verify(which in 0..2usize) {
        let w = world();
        let token = if which == 0 { &w.rsa_token } else { &w.ec_token };
        prop_assert!(verify(token).is_ok());
    }

    #[test]
    fn mutated_tokens_are_never_accepted(which in 0..2usize, mutations in prop::collection::vec(mutation(), 1..4)) {
        let w = world();
        let original = if which == 0 { &w.rsa_token } else { &w.ec_token };
        let mutated = apply(original, &mutations);
        prop_assume!(&mutated != original);
        prop_assert!(verify(&mutated).is_err(), "accepted a mutation: {mutations:?}");
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..12_000)) {
        let text = String::from_utf8_lossy(&bytes);
        prop_assert!(verify(&text).is_err());
        let bearer = format!("Bearer {}", text);
        prop_assert!(verify(&bearer).is_err());
    }

    #[test]
    fn random_jws_shapes_never_panic(
        header in "[A-Za-z0-9_-]{0,120}",
        payload in "[A-Za-z0-9_-]{0,300}",
        signature in "[A-Za-z0-9_-]{0,400}",
    ) {
        let token = [header, payload, signature].join(".");
        prop_assert!(verify(&token).is_err());
    }

    #[test]
    fn hostile_json_in_every_segment_never_panics(header in any::<String>(), payload in any::<String>(), kid in any::<String>()) {
        let b64 = portcullis_testkit::b64;
        let shaped = json!({"alg": "RS256", "kid": kid}).to_string();
        for h in [header.as_str(), shaped.as_str()] {
            let token = format!("{}.{}.{}", b64(h.as_bytes()), b64(payload.as_bytes()), b64(b"sig"));
            prop_assert!(verify(&token).is_err());
        }
    }

    #[test]
    fn gateway_claim_maps_never_panic(entries in prop::collection::vec((any::<String>(), any::<String>()), 0..16)) {
        let claims = Claims::from_gateway_claims(entries.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let _ = (claims.scopes(), claims.groups(), claims.exp(), claims.aud());
        let rendered = claims.to_gateway_claims();
        prop_assert!(rendered.len() <= entries.len());
    }
}

/// A token naming a kid the seed lacks sends the verifier to the issuer, and that issuer is the
/// loopback one: no test key fetch can reach beyond 127.0.0.1.
#[test]
fn unknown_kids_fetch_from_the_loopback_issuer() {
    let w = world();
    let stranger = TestKey::rsa("not-seeded");
    let token = stranger.mint(&claims_for(w.issuer.url(), AUDIENCE, 3600));
    assert!(verify(&token).is_err());
    assert!(w.issuer.url().starts_with("http://127.0.0.1:"));
    assert!(
        w.issuer.discovery_fetches() + w.issuer.jwks_fetches() >= 1,
        "the unknown kid was looked up at the loopback issuer"
    );
}
