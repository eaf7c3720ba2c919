//! `cargo xtask bench`: what the release `portcullis-server` (the binary a user runs, with its
//! production stack: request id, trace, timeout, the SQLite store) serves, against its own floor and
//! against the signature checks the machine can do; and what a Lambda cold start costs.
//!
//! - Load, each scenario driven by `wrk` (Debian's package, installed with apt-get when missing and
//!   root) on loopback for `--seconds`, all in one run against one server:
//!   - `GET /healthz` (no auth, no store): the server's floor;
//!   - `GET /user/profile` with one repeated token (the verified-token cache's path);
//!   - first sight: every request a distinct valid RS256 token (twice the token cache's entries,
//!     cycled, so none is remembered when it comes round), beside the raw RSA verifications per
//!     second this machine's cores do (aws-lc-rs, a pre-parsed key, one thread per core);
//!   - valid traffic alone, then the same beside a second client flooding unknown-kid and malformed
//!     tokens at full speed.
//!
//!   Reported: requests/s, p50 and p99 latency, the CPU the server and the whole machine (wrk
//!   included: it shares the cores) spent per answer, the server's peak RSS, and the three ratios.
//! - Lambda (unless `--no-lambda`): the release `bootstrap` of every provider build, zipped as
//!   `build` packages it, and its cold start (process start → first answered `GET /user/profile`
//!   through the local HTTP API and Runtime API, the store on DynamoDB at a moto server; median of
//!   5), each beside the same figures of the minimal `lambda_http` function
//!   (`examples/minimal_lambda.rs`) built in the same run. The service is measured twice: for a
//!   caller whose profile is stored (one DynamoDB read) and for one without (a second read, of the
//!   key an older release kept profiles under).
//!
//! Loopback only; every run is bounded in time.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use portcullis_claims::VerifierOptions;
use portcullis_claims::limits::TOKEN_CACHE_ENTRIES;
use portcullis_config::{Sources, load};
use portcullis_emulator::{Emulator, Setup};
use portcullis_tutorial::ProfileStore;

use crate::BenchArgs;
use crate::server::{Logging, build_release_tutorial, proc_status_kib, start_release_server};
use portcullis_checkout::{Workspace, step};
use portcullis_testkit::{Issuer, TestKey};
use tokio::process::Command;

/// Connections of each single-client scenario; the flood scenario splits them between its two
/// clients, and its valid-alone baseline uses the valid client's half.
pub(crate) const CONNECTIONS: u32 = 32;
const COLD_STARTS: usize = 5;
/// Distinct tokens of the first-sight scenario: twice the token cache's entries, so that cycling
/// through them never meets a remembered one.
const FIRST_SIGHT_TOKENS: usize = 2 * TOKEN_CACHE_ENTRIES;
const AUDIENCE: &str = "portcullis-bench";

/// What one wrk client measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    pub(crate) requests_per_second: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    /// Answers other than 2xx or 3xx.
    pub(crate) refused: u64,
    /// Answers in all.
    pub(crate) requests: u64,
    /// CPU µs per answer of the scenario (every client's answers): the server's, and the whole
    /// machine's (wrk's included).
    pub(crate) server_us: f64,
    pub(crate) machine_us: f64,
}

/// CPU time spent so far, in µs: by the server process, and by the whole machine (every core's
/// busy time, wrk's included), read from `/proc`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuTimes {
    server: f64,
    machine: f64,
}

/// `/proc`'s clock ticks per second (`USER_HZ`, fixed at 100 in Linux's user ABI).
const USER_HZ: f64 = 100.0;

impl CpuTimes {
    pub(crate) fn now(pid: u32) -> Result<CpuTimes> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("reading /proc/{pid}/stat"))?;
        // Fields after the command name: state is field 3, utime 14 and stime 15.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |n: usize| -> Result<f64> {
            fields
                .get(n - 3)
                .and_then(|v| v.parse::<f64>().ok())
                .with_context(|| format!("/proc/{pid}/stat has no field {n}: {stat:?}"))
        };
        let server = field(14)? + field(15)?;
        let machine = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
        let busy = machine_busy_ticks(&machine)
            .with_context(|| format!("/proc/stat has no cpu line: {machine:?}"))?;
        Ok(CpuTimes {
            server: server * 1e6 / USER_HZ,
            machine: busy * 1e6 / USER_HZ,
        })
    }

    /// µs of CPU per answer since `earlier`: (server, machine).
    pub(crate) fn per_answer(self, earlier: CpuTimes, answers: u64) -> (f64, f64) {
        let answers = answers.max(1) as f64;
        (
            (self.server - earlier.server) / answers,
            (self.machine - earlier.machine) / answers,
        )
    }
}

