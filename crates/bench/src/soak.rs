//! `cargo xtask soak`: the release `portcullis-server` under a steady load for minutes, to show that
//! nothing grows and every answer stays what it should be.
//!
//! 1. The server's maximum: 32 connections sending valid `GET /user/profile` as fast as answered,
//!    for 10 s.
//! 2. The soak: 80 % of that rate, paced, for `--minutes`, with a mix of requests whose answers are
//!    known: valid tokens (200), each of a pool of distinct fresh tokens (200; they fill the
//!    verified-token cache), expired tokens, tokens for another audience, tokens signed under a kid
//!    the issuer never published (401 each), and `POST /user/profile` with `If-Match` on the version
//!    last seen (200, or 412 when another POST came first).
//! 3. Every 10 s: requests, their p99 latency and the server's RSS. At the end: RSS at start, after
//!    the first minute (warm-up) and at the end, growth after warm-up (target ≤ 10 %), and every kind's
//!    count of expected and unexpected answers.
//!
//! Loopback only; bounded by `--minutes` (every request by a 5 s timeout).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use portcullis_testkit::{Issuer, TestKey, unix_now};
use serde_json::json;
use tokio::sync::Mutex;

use crate::SoakArgs;
use crate::server::{Logging, build_release_tutorial, proc_status_kib, start_release_server};
use portcullis_checkout::Workspace;

const AUDIENCE: &str = "portcullis-soak";
const KID: &str = "soak-key";
/// Connections of the load, for the maximum and the soak alike.
const CONNECTIONS: usize = 32;
/// Distinct valid tokens, each sent in turn (minted before the run: signing is not the load).
const FRESH_TOKENS: usize = 20_000;
/// How often a line is printed.
const WINDOW: Duration = Duration::from_secs(10);

/// A kind of request in the mix: what it sends and which statuses are right for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Valid,
    Fresh,
    Expired,
    WrongAudience,
    UnknownKid,
    ConditionalPost,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Valid,
        Kind::Fresh,
        Kind::Expired,
        Kind::WrongAudience,
        Kind::UnknownKid,
        Kind::ConditionalPost,
    ];

    /// The kind of the `n`th request: of every 20, 10 valid, 3 fresh, 2 expired, 2 for another
    /// audience, 1 under an unknown kid, 2 conditional POSTs.
    fn of(n: u64) -> Kind {
        match n % 20 {
            0..=9 => Kind::Valid,
            10..=12 => Kind::Fresh,
            13 | 14 => Kind::Expired,
            15 | 16 => Kind::WrongAudience,
            17 => Kind::UnknownKid,
            _ => Kind::ConditionalPost,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Valid => "valid GET",
            Kind::Fresh => "fresh token GET",
            Kind::Expired => "expired token",
            Kind::WrongAudience => "wrong audience",
            Kind::UnknownKid => "unknown kid",
            Kind::ConditionalPost => "POST If-Match",
        }
    }

    fn expected(self, status: u16) -> bool {
        match self {
            Kind::Valid | Kind::Fresh => status == 200,
            Kind::Expired | Kind::WrongAudience | Kind::UnknownKid => status == 401,
            Kind::ConditionalPost => status == 200 || status == 412,
        }
    }

    fn index(self) -> usize {
        Kind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// The tokens the mix sends.
struct Tokens {
    valid: String,
    fresh: Vec<String>,
    expired: String,
    wrong_audience: String,
    unknown_kid: String,
}

impl Tokens {
    fn mint(issuer: &str) -> Tokens {
        let key = TestKey::rsa(KID);
        let now = unix_now();
        let claims = |sub: &str, audience: &str, exp: i64| {
            json!({
                "iss": issuer, "aud": audience, "sub": sub, "scope": "profile/read profile/write",
                "iat": now, "exp": exp,
            })
        };
        let day = now + 86_400;
        Tokens {
            valid: key.mint(&claims("soak-user", AUDIENCE, day)),
            fresh: (0..FRESH_TOKENS)
                .map(|n| key.mint(&claims(&format!("fresh-{n}"), AUDIENCE, day)))
                .collect(),
            expired: key.mint(&claims("soak-user", AUDIENCE, now - 60)),
            wrong_audience: key.mint(&claims("soak-user", "another-api", day)),
            unknown_kid: TestKey::rsa("never-published").mint(&claims("soak-user", AUDIENCE, day)),
        }
    }
}

/// What the load saw in one window, or in all.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    expected: [u64; 6],
    unexpected: [u64; 6],
    failed: u64,
}

