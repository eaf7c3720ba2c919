//! `cargo xtask fuzz`: the cargo-fuzz targets of `fuzz/` (libFuzzer, AddressSanitizer with leak
//! detection), each for a bounded time, with a summary of executions and corpus sizes.
//!
//! Needs the nightly toolchain (cargo-fuzz builds with `-Z` flags); cargo-fuzz itself is installed
//! from crates.io into `target/tools` on first use. The corpus grows in `target/fuzz/corpus/NAME`,
//! started from the committed seeds in `fuzz/seeds/NAME`; a crashing input is kept in
//! `fuzz/artifacts/NAME/` (reproduce it with `cargo +nightly fuzz run NAME FILE`) and becomes a
//! regression test on stable.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// The targets, in the order they run.
pub(crate) const TARGETS: [&str; 4] = ["token", "jwks", "gateway", "config"];

/// The cargo-fuzz release installed into `target/tools`.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

pub(crate) const USAGE: &str = "\
usage: cargo xtask fuzz [--seconds N] [--target NAME] [--dev] [--jobs N] [--no-sanitizer]

  Runs each fuzz target of fuzz/ for N seconds (default 60): token (Authorization value, JWS
  decoder, strict JSON), jwks (key set parsing), gateway (Lambda event normaliser, claim rendering
  round trip), config (the configuration loader). Needs the nightly toolchain; installs cargo-fuzz
  into target/tools on first use. Prints executions, corpus size and peak memory per target.
  --dev builds with light optimization (fuzz/Cargo.toml), a cold build in about half the
  time: for short runs (CI's).
  --jobs N runs N fuzzing processes per target (libFuzzer's -fork=N), one per core.
  --no-sanitizer builds without AddressSanitizer (and so without leak detection): several times
  the executions per second, for a long run after a sanitized one has checked for leaks.
";

/// How `run` runs each target.
pub(crate) struct Plan {
    /// Seconds per target.
    pub(crate) seconds: u64,
    /// libFuzzer's random seed (the same mutations each run), or a fresh one.
    pub(crate) seed: Option<u32>,
    /// Built with the release profile (else fuzz/'s light dev profile).
    pub(crate) optimized: bool,
    /// Built with AddressSanitizer and leak detection.
    pub(crate) sanitizer: bool,
    /// Fuzzing processes per target (1: libFuzzer's plain mode).
    pub(crate) jobs: u64,
}

/// What one run of a target did.
pub(crate) struct Outcome {
    pub(crate) target: &'static str,
    pub(crate) executions: u64,
    pub(crate) corpus: usize,
    pub(crate) peak_rss_mb: u64,
}

/// Parses `cargo xtask fuzz` flags and runs.
pub(crate) fn command(args: &[String]) -> Result<()> {
    let mut seconds = 60;
    let mut only = None;
    let mut optimized = true;
    let mut sanitizer = true;
    let mut jobs = 1;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--seconds" => seconds = whole_number("--seconds", args.next(), 86_400, "seconds")?,
            "--target" => {
                let value = args.next().context("--target needs a name")?;
                let Some(target) = TARGETS.iter().find(|t| *t == value) else {
                    bail!("--target {value:?}: expected one of {}", TARGETS.join(", "));
                };
                only = Some(*target);
            }
            "--dev" => optimized = false,
            "--no-sanitizer" => sanitizer = false,
            "--jobs" => jobs = whole_number("--jobs", args.next(), 64, "processes")?,
            "--help" | "-h" => {
                print!("{USAGE}");
                return Ok(());
            }
            other => {
                bail!(
                    "unknown flag {other:?}: expected --seconds N, --target NAME, --dev, --jobs N or --no-sanitizer"
                )
            }
        }
    }
    if !has_nightly() {
        bail!("fuzzing needs the nightly toolchain (rustup toolchain list shows none)");
    }
    let targets: Vec<&'static str> = match only {
        Some(target) => vec![target],
        None => TARGETS.to_vec(),
    };
    let plan = Plan {
        seconds,
        seed: None,
        optimized,
        sanitizer,
        jobs,
    };
    let outcomes = run(&targets, &plan)?;
    report(&outcomes);
    Ok(())
}

/// The value of `flag`: a whole number from 1 to `max` (of `unit`), or the error naming both.
fn whole_number(flag: &str, value: Option<&String>, max: u64, unit: &str) -> Result<u64> {
    let value = value.with_context(|| format!("{flag} needs a number"))?;
    value
        .parse::<u64>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .with_context(|| {
            format!("{flag} {value:?}: expected a whole number of {unit} from 1 to {max}")
        })
}

