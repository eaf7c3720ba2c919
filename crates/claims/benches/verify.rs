//! What a verify costs against the bare signature check it cannot avoid.
//!
//! For RS256 and ES256, in one run:
//! - `raw`: aws-lc-rs checks the token's signature with a pre-parsed public key (the floor);
//! - `verify/first-seen`: our whole `verify` with the token cache off (decode, alg, kid, signature,
//!   iss, aud, time claims), keys warm;
//! - `verify/repeat`: the same token again with the token cache on (hash lookup + time claims).
//!
//! And the request path's decision on a remembered token (`decision/…`): `verify`, `judge` (with
//! the route's scopes and the time taken), and `judge` with the decision counted in `Metrics`.
//!
//! And the ALB's user-claims token (`alb-oidc-data/…`): `raw` the ES256 check of its signature,
//! `verify` the whole `AlbVerifier::verify` with its key cached (the key cache's hit path).
//!
//! `cargo bench -p portcullis-claims --bench verify`
#![allow(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_claims::metrics::{Decision, Metrics};
use portcullis_claims::{Algorithm, Authorizer, AuthorizerConfig, Gate, Verifier, VerifierOptions};
use portcullis_testkit::{TestKey, claims_for, jwks};
use serde_json::json;

const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123";
const AUDIENCE: &str = "6p1kqe3vvbh3e6rh2cbqmqtl5a";

/// Runs a future that must finish without waiting (keys are seeded, so verify never fetches).
fn now<F: Future>(future: F) -> F::Output {
    let mut context = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut context) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("verify waited on the network in a benchmark"),
    }
}

fn verifier(key: &TestKey, cache_entries: usize) -> Verifier {
    // The REST gate takes both algorithms measured here; its rules on a token with `aud` are the
    // HTTP API's.
    let config = AuthorizerConfig::for_gate(Gate::RestApi, ISSUER, [AUDIENCE])
        .and_then(|c| c.with_algorithms([Algorithm::RS256, Algorithm::ES256]))
        .expect("config");
    let options = VerifierOptions {
        token_cache_entries: cache_entries,
        ..VerifierOptions::default()
    };
    let verifier = Verifier::with_options(config, options).expect("verifier");
    let document = jwks([key.jwk()]).to_string();
    verifier.keys().seed(document.as_bytes()).expect("seed");
    verifier
}

fn bench_algorithm(c: &mut Criterion, key: TestKey, raw_alg: &'static dyn VerificationAlgorithm) {
    // A Cognito-sized access token.
    let mut claims = claims_for(ISSUER, AUDIENCE, 3600);
    claims["token_use"] = json!("access");
    claims["scope"] = json!("aws.cognito.signin.user.admin profile/read profile/write");
    claims["username"] = json!("5f1c9a2e-7d7b-4b8e-9d7a-1f2e3d4c5b6a");
    claims["jti"] = json!("0f3a4b5c-6d7e-8f90-a1b2-c3d4e5f60718");
    let token = key.mint(&claims);
    let (input, signature_b64) = token.rsplit_once('.').expect("three segments");
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).expect("signature");
    let raw_key = ParsedPublicKey::new(raw_alg, key.public_key_bytes()).expect("public key");
    let uncached = verifier(&key, 0);
    let cached = verifier(&key, 1024);
    now(cached.verify(&token)).expect("valid token");

    let mut group = c.benchmark_group(key.alg());
    group.bench_function("raw", |b| {
        b.iter(|| {
            raw_key
                .verify_sig(black_box(input.as_bytes()), black_box(&signature))
                .expect("valid")
        })
    });
    group.bench_function("verify/first-seen", |b| {
        b.iter(|| now(uncached.verify(black_box(&token))).expect("valid"))
    });
    group.bench_function("verify/repeat", |b| {
        b.iter(|| now(cached.verify(black_box(&token))).expect("valid"))
    });
    group.finish();
}

