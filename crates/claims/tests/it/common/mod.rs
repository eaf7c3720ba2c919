//! Shared set-up: a test issuer on loopback publishing a fixed key set, and verifiers for it.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use portcullis_claims::{Algorithm, AuthorizerConfig, CachePolicy, Verifier, VerifierOptions};
use portcullis_testkit::{Issuer, TestKey, jwks, weak_rsa_jwk};
use serde_json::Value;

pub const AUDIENCE: &str = "api-audience";

/// The issuer and the keys it publishes:
/// `k1` RSA (alg RS256), `ec1` P-256, `ec384` P-384, `ec521` P-521, `ed1` Ed25519, `ps1` RSA (alg PS256), `noalg` RSA without alg,
/// `weak` a 1024-bit RSA key, and `dup` twice (two different keys).
pub struct Fixture {
    pub issuer: Issuer,
    pub rsa: TestKey,
}

impl Fixture {
    pub async fn start() -> Fixture {
        let published = jwks([
            TestKey::rsa("k1").jwk(),
            TestKey::es256("ec1").jwk(),
            TestKey::es384("ec384").jwk(),
            TestKey::es512("ec521").jwk(),
            TestKey::ed25519("ed1").jwk(),
            TestKey::rsa_alg("ps1", "PS256").jwk(),
            TestKey::rsa_other("noalg").jwk_without_alg(),
            weak_rsa_jwk("weak"),
            TestKey::rsa("dup").jwk(),
            TestKey::rsa_other("dup").jwk(),
        ]);
        let issuer = Issuer::start(published).await.expect("test issuer starts");
        Fixture {
            issuer,
            rsa: TestKey::rsa("k1"),
        }
    }

    pub fn iss(&self) -> &str {
        self.issuer.url()
    }

    /// Claims that pass: this issuer, the audience, an hour to live.
    pub fn claims(&self) -> Value {
        portcullis_testkit::claims_for(self.iss(), AUDIENCE, 3600)
    }

    /// Valid claims with some members replaced (`null` removes one).
    pub fn claims_with(&self, changes: Value) -> Value {
        let mut claims = self.claims();
        for (k, v) in changes.as_object().expect("an object of changes") {
            if v.is_null() {
                claims.as_object_mut().expect("object").remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    pub fn config(&self) -> AuthorizerConfig {
        AuthorizerConfig::new(self.iss(), [AUDIENCE]).expect("valid config")
    }

    pub fn verifier(&self, config: AuthorizerConfig) -> Verifier {
        Verifier::with_options(config, fast_options()).expect("verifier")
    }
}

/// No cool-down, so failure cases finish quickly; a fetch timeout short enough that an issuer
/// that never answers fails a test in seconds, long enough for a loaded 2-core machine (failing
/// issuers here answer at once: refused connections and HTTP errors need no timeout).
pub fn fast_options() -> VerifierOptions {
    VerifierOptions {
        cache_policy: CachePolicy {
            timeout: Duration::from_secs(5),
            cooldown: Duration::ZERO,
            ..CachePolicy::default()
        },
        ..VerifierOptions::default()
    }
}

pub fn all_algorithms() -> [Algorithm; 10] {
    Algorithm::ALL
}

/// A manual clock a minute ahead of the system's: tokens minted from here on carry an `iat` of
/// the real second, which must not lie in the clock's future (at the system's own time, a token
/// minted a moment after the clock's creation, across a second boundary, was "issued in the
/// future"). Claims minted with an hour to live keep their `exp` well ahead.
pub fn manual_clock() -> portcullis_claims::Clock {
    let clock = portcullis_claims::Clock::manual_now();
    clock.advance(Duration::from_secs(60));
    clock
}
