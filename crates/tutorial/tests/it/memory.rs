//! The real `portcullis-server` under 5,000 distinct valid tokens with bulky claims: its resident
//! memory grows by no more than the verified-token cache's byte budget allows (16 MiB of claims by
//! default, plus 16 MiB of slack), well inside a 256 MB function. Measured on this machine: +17 MiB
//! after warm-up; with the count bound alone (4,096 entries) the same run grew by 199 MiB.

use crate::server;

use server::{folder, start};

use portcullis_testkit::{Issuer, TestKey, jwks, unix_now};
use serde_json::{Map, Value, json};

const AUDIENCE: &str = "memory-client";

/// Kernel-reported resident set size of `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_bulky_tokens_stay_within_the_cache_budget() {
    let key = TestKey::rsa("memory-key");
    let issuer = Issuer::start(jwks([key.jwk()])).await.expect("issuer");
    let dir = folder("memory-bulky-tokens", issuer.url(), AUDIENCE);
    let (mut server, base) = start(&dir);
    let pid = server.id();
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    // Bulky the way memory is spent: 300 small members (each a map node and two strings), about
    // 6 KB of token, inside API Gateway's 10 KiB header bound.
    let mut bulk = Map::new();
    for i in 0..300 {
        bulk.insert(format!("c{i:03}"), Value::String("v".into()));
    }
    let now = unix_now();
    let token = |n: usize| {
        let mut claims = bulk.clone();
        claims.insert("iss".into(), json!(issuer.url()));
        claims.insert("aud".into(), json!(AUDIENCE));
        claims.insert("sub".into(), json!(format!("user-{n}")));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + 3600));
        key.mint(&Value::Object(claims))
    };
    let send = |n: usize| {
        let request = client
            .get(format!("{base}/user/profile"))
            .bearer_auth(token(n));
        async move { request.send().await.expect("answer").status().as_u16() }
    };
    for n in 0..200 {
        assert!(send(n).await == 200, "token {n} accepted");
    }
    let warm = rss(pid);
    for n in 200..5_000 {
        let status = send(n).await;
        assert!(status == 200, "token {n}: {status}");
    }
    let end = rss(pid);
    let _ = server.kill();
    let _ = server.wait();
    let growth = end.saturating_sub(warm);
    eprintln!(
        "RSS after warm-up {} MiB, after 5,000 tokens {} MiB (+{} MiB)",
        warm >> 20,
        end >> 20,
        growth >> 20
    );
    assert!(
        growth < 32 << 20,
        "grew by {} MiB: more than the 16 MiB cache budget allows",
        growth >> 20
    );
}
