//! `portcullis bench`: what authorization costs a real server, and what a Lambda cold start costs.
//!
//! - Load: the release `bench_server` example serves `GET /user/profile` on 127.0.0.1 twice, with
//!   authorization on and off; `wrk` (Debian's package, installed with apt-get when missing and root)
//!   drives each for a bounded time. Reported: requests/s, p50 and p99 latency, the server's peak RSS,
//!   and the throughput ratio.
//! - Lambda: the release `bootstrap` zipped (size), and the time from process start to its first
//!   answered request through the local HTTP API and Runtime API (median of 5 cold starts).
//!
//! Loopback only; every run is bounded in time.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use portcullis_claims::VerifierOptions;
use portcullis_config::{Sources, load};
use portcullis_emulator::Emulator;

use crate::flags::BenchArgs;
use crate::workspace::{Workspace, cargo, step};
use portcullis_testkit::{Issuer, TestKey};
use tokio::process::Command;

const DURATION_SECONDS: u32 = 10;
const CONNECTIONS: u32 = 32;
const COLD_STARTS: usize = 5;

struct Load {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    peak_rss_kib: u64,
}

pub(crate) fn bench(_: &BenchArgs) -> Result<()> {
    let workspace = Workspace::find("bench")?;
    ensure_wrk()?;
    let mut build = cargo(&[
        "build",
        "--release",
        "--package",
        "portcullis-tutorial",
        "--example",
        "bench_server",
        "--bin",
        "bootstrap",
    ]);
    build.current_dir(&workspace.root);
    step("build (release)", build)?;
    tokio::runtime::Runtime::new()?.block_on(run(&workspace))
}

fn ensure_wrk() -> Result<()> {
    let found = |cmd: &str| {
        std::process::Command::new(cmd)
            .arg("--version")
            .output()
            .is_ok()
    };
    if found("wrk") {
        return Ok(());
    }
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if !root {
        bail!(
            "wrk is not installed: run `sudo apt-get install wrk` (Debian's package) and try again"
        );
    }
    println!("==> installing wrk from Debian's packages");
    for args in [&["update", "-qq"][..], &["install", "-y", "-qq", "wrk"][..]] {
        let status = std::process::Command::new("apt-get")
            .args(args)
            .status()
            .context("running apt-get")?;
        if !status.success() {
            bail!(
                "apt-get {} failed ({status}); install wrk by hand",
                args.join(" ")
            );
        }
    }
    Ok(())
}

async fn run(workspace: &Workspace) -> Result<()> {
    let dir = workspace.target.join("bench");
    std::fs::create_dir_all(&dir)?;
    let issuer = Issuer::start_minting(
        TestKey::rsa("portcullis-bench"),
        "portcullis-bench",
        "127.0.0.1:0",
    )
    .await?;
    let config = dir.join("portcullis.toml");
    let _ = std::fs::remove_file(dir.join("profiles.db"));
    std::fs::write(
        &config,
        format!(
            "[auth]\nprovider = \"oidc\"\nissuer = \"{}\"\naudience = \"portcullis-bench\"\n\
             [routes.\"POST /user/profile\"]\nscopes = [\"profile/write\"]\n\
             [store]\nkind = \"sqlite\"\npath = \"{}\"\n",
            issuer.url(),
            dir.join("profiles.db").display()
        ),
    )?;
    let token = issuer
        .mint(
            "bench-user",
            "profile/read profile/write",
            &serde_json::json!({}),
        )
        .context("the bench issuer mints")?;

    let server = workspace.target.join("release/examples/bench_server");
    let mut results = Vec::new();
    for auth in ["off", "on"] {
        println!(
            "==> load: GET /user/profile, auth {auth}, {CONNECTIONS} connections, {DURATION_SECONDS} s"
        );
        results.push(load_run(&server, &config, auth, &token).await?);
    }
    let (off, on) = (&results[0], &results[1]);

    println!("==> Lambda bootstrap: size and cold start");
    let bootstrap = workspace.target.join("release/bootstrap");
    let raw_size = std::fs::metadata(&bootstrap)?.len();
    let zip = dir.join("bootstrap.zip");
    let _ = std::fs::remove_file(&zip);
    let status = std::process::Command::new("zip")
        .args(["-q", "-9", "-X", "-j"])
        .arg(&zip)
        .arg(&bootstrap)
        .status()
        .context("running zip (Debian package zip)")?;
    if !status.success() {
        bail!("zip failed ({status})");
    }
    let zipped = std::fs::metadata(&zip)?.len();
    let cold = cold_starts(&bootstrap, &config, &dir, &token).await?;

    println!();
    println!("| GET /user/profile | req/s | p50 | p99 | server peak RSS |");
    println!("| --- | --- | --- | --- | --- |");
    for (name, r) in [("auth off", off), ("auth on", on)] {
        println!(
            "| {name} | {:.0} | {:.2} ms | {:.2} ms | {:.1} MiB |",
            r.requests_per_second,
            r.p50_ms,
            r.p99_ms,
            r.peak_rss_kib as f64 / 1024.0
        );
    }
    let ratio = on.requests_per_second / off.requests_per_second;
    println!(
        "\nthroughput with auth / without: {ratio:.3} (auth costs {:.1}% of throughput; target ≤ 15%)",
        (1.0 - ratio) * 100.0
    );
    println!(
        "Lambda bootstrap: {:.1} MiB binary, {:.1} MiB zipped; process start → first answered request: median {:.0} ms (min {:.0} ms, {COLD_STARTS} starts)",
        raw_size as f64 / 1_048_576.0,
        zipped as f64 / 1_048_576.0,
        cold[cold.len() / 2],
        cold[0]
    );
    Ok(())
}