/// All cores' busy ticks from `/proc/stat`'s `cpu` line: user, nice, system, irq, softirq and
/// steal (guest time is inside user; idle and iowait are not busy).
fn machine_busy_ticks(proc_stat: &str) -> Option<f64> {
    let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let tick = |n: usize| ticks.get(n).copied().unwrap_or(0.0);
    (ticks.len() >= 4).then(|| tick(0) + tick(1) + tick(2) + tick(5) + tick(6) + tick(7))
}

pub(crate) fn bench(args: &BenchArgs) -> Result<()> {
    let workspace = Workspace::find("the bench")?;
    ensure_wrk()?;
    build_release_tutorial(&workspace, "--bin", "portcullis-server")?;
    if args.gateway {
        crate::gateway::build_release_cli(&workspace)?;
    }
    tokio::runtime::Runtime::new()?.block_on(async {
        if !(args.refusals || args.gateway) {
            return run(&workspace, args).await;
        }
        // The narrower measurements: their own server, a bench issuer, `--seconds` a scenario.
        let dir = workspace.target.join("bench");
        std::fs::create_dir_all(&dir)?;
        let issuer =
            Issuer::start_minting(TestKey::rsa("portcullis-bench"), AUDIENCE, "127.0.0.1:0")
                .await?;
        if args.refusals {
            crate::refusals::refusal_figures(&workspace, &dir, &issuer, AUDIENCE, args.seconds)
                .await?;
        }
        if args.gateway {
            crate::gateway::gateway_figures(&workspace, &dir, &issuer, AUDIENCE, args.seconds)
                .await?;
        }
        Ok(())
    })
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

/// Cycles through the tokens of the file named by its first argument, each wrk thread through its
/// own share (the second argument is the thread count), one `GET` each.
const CYCLE_TOKENS_LUA: &str = r#"
local threads_seen = 0
function setup(thread)
  thread:set("id", threads_seen)
  threads_seen = threads_seen + 1
end
local tokens, next_token = {}, 0
function init(args)
  local threads, n = tonumber(args[2]), 0
  for line in io.lines(args[1]) do
    if n % threads == id then tokens[#tokens + 1] = line end
    n = n + 1
  end
end
function request()
  next_token = next_token % #tokens + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[next_token] })
end
"#;

async fn run(workspace: &Workspace, args: &BenchArgs) -> Result<()> {
    let dir = workspace.target.join("bench");
    std::fs::create_dir_all(&dir)?;
    let key = TestKey::rsa("portcullis-bench");
    let issuer =
        Issuer::start_minting(TestKey::rsa("portcullis-bench"), AUDIENCE, "127.0.0.1:0").await?;
    let token = issuer
        .mint(
            "bench-user",
            "profile/read profile/write",
            &serde_json::json!({}),
        )
        .context("the bench issuer mints")?;

    println!("==> minting {FIRST_SIGHT_TOKENS} distinct tokens for the first-sight scenario");
    let distinct = mint_distinct(&issuer, FIRST_SIGHT_TOKENS)?;
    let tokens_file = dir.join("first-sight-tokens.txt");
    std::fs::write(&tokens_file, distinct.join("\n") + "\n")?;
    let unknown_kid = TestKey::rsa("never-published").mint(&serde_json::json!({
        "iss": issuer.url(), "aud": AUDIENCE, "sub": "flood", "exp": portcullis_testkit::unix_now() + 3600,
    }));
    // A flood of refusals: an RS256 token under a kid the issuer never published, and malformed
    // tokens, in turn.
    let flood_lua = tokens_in_turn(&[
        &unknown_kid,
        "not-a-token",
        "a.b.c",
        "eyJhbGciOiJSUzI1NiJ9.e30.",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    ]);
    let cycle = dir.join("cycle-tokens.lua");
    let flood = dir.join("flood.lua");
    std::fs::write(&cycle, CYCLE_TOKENS_LUA)?;
    std::fs::write(&flood, flood_lua)?;

    let mut server =
        start_release_server(workspace, &dir, issuer.url(), AUDIENCE, Logging::WARN).await?;
    let (base, pid) = (server.base.clone(), server.pid);
    let profile = format!("{base}/user/profile");
    let seeded = reqwest::Client::new()
        .post(&profile)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(r#"{"name":"Bench","team":"platform","tags":["a","b","c"]}"#)
        .send()
        .await?;
    if !seeded.status().is_success() {
        bail!("seeding a profile answered {}", seeded.status());
    }

    let seconds = args.seconds;
    let bearer = format!("Authorization: Bearer {token}");
    let half = CONNECTIONS / 2;
    let healthz = scenario(
        pid,
        "GET /healthz",
        Wrk::new(&format!("{base}/healthz"), 2, CONNECTIONS, seconds),
    )
    .await?;
    let repeated = scenario(
        pid,
        "GET /user/profile, one repeated token",
        Wrk::new(&profile, 2, CONNECTIONS, seconds).header(&bearer),
    )
    .await?;
    let tokens_arg = tokens_file.display().to_string();
    let first_sight = scenario(
        pid,
        "GET /user/profile, every token new",
        Wrk::new(&profile, 2, CONNECTIONS, seconds).script(&cycle, &[&tokens_arg, "2"]),
    )
    .await?;
    let alone = scenario(
        pid,
        "GET /user/profile, valid alone",
        Wrk::new(&profile, 1, half, seconds).header(&bearer),
    )
    .await?;
    println!(
        "==> GET /user/profile, valid ({half} connections) beside a flood of unknown-kid and malformed tokens ({half})"
    );
    let before = CpuTimes::now(pid)?;
    let (flooded, flood_load) = tokio::join!(
        Wrk::new(&profile, 1, half, seconds).header(&bearer).run(),
        Wrk::new(&profile, 1, half, seconds)
            .script(&flood, &[])
            .run(),
    );
    let (mut flooded, mut flood_load) = (flooded?, flood_load?);
    (flooded.server_us, flooded.machine_us) =
        CpuTimes::now(pid)?.per_answer(before, flooded.requests + flood_load.requests);
    (flood_load.server_us, flood_load.machine_us) = (flooded.server_us, flooded.machine_us);
    if flooded.refused > 0 {
        bail!(
            "{} valid requests were refused beside the flood",
            flooded.refused
        );
    }
    let peak_rss_kib = proc_status_kib(pid, "VmHWM")?.unwrap_or(0);
    let refetches = issuer.jwks_fetches();
    let _ = server.child.kill().await;

    println!("==> raw RS256 signature checks, one thread per core, {RAW_SECONDS} s");
    let (raw, cores) = raw_rsa_per_second(&key, &token)?;

    println!();
    println!(
        "| scenario (release portcullis-server, {seconds} s each) | connections | req/s | p50 | p99 | server CPU/answer | machine CPU/answer |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (name, connections, load) in [
        ("GET /healthz", CONNECTIONS, &healthz),
        ("GET /user/profile, repeated token", CONNECTIONS, &repeated),
        (
            "GET /user/profile, first-sight tokens",
            CONNECTIONS,
            &first_sight,
        ),
        ("GET /user/profile, valid alone", half, &alone),
        ("GET /user/profile, valid beside the flood", half, &flooded),
        (
            "the flood (unknown kid, malformed; all 401)",
            half,
            &flood_load,
        ),
    ] {
        println!(
            "| {name} | {connections} | {:.0} | {:.2} ms | {:.2} ms | {:.1} µs | {:.1} µs |",
            load.requests_per_second, load.p50_ms, load.p99_ms, load.server_us, load.machine_us
        );
    }
    println!(
        "\nserver peak RSS {:.1} MiB; key set fetches during the run {refetches}; raw RS256 checks {raw:.0}/s on {cores} cores",
        peak_rss_kib as f64 / 1024.0
    );
    let ratio = |a: &Load, b: f64| a.requests_per_second / b;
    println!("\n| ratio | measured | target |");
    println!("| --- | --- | --- |");
    println!(
        "| GET /user/profile (repeated token) / GET /healthz | {:.3} | ≥ 0.6 |",
        ratio(&repeated, healthz.requests_per_second)
    );
    println!(
        "| first-sight tokens / raw RS256 checks × cores | {:.3} | ≥ 0.7 |",
        ratio(&first_sight, raw)
    );
    println!(
        "| valid beside the flood / valid alone | {:.3} | ≥ 0.8 |",
        ratio(&flooded, alone.requests_per_second)
    );
    if !args.no_lambda {
        let lambda = lambda_figures(workspace, &issuer, &token).await?;
        lambda.print();
    }
    Ok(())
}

/// A wrk script sending `tokens` in turn, one `GET` each with `Authorization: Bearer` it.
pub(crate) fn tokens_in_turn(tokens: &[&str]) -> String {
    let list = tokens
        .iter()
        .map(|t| format!("{t:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
local tokens, n = {{ {list} }}, 0
function request()
  n = n % #tokens + 1
  return wrk.format("GET", nil, {{ ["Authorization"] = "Bearer " .. tokens[n] }})
end
"#
    )
}

/// `count` distinct valid tokens of `issuer` (subjects `first-sight-N`), minted on every core.
fn mint_distinct(issuer: &Issuer, count: usize) -> Result<Vec<String>> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let per = count.div_ceil(cores);
    std::thread::scope(|scope| {
        let shares: Vec<_> = (0..cores)
            .map(|core| {
                scope.spawn(move || {
                    (core * per..((core + 1) * per).min(count))
                        .map(|n| {
                            issuer.mint(
                                &format!("first-sight-{n}"),
                                "profile/read",
                                &serde_json::json!({}),
                            )
                        })
                        .collect::<Option<Vec<String>>>()
                })
            })
            .collect();
        let mut tokens = Vec::with_capacity(count);
        for share in shares {
            let share = share
                .join()
                .map_err(|_| anyhow::anyhow!("a minting thread panicked"))?
                .context("the bench issuer mints")?;
            tokens.extend(share);
        }
        Ok(tokens)
    })
}

const RAW_SECONDS: u64 = 3;

/// RS256 signature checks per second on every core at once (aws-lc-rs, the key parsed once): the
/// ceiling no first-sight verification can pass. Returns the rate and the core count.
fn raw_rsa_per_second(key: &TestKey, token: &str) -> Result<(f64, usize)> {
    use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
    use base64::Engine;
    let (input, signature) = token.rsplit_once('.').context("a three-part token")?;
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature)?;
    let parsed = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key_bytes())
        .map_err(|_| anyhow::anyhow!("the bench key's public half does not parse"))?;
    parsed
        .verify_sig(input.as_bytes(), &signature)
        .map_err(|_| anyhow::anyhow!("the bench token's signature does not verify"))?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let until = Instant::now() + Duration::from_secs(RAW_SECONDS);
    let checks: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..cores)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = 0u64;
                    while Instant::now() < until {
                        for _ in 0..64 {
                            let _ = std::hint::black_box(
                                parsed.verify_sig(input.as_bytes(), &signature),
                            );
                        }
                        done += 64;
                    }
                    done
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    Ok((checks as f64 / RAW_SECONDS as f64, cores))
}

