//! `cargo xtask bench --gateway`: the local gateway (`portcullis gateway --upstream`, release build)
//! in front of the release `portcullis-server`, a small answer through it, beside the server
//! answering the same request directly. What the gateway spends per answer (its own CPU from
//! `/proc`), its rate and latency, and its peak RSS.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use portcullis_checkout::{Workspace, step};
use portcullis_testkit::Issuer;
use tokio::io::AsyncBufReadExt;

use crate::bench::{CONNECTIONS, Load, Wrk, scenario};
use crate::server::{Logging, proc_status_kib, start_release_server};

/// Builds the release `portcullis` command without the AWS SDK (what `gateway` needs).
pub(crate) fn build_release_cli(workspace: &Workspace) -> Result<()> {
    let build = workspace.cargo(&[
        "build",
        "--release",
        "--locked",
        "--package",
        "portcullis-cli",
        "--no-default-features",
    ]);
    step(
        "build portcullis (release, no AWS SDK)",
        build,
        &mut std::io::stdout(),
    )
}

/// The gateway's figures beside the server's own, `seconds` per scenario.
pub(crate) async fn gateway_figures(
    workspace: &Workspace,
    dir: &Path,
    issuer: &Issuer,
    audience: &str,
    seconds: u32,
) -> Result<()> {
    let mut server =
        start_release_server(workspace, dir, issuer.url(), audience, Logging::WARN).await?;
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\nprovider = \"oidc\"\nissuer = \"{}\"\naudience = \"{audience}\"\n\
             [routes.\"GET /healthz\"]\nauthorization = \"none\"\n",
            issuer.url()
        ),
    )?;
    let program = workspace.target.join("release/portcullis");
    let mut gateway = tokio::process::Command::new(&program)
        .args(["gateway", "--listen", "127.0.0.1:0", "--console", "off"])
        .arg("--upstream")
        .arg(&server.base)
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let base = gateway_url(&mut gateway).await?;
    let pid = gateway.id().context("the gateway's pid")?;

    let direct = scenario(
        server.pid,
        "GET /healthz, straight to the server",
        Wrk::new(&format!("{}/healthz", server.base), 2, CONNECTIONS, seconds),
    )
    .await?;
    let through = scenario(
        pid,
        "GET /healthz through the gateway (public route, HTTP proxy integration)",
        Wrk::new(&format!("{base}/healthz"), 2, CONNECTIONS, seconds),
    )
    .await?;
    let peak_rss_kib = proc_status_kib(pid, "VmHWM")?.unwrap_or(0);
    let _ = gateway.kill().await;
    let _ = server.child.kill().await;

    println!();
    println!(
        "| scenario ({seconds} s each, {CONNECTIONS} connections) | req/s | p50 | p99 | CPU/answer of the measured process | machine CPU/answer |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let row = |name: &str, load: &Load| {
        println!(
            "| {name} | {:.0} | {:.2} ms | {:.2} ms | {:.1} µs | {:.1} µs |",
            load.requests_per_second, load.p50_ms, load.p99_ms, load.server_us, load.machine_us
        );
    };
    row("GET /healthz, release portcullis-server alone", &direct);
    row(
        "GET /healthz through the release gateway (gateway's CPU)",
        &through,
    );
    println!("\ngateway peak RSS {:.1} MiB", peak_rss_kib as f64 / 1024.0);
    Ok(())
}

/// Reads the gateway's `Portcullis gateway at http://…` line (bounded wait).
async fn gateway_url(child: &mut tokio::process::Child) -> Result<String> {
    let stdout = child.stdout.take().context("the gateway's output")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let found = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix("Portcullis gateway at ") {
                return Ok::<_, std::io::Error>(rest.split(' ').next().map(str::to_owned));
            }
        }
        Ok(None)
    })
    .await
    .context("the gateway did not announce its address within 60 s")??;
    // The rest of its output is drained so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    match found {
        Some(url) => Ok(url),
        None => bail!("the gateway exited before listening (see its message above)"),
    }
}