async fn load_run(server: &Path, config: &Path, auth: &str, token: &str) -> Result<Load> {
    let mut child = Command::new(server)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--auth",
            auth,
            "--claims-of",
            token,
            "--config",
        ])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", server.display()))?;
    let base = crate::dev::announced_url(&mut child).await?;
    let url = format!("{base}/user/profile");
    let client = reqwest::Client::new();
    let seeded = client
        .post(&url)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(r#"{"name":"Bench","team":"platform","tags":["a","b","c"]}"#)
        .send()
        .await?;
    if !seeded.status().is_success() {
        bail!("seeding a profile answered {}", seeded.status());
    }
    let output = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{CONNECTIONS}"),
            &format!("-d{DURATION_SECONDS}s"),
            "--latency",
            "-H",
        ])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(&url)
        .output()
        .await
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if text.contains("Non-2xx") {
        bail!("wrk saw non-2xx answers:\n{text}");
    }
    let pid = child.id().context("server pid")?;
    let peak_rss_kib = std::fs::read_to_string(format!("/proc/{pid}/status"))?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let _ = child.kill().await;
    let field = |prefix: &str| {
        text.lines().find_map(|l| {
            l.trim()
                .strip_prefix(prefix)
                .map(str::trim)
                .map(str::to_owned)
        })
    };
    let requests_per_second = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .context("wrk printed no Requests/sec")?;
    Ok(Load {
        requests_per_second,
        p50_ms: field("50%").map(|v| millis(&v)).context("no p50")?,
        p99_ms: field("99%").map(|v| millis(&v)).context("no p99")?,
        peak_rss_kib,
    })
}

/// wrk's `1.23ms`, `456.00us`, `1.02s` in milliseconds.
fn millis(text: &str) -> f64 {
    let number = |suffix: &str| {
        text.strip_suffix(suffix)
            .and_then(|n| n.parse::<f64>().ok())
    };
    number("us")
        .map(|n| n / 1000.0)
        .or_else(|| number("ms"))
        .or_else(|| number("s").map(|n| n * 1000.0))
        .unwrap_or(f64::NAN)
}

/// Cold starts of the release bootstrap: process start → first answered request, sorted (ms).
async fn cold_starts(bootstrap: &Path, config: &Path, dir: &Path, token: &str) -> Result<Vec<f64>> {
    let settings = load_settings(config)?;
    let routes = settings
        .routes
        .with_served(&portcullis_deploy::SERVICE_ROUTES);
    let client = reqwest::Client::new();
    let mut times = Vec::new();
    for _ in 0..COLD_STARTS {
        let authorizer = settings.auth.authorizer(VerifierOptions::default())?;
        authorizer.hydrate().await?;
        let emulator = Emulator::start(authorizer, routes.clone(), "127.0.0.1:0").await?;
        let started = Instant::now();
        let mut child = Command::new(bootstrap)
            .current_dir(dir)
            .envs(emulator.function_env())
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let answer = client
            .get(format!("{}/user/profile", emulator.gateway_url()))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await?;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        if !answer.status().is_success() {
            bail!("the cold bootstrap answered {}", answer.status());
        }
        times.push(elapsed);
        let _ = child.kill().await;
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

fn load_settings(config: &Path) -> Result<portcullis_config::Settings> {
    load(&Sources {
        file: Some(PathBuf::from(config)),
        ..Sources::default()
    })
    .map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))
}
