//! Project automation, kept thin: `cargo xtask test` runs everything CI runs; every other command is
//! the `portcullis` binary's (`crates/cli`), built with only the features that command needs, so
//! `cargo xtask dev` compiles no AWS SDK crate.

use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Result, bail};
use portcullis_checkout::cargo;

mod fuzz;

const USAGE: &str = "\
usage: cargo xtask <command> [flags]

  test     fmt check, clippy -D warnings, single-provider and feature-less builds (cargo check),
           the test servers' install, then every test (nextest when installed) and the doc tests
           in a network namespace with only loopback up (where the machine allows one), docs,
           each fuzz target for 10 s (when the nightly toolchain is installed), and a smoke run
           of `dev` on both runtimes behind each gate
  fuzz     the fuzz targets of fuzz/, each for a bounded time (--seconds N; needs nightly)
  dev      the example service locally (portcullis dev)
  gateway  Portcullis in front of your own API (portcullis gateway)
  build, deploy, remove, info, logs, invoke, token, login: the portcullis commands of the same names
  bench    load and Lambda cold starts of the release example service (portcullis-bench; not CI)
  soak     the release server held at 80 % of its maximum for minutes (portcullis-bench; not CI)

`cargo xtask COMMAND --help` shows a command's flags.
";

/// The commands forwarded to `portcullis`, and whether each needs the AWS SDK (feature `aws`).
const FORWARDED: [(&str, bool); 10] = [
    ("dev", false),
    ("gateway", false),
    ("build", false),
    ("deploy", true),
    ("remove", true),
    ("info", true),
    ("logs", true),
    ("invoke", true),
    ("token", true),
    ("login", true),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("fuzz") => fuzz::command(&args[1..]),
        Some(tool @ ("bench" | "soak")) => return measure(tool, &args[1..]),
        Some(command) if FORWARDED.iter().any(|(c, _)| *c == command) => {
            return forward(command, &args[1..]);
        }
        Some("help" | "--help" | "-h") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => {
            eprintln!(
                "error: unknown command {other:?}: expected test, fuzz, bench, soak, dev, gateway, build, deploy, remove, info, logs, invoke, token or login"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo run` of `portcullis COMMAND ARGS…` with the features it needs; its exit status is ours.
fn forward(command: &str, args: &[String]) -> ExitCode {
    let aws = FORWARDED.iter().any(|(c, aws)| *c == command && *aws);
    let mut run = portcullis(aws);
    run.args(["--invoked-as", "cargo xtask", command])
        .args(args);
    exit_status(run)
}

/// `cargo run` of the developer tooling (`portcullis-bench`) with `tool` and `args`: the
/// measurements stay out of the user's `portcullis` command. The tool itself is a debug build, as
/// `portcullis bench` was (what it measures, the release server and packages, it builds itself;
/// its own signature-check ceiling runs in aws-lc, optimised in every profile).
fn measure(tool: &str, args: &[String]) -> ExitCode {
    let mut run = cargo(&[
        "run",
        "--quiet",
        "--locked",
        "--package",
        "portcullis-bench",
        "--",
        tool,
    ]);
    run.args(args);
    exit_status(run)
}

/// `command`'s exit status as ours.
fn exit_status(mut command: Command) -> ExitCode {
    match command.status() {
        Ok(status) => match status.code() {
            Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            None => ExitCode::FAILURE,
        },
        Err(error) => {
            eprintln!("error: could not start cargo: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo run` of the `portcullis` binary, with or without the `aws` feature.
fn portcullis(aws: bool) -> Command {
    let mut command = cargo(&[
        "run",
        "--quiet",
        "--locked",
        "--package",
        "portcullis-cli",
        "--bin",
        "portcullis",
        "--no-default-features",
    ]);
    if aws {
        command.args(["--features", "aws"]);
    }
    command.arg("--");
    command
}

/// Crates checked alone, with their own default features only (in the workspace build other
/// members switch their optional halves on): the package and what it is without.
const CRATES_ALONE: &[(&str, &str)] = &[
    ("portcullis-deploy", "without apply (export only)"),
    ("portcullis-cognito", "without sdk"),
];

/// How long `cargo xtask test` fuzzes each target.
const TEST_FUZZ_SECONDS: u64 = 10;

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
    // The builds no test compiles: what `portcullis build` compiles for one provider and runtime,
    // and the crates without their optional halves (features unify across the workspace, so the
    // clippy run above compiles each crate only with everything on).
    let lambda_builds = std::iter::once(None)
        .chain(portcullis_checkout::PROVIDER_FEATURES.map(Some))
        .map(|provider| portcullis_checkout::service_build(provider, true));
    for (binary, features) in lambda_builds.chain([portcullis_checkout::service_build(None, false)])
    {
        let mut check = cargo(&["check", "--locked", "--quiet", "-p", "portcullis-tutorial"]);
        check.args([
            "--bin",
            binary,
            "--no-default-features",
            "--features",
            &features,
        ]);
        step(&format!("check {binary} --features {features}"), check)?;
    }
    for (package, without) in CRATES_ALONE {
        let check = cargo(&["check", "--locked", "--quiet", "-p", package]);
        step(&format!("check {package} {without}"), check)?;
    }
    // The test servers (moto, cfn-lint, oauth2-mock-server) install with the network, and every
    // test binary is built; then the suite runs where only loopback exists, when the machine lets
    // us make such a network namespace.
    let nextest = has_nextest();
    let (install, suite): (&[&str], &[&str]) = if nextest {
        (
            &[
                "nextest",
                "run",
                "--workspace",
                "--locked",
                "-E",
                SERVICES_TEST,
            ],
            &[
                "nextest",
                "run",
                "--workspace",
                "--locked",
                "--no-fail-fast",
            ],
        )
    } else {
        (
            &[
                "test",
                "--locked",
                "-p",
                "portcullis-testkit",
                "--test",
                "services",
            ],
            &[
                "test",
                "--workspace",
                "--locked",
                "--lib",
                "--bins",
                "--tests",
            ],
        )
    };
    step("test servers and test builds", cargo(install))?;
    let confine = loopback_only();
    match &confine {
        Ok(_) => println!("==> the tests run in a network namespace with only loopback up"),
        Err(why) => println!("==> the tests run with this machine's network: {why}"),
    }
    let tests = if nextest { "tests (nextest)" } else { "tests" };
    step(tests, confined(&confine, suite))?;
    step(
        "doc tests",
        confined(&confine, &["test", "--workspace", "--locked", "--doc"]),
    )?;
    // The crates a Rust user adds to their own Cargo.toml package as crates.io takes them (the
    // compile of each is the build above; --no-verify keeps this step to seconds).
    step(
        "package (publishable crates)",
        cargo(&[
            "publish",
            "--workspace",
            "--dry-run",
            "--no-verify",
            "--locked",
        ]),
    )?;
    let mut doc = cargo(&["doc", "--workspace", "--no-deps", "--locked"]);
    doc.env("RUSTDOCFLAGS", "-D warnings");
    step("docs", doc)?;
    // Each fuzz target briefly, where the nightly toolchain is (the cold build is most of the step).
    if fuzz::has_nightly() {
        let started_fuzz = Instant::now();
        println!("==> fuzz ({TEST_FUZZ_SECONDS} s per target)");
        // A fixed seed: a CI run mutates the same way each time, so a failure is the change's.
        // Lightly optimized (--dev): the cold build is what a short run costs most.
        let plan = fuzz::Plan {
            seconds: TEST_FUZZ_SECONDS,
            seed: Some(1),
            optimized: false,
            sanitizer: true,
            jobs: 1,
        };
        let outcomes = fuzz::run(&fuzz::TARGETS, &plan)?;
        fuzz::report(&outcomes);
        println!("==> fuzz: ok in {:.1?}", started_fuzz.elapsed());
    } else {
        println!("==> fuzz: skipped: no nightly toolchain (the sanitizer flags need it)");
    }
    // `cargo xtask dev` as a newcomer runs it, on each runtime behind each AWS gate.
    for gate in ["http-api", "rest-api", "alb"] {
        for runtime in ["standalone", "lambda"] {
            let mut smoke = portcullis(false);
            smoke.args([
                "dev",
                "--runtime",
                runtime,
                "--gate",
                gate,
                "--listen",
                "127.0.0.1:0",
                "--state-dir",
                "target/dev",
                "--smoke",
            ]);
            step(&format!("dev smoke ({runtime}, {gate})"), smoke)?;
        }
    }
    println!("xtask test: all checks passed in {:.0?}", started.elapsed());
    Ok(())
}

/// The nextest filter for the test that installs the test servers at their pinned versions.
const SERVICES_TEST: &str = "package(portcullis-testkit) & binary(services)";

/// How to run a command in a network namespace of its own with only loopback up: `unshare --net`
/// as root, or with `--map-root-user` (an unprivileged user namespace) otherwise; each is tried
/// once. The error says why neither works here.
fn loopback_only() -> Result<Vec<&'static str>, String> {
    let mut failures = Vec::new();
    for prefix in [
        &["unshare", "--net", "--"][..],
        &["unshare", "--net", "--map-root-user", "--"][..],
    ] {
        let probe = Command::new(prefix[0])
            .args(&prefix[1..])
            .args(["sh", "-c", UP_LOOPBACK_AND_RUN, "sh", "true"])
            .output();
        match probe {
            Ok(out) if out.status.success() => return Ok(prefix.to_vec()),
            Ok(out) => failures.push(format!(
                "`{}` failed: {}",
                prefix.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(error) => failures.push(format!("`{}` cannot start: {error}", prefix[0])),
        }
    }
    Err(failures.join("; "))
}

/// Inside the new namespace: bring loopback up, then become the command.
const UP_LOOPBACK_AND_RUN: &str = "ip link set lo up && exec \"$@\"";

/// `cargo ARGS…`, inside the loopback-only namespace when there is one (and then with
/// `XTASK_TEST_NETWORK=loopback-only`, which the services test checks; not `PORTCULLIS_…`: the
/// configuration loader refuses unknown `PORTCULLIS_` variables).
fn confined(confine: &Result<Vec<&'static str>, String>, args: &[&str]) -> Command {
    let Ok(prefix) = confine else {
        return cargo(args);
    };
    let mut command = Command::new(prefix[0]);
    command
        .args(&prefix[1..])
        .args(["sh", "-c", UP_LOOPBACK_AND_RUN, "sh"])
        .arg(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .env("XTASK_TEST_NETWORK", "loopback-only");
    command
}

fn has_nextest() -> bool {
    cargo(&["nextest", "--version"])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// [`portcullis_checkout::step`] with its progress lines on stdout, beside cargo's own output.
fn step(name: &str, command: Command) -> Result<()> {
    portcullis_checkout::step(name, command, &mut std::io::stdout())
}
