//! Key-cache behaviour against a real issuer on loopback: single flight, no fetch storms, fail
//! closed, stale-while-failing, rotation, size and time limits.

use crate::common;

use std::time::Duration;

use common::{AUDIENCE, Fixture, fast_options};
use portcullis_claims::{
    AuthError, Authorizer, AuthorizerConfig, CachePolicy, Clock, SeedError, Verifier,
    VerifierOptions,
};
use portcullis_testkit::{Faults, Issuer, TestKey, b64, claims_for, jwks};
use serde_json::json;

fn options(policy: CachePolicy) -> VerifierOptions {
    VerifierOptions {
        cache_policy: policy,
        ..VerifierOptions::default()
    }
}

/// [`options`] on a manual clock: ages and cool-downs pass only when the test moves it.
fn options_on(policy: CachePolicy, clock: &Clock) -> VerifierOptions {
    VerifierOptions {
        clock: clock.clone(),
        ..options(policy)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_cache_under_1000_concurrent_verifications_fetches_once() {
    let fx = Fixture::start().await;
    fx.issuer.set_delay(Duration::from_millis(200));
    let verifier =
        Verifier::with_options(fx.config(), options(CachePolicy::default())).expect("verifier");
    let tokens: Vec<String> = (0..1000)
        .map(|i| {
            fx.rsa
                .mint(&fx.claims_with(json!({"sub": format!("user-{i}")})))
        })
        .collect();
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let verifier = verifier.clone();
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("every token verifies");
    }
    assert_eq!(fx.issuer.jwks_fetches(), 1);
    assert_eq!(fx.issuer.discovery_fetches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_unknown_kids_within_one_cooldown_cause_at_most_two_fetches() {
    let fx = Fixture::start().await;
    let verifier =
        Verifier::with_options(fx.config(), options(CachePolicy::default())).expect("verifier");
    let payload = b64(fx.claims().to_string().as_bytes());
    let mut tasks = Vec::new();
    for i in 0..10_000u32 {
        // Kid-only forgeries: the kid is judged before the signature, so no signing is needed.
        let kid = format!("{:08x}{:08x}", i.wrapping_mul(2_654_435_761), i);
        let header = b64(json!({"alg": "RS256", "kid": kid}).to_string().as_bytes());
        let token = format!("{header}.{payload}.c2ln");
        let verifier = verifier.clone();
        tasks.push(tokio::spawn(async move { verifier.verify(&token).await }));
    }
    for task in tasks {
        assert_eq!(
            task.await.expect("task").expect_err("unknown kid"),
            AuthError::UnknownKid
        );
    }
    assert!(
        fx.issuer.jwks_fetches() <= 2,
        "{} fetches",
        fx.issuer.jwks_fetches()
    );
    assert!(fx.issuer.jwks_fetches() >= 1);
}

#[tokio::test]
async fn issuer_down_after_first_fetch_keeps_cached_keys_working() {
    let mut fx = Fixture::start().await;
    // Keys always stale and no cool-down: every request tries a refresh, and every refresh fails.
    let policy = CachePolicy {
        max_age: Duration::ZERO,
        ..fast_options().cache_policy
    };
    let verifier = Verifier::with_options(fx.config(), options(policy)).expect("verifier");
    assert!(verifier.verify(&fx.rsa.mint(&fx.claims())).await.is_ok());
    fx.issuer.stop();
    for i in 0..3 {
        let token = fx
            .rsa
            .mint(&fx.claims_with(json!({"sub": format!("after-{i}")})));
        assert!(
            verifier.verify(&token).await.is_ok(),
            "cached key must keep working"
        );
    }
    let unknown = TestKey::rsa("rotated-in").mint(&fx.claims());
    assert_eq!(
        verifier.verify(&unknown).await.unwrap_err(),
        AuthError::UnknownKid
    );
}

#[tokio::test]
async fn issuer_down_from_the_start_fails_closed() {
    let mut fx = Fixture::start().await;
    fx.issuer.stop();
    let verifier = fx.verifier(fx.config());
    let error = verifier.hydrate().await.unwrap_err();
    assert!(
        matches!(error, portcullis_claims::FetchError::Transport { .. }),
        "{error}"
    );
    let refusal = verifier
        .verify(&fx.rsa.mint(&fx.claims()))
        .await
        .unwrap_err();
    assert_eq!(refusal, AuthError::KeysUnavailable);
    assert_eq!(refusal.status(), 401);
}

#[tokio::test]
async fn rotated_key_is_accepted_after_one_fetch_once_the_cooldown_passes() {
    let fx = Fixture::start().await;
    let policy = CachePolicy {
        cooldown: Duration::from_secs(60),
        ..CachePolicy::default()
    };
    let clock = common::manual_clock();
    let verifier =
        Verifier::with_options(fx.config(), options_on(policy, &clock)).expect("verifier");
    assert!(verifier.verify(&fx.rsa.mint(&fx.claims())).await.is_ok());
    assert_eq!(fx.issuer.jwks_fetches(), 1);

    let new_key = TestKey::rsa_other("k2");
    fx.issuer.set_jwks(jwks([fx.rsa.jwk(), new_key.jwk()]));
    let token = new_key.mint(&fx.claims());
    // Inside the cool-down the new kid is not fetched for…
    assert_eq!(
        verifier.verify(&token).await.unwrap_err(),
        AuthError::UnknownKid
    );
    assert_eq!(fx.issuer.jwks_fetches(), 1);
    assert_eq!(
        verifier.verify(&token).await.unwrap_err(),
        AuthError::UnknownKid,
        "a second try inside the cool-down is not fetched for either"
    );
    assert_eq!(fx.issuer.jwks_fetches(), 1);
    // …after it, one fetch brings it in (the clock moves, so does the token's validity: its
    // hour to live has room).
    clock.advance(Duration::from_secs(61));
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(fx.issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn remembered_token_is_refused_once_its_key_leaves_the_jwks() {
    let fx = Fixture::start().await;
    let verifier = fx.verifier(fx.config());
    let token = fx.rsa.mint(&fx.claims());
    assert!(verifier.verify(&token).await.is_ok());
    fx.issuer.set_jwks(jwks([TestKey::rsa_other("k2").jwk()]));
    verifier.hydrate().await.expect("refresh");
    assert_eq!(
        verifier.verify(&token).await.unwrap_err(),
        AuthError::UnknownKid
    );
}

/// An issuer that publishes other key material under a remembered token's kid (a compromised key
/// replaced in place): the token is judged again against the key now published, and refused, as
/// API Gateway, which keeps no verdicts, refuses it.
#[tokio::test]
async fn remembered_token_is_refused_once_its_kid_names_other_key_material() {
    let fx = Fixture::start().await;
    let verifier = fx.verifier(fx.config());
    let token = fx.rsa.mint(&fx.claims());
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(verifier.token_cache_usage().0, 1, "remembered");
    fx.issuer
        .set_jwks(jwks([TestKey::rsa_other(fx.rsa.kid()).jwk()]));
    verifier.hydrate().await.expect("refresh");
    assert_eq!(
        verifier.verify(&token).await.unwrap_err(),
        AuthError::InvalidSignature
    );
}

#[tokio::test]
async fn jwks_uri_override_skips_discovery() {
    let fx = Fixture::start().await;
    let config = fx
        .config()
        .with_jwks_uri(&fx.issuer.jwks_url())
        .expect("jwks uri");
    let verifier = fx.verifier(config);
    assert!(verifier.verify(&fx.rsa.mint(&fx.claims())).await.is_ok());
    assert_eq!(
        (fx.issuer.discovery_fetches(), fx.issuer.jwks_fetches()),
        (0, 1)
    );
}

#[tokio::test]
async fn issuer_with_trailing_slash_finds_discovery_with_one_slash() {
    let fx = Fixture::start().await;
    let issuer = format!("{}/", fx.iss());
    // The issuer names itself exactly as configured (Auth0's issuers end with a slash).
    fx.issuer.set_discovery_issuer(&issuer);
    let config = AuthorizerConfig::new(&issuer, [AUDIENCE]).expect("config");
    let verifier = fx.verifier(config);
    let token = fx.rsa.mint(&claims_for(&issuer, AUDIENCE, 60));
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(fx.issuer.discovery_fetches(), 1);
}

#[tokio::test]
async fn jwks_larger_than_150000_bytes_is_refused() {
    let fx = Fixture::start().await;
    let padding: Vec<_> = (0..2_000)
        .map(|i| json!({"kty": "oct", "kid": format!("pad-{i}"), "k": "A".repeat(64)}))
        .collect();
    let mut keys = vec![fx.rsa.jwk()];
    keys.extend(padding);
    let document = jwks(keys);
    assert!(document.to_string().len() > portcullis_claims::limits::MAX_JWKS_BYTES);
    fx.issuer.set_jwks(document);
    let verifier = fx.verifier(fx.config());
    let error = verifier.hydrate().await.unwrap_err();
    assert!(
        error.to_string().contains("more than 150000 bytes"),
        "{error}"
    );
    assert_eq!(
        verifier
            .verify(&fx.rsa.mint(&fx.claims()))
            .await
            .unwrap_err(),
        AuthError::KeysUnavailable
    );
}

#[tokio::test]
async fn slow_issuer_times_out_and_fails_closed() {
    let fx = Fixture::start().await;
    // The issuer never answers in time; the fetch gives up after 200 ms. The bound asserted is
    // loose (10 s), so a loaded machine cannot fail it, yet far below the issuer's 60 s.
    fx.issuer.set_delay(Duration::from_secs(60));
    let policy = CachePolicy {
        timeout: Duration::from_millis(200),
        ..fast_options().cache_policy
    };
    let verifier = Verifier::with_options(fx.config(), options(policy)).expect("verifier");
    let started = std::time::Instant::now();
    assert_eq!(
        verifier
            .verify(&fx.rsa.mint(&fx.claims()))
            .await
            .unwrap_err(),
        AuthError::KeysUnavailable
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the timeout bounded the wait: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn seeded_keys_verify_without_any_fetch_and_hydrate_prefetches() {
    let fx = Fixture::start().await;
    let seeded = fx.verifier(fx.config());
    let usable = seeded
        .keys()
        .seed(jwks([fx.rsa.jwk()]).to_string().as_bytes())
        .expect("seed");
    assert_eq!(usable, 1);
    assert!(seeded.verify(&fx.rsa.mint(&fx.claims())).await.is_ok());
    assert_eq!(fx.issuer.jwks_fetches(), 0);

    let hydrated = fx.verifier(fx.config());
    assert_eq!(
        hydrated.hydrate().await.expect("hydrate"),
        2,
        "RS256-only verifier: k1 and noalg; ec1, ed1, ps1 need other algorithms, weak and dup are unusable"
    );
    assert_eq!(fx.issuer.jwks_fetches(), 1);
    assert!(hydrated.verify(&fx.rsa.mint(&fx.claims())).await.is_ok());
    assert_eq!(fx.issuer.jwks_fetches(), 1);
}

#[tokio::test]
async fn key_sets_fetched_once_seed_another_authorizer_that_then_never_fetches() {
    let fx = Fixture::start().await;
    let builder = Authorizer::new([fx.config()], VerifierOptions::default()).expect("authorizer");
    let document = builder.key_sets().await.expect("key sets");
    assert_eq!(fx.issuer.jwks_fetches(), 1);
    let issuer = fx.config().issuer().to_owned();
    assert!(document[&issuer]["keys"].is_array(), "{document}");

    let cold = Authorizer::new([fx.config()], VerifierOptions::default()).expect("authorizer");
    assert_eq!(cold.seed(document.to_string().as_bytes()), Ok(1));
    assert!(cold.verify(&fx.rsa.mint(&fx.claims())).await.is_ok());
    assert_eq!(
        fx.issuer.jwks_fetches(),
        1,
        "the seeded start made no fetch"
    );

    let refusals = [
        (b"[1,2]".to_vec(), SeedError::NotAMap),
        (b"not json".to_vec(), SeedError::NotAMap),
        (
            serde_json::json!({ issuer.clone(): { "keys": [] } })
                .to_string()
                .into_bytes(),
            SeedError::Keys(issuer.clone()),
        ),
        (
            serde_json::json!({ issuer.clone(): "<html>" })
                .to_string()
                .into_bytes(),
            SeedError::Keys(issuer.clone()),
        ),
    ];
    for (input, expected) in refusals {
        let fresh = Authorizer::new([fx.config()], VerifierOptions::default()).expect("authorizer");
        assert_eq!(fresh.seed(&input), Err(expected));
    }
    let other = serde_json::json!({ "https://other.example.com": document[&issuer] }).to_string();
    let fresh = Authorizer::new([fx.config()], VerifierOptions::default()).expect("authorizer");
    assert_eq!(
        fresh.seed(other.as_bytes()),
        Ok(0),
        "another issuer's set is not used"
    );
}

#[tokio::test]
async fn plain_http_is_refused_for_non_loopback_hosts() {
    let cases = [
        ("http://issuer.example.com", false),
        ("http://10.0.0.1/x", false),
        ("ftp://127.0.0.1/", false),
        ("https://issuer.example.com", true),
        ("http://127.0.0.1:8080", true),
        ("http://localhost:8080/pool", true),
        ("http://[::1]:8080", true),
    ];
    for (issuer, ok) in cases {
        assert_eq!(
            AuthorizerConfig::new(issuer, [AUDIENCE]).is_ok(),
            ok,
            "{issuer}"
        );
    }
    let config = AuthorizerConfig::new("https://issuer.example.com", [AUDIENCE]).expect("config");
    let error = config
        .with_jwks_uri("http://issuer.example.com/jwks.json")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"invalid jwks_uri "http://issuer.example.com/jwks.json": expected an https URL (plain http only for loopback hosts)"#
    );
}

#[tokio::test]
async fn discovery_pointing_jwks_at_plain_http_elsewhere_is_refused() {
    // An issuer whose discovery names a non-loopback http jwks_uri: never fetched.
    let issuer = Issuer::start(jwks([TestKey::rsa("k1").jwk()]))
        .await
        .expect("issuer");
    let verifier = Verifier::with_options(
        AuthorizerConfig::new(issuer.url(), [AUDIENCE]).expect("config"),
        fast_options(),
    )
    .expect("verifier");
    issuer.set_discovery_jwks_uri("http://keys.example.com/jwks.json");
    let error = verifier.hydrate().await.unwrap_err();
    assert!(error.to_string().contains("https jwks_uri"), "{error}");
    assert_eq!(issuer.jwks_fetches(), 0);
}

#[tokio::test]
async fn keys_unrefreshed_beyond_the_staleness_bound_fail_closed() {
    let mut fx = Fixture::start().await;
    let policy = CachePolicy {
        max_age: Duration::from_secs(100),
        max_staleness: Duration::from_secs(400),
        ..fast_options().cache_policy
    };
    let clock = common::manual_clock();
    let verifier =
        Verifier::with_options(fx.config(), options_on(policy, &clock)).expect("verifier");
    assert!(verifier.hydrate().await.is_ok());
    fx.issuer.stop();
    // Stale (past max_age) but within the bound: the cached key still verifies.
    clock.advance(Duration::from_secs(150));
    let token = |sub: &str| fx.rsa.mint(&fx.claims_with(json!({ "sub": sub })));
    assert!(verifier.verify(&token("within")).await.is_ok());
    // Just inside the bound still...
    clock.advance(Duration::from_secs(249));
    assert!(verifier.verify(&token("just-within")).await.is_ok());
    // ...past it, with the issuer still unreachable: keys unavailable, as with no keys at all.
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        verifier.verify(&token("beyond")).await.unwrap_err(),
        AuthError::KeysUnavailable
    );
    // A remembered token is no exception.
    assert_eq!(
        verifier.verify(&token("within")).await.unwrap_err(),
        AuthError::KeysUnavailable
    );
}

#[tokio::test]
async fn plain_http_keys_only_for_a_plain_http_loopback_issuer() {
    // An https issuer cannot be pointed at a loopback http key set (in Lambda, 127.0.0.1:9001 is
    // the Runtime API): not by override...
    let config = AuthorizerConfig::new("https://issuer.example.com", [AUDIENCE]).expect("config");
    let error = config
        .with_jwks_uri("http://127.0.0.1:9001/jwks.json")
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("plain http only for a plain http loopback issuer"),
        "{error}"
    );
    // ...while the development issuer (http on loopback) keeps its own.
    let dev = AuthorizerConfig::new("http://127.0.0.1:8080", [AUDIENCE]).expect("config");
    assert!(dev.with_jwks_uri("http://127.0.0.1:8080/jwks.json").is_ok());
}

#[tokio::test]
async fn a_discovery_document_naming_another_issuer_is_refused() {
    let fx = Fixture::start().await;
    fx.issuer
        .set_discovery_issuer("https://impostor.example.com");
    let verifier = fx.verifier(fx.config());
    let error = verifier.hydrate().await.unwrap_err();
    assert!(error.to_string().contains("issuer"), "{error}");
    assert_eq!(fx.issuer.jwks_fetches(), 0, "its jwks_uri is not followed");
    assert_eq!(
        verifier
            .verify(&fx.rsa.mint(&fx.claims()))
            .await
            .unwrap_err(),
        AuthError::KeysUnavailable
    );
}

#[tokio::test]
async fn redirects_never_leave_the_host_or_downgrade() {
    let fx = Fixture::start().await;
    // Another server on loopback: a different host:port the key fetch must not be sent to.
    let elsewhere = Issuer::start(jwks([fx.rsa.jwk()]))
        .await
        .expect("elsewhere");
    fx.issuer.set_discovery_jwks_uri(&format!(
        "{}/redirect?to={}/jwks.json",
        fx.iss(),
        elsewhere.url()
    ));
    let verifier = fx.verifier(fx.config());
    let error = verifier.hydrate().await.unwrap_err().to_string();
    assert!(
        error.ends_with("answered HTTP 302"),
        "not followed: {error}"
    );
    assert_eq!(
        elsewhere.jwks_fetches(),
        0,
        "the redirect off the host was not followed"
    );
    // A redirect within the host is followed.
    fx.issuer
        .set_discovery_jwks_uri(&format!("{}/redirect?to={}/jwks.json", fx.iss(), fx.iss()));
    let verifier = fx.verifier(fx.config());
    assert!(verifier.hydrate().await.is_ok());
}

#[tokio::test]
async fn redirects_are_followed_three_times_and_no_more() {
    for (hops, followed) in [(1, true), (3, true), (4, false)] {
        let fx = Fixture::start().await;
        fx.issuer
            .set_discovery_jwks_uri(&fx.issuer.redirect_chain(hops));
        let verifier = fx.verifier(fx.config());
        let outcome = verifier.hydrate().await;
        assert_eq!(outcome.is_ok(), followed, "{hops} redirects: {outcome:?}");
        if !followed {
            let error = outcome.unwrap_err().to_string();
            assert!(error.contains("answered HTTP 302"), "{error}");
            assert_eq!(fx.issuer.jwks_fetches(), 0, "the key set was not reached");
        }
    }
}

#[tokio::test]
async fn a_streamed_key_set_is_cut_off_at_the_cap() {
    let fx = Fixture::start().await;
    fx.issuer.set_faults(Faults::Jwks);
    fx.issuer.serve_streamed(true);
    // Without Content-Length the cap can only be applied while reading: under a cap the whole
    // set fits in, it is read in full...
    let whole = Fixture::start().await;
    let usable = whole
        .verifier(whole.config())
        .hydrate()
        .await
        .expect("key set");
    let verifier = fx.verifier(fx.config());
    assert_eq!(verifier.hydrate().await.expect("streamed key set"), usable);
    // ...and over a cap smaller than the set, refused once the cap is passed.
    let small = VerifierOptions {
        cache_policy: CachePolicy {
            max_bytes: 2048,
            ..fast_options().cache_policy
        },
        ..fast_options()
    };
    let verifier = Verifier::with_options(fx.config(), small).expect("verifier");
    let error = verifier.hydrate().await.unwrap_err();
    assert_eq!(
        error,
        portcullis_claims::FetchError::TooLarge {
            url: fx.issuer.jwks_url(),
            limit: 2048
        }
    );
}

#[tokio::test]
async fn discovery_without_jwks_uri_is_refused() {
    let fx = Fixture::start().await;
    fx.issuer
        .set_discovery_document(json!({"issuer": fx.iss(), "authorization_endpoint": "x"}));
    let verifier = fx.verifier(fx.config());
    let error = verifier.hydrate().await.unwrap_err().to_string();
    assert!(
        error.ends_with(
            "did not answer with a valid OpenID Connect discovery document with an https jwks_uri"
        ),
        "{error}"
    );
    assert_eq!(fx.issuer.jwks_fetches(), 0);
    assert_eq!(
        verifier
            .verify(&fx.rsa.mint(&fx.claims()))
            .await
            .unwrap_err(),
        AuthError::KeysUnavailable
    );
}

/// Each JWK filter, one edit of a good key at a time: the edited key is skipped (no usable key),
/// the unedited one is used. Every algorithm is allowed, so only the filter can refuse.
#[test]
fn keys_that_are_not_for_verifying_with_their_algorithm_are_skipped() {
    use serde_json::Value;
    let usable = |jwk: &Value| {
        portcullis_claims::KeySet::parse(
            jwks([jwk.clone()]).to_string().as_bytes(),
            &portcullis_claims::Algorithm::ALL,
        )
        .expect("a key set")
        .len()
    };
    let edit = |jwk: Value, changes: Value| {
        let mut jwk = jwk;
        for (k, v) in changes.as_object().expect("changes") {
            jwk[k] = v.clone();
        }
        jwk
    };
    let rsa = TestKey::rsa("r").jwk();
    let ec = TestKey::es256("e").jwk();
    let ec521 = TestKey::es512("e5").jwk();
    let okp = TestKey::ed25519("o").jwk();
    for good in [&rsa, &ec, &ec521, &okp] {
        assert_eq!(usable(good), 1, "{good}");
        assert_eq!(
            usable(&edit(good.clone(), json!({"key_ops": ["verify"]}))),
            1
        );
    }
    let short = |v: &Value| {
        let text = v.as_str().expect("coordinate");
        Value::String(b64(&portcullis_testkit::b64_decode(text)[1..]))
    };
    // The same 64 bytes of point split at the wrong place: only the coordinate length check
    // refuses it (the point itself parses).
    let (x, y) = (
        portcullis_testkit::b64_decode(ec["x"].as_str().expect("x")),
        portcullis_testkit::b64_decode(ec["y"].as_str().expect("y")),
    );
    let moved = [&x[31..], &y[..]].concat();
    let split_wrong = edit(ec.clone(), json!({"x": b64(&x[..31]), "y": b64(&moved)}));
    let cases = [
        ("EC coordinates split at the wrong place", split_wrong),
        ("use enc", edit(rsa.clone(), json!({"use": "enc"}))),
        (
            "key_ops without verify",
            edit(rsa.clone(), json!({"key_ops": ["encrypt", "wrapKey"]})),
        ),
        ("key_ops empty", edit(rsa.clone(), json!({"key_ops": []}))),
        ("unknown alg", edit(rsa.clone(), json!({"alg": "RS1024"}))),
        ("none alg", edit(rsa.clone(), json!({"alg": "none"}))),
        (
            "HMAC alg on an RSA key",
            edit(rsa.clone(), json!({"alg": "HS256"})),
        ),
        (
            "EC alg on an RSA key",
            edit(rsa.clone(), json!({"alg": "ES256"})),
        ),
        (
            "RSA alg on an EC key",
            edit(ec.clone(), json!({"alg": "RS256"})),
        ),
        (
            "ES384 on a P-256 key",
            edit(ec.clone(), json!({"alg": "ES384"})),
        ),
        (
            "EdDSA alg on an EC key",
            edit(ec.clone(), json!({"alg": "EdDSA"})),
        ),
        (
            "unknown EC curve",
            edit(ec.clone(), json!({"crv": "secp256k1"})),
        ),
        (
            "P-256 key named P-384",
            edit(ec.clone(), json!({"crv": "P-384", "alg": null})),
        ),
        (
            "short EC x",
            edit(ec.clone(), json!({"x": short(&ec["x"])})),
        ),
        (
            "short EC y",
            edit(ec.clone(), json!({"y": short(&ec["y"])})),
        ),
        (
            "short P-521 x",
            edit(ec521.clone(), json!({"x": short(&ec521["x"])})),
        ),
        (
            "OKP curve X25519",
            edit(okp.clone(), json!({"crv": "X25519"})),
        ),
        (
            "OKP curve Ed448",
            edit(okp.clone(), json!({"crv": "Ed448"})),
        ),
        (
            "short OKP key",
            edit(okp.clone(), json!({"x": short(&okp["x"])})),
        ),
        ("empty RSA e", edit(rsa.clone(), json!({"e": ""}))),
        ("zero RSA e", edit(rsa.clone(), json!({"e": "AA"}))),
        ("empty RSA n", edit(rsa.clone(), json!({"n": ""}))),
        ("RSA n not base64url", edit(rsa.clone(), json!({"n": "!!"}))),
        ("no kty", edit(rsa.clone(), json!({"kty": null}))),
        (
            "kty oct",
            edit(rsa.clone(), json!({"kty": "oct", "k": "c2VjcmV0"})),
        ),
    ];
    for (what, jwk) in cases {
        assert_eq!(usable(&jwk), 0, "{what}: {jwk}");
    }
}