/// The request path's decision on a remembered token, with and without metrics: `verify`, then
/// `judge` (verify, the route's scopes, the issuer named, the time taken), then `judge` with the
/// decision counted in [`Metrics`] (one short lock, the latency histogram).
fn bench_decision(c: &mut Criterion) {
    let key = TestKey::rsa("rsa-1");
    let mut claims = claims_for(ISSUER, AUDIENCE, 3600);
    claims["scope"] = json!("profile/read profile/write");
    let bearer = format!("Bearer {}", key.mint(&claims));
    let scopes = ["profile/read"];
    let authorizer = || {
        let config = AuthorizerConfig::new(ISSUER, [AUDIENCE]).expect("config");
        let authorizer = Authorizer::new([config], VerifierOptions::default()).expect("authorizer");
        let document = jwks([key.jwk()]).to_string();
        authorizer.verifiers()[0]
            .keys()
            .seed(document.as_bytes())
            .expect("seed");
        now(authorizer.verify(&bearer)).expect("valid token");
        authorizer
    };
    // Metrics switch statistics on for their authorizer only: the first stays without.
    let (authorizer, counted) = (authorizer(), authorizer());
    let metrics = Metrics::with_keys_of(&counted);

    let mut group = c.benchmark_group("decision");
    group.bench_function("verify/repeat", |b| {
        b.iter(|| now(authorizer.verify(black_box(&bearer))).expect("valid"))
    });
    group.bench_function("judge/repeat", |b| {
        b.iter(|| {
            now(authorizer.judge(Some(black_box(&bearer)), &scopes))
                .verdict
                .expect("valid")
        })
    });
    group.bench_function("judge/repeat+metrics", |b| {
        b.iter(|| {
            let judgement = now(counted.judge(Some(black_box(&bearer)), &scopes));
            metrics.record(&Decision::of("GET /user/profile", &judgement));
            judgement.verdict.expect("valid")
        })
    });
    group.finish();
}

fn bench_alb(c: &mut Criterion) {
    use portcullis_claims::alb::{AlbConfig, AlbVerifier};
    use portcullis_testkit::alb::{AlbKeyServer, alb_token};
    const SIGNER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/bench/50dc6c495c0c9188";
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let key = TestKey::es256("0b1f2e3d-4c5b-6a79-8877-665544332211");
    let keys = runtime.block_on(AlbKeyServer::start()).expect("key server");
    keys.publish(&key);
    let config = AlbConfig::new([SIGNER])
        .and_then(|c| c.with_clients([AUDIENCE]))
        .and_then(|c| c.with_key_endpoint(keys.url()))
        .expect("config")
        .with_issuer(ISSUER);
    let verifier = AlbVerifier::new(config).expect("verifier");
    let exp = portcullis_testkit::unix_now() + 3600;
    // What a Cognito user info endpoint answers, as the ALB forwards it.
    let token = alb_token(
        &key,
        &json!({"typ": "JWT", "kid": key.kid(), "alg": "ES256", "iss": ISSUER, "client": AUDIENCE, "signer": SIGNER, "exp": exp}),
        &json!({"sub": "5f1c9a2e-7d7b-4b8e-9d7a-1f2e3d4c5b6a", "email_verified": "true", "email": "user@example.com", "username": "5f1c9a2e-7d7b-4b8e-9d7a-1f2e3d4c5b6a", "exp": exp, "iss": ISSUER}),
        true,
    );
    runtime
        .block_on(verifier.verify(Some(&token)))
        .expect("valid token, key now cached");
    let (input, signature_b64) = token.rsplit_once('.').expect("three segments");
    let signature = base64::engine::general_purpose::URL_SAFE
        .decode(signature_b64)
        .expect("signature");
    let raw_key = ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, key.public_key_bytes())
        .expect("public key");
    let mut group = c.benchmark_group("alb-oidc-data");
    group.bench_function("raw", |b| {
        b.iter(|| {
            raw_key
                .verify_sig(black_box(input.as_bytes()), black_box(&signature))
                .expect("valid")
        })
    });
    group.bench_function("verify", |b| {
        b.iter(|| now(verifier.verify(black_box(Some(&token)))).expect("valid"))
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_alb(c);
    bench_decision(c);
    bench_algorithm(
        c,
        TestKey::rsa("rsa-1"),
        &signature::RSA_PKCS1_2048_8192_SHA256,
    );
    bench_algorithm(
        c,
        TestKey::es256("ec-1"),
        &signature::ECDSA_P256_SHA256_FIXED,
    );
}

criterion_group!(verify, benches);
criterion_main!(verify);
