//! `portcullis bench`: what authorization costs a real server, and what a Lambda cold start costs.
//!
//! - Load: the release `bench_server` example serves `GET /user/profile` on 127.0.0.1 twice, with
//!   authorization on and off; `wrk` (Debian's package, installed with apt-get when missing and root)
//!   drives each for a bounded time. Reported: requests/s, p50 and p99 latency, the server's peak RSS,
//!   and the throughput ratio.
//! - Lambda: the release `bootstrap` of every provider build, zipped as `build` packages it, and its
//!   cold start (process start → first answered `GET /user/profile` through the local HTTP API and
//!   Runtime API, the store on DynamoDB at a moto server; median of 5), each beside the same figures
//!   of the minimal `lambda_http` function (`examples/minimal_lambda.rs`) built in the same run.
//!
//! Loopback only; every run is bounded in time.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use portcullis_claims::VerifierOptions;
use portcullis_config::{Sources, load};
use portcullis_emulator::Emulator;

use crate::flags::{BenchArgs, Provider};
use crate::workspace::{Workspace, announced_url, cargo, proc_status_kib, step};
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
    workspace.build_release_tutorial("--example", "bench_server")?;
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

    let lambda = lambda_figures(workspace, &issuer, &token).await?;

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
    lambda.print();
    Ok(())
}

/// One Lambda package: its zip and its cold starts (process start → first answered invocation
/// through the local HTTP API and Runtime API), sorted, in ms.
struct Package {
    name: String,
    zipped: u64,
    cold: Vec<f64>,
}

impl Package {
    fn median(&self) -> f64 {
        self.cold[self.cold.len() / 2]
    }
}

struct LambdaFigures {
    minimal: Package,
    service: Vec<Package>,
}

impl LambdaFigures {
    fn print(&self) {
        let minimal = &self.minimal;
        println!(
            "\n| Lambda package (release, {COLD_STARTS} cold starts) | zipped | × minimal | cold start median | min | × minimal |"
        );
        println!("| --- | --- | --- | --- | --- | --- |");
        for package in std::iter::once(minimal).chain(&self.service) {
            println!(
                "| {} | {:.2} MB | {:.2} | {:.0} ms | {:.0} ms | {:.2} |",
                package.name,
                package.zipped as f64 / 1_000_000.0,
                package.zipped as f64 / minimal.zipped as f64,
                package.median(),
                package.cold[0],
                package.median() / minimal.median()
            );
        }
        println!(
            "targets: every service package ≤ 3 MB zipped; cold start ≤ 2× the minimal lambda_http function"
        );
    }
}

