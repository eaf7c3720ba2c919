//! The real `portcullis-server` with `[metrics] listen`: a scripted mix of requests, then a scrape
//! of `GET /metrics` on the metrics listener, every counter checked against what the mix must have
//! made; and one JSON log line per refusal on stderr, none holding a token.

use crate::server;

use std::collections::BTreeMap;
use std::process::Stdio;

use portcullis_testkit::{Issuer, TestKey, jwks, unix_now};
use serde_json::{Value, json};
use server::{folder_with, start_announcing};

const AUDIENCE: &str = "metrics-client";
const KID: &str = "metrics-key";
const GET: &str = "GET /user/profile";
const POST: &str = "POST /user/profile";

/// The scrape's samples: `name{labels}` → value (comments skipped).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (name, value) = line.rsplit_once(' ').expect("a sample line");
            (name.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_after_a_scripted_mix_counts_every_decision_key_fetch_and_cache_hit() {
    let key = TestKey::rsa(KID);
    let issuer = Issuer::start(jwks([key.jwk()])).await.expect("issuer");
    let url = issuer.url().to_owned();
    let dir = folder_with(
        "metrics-scrape",
        &url,
        AUDIENCE,
        "[routes.\"POST /user/profile\"]\nscopes = [\"profile/write\"]\n\
         [metrics]\nlisten = \"127.0.0.1:0\"\n",
    );
    let log = std::fs::File::create(dir.join("server.log")).expect("log file");
    let (mut server, announced) = start_announcing(&dir, "info", Stdio::from(log), 2);
    let base = announced[0]
        .strip_prefix("listening on ")
        .expect("api line");
    let scrape_url = announced[1]
        .strip_prefix("metrics on ")
        .expect("metrics line")
        .to_owned();
    assert!(scrape_url.ends_with("/metrics"), "{scrape_url}");

    let now = unix_now();
    let claims = |iss: &str, scope: &str, exp: i64, sub: &str| json!({"iss": iss, "aud": AUDIENCE, "sub": sub, "scope": scope, "iat": now - 20, "exp": exp});
    let repeated = key.mint(&claims(&url, "profile/read", now + 3600, "alice"));
    let fresh = key.mint(&claims(&url, "profile/read", now + 3600, "bob"));
    let expired = key.mint(&claims(&url, "profile/read", now - 10, "carol"));
    let read_only = key.mint(&claims(&url, "profile/read", now + 3600, "dave"));
    let unknown_kid = TestKey::rsa("not-published").mint(&claims(&url, "", now + 3600, "eve"));
    let foreign_iss = key.mint(&claims(
        "https://elsewhere.example",
        "",
        now + 3600,
        "mallory",
    ));
    let tokens = [
        &repeated,
        &fresh,
        &expired,
        &read_only,
        &unknown_kid,
        &foreign_iss,
    ];

    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let profile = format!("{base}/user/profile");
    // (method, token, expected status)
    let script: Vec<(&str, Option<String>, u16)> = vec![
        ("GET", Some(format!("Bearer {repeated}")), 200),
        ("GET", Some(format!("Bearer {repeated}")), 200),
        ("GET", Some(format!("Bearer {repeated}")), 200),
        ("GET", Some(format!("Bearer {fresh}")), 200),
        ("GET", None, 401),
        ("GET", Some("Bearer not-a-token".into()), 401),
        ("GET", Some(format!("Bearer {expired}")), 401),
        ("GET", Some(format!("Bearer {unknown_kid}")), 401),
        ("GET", Some(format!("Bearer {foreign_iss}")), 401),
        ("POST", Some(format!("Bearer {read_only}")), 403),
    ];
    for (n, (method, authorization, status)) in script.iter().enumerate() {
        let mut request = match *method {
            "GET" => client.get(&profile),
            _ => client
                .post(&profile)
                .header("content-type", "application/json")
                .body(r#"{"name":"Dave"}"#),
        };
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let answer = request.send().await.expect("answer");
        assert_eq!(answer.status().as_u16(), *status, "request {n}");
    }
    // The API's own listener does not serve the metrics.
    let on_api = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("answer");
    assert_ne!(
        on_api.status().as_u16(),
        200,
        "/metrics on the API listener"
    );

    let scrape = client.get(&scrape_url).send().await.expect("scrape");
    assert_eq!(scrape.status().as_u16(), 200);
    assert_eq!(
        scrape.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = scrape.text().await.expect("text");
    let _ = server.kill();
    let _ = server.wait();

    let refused = |route: &str, issuer: &str, reason: &str, status: u16| {
        format!(
            r#"portcullis_requests_refused_total{{route="{route}",issuer="{issuer}",reason="{reason}",status="{status}"}}"#
        )
    };
    let issuer_label = format!(r#"{{issuer="{url}"}}"#);
    let mut expected: BTreeMap<String, f64> = BTreeMap::from([
        (
            format!(r#"portcullis_requests_accepted_total{{route="{GET}",issuer="{url}"}}"#),
            4.0,
        ),
        (refused(GET, "", "missing_token", 401), 1.0),
        (refused(GET, "", "malformed", 401), 1.0),
        (refused(GET, &url, "expired", 401), 1.0),
        (refused(GET, &url, "unknown_kid", 401), 1.0),
        // A token naming another issuer is counted under none: no sender's text becomes a label.
        (refused(GET, "", "invalid_issuer", 401), 1.0),
        (refused(POST, &url, "insufficient_scope", 403), 1.0),
        // Fetched once at start-up; the unknown kid fell within the refresh cool-down.
        (format!("portcullis_jwks_fetches_total{issuer_label}"), 1.0),
        (
            format!("portcullis_jwks_fetch_failures_total{issuer_label}"),
            0.0,
        ),
        // Decoded tokens looked up by kid: repeated (once), fresh, expired, read-only, foreign.
        (
            format!("portcullis_jwks_cache_hits_total{issuer_label}"),
            5.0,
        ),
        (
            format!("portcullis_jwks_cache_misses_total{issuer_label}"),
            1.0,
        ),
        (format!("portcullis_jwks_keys{issuer_label}"), 1.0),
        // Nothing in the mix is oversized or ambiguous: every rejection count is there, at 0.
        (
            r#"portcullis_requests_rejected_total{reason="head_too_large",status="413"}"#.into(),
            0.0,
        ),
        (
            r#"portcullis_requests_rejected_total{reason="body_too_large",status="413"}"#.into(),
            0.0,
        ),
        (
            r#"portcullis_requests_rejected_total{reason="ambiguous_path",status="400"}"#.into(),
            0.0,
        ),
        // The repeated token's second and third requests.
        (
            format!("portcullis_token_cache_hits_total{issuer_label}"),
            2.0,
        ),
        ("portcullis_verification_seconds_count".into(), 10.0),
        (
            r#"portcullis_verification_seconds_bucket{le="+Inf"}"#.into(),
            10.0,
        ),
    ]);
    let mut found = samples(&text);
    let sum = found
        .remove("portcullis_verification_seconds_sum")
        .expect("a latency sum");
    assert!(sum > 0.0 && sum < 10.0, "latency sum {sum}");
    let buckets: Vec<f64> = found
        .iter()
        .filter(|(name, _)| name.starts_with("portcullis_verification_seconds_bucket"))
        .filter(|(name, _)| !name.contains("+Inf"))
        .map(|(_, value)| *value)
        .collect();
    assert_eq!(buckets.len(), 16, "{text}");
    found.retain(|name, _| {
        !name.starts_with("portcullis_verification_seconds_bucket") || name.contains("+Inf")
    });
    assert_eq!(found, std::mem::take(&mut expected), "the scrape:\n{text}");

    // One structured line per refusal, each naming the rule, the route and the kid; no token in
    // any line of the log.
    let log = std::fs::read_to_string(dir.join("server.log")).expect("log");
    for token in tokens {
        let signature = token.rsplit('.').next().expect("signature");
        assert!(!log.contains(signature), "a token's signature in the log");
    }
    let refusals: Vec<Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["message"] == "request refused")
        .collect();
    let reasons: Vec<(&str, &str, &str, &str)> = refusals
        .iter()
        .map(|line| {
            (
                line["reason"].as_str().unwrap_or("?"),
                line["route"].as_str().unwrap_or("?"),
                line["issuer"].as_str().unwrap_or("?"),
                line["kid"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("missing_token", GET, "", ""),
            ("malformed", GET, "", ""),
            ("expired", GET, url.as_str(), KID),
            ("unknown_kid", GET, url.as_str(), "not-published"),
            ("invalid_issuer", GET, "", KID),
            ("insufficient_scope", POST, url.as_str(), KID),
        ],
        "{log}"
    );
    assert!(
        refusals.iter().all(|line| line["status"].is_number()),
        "{log}"
    );
}