pub(crate) fn soak(args: &SoakArgs) -> Result<()> {
    let workspace = Workspace::find("the soak")?;
    build_release_tutorial(&workspace, "--bin", "portcullis-server")?;
    tokio::runtime::Runtime::new()?.block_on(run(&workspace, args.minutes))
}

async fn run(workspace: &Workspace, minutes: u64) -> Result<()> {
    let dir = workspace.target.join("soak");
    std::fs::create_dir_all(&dir)?;
    let issuer = Issuer::start(portcullis_testkit::jwks([TestKey::rsa(KID).jwk()])).await?;
    println!("==> minting {FRESH_TOKENS} distinct tokens");
    let tokens = Arc::new(Tokens::mint(issuer.url()));
    let mut server = start_release_server(
        workspace,
        &dir,
        issuer.url(),
        AUDIENCE,
        Logging {
            filter: "error",
            to_file: None,
        },
    )
    .await?;
    let (base, pid) = (server.base.clone(), server.pid);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .timeout(Duration::from_secs(5))
        .build()?;
    let profile = format!("{base}/user/profile");
    let seeded = send(
        &client,
        &profile,
        Kind::ConditionalPost,
        &tokens,
        0,
        &Arc::new(AtomicU64::new(0)),
    )
    .await;
    if seeded != Some(200) {
        bail!("seeding the soak user's profile answered {seeded:?}");
    }
    let rss_start = rss_kib(pid)?;

    println!("==> maximum: {CONNECTIONS} connections of valid GETs, as fast as answered, 10 s");
    let maximum = {
        let done = Arc::new(AtomicU64::new(0));
        let until = Instant::now() + Duration::from_secs(10);
        let mut workers = Vec::new();
        for _ in 0..CONNECTIONS {
            let (client, profile, tokens, done) = (
                client.clone(),
                profile.clone(),
                tokens.clone(),
                done.clone(),
            );
            workers.push(tokio::spawn(async move {
                let version = Arc::new(AtomicU64::new(0));
                while Instant::now() < until {
                    if send(&client, &profile, Kind::Valid, &tokens, 0, &version).await == Some(200)
                    {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for worker in workers {
            worker.await?;
        }
        done.load(Ordering::Relaxed) as f64 / 10.0
    };
    let rate = (maximum * 0.8).max(1.0);
    println!("==> maximum {maximum:.0} req/s; soaking at {rate:.0} req/s (80 %) for {minutes} min");
    println!("\n| time | req/s | p99 | server RSS | unexpected answers |");
    println!("| --- | --- | --- | --- | --- |");

    let window = Arc::new(Mutex::new(Tally::default()));
    let version = Arc::new(AtomicU64::new(1));
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let end = started + Duration::from_secs(minutes * 60);
    let interval = Duration::from_secs_f64(CONNECTIONS as f64 / rate);
    let mut workers = Vec::new();
    for worker in 0..CONNECTIONS {
        let (client, profile, tokens, window, version, sent) = (
            client.clone(),
            profile.clone(),
            tokens.clone(),
            window.clone(),
            version.clone(),
            sent.clone(),
        );
        workers.push(tokio::spawn(async move {
            // Each connection paces itself at rate / CONNECTIONS, offset so they interleave.
            let mut next = started + interval.mul_f64(worker as f64 / CONNECTIONS as f64);
            while next < end {
                tokio::time::sleep_until(next.into()).await;
                next += interval;
                let n = sent.fetch_add(1, Ordering::Relaxed);
                let kind = Kind::of(n);
                let began = Instant::now();
                let status = send(&client, &profile, kind, &tokens, n, &version).await;
                let took = began.elapsed().as_micros() as u64;
                let mut tally = window.lock().await;
                tally.latencies_us.push(took);
                match status {
                    Some(status) if kind.expected(status) => tally.expected[kind.index()] += 1,
                    Some(_) => tally.unexpected[kind.index()] += 1,
                    None => tally.failed += 1,
                }
            }
        }));
    }

    let mut total = Tally::default();
    let mut rss_after_warm_up = None;
    let mut rss_end = rss_start;
    let mut worst_p99 = 0.0f64;
    let mut tick = tokio::time::interval_at((started + WINDOW).into(), WINDOW);
    while Instant::now() < end {
        tick.tick().await;
        let mut seen = std::mem::take(&mut *window.lock().await);
        seen.latencies_us.sort_unstable();
        let p99 = percentile(&seen.latencies_us, 0.99);
        worst_p99 = worst_p99.max(p99);
        rss_end = rss_kib(pid)?;
        let elapsed = started.elapsed();
        if rss_after_warm_up.is_none() && elapsed >= Duration::from_secs(60) {
            rss_after_warm_up = Some(rss_end);
        }
        let unexpected: u64 = seen.unexpected.iter().sum::<u64>() + seen.failed;
        println!(
            "| {:>4} s | {:.0} | {:.2} ms | {:.1} MiB | {unexpected} |",
            elapsed.as_secs(),
            seen.latencies_us.len() as f64 / WINDOW.as_secs_f64(),
            p99,
            rss_end as f64 / 1024.0
        );
        for i in 0..6 {
            total.expected[i] += seen.expected[i];
            total.unexpected[i] += seen.unexpected[i];
        }
        total.failed += seen.failed;
    }
    for worker in workers {
        worker.await?;
    }
    let _ = server.child.kill().await;

    let warm = rss_after_warm_up.unwrap_or(rss_end);
    let growth = (rss_end as f64 - warm as f64) / warm as f64 * 100.0;
    println!(
        "\nserver RSS: {:.1} MiB at start, {:.1} MiB after the first minute, {:.1} MiB at the end \
         ({growth:+.1} % after warm-up; target ≤ 10 %); worst p99 of a window {worst_p99:.2} ms",
        rss_start as f64 / 1024.0,
        warm as f64 / 1024.0,
        rss_end as f64 / 1024.0
    );
    println!("\n| request | answered as expected | unexpected |");
    println!("| --- | --- | --- |");
    for kind in Kind::ALL {
        println!(
            "| {} | {} | {} |",
            kind.name(),
            total.expected[kind.index()],
            total.unexpected[kind.index()]
        );
    }
    println!("| no answer (timeout, connection) | | {} |", total.failed);
    let unexpected = total.unexpected.iter().sum::<u64>() + total.failed;
    if unexpected > 0 {
        bail!("{unexpected} answers were not what their request should get");
    }
    if minutes >= 2 && growth > 10.0 {
        bail!("the server grew {growth:.1} % after warm-up (more than 10 %)");
    }
    Ok(())
}

/// Sends the `n`th request of `kind`; its status, or `None` without an answer. A conditional POST
/// sends `If-Match` on the last version seen and records the one it gets.
async fn send(
    client: &reqwest::Client,
    url: &str,
    kind: Kind,
    tokens: &Tokens,
    n: u64,
    version: &AtomicU64,
) -> Option<u16> {
    let token = match kind {
        Kind::Valid | Kind::ConditionalPost => &tokens.valid,
        Kind::Fresh => &tokens.fresh[(n as usize / 20) % tokens.fresh.len()],
        Kind::Expired => &tokens.expired,
        Kind::WrongAudience => &tokens.wrong_audience,
        Kind::UnknownKid => &tokens.unknown_kid,
    };
    let request = if kind == Kind::ConditionalPost {
        let seen = version.load(Ordering::Relaxed);
        let mut post = client
            .post(url)
            .header("content-type", "application/json")
            .body(format!(r#"{{"name":"Soak","n":{n}}}"#));
        if seen > 0 {
            post = post.header("if-match", format!("\"{seen}\""));
        }
        post
    } else {
        client.get(url)
    };
    let answer = request.bearer_auth(token).send().await.ok()?;
    let status = answer.status().as_u16();
    if kind == Kind::ConditionalPost
        && let Some(etag) = answer.headers().get("etag").and_then(|v| v.to_str().ok())
        && let Ok(current) = etag.trim_matches('"').parse::<u64>()
    {
        version.fetch_max(current, Ordering::Relaxed);
    }
    let _ = answer.bytes().await;
    Some(status)
}

/// The `q` quantile of sorted microseconds, in milliseconds.
fn percentile(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() as f64 - 1.0) * q).round() as usize;
    sorted_us[i.min(sorted_us.len() - 1)] as f64 / 1000.0
}

/// The process's resident set (`VmRSS`), in KiB.
fn rss_kib(pid: u32) -> Result<u64> {
    proc_status_kib(pid, "VmRSS")?.context("no VmRSS in the server's /proc status")
}