/// Builds the service's bootstrap for every provider and the minimal `lambda_http` function, and
/// measures each; the service's store is DynamoDB on a moto server on 127.0.0.1.
async fn lambda_figures(
    workspace: &Workspace,
    issuer: &Issuer,
    token: &str,
) -> Result<LambdaFigures> {
    let dir = workspace.target.join("bench/lambda");
    std::fs::create_dir_all(&dir)?;
    println!("==> moto (DynamoDB for the function's store)");
    let moto = tokio::task::spawn_blocking(portcullis_testkit::external::start_moto)
        .await?
        .context("starting moto on 127.0.0.1")?;
    let table = "portcullis-bench-profiles";
    // The functions' credentials, as Lambda would set them (moto checks no signature).
    let aws_env = [
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_REGION", "us-east-1"),
    ];
    let credentials = portcullis_tutorial::dynamo::Credentials {
        access_key_id: "bench".into(),
        secret_access_key: "bench".into(),
        session_token: None,
    };
    let store = portcullis_tutorial::dynamo::DynamoStore::new(
        table,
        "us-east-1",
        Some(moto.url()),
        credentials,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    store
        .ensure_table()
        .await
        .map_err(|e| anyhow::anyhow!("creating the bench table on moto: {e}"))?;
    std::fs::write(
        dir.join("portcullis.toml"),
        format!(
            "[auth]\nprovider = \"oidc\"\nissuer = \"{}\"\naudience = \"portcullis-bench\"\n\
             [routes.\"POST /user/profile\"]\nscopes = [\"profile/write\"]\n\
             [store]\nkind = \"dynamodb\"\ntable = \"{table}\"\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\n",
            issuer.url(),
            moto.url()
        ),
    )?;
    let settings = load_settings(&dir.join("portcullis.toml"))?;
    let routes = settings
        .routes
        .with_served(&portcullis_deploy::SERVICE_ROUTES);

    // The same profile as the service's packages, so the ratios compare code, not settings.
    let mut build = cargo(&[
        "build",
        "--profile",
        "lambda-release",
        "--locked",
        "--package",
        "portcullis-examples",
        "--bin",
        "minimal-lambda",
    ]);
    build.current_dir(&workspace.root);
    step("build minimal-lambda (lambda-release)", build)?;
    let minimal_binary = workspace.target.join("lambda-release/minimal-lambda");
    // The minimal function answers without a token: behind an unprotected route of the same gateway.
    let open_routes: portcullis_config::Routes = portcullis_config::load(&Sources::text(
        "[auth]\nprovider = \"oidc\"\nissuer = \"http://127.0.0.1:9\"\naudience = \"x\"\n\
         [routes.\"GET /user/profile\"]\nauthorization = \"none\"\n",
    ))
    .map_err(|e| anyhow::anyhow!("{e}"))?
    .routes;
    let minimal = Package {
        name: "minimal lambda_http function".into(),
        zipped: zipped_size(&minimal_binary)?,
        cold: cold_starts(
            &minimal_binary,
            &settings,
            open_routes,
            &dir,
            None,
            &aws_env,
        )
        .await?,
    };

    let mut service = Vec::new();
    for provider in [
        Provider::Cognito,
        Provider::Auth0,
        Provider::Okta,
        Provider::Oidc,
    ] {
        let build = crate::build::Build {
            provider,
            runtime: portcullis_deploy::Runtime::Lambda,
            arch: crate::build::host_arch().context("an x86_64 or arm64 machine")?,
            release: true,
            embed_jwks: false,
            config: None,
        };
        let bootstrap = crate::build::compile(&build)?;
        let zip = crate::build::package_lambda(&build, &bootstrap, None)?;
        let zipped = std::fs::metadata(&zip)?.len();
        // Every build also holds the generic OIDC provider, so the bench issuer's config fits all.
        let cold = cold_starts(
            &bootstrap,
            &settings,
            routes.clone(),
            &dir,
            Some(token),
            &aws_env,
        )
        .await?;
        service.push(Package {
            name: format!("portcullis bootstrap, {} build", provider.name()),
            zipped,
            cold,
        });
    }
    drop(moto);
    Ok(LambdaFigures { minimal, service })
}

/// The size of `binary` in a reproducible zip, as `build` packages it.
fn zipped_size(binary: &Path) -> Result<u64> {
    let bytes = std::fs::read(binary).with_context(|| format!("reading {}", binary.display()))?;
    Ok(portcullis_deploy::package::reproducible_zip(&[("bootstrap", &bytes, 0o755)])?.len() as u64)
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
    let base = announced_url(&mut child).await?;
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
    let peak_rss_kib = proc_status_kib(pid, "VmHWM")?.unwrap_or(0);
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

/// Cold starts of `binary` behind a local HTTP API with `routes`: process start → first answered
/// `GET /user/profile` (with `token` when given), sorted (ms).
async fn cold_starts(
    binary: &Path,
    settings: &portcullis_config::Settings,
    routes: portcullis_config::Routes,
    dir: &Path,
    token: Option<&str>,
    env: &[(&str, &str)],
) -> Result<Vec<f64>> {
    let client = reqwest::Client::new();
    let mut times = Vec::new();
    // One start more than measured: the first warms what is shared by every package (the page
    // cache, moto's table), so no package pays it alone.
    for start in 0..=COLD_STARTS {
        let authorizer = settings.auth.authorizer(VerifierOptions::default())?;
        authorizer.hydrate().await?;
        let emulator = Emulator::start(
            authorizer,
            routes.clone(),
            settings.cors.clone(),
            "127.0.0.1:0",
        )
        .await?;
        let started = Instant::now();
        let mut child = Command::new(binary)
            .current_dir(dir)
            .envs(emulator.function_env())
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut request = client.get(format!("{}/user/profile", emulator.gateway_url()));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let answer = request.send().await?;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        if !answer.status().is_success() {
            bail!(
                "{} answered its first request with {}",
                binary.display(),
                answer.status()
            );
        }
        if start > 0 {
            times.push(elapsed);
        }
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
