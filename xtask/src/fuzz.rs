//! `cargo xtask fuzz`: the libFuzzer targets of `fuzz/` (AddressSanitizer with leak detection),
//! each for a bounded time, with a summary of executions and corpus sizes.
//!
//! Needs the nightly toolchain (sanitizers are `-Z` flags). The targets are built the way
//! cargo-fuzz builds them (sanitizer coverage with compare tracing, `--cfg fuzzing`, debug
//! assertions, a `--target` triple so build scripts and proc-macros stay uninstrumented), all four
//! in one `cargo build`, without installing cargo-fuzz itself; then as many run at once as the
//! cores allow. The corpus grows in `target/fuzz/corpus/NAME`, started from the committed seeds in
//! `fuzz/seeds/NAME`; a crashing input is kept in `fuzz/artifacts/NAME/` (`cargo xtask fuzz
//! --target NAME --input FILE` runs that one input again) and becomes a regression test on stable.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// The targets, in the order they run.
pub(crate) const TARGETS: [&str; 5] = ["token", "jwks", "gateway", "config", "alb"];

pub(crate) const USAGE: &str = "\
usage: cargo xtask fuzz [--seconds N] [--target NAME] [--dev] [--jobs N] [--no-sanitizer]
                        [--input FILE]

  Runs each fuzz target of fuzz/ for N seconds (default 60): token (Authorization value, JWS
  decoder, strict JSON), jwks (key set parsing), gateway (Lambda event normaliser, claim rendering
  round trip), config (the configuration loader), alb (the ALB's signed
  user-claims token, its key PEM and signer ARNs). Needs the nightly toolchain (nothing else is
  installed). As many targets run at once as there are cores. Prints executions, corpus size and
  peak memory per target.
  --dev builds with light optimization (fuzz/Cargo.toml), a cold build in about half the
  time: for short runs (CI's).
  --jobs N runs N fuzzing processes per target (libFuzzer's -fork=N), one per core; the targets
  then take turns.
  --input FILE runs the one input in FILE through --target NAME (a crash kept in
  fuzz/artifacts/NAME/, say) and reports what it does.
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
    let mut input = None;
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
            "--input" => {
                let value = args.next().context("--input needs a file")?;
                let path = PathBuf::from(value);
                if !path.is_file() {
                    bail!("--input {value:?}: expected a file (a crash from fuzz/artifacts/NAME/)");
                }
                input = Some(path);
            }
            "--help" | "-h" => {
                print!("{USAGE}");
                return Ok(());
            }
            other => {
                bail!(
                    "unknown flag {other:?}: expected --seconds N, --target NAME, --dev, --jobs N, --no-sanitizer or --input FILE"
                )
            }
        }
    }
    if !has_nightly() {
        bail!("fuzzing needs the nightly toolchain (rustup toolchain list shows none)");
    }
    if let Some(input) = input {
        let Some(target) = only else {
            bail!(
                "--input {}: say which target reads it with --target NAME",
                input.display()
            );
        };
        return reproduce(target, &input, optimized, sanitizer);
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

/// The nightly compiler's host triple (`rustc -vV`), which the build names as its `--target`.
fn host_triple() -> Result<String> {
    let out = Command::new("rustup")
        .args(["run", "nightly", "rustc", "-vV"])
        .output()
        .context("could not start rustup run nightly rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV named no host triple")
}

/// The flags cargo-fuzz gives rustc: libFuzzer's coverage feedback (8-bit edge counters, the
/// PC table, compare operands, stack depth), `--cfg fuzzing`, no branch folding (more distinct
/// edges), debug assertions, and the sanitizer.
fn rustflags(optimized: bool, sanitizer: bool) -> String {
    let mut flags = vec![
        "-Cpasses=sancov-module",
        "-Cllvm-args=-sanitizer-coverage-level=4",
        "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
        "-Cllvm-args=-sanitizer-coverage-pc-table",
        "-Cllvm-args=-sanitizer-coverage-trace-compares",
        "--cfg",
        "fuzzing",
        "-Cllvm-args=-simplifycfg-branch-fold-threshold=0",
        "-Cllvm-args=-sanitizer-coverage-stack-depth",
        "-Cdebug-assertions",
    ];
    if sanitizer {
        flags.push("-Zsanitizer=address");
    }
    if optimized {
        // One codegen unit: with several, the coverage pass keeps ThinLTO from inlining anything.
        flags.push("-Ccodegen-units=1");
    }
    flags.join(" ")
}

/// Builds every target of fuzz/ in one `cargo build` on nightly; returns the directory of the
/// binaries. The build's output goes to `target/fuzz/logs/build.log`, the crates of this
/// workspace to the terminal.
fn build(optimized: bool, sanitizer: bool) -> Result<PathBuf> {
    let root = root();
    let logs = root.join("target/fuzz/logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let triple = host_triple()?;
    // Apart, so a build of one kind does not rebuild the other's targets.
    let target_dir = root.join(if sanitizer {
        "target/fuzz/build"
    } else {
        "target/fuzz/build-unsanitized"
    });
    let started = Instant::now();
    println!(
        "==> fuzz: building the targets ({}{})",
        if optimized { "release" } else { "dev profile" },
        if sanitizer { ", AddressSanitizer" } else { "" }
    );
    let mut cargo = nightly(&root);
    cargo
        .args([
            "build",
            "--locked",
            "--bins",
            "--manifest-path",
            "fuzz/Cargo.toml",
        ])
        // With --target, RUSTFLAGS skip build scripts and proc-macros (a sanitized proc-macro
        // does not load into the compiler).
        .args(["--target", &triple, "--target-dir"])
        .arg(&target_dir)
        .env("RUSTFLAGS", rustflags(optimized, sanitizer));
    if optimized {
        cargo.args([
            "--release",
            "--config",
            "profile.release.debug=\"line-tables-only\"",
        ]);
    }
    let log_path = logs.join("build.log");
    let (status, log) = logged(cargo, &log_path, "", |line| {
        line.contains("Compiling portcullis") || line.starts_with("error")
    })?;
    if !status.success() {
        bail!(
            "building the fuzz targets failed ({status}); the end of {}:\n{}",
            log_path.display(),
            tail(&log)
        );
    }
    println!("==> fuzz: built in {:.0?}", started.elapsed());
    Ok(target_dir
        .join(triple)
        .join(if optimized { "release" } else { "debug" }))
}

/// cargo on the nightly toolchain through the rustup proxy (not the stable cargo that runs xtask,
/// nor its RUSTFLAGS).
fn nightly(root: &Path) -> Command {
    let mut cargo = Command::new("cargo");
    cargo
        .current_dir(root)
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env("RUSTUP_TOOLCHAIN", "nightly");
    cargo
}

/// A fuzz binary with the options cargo-fuzz gives it: AddressSanitizer's ODR check off (Rust's
/// generics trip it), crashes kept in `fuzz/artifacts/NAME/`.
fn fuzzer(bin: &Path, target: &str) -> Result<Command> {
    let artifacts = root().join("fuzz/artifacts").join(target);
    std::fs::create_dir_all(&artifacts)
        .with_context(|| format!("creating {}", artifacts.display()))?;
    let mut command = Command::new(bin.join(target));
    let mut asan = std::env::var("ASAN_OPTIONS").unwrap_or_default();
    if !asan.is_empty() {
        asan.push(':');
    }
    asan.push_str("detect_odr_violation=0");
    command
        .current_dir(root())
        .env("ASAN_OPTIONS", asan)
        .arg(format!("-artifact_prefix={}/", artifacts.display()));
    Ok(command)
}

/// Runs `command`, its stdout and stderr gathered as the log and written to `log_path`; the lines
/// `show` picks are printed as they come, after `prefix`.
fn logged(
    mut command: Command,
    log_path: &Path,
    prefix: &str,
    show: impl Fn(&str) -> bool,
) -> Result<(std::process::ExitStatus, Vec<String>)> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start {command:?}"))?;
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
        if show(&line) {
            println!("    {prefix}{line}");
        }
        log.push(line);
    }
    let status = child
        .wait()
        .with_context(|| format!("waiting for {command:?}"))?;
    log.extend(out_thread.join().unwrap_or_default());
    std::fs::write(log_path, log.join("\n") + "\n")
        .with_context(|| format!("writing {}", log_path.display()))?;
    Ok((status, log))
}

