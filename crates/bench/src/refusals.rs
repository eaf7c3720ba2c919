//! `cargo xtask bench --refusals`: what a refusal costs the release server with its `request
//! refused` line on (`RUST_LOG=info`, stderr to a file, as a deployment logs), beside `/healthz`;
//! then a 60 s flood of refusals: how many log lines it wrote, and whether the metrics counted
//! every refusal wrk was answered.

use std::path::Path;

use anyhow::{Context, Result, bail};
use portcullis_checkout::Workspace;
use portcullis_testkit::{Issuer, TestKey};

use crate::bench::{CONNECTIONS, CpuTimes, Wrk, scenario, tokens_in_turn};
use crate::server::{Logging, start_release_server};

/// How long the flood lasts.
const FLOOD_SECONDS: u32 = 60;

/// The figures, `seconds` per scenario.
pub(crate) async fn refusal_figures(
    workspace: &Workspace,
    dir: &Path,
    issuer: &Issuer,
    audience: &str,
    seconds: u32,
) -> Result<()> {
    let log = dir.join("refusals.log");
    let mut server = start_release_server(
        workspace,
        dir,
        issuer.url(),
        audience,
        Logging {
            filter: "info",
            to_file: Some(&log),
        },
    )
    .await?;
    let (base, pid) = (server.base.clone(), server.pid);
    let profile = format!("{base}/user/profile");
    let now = portcullis_testkit::unix_now();
    let claims = |exp: i64| serde_json::json!({"iss": issuer.url(), "aud": audience, "sub": "flood", "exp": exp});
    let unknown_kid = TestKey::rsa("never-published").mint(&claims(now + 3600));
    let expired = TestKey::rsa("portcullis-bench").mint(&claims(now - 60));
    let tokens = [
        ("unknown kid", unknown_kid.as_str()),
        ("malformed", "not-a-token"),
        ("expired", expired.as_str()),
    ];

    let healthz = scenario(
        pid,
        "GET /healthz",
        Wrk::new(&format!("{base}/healthz"), 2, CONNECTIONS, seconds),
    )
    .await?;
    let mut rows = vec![("GET /healthz (no log line)".to_owned(), healthz)];
    for (name, token) in tokens {
        println!("==> GET /user/profile, {name} (401, logged)");
        let before = CpuTimes::now(pid)?;
        let mut load = Wrk::new(&profile, 2, CONNECTIONS, seconds)
            .header(&format!("Authorization: Bearer {token}"))
            .run()
            .await?;
        (load.server_us, load.machine_us) = CpuTimes::now(pid)?.per_answer(before, load.requests);
        if load.refused != load.requests {
            bail!(
                "{name}: {} of {} answers were not refusals",
                load.requests - load.refused,
                load.requests
            );
        }
        rows.push((format!("GET /user/profile, {name} (401)"), load));
    }

    println!("==> a {FLOOD_SECONDS} s flood of the three refusals in turn");
    let lines_before = count_lines(&log)?;
    let script = dir.join("refusals.lua");
    std::fs::write(&script, tokens_in_turn(&tokens.map(|(_, t)| t)))?;
    let before = CpuTimes::now(pid)?;
    let mut flood = Wrk::new(&profile, 2, CONNECTIONS, FLOOD_SECONDS)
        .script(&script, &[])
        .run()
        .await?;
    (flood.server_us, flood.machine_us) = CpuTimes::now(pid)?.per_answer(before, flood.requests);
    // Lines written within the flood (the summary of its last second comes with a later refusal).
    let (lines, refusal_lines, summaries) = {
        let (all, refused, summaries) = count_lines(&log)?;
        (
            all - lines_before.0,
            refused - lines_before.1,
            summaries - lines_before.2,
        )
    };
    let scraped = reqwest::get(&server.metrics)
        .await
        .context("scraping the server's metrics")?
        .text()
        .await?;
    let counted: f64 = scraped
        .lines()
        .filter(|l| l.starts_with("portcullis_requests_refused_total{"))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum();
    let answered: u64 = rows[1..].iter().map(|(_, l)| l.refused).sum::<u64>() + flood.refused;
    rows.push((format!("the flood ({FLOOD_SECONDS} s, all 401)"), flood));
    let _ = server.child.kill().await;

    println!();
    println!(
        "| scenario (release portcullis-server, RUST_LOG=info to a file, {CONNECTIONS} connections) | req/s | p99 | server CPU/answer | / GET /healthz's |"
    );
    println!("| --- | --- | --- | --- | --- |");
    let floor = rows[0].1.server_us;
    for (name, load) in &rows {
        println!(
            "| {name} | {:.0} | {:.2} ms | {:.1} µs | {:.2} |",
            load.requests_per_second,
            load.p99_ms,
            load.server_us,
            load.server_us / floor
        );
    }
    println!(
        "\nthe flood: {} refusals answered in {FLOOD_SECONDS} s; {lines} log lines written ({refusal_lines} `request refused`, {summaries} summaries), {:.1} a second",
        rows.last().map_or(0, |(_, l)| l.requests),
        lines as f64 / f64::from(FLOOD_SECONDS)
    );
    println!(
        "refusals counted by the metrics over the run {counted:.0}, answered to wrk {answered}"
    );
    Ok(())
}

/// Lines in the log: all, `request refused` ones, and summary lines.
fn count_lines(log: &Path) -> Result<(u64, u64, u64)> {
    let text =
        std::fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    let mut counts = (0, 0, 0);
    for line in text.lines() {
        counts.0 += 1;
        if line.contains("\"request refused\"") {
            counts.1 += 1;
        }
        if line.contains("requests refused (") {
            counts.2 += 1;
        }
    }
    Ok(counts)
}
