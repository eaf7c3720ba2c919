//! `portcullis-bench`: the measurements a developer of Portcullis runs, kept out of the user's
//! `portcullis` command. `cargo xtask bench` and `cargo xtask soak` run it inside a checkout; it
//! builds the release server (and, for the bench, every provider's Lambda package with `portcullis
//! build`) through cargo, then drives them on loopback.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod bench;
mod gateway;
mod refusals;
mod server;
mod soak;

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "Measure the release example service (inside a Portcullis checkout)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure load and Lambda cold starts of the example service
    ///
    /// The release portcullis-server under wrk (GET /healthz, GET /user/profile with a repeated
    /// token and with a new token on every request, valid traffic beside a flood of refusals), with
    /// the CPU the server and the whole machine spend per answer, the raw RS256 checks per second
    /// of the same cores, and each provider's Lambda cold start beside the minimal function's.
    Bench(BenchArgs),
    /// Hold the release server at 80 % of its maximum rate for minutes
    ///
    /// A mix of valid, fresh, expired, wrong-audience and unknown-kid tokens and conditional POSTs;
    /// every 10 s the rate, p99 latency and the server's RSS; at the end every kind's count of
    /// expected and unexpected answers. Fails on any unexpected answer, or on growth of more than
    /// 10 % after the first minute.
    Soak(SoakArgs),
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// How long each load scenario runs, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=600))]
    seconds: u32,
    /// Measure only the load: skip the Lambda builds and cold starts.
    #[arg(long)]
    no_lambda: bool,
    /// Measure the local gateway instead: `portcullis gateway --upstream` (release) in front of the
    /// release server, a small answer through it beside the server's own.
    #[arg(long)]
    gateway: bool,
    /// Measure refusals instead: the release server logging at info to a file (its `request
    /// refused` line on), each refusal's CPU beside /healthz's, then a 60 s flood: the log lines it
    /// wrote and the refusals the metrics counted.
    #[arg(long)]
    refusals: bool,
}

#[derive(Debug, Args)]
struct SoakArgs {
    /// How long the soak runs, in minutes (after a 10 s measurement of the maximum rate).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1440))]
    minutes: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(args) => bench::bench(&args),
        Command::Soak(args) => soak::soak(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