/// The last 40 lines of a log.
fn tail(log: &[String]) -> String {
    log[log.len().saturating_sub(40)..].join("\n")
}

/// Builds `target` and runs it on the one input in `file`.
fn reproduce(target: &str, file: &Path, optimized: bool, sanitizer: bool) -> Result<()> {
    let bin = build(optimized, sanitizer)?;
    let status = fuzzer(&bin, target)?
        .arg(file)
        .status()
        .with_context(|| format!("could not start the {target} fuzz target"))?;
    if !status.success() {
        bail!(
            "fuzz target {target} fails on {} ({status})",
            file.display()
        );
    }
    println!("==> fuzz {target}: {} runs clean", file.display());
    Ok(())
}

/// Runs `targets` as `plan` says, as many at once as the cores allow (one per core, or one at a
/// time in fork mode); fails on a crash, leak or timeout of any of them.
pub(crate) fn run(targets: &[&'static str], plan: &Plan) -> Result<Vec<Outcome>> {
    let bin = build(plan.optimized, plan.sanitizer)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let workers = (cores / plan.jobs).clamp(1, targets.len().max(1) as u64) as usize;
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, Result<Outcome>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(&target) = targets.get(i) else {
                            return done;
                        };
                        done.push((i, run_one(&bin, target, plan)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    if results.len() != targets.len() {
        bail!("a fuzz worker thread panicked");
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, outcome)| outcome).collect()
}

/// One target for `plan.seconds`: its log in `target/fuzz/logs/NAME.log`, its figures parsed from
/// libFuzzer's final stats.
fn run_one(bin: &Path, target: &'static str, plan: &Plan) -> Result<Outcome> {
    let root = root();
    let seconds = plan.seconds;
    let started = Instant::now();
    let corpus = root.join("target/fuzz/corpus").join(target);
    std::fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
    let log_path = root.join("target/fuzz/logs").join(format!("{target}.log"));
    println!(
        "==> fuzz {target}: {seconds} s (log: {})",
        log_path.display()
    );
    let mut fuzz = fuzzer(bin, target)?;
    fuzz.arg(format!("-max_total_time={seconds}"))
        .args(plan.seed.map(|seed| format!("-seed={seed}")))
        .args((plan.jobs > 1).then(|| format!("-fork={}", plan.jobs)))
        .args([
            "-print_final_stats=1",
            "-rss_limit_mb=2048",
            "-timeout=10",
            "-max_len=16384",
        ])
        .arg(&corpus)
        .arg(root.join("fuzz/seeds").join(target));
    let prefix = format!("[{target}] ");
    let (status, log) = logged(fuzz, &log_path, &prefix, |line| {
        line.contains(" DONE ")
            || line.contains("pulse")
            || line.starts_with("==")
            || line.contains("panicked")
    })?;
    if !status.success() {
        bail!(
            "fuzz target {target} failed ({status}) after {:.0?}; the end of its log:\n{}",
            started.elapsed(),
            tail(&log)
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
    Ok(outcome)
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