/// One wrk client: `-t threads -c connections -d seconds`, a header or a Lua script.
pub(crate) struct Wrk {
    args: Vec<String>,
    script_args: Vec<String>,
}

impl Wrk {
    pub(crate) fn new(url: &str, threads: u32, connections: u32, seconds: u32) -> Wrk {
        Wrk {
            args: vec![
                format!("-t{threads}"),
                format!("-c{connections}"),
                format!("-d{seconds}s"),
                "--latency".into(),
                url.into(),
            ],
            script_args: Vec::new(),
        }
    }

    pub(crate) fn header(mut self, header: &str) -> Wrk {
        self.args.extend(["-H".into(), header.into()]);
        self
    }

    pub(crate) fn script(mut self, script: &Path, args: &[&str]) -> Wrk {
        self.args
            .extend(["-s".into(), script.display().to_string()]);
        if !args.is_empty() {
            self.script_args.push("--".into());
            self.script_args.extend(args.iter().map(|a| a.to_string()));
        }
        self
    }

    pub(crate) async fn run(self) -> Result<Load> {
        let output = Command::new("wrk")
            .args(&self.args)
            .args(&self.script_args)
            .output()
            .await
            .context("running wrk")?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!(
                "wrk {} failed ({}): {}{}",
                self.args.join(" "),
                output.status,
                text,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        parse_wrk(&text).with_context(|| format!("reading wrk's report:\n{text}"))
    }
}

/// One client's scenario, every answer a success, with the CPU the server and the machine spent
/// per answer.
pub(crate) async fn scenario(pid: u32, name: &str, wrk: Wrk) -> Result<Load> {
    println!("==> {name}");
    let before = CpuTimes::now(pid)?;
    let mut load = wrk.run().await?;
    (load.server_us, load.machine_us) = CpuTimes::now(pid)?.per_answer(before, load.requests);
    if load.refused > 0 {
        bail!("{name}: {} answers were not 2xx", load.refused);
    }
    Ok(load)
}

/// Requests/s, p50, p99 and the non-2xx/3xx count of a `wrk --latency` report.
fn parse_wrk(text: &str) -> Result<Load> {
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
        .context("no Requests/sec")?;
    let refused = match field("Non-2xx or 3xx responses:") {
        Some(n) => n.parse().context("a count of non-2xx answers")?,
        None => 0,
    };
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in ")?.0.parse().ok())
        .context("no request count")?;
    Ok(Load {
        requests,
        server_us: f64::NAN,
        machine_us: f64::NAN,
        requests_per_second,
        p50_ms: field("50%").map(|v| millis(&v)).context("no p50")?,
        p99_ms: field("99%").map(|v| millis(&v)).context("no p99")?,
        refused,
    })
}

/// One Lambda package: its zip and its cold starts (process start → first answered invocation
/// through the local HTTP API and Runtime API), sorted, in ms: for a caller whose profile is stored
/// (one DynamoDB read), and for the service, also for a caller with none yet (a second read: the
/// key an older release kept profiles under).
struct Package {
    name: String,
    zipped: u64,
    cold: Vec<f64>,
    cold_without_profile: Option<Vec<f64>>,
}

fn median(times: &[f64]) -> f64 {
    times[times.len() / 2]
}

struct LambdaFigures {
    minimal: Package,
    service: Vec<Package>,
}

impl LambdaFigures {
    fn print(&self) {
        let minimal = &self.minimal;
        println!(
            "\n| Lambda package (release, {COLD_STARTS} cold starts each) | zipped | × minimal | cold start median (profile stored) | min | × minimal | no profile yet | × minimal |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
        let base = median(&minimal.cold);
        for package in std::iter::once(minimal).chain(&self.service) {
            let without = package.cold_without_profile.as_deref().map_or_else(
                || "| | ".to_owned(),
                |times| format!("| {:.0} ms | {:.2} ", median(times), median(times) / base),
            );
            println!(
                "| {} | {:.2} MB | {:.2} | {:.0} ms | {:.0} ms | {:.2} {without}|",
                package.name,
                package.zipped as f64 / 1_000_000.0,
                package.zipped as f64 / minimal.zipped as f64,
                median(&package.cold),
                package.cold[0],
                median(&package.cold) / base
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
        .with_served(&portcullis_tutorial::API_ROUTES);
    // The token's caller has a stored profile; a second caller has none, so the function also
    // reads the key an older release kept profiles under (one more DynamoDB call).
    let stored = serde_json::json!({"name": "Bench"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    store
        .put(
            &portcullis_tutorial::ProfileKey::new(issuer.url(), "bench-user"),
            stored,
            portcullis_tutorial::Precondition::None,
        )
        .await
        .map_err(|e| anyhow::anyhow!("storing the bench caller's profile on moto: {e}"))?;
    let new_caller = issuer
        .mint("bench-new-user", "profile/read", &serde_json::json!({}))
        .context("the bench issuer mints")?;

    // The same profile as the service's packages, so the ratios compare code, not settings.
    let build = workspace.cargo(&[
        "build",
        "--profile",
        "lambda-release",
        "--locked",
        "--package",
        "portcullis-examples",
        "--bin",
        "minimal-lambda",
    ]);
    step(
        "build minimal-lambda (lambda-release)",
        build,
        &mut std::io::stdout(),
    )?;
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
        cold_without_profile: None,
    };

    let mut service = Vec::new();
    let Some(arch) = portcullis_deploy::Arch::host().map(portcullis_deploy::Arch::lambda_name)
    else {
        bail!(
            "the bench builds Lambda packages on x86_64 or arm64, not {}",
            std::env::consts::ARCH
        );
    };
    for provider in ["cognito", "auth0", "okta", "oidc"] {
        // The package exactly as a user builds it: `portcullis build`, the user's command.
        let build = workspace.cargo(&[
            "run",
            "--quiet",
            "--locked",
            "--package",
            "portcullis-cli",
            "--no-default-features",
            "--",
            "build",
            "--provider",
            provider,
            "--runtime",
            "lambda",
            "--release",
        ]);
        step(
            &format!("portcullis build --provider {provider} --release"),
            build,
            &mut std::io::stdout(),
        )?;
        let bootstrap = workspace.target.join("lambda-release/bootstrap");
        let zip = workspace
            .target
            .join(format!("lambda/{provider}-{arch}/bootstrap.zip"));
        let zipped = std::fs::metadata(&zip)
            .with_context(|| format!("reading {}", zip.display()))?
            .len();
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
        let cold_without_profile = cold_starts(
            &bootstrap,
            &settings,
            routes.clone(),
            &dir,
            Some(&new_caller),
            &aws_env,
        )
        .await?;
        service.push(Package {
            name: format!("portcullis bootstrap, {provider} build"),
            zipped,
            cold,
            cold_without_profile: Some(cold_without_profile),
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
        let setup = Setup {
            cors: settings.cors.clone(),
            ..Setup::new(authorizer, routes.clone())
        };
        let emulator = Emulator::start(setup, "127.0.0.1:0").await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    const WRK_REPORT: &str = "Running 8s test @ http://127.0.0.1:40111/healthz
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   312.45us  402.11us   5.12ms   91.23%
    Req/Sec    52.10k     3.21k   58.00k    70.00%
  Latency Distribution
     50%  270.00us
     75%  350.00us
     90%  500.00us
     99%    3.12ms
  828820 requests in 8.00s, 95.65MB read
  Non-2xx or 3xx responses: 12
Requests/sec: 103590.12
Transfer/sec:     11.95MB
";

    #[test]
    fn a_wrk_report_gives_rate_latencies_refusals_and_the_answer_count() {
        let load = parse_wrk(WRK_REPORT).unwrap();
        assert_eq!(load.requests, 828_820);
        assert_eq!(load.refused, 12);
        assert!((load.requests_per_second - 103_590.12).abs() < 1e-6);
        assert!((load.p50_ms - 0.27).abs() < 1e-9);
        assert!((load.p99_ms - 3.12).abs() < 1e-9);
        assert!(load.server_us.is_nan() && load.machine_us.is_nan());
        let without_count = WRK_REPORT.replace("828820 requests in", "requests in");
        assert!(parse_wrk(&without_count).is_err());
    }

    #[test]
    fn machine_busy_time_counts_user_nice_system_irq_softirq_and_steal() {
        // user nice system idle iowait irq softirq steal guest guest_nice
        let stat = "cpu  100 2 30 5000 70 4 5 6 50 0\ncpu0 50 1 15 2500 35 2 2 3 25 0\n";
        assert_eq!(machine_busy_ticks(stat), Some(147.0));
        assert_eq!(machine_busy_ticks("intr 1 2 3\n"), None);
        assert_eq!(machine_busy_ticks("cpu  1 x 3 4\n"), None);
    }

    #[test]
    fn cpu_per_answer_divides_both_clocks_by_the_answers() {
        let before = CpuTimes {
            server: 1_000.0,
            machine: 5_000.0,
        };
        let after = CpuTimes {
            server: 3_000.0,
            machine: 9_000.0,
        };
        assert_eq!(after.per_answer(before, 100), (20.0, 40.0));
        assert_eq!(after.per_answer(before, 0), (2_000.0, 4_000.0));
    }

    #[test]
    fn this_process_has_cpu_times() {
        let times = CpuTimes::now(std::process::id()).unwrap();
        assert!(times.server >= 0.0 && times.machine > 0.0);
        assert!(CpuTimes::now(u32::MAX).is_err());
    }
}
