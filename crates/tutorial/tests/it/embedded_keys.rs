//! Key sets built into the package (`cargo xtask build --embed-jwks` puts `jwks.json` beside the
//! binary): the real `portcullis-server` started from such a folder answers its first
//! authenticated request with no fetch from the issuer; without the file it fetches at start-up;
//! a file for another issuer or a broken one is ignored (keys fetched), never trusted blindly.

use crate::server;

use std::path::Path;

use server::{folder, start};

use portcullis_claims::{Authorizer, AuthorizerConfig, VerifierOptions};
use portcullis_testkit::{Issuer, TestKey, jwks, unix_now};
use portcullis_tutorial::keys::EMBEDDED_JWKS_FILE;
use serde_json::json;

const AUDIENCE: &str = "embedded-client";

/// Starts the server in `dir`, sends one `GET /user/profile` with `token`, stops it; returns the
/// status and the issuer's JWKS fetch count right after the answer.
async fn first_answer(dir: &Path, token: &str, issuer: &Issuer) -> (u16, u64) {
    let (mut server, base) = start(dir);
    let status = reqwest::Client::new()
        .get(format!("{base}/user/profile"))
        .bearer_auth(token)
        .send()
        .await
        .expect("answer")
        .status()
        .as_u16();
    let fetches = issuer.jwks_fetches();
    let _ = server.kill();
    let _ = server.wait();
    (status, fetches)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_embedded_key_sets_verifies_its_first_token_without_fetching() {
    let key = TestKey::rsa("embedded-key");
    let issuer = Issuer::start(jwks([key.jwk()])).await.expect("issuer");
    let now = unix_now();
    let token = key.mint(&json!({
        "iss": issuer.url(), "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 600,
    }));
    // What `cargo xtask build --embed-jwks` writes: the issuers' sets, fetched at build time.
    let config = AuthorizerConfig::new(issuer.url(), [AUDIENCE]).expect("config");
    let builder = Authorizer::new([config], VerifierOptions::default()).expect("authorizer");
    let document = builder.key_sets().await.expect("key sets");
    let fetched_at_build = issuer.jwks_fetches();
    assert_eq!(fetched_at_build, 1);

    let dir = folder("embedded-keys", issuer.url(), AUDIENCE);
    std::fs::write(dir.join(EMBEDDED_JWKS_FILE), document.to_string()).expect("embed");
    // The issuer is slow: the refresh that starts at once in the background is still in flight
    // when the first answer, verified with the embedded keys, comes back.
    issuer.set_delay(std::time::Duration::from_secs(3));
    let started = std::time::Instant::now();
    let (status, _) = first_answer(&dir, &token, &issuer).await;
    assert!(status == 200, "authenticated, got {status}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "the first answer did not wait for the issuer: {:?}",
        started.elapsed()
    );
    issuer.set_delay(std::time::Duration::ZERO);

    // The same folder without the file: the server fetches at start-up.
    std::fs::remove_file(dir.join(EMBEDDED_JWKS_FILE)).expect("remove");
    let (status, fetches) = first_answer(&dir, &token, &issuer).await;
    assert!(status == 200, "authenticated, got {status}");
    assert_eq!(fetches, fetched_at_build + 1, "fetched once at start-up");

    // Another issuer's sets, or a broken file: ignored, keys fetched, still authenticated.
    for bad in [
        json!({ "https://other.example.com": document[issuer.url()] }).to_string(),
        "{ not json".to_owned(),
    ] {
        std::fs::write(dir.join(EMBEDDED_JWKS_FILE), bad).expect("embed");
        let before = issuer.jwks_fetches();
        let (status, fetches) = first_answer(&dir, &token, &issuer).await;
        assert!(status == 200, "authenticated, got {status}");
        assert_eq!(fetches, before + 1, "keys fetched instead");
    }

    // Embedded keys never admit a token the issuer's keys would refuse.
    let foreign = TestKey::rsa_other("embedded-key").mint(&json!({
        "iss": issuer.url(), "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 600,
    }));
    std::fs::write(dir.join(EMBEDDED_JWKS_FILE), document.to_string()).expect("embed");
    let (status, _) = first_answer(&dir, &foreign, &issuer).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_key_the_issuer_has_since_removed_stops_verifying_once_the_refresh_lands() {
    let old = TestKey::rsa("retired-key");
    let current = TestKey::rsa_other("current-key");
    // Built when the issuer still published `retired-key`; it publishes only `current-key` now.
    let issuer = Issuer::start(jwks([old.jwk()])).await.expect("issuer");
    let config = AuthorizerConfig::new(issuer.url(), [AUDIENCE]).expect("config");
    let builder = Authorizer::new([config], VerifierOptions::default()).expect("authorizer");
    let document = builder.key_sets().await.expect("key sets");
    issuer.set_jwks(jwks([current.jwk()]));
    let dir = folder("embedded-keys-retired", issuer.url(), AUDIENCE);
    std::fs::write(dir.join(EMBEDDED_JWKS_FILE), document.to_string()).expect("embed");

    let (mut server, base) = start(&dir);
    let client = reqwest::Client::new();
    let answer = |key: &TestKey, sub: usize| {
        let now = unix_now();
        let token = key.mint(&json!({
            "iss": issuer.url(), "aud": AUDIENCE, "sub": format!("user-{sub}"), "iat": now, "exp": now + 600,
        }));
        let request = client
            .get(format!("{base}/user/profile"))
            .bearer_auth(token);
        async move { request.send().await.expect("answer").status().as_u16() }
    };
    // Bounded: the refresh starts at start-up; 50 tries 100 ms apart.
    let mut refused_after = None;
    for attempt in 0..50 {
        if answer(&old, attempt).await == 401 {
            refused_after = Some(attempt);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let current_status = answer(&current, 99).await;
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        refused_after.is_some(),
        "the retired key kept verifying: the embedded set was trusted as freshly fetched"
    );
    assert!(
        issuer.jwks_fetches() >= 2,
        "the server refreshed in the background"
    );
    assert!(
        current_status == 200,
        "the current key verifies, got {current_status}"
    );
}
