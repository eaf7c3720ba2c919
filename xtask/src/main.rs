//! Project automation. `cargo xtask test` runs everything CI runs; `cargo xtask dev` runs the service.

mod bench;
mod build;
mod deploy;
mod dev;
mod token;

use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  deploy  --provider cognito|auth0|okta|oidc [--runtime lambda|standalone] [--stage dev] [--arch x86_64|arm64]
          [--region R] [--endpoint-url URL] [--config FILE] [--package bootstrap.zip | --backend-url URL] [--embed-jwks]:
          builds and deploys a protected HTTP API to AWS (or an emulator) and prints its endpoints;
          with --export FILE writes the CloudFormation template instead and applies nothing
  remove  the same --provider/--runtime/--stage/--region/--endpoint-url/--config: deletes what deploy made
  token   --provider P [same options]: prints an access token (--id: id token, --json: all); Cognito: a test
          user through the SDK [--username EMAIL] [--group G]; others: client credentials from
          OAUTH_CLIENT_ID / OAUTH_CLIENT_SECRET [--scope S] [--token-url URL]
  login   --provider P [same options]: signs you in with the authorization code flow and PKCE; a listener
          on localhost:3000 [--listen ADDR] catches the redirect and prints the tokens [--no-browser]
  build   the service for one provider and runtime: --provider cognito|auth0|okta|oidc
          --runtime lambda|standalone [--arch x86_64|arm64] [--release]; Lambda zips under target/lambda;
          --embed-jwks [--config FILE] ships the issuers' current keys with it (no fetch on a cold start)
  bench   load benchmark of GET /user/profile with auth on and off (wrk), Lambda zip size and cold start
  dev     run the service locally: a development issuer, the profile service, SQLite under target/dev
          [--runtime standalone|lambda] [--config FILE] [--listen ADDR] [--smoke]
  test    fmt check, clippy -D warnings, every test (nextest when installed), doc tests, docs,
          and a smoke run of `dev` on both runtimes
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("dev") => dev::dev(&args[1..]),
        Some("bench") => bench::bench(&args[1..]),
        Some("build") => build::build(&args[1..]),
        Some("deploy") => deploy::deploy(&args[1..]),
        Some("remove") => deploy::remove(&args[1..]),
        Some("token") => token::token(&args[1..]),
        Some("login") => token::login(&args[1..]),
        Some("help" | "--help" | "-h") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!(
            "unknown command {other:?}: expected one of: bench, build, deploy, dev, login, remove, test, token\n\n{USAGE}"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The whole check, in the order that fails fastest.
fn test(args: &[String]) -> Result<()> {
    if let Some(extra) = args.first() {
        bail!("cargo xtask test takes no arguments, got {extra:?}");
    }
    let started = Instant::now();
    step("format", cargo(&["fmt", "--all", "--check"]))?;
    step(
        "clippy",
        cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    if has_nextest() {
        step(
            "tests (nextest)",
            cargo(&[
                "nextest",
                "run",
                "--workspace",
                "--locked",
                "--no-fail-fast",
            ]),
        )?;
    } else {
        step(
            "tests",
            cargo(&[
                "test",
                "--workspace",
                "--locked",
                "--lib",
                "--bins",
                "--tests",
            ]),
        )?;
    }
    step(
        "doc tests",
        cargo(&["test", "--workspace", "--locked", "--doc"]),
    )?;
    let mut doc = cargo(&["doc", "--workspace", "--no-deps", "--locked"]);
    doc.env("RUSTDOCFLAGS", "-D warnings");
    step("docs", doc)?;
    for runtime in ["standalone", "lambda"] {
        println!("==> dev smoke ({runtime})");
        let args: Vec<String> = ["--runtime", runtime, "--listen", "127.0.0.1:0", "--smoke"]
            .map(String::from)
            .to_vec();
        dev::dev(&args).with_context(|| format!("cargo xtask dev --runtime {runtime} --smoke"))?;
    }
    println!("xtask test: all checks passed in {:.0?}", started.elapsed());
    Ok(())
}

/// The workspace root (xtask lives one level below it).
pub(crate) fn workspace_root() -> std::path::PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

pub(crate) fn cargo(args: &[&str]) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(args);
    command
}

fn has_nextest() -> bool {
    cargo(&["nextest", "--version"])
        .output()
        .is_ok_and(|out| out.status.success())
}

pub(crate) fn step(name: &str, mut command: Command) -> Result<()> {
    let started = Instant::now();
    println!("==> {name}");
    let status = command
        .status()
        .with_context(|| format!("could not start {command:?}"))?;
    if !status.success() {
        bail!("{name} failed ({status}) after {:.0?}", started.elapsed());
    }
    println!("==> {name}: ok in {:.1?}", started.elapsed());
    Ok(())
}