/// Whether the nightly toolchain is installed.
pub(crate) fn has_nightly() -> bool {
    Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The workspace root (xtask's parent).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// cargo-fuzz in `target/tools`, installed there from crates.io unless that version is present.
fn cargo_fuzz() -> Result<PathBuf> {
    let tools = root().join("target/tools");
    let binary = tools.join("bin/cargo-fuzz");
    let installed = Command::new(&binary)
        .arg("--version")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .is_some_and(|out| String::from_utf8_lossy(&out.stdout).contains(CARGO_FUZZ_VERSION));
    if !installed {
        println!(
            "==> installing cargo-fuzz {CARGO_FUZZ_VERSION} into {}",
            tools.display()
        );
        let status = crate::cargo(&[])
            .args([
                "install",
                "cargo-fuzz",
                "--locked",
                "--version",
                CARGO_FUZZ_VERSION,
                "--root",
            ])
            .arg(&tools)
            .status()
            .context("could not start cargo install")?;
        if !status.success() {
            bail!("installing cargo-fuzz {CARGO_FUZZ_VERSION} failed ({status})");
        }
    }
    Ok(binary)
}

/// Runs `targets` as `plan` says; fails on the first crash, leak or timeout.
pub(crate) fn run(targets: &[&'static str], plan: &Plan) -> Result<Vec<Outcome>> {
    let seconds = plan.seconds;
    let cargo_fuzz = cargo_fuzz()?;
    let root = root();
    let logs = root.join("target/fuzz/logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let mut outcomes = Vec::new();
    for &target in targets {
        let started = Instant::now();
        let corpus = root.join("target/fuzz/corpus").join(target);
        std::fs::create_dir_all(&corpus)?;
        let log_path = logs.join(format!("{target}.log"));
        println!(
            "==> fuzz {target}: building, then {seconds} s (log: {})",
            log_path.display()
        );
        let mut child = Command::new(&cargo_fuzz)
            .current_dir(&root)
            // cargo-fuzz calls `cargo`: the rustup proxy, on nightly (not the stable cargo that runs xtask).
            .env_remove("CARGO")
            .env_remove("RUSTC")
            .env_remove("RUSTFLAGS")
            .env("RUSTUP_TOOLCHAIN", "nightly")
            .args([
                "fuzz",
                "run",
                "--fuzz-dir",
                "fuzz",
                "--target-dir",
                // Apart, so a run of one kind does not rebuild the other's targets.
                if plan.sanitizer {
                    "target/fuzz/build"
                } else {
                    "target/fuzz/build-unsanitized"
                },
                target,
            ])
            .args((!plan.optimized).then_some("--dev"))
            .args((!plan.sanitizer).then_some("--sanitizer=none"))
            .arg(&corpus)
            .arg(root.join("fuzz/seeds").join(target))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .args(plan.seed.map(|seed| format!("-seed={seed}")))
            .args((plan.jobs > 1).then(|| format!("-fork={}", plan.jobs)))
            .args([
                "-print_final_stats=1",
                "-rss_limit_mb=2048",
                "-timeout=10",
                "-max_len=16384",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("could not start cargo-fuzz")?;
        // libFuzzer writes to stderr; cargo's build output goes there too. All of it to the log,
        // the status lines to the terminal.
        let stderr = child.stderr.take().context("no stderr")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let out_thread = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        let mut log = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("Compiling portcullis")
                || line.contains(" DONE ")
                || line.contains("pulse")
                || line.starts_with("==")
                || line.contains("panicked")
            {
                println!("    {line}");
            }
            log.push(line);
        }
        let status = child.wait().context("waiting for cargo-fuzz")?;
        log.extend(out_thread.join().unwrap_or_default());
        std::fs::write(&log_path, log.join("\n") + "\n")
            .with_context(|| format!("writing {}", log_path.display()))?;
        if !status.success() {
            let tail: Vec<&str> = log
                .iter()
                .rev()
                .take(40)
                .rev()
                .map(String::as_str)
                .collect();
            bail!(
                "fuzz target {target} failed ({status}) after {:.0?}; the end of its log:\n{}",
                started.elapsed(),
                tail.join("\n")
            );
        }
        let stat = |name: &str| {
            log.iter()
                .filter_map(|line| line.strip_prefix(&format!("stat::{name}:")))
                .filter_map(|n| n.trim().parse::<u64>().ok())
                .next_back()
                .unwrap_or(0)
        };
        // Fork mode prints no final stats: its last status line (`#N: cov: ...`) counts every
        // process's executions.
        let status_count = log
            .iter()
            .filter_map(|line| line.strip_prefix('#'))
            .filter_map(|rest| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                digits.parse::<u64>().ok()
            })
            .max()
            .unwrap_or(0);
        let outcome = Outcome {
            target,
            executions: stat("number_of_executed_units").max(status_count),
            corpus: std::fs::read_dir(&corpus).map_or(0, |d| d.count()),
            peak_rss_mb: stat("peak_rss_mb"),
        };
        println!(
            "==> fuzz {target}: {} executions, corpus {} inputs, peak RSS {} MB, in {:.0?}",
            outcome.executions,
            outcome.corpus,
            outcome.peak_rss_mb,
            started.elapsed()
        );
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// One line per target and the total.
pub(crate) fn report(outcomes: &[Outcome]) {
    println!(
        "\n{:<10} {:>14} {:>8} {:>9}",
        "target", "executions", "corpus", "peak MB"
    );
    for o in outcomes {
        println!(
            "{:<10} {:>14} {:>8} {:>9}",
            o.target, o.executions, o.corpus, o.peak_rss_mb
        );
    }
    let total: u64 = outcomes.iter().map(|o| o.executions).sum();
    println!("{:<10} {:>14}", "total", total);
}
