//! The standalone server: configuration → service → axum runtime.
//!
//! `portcullis-server [--config FILE] [--listen ADDR] [--set KEY=VALUE]…`
//! (`PORTCULLIS_…` environment variables sit between the file and the flags.)

use portcullis_axum::runtime::{Logs, flush_logs, init_logging, shutdown_signal};
use portcullis_config::{LogFormat, Sources, load};
use std::process::ExitCode;

/// mimalloc (cargo feature `mimalloc`, on by default): see the feature's note in Cargo.toml.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: portcullis-server [--config FILE] [--listen ADDR] [--set KEY=VALUE]...";

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = run().await;
    // The last lines logged (shutting down, an error's context) before anything else is said.
    flush_logs(std::time::Duration::from_secs(2));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("portcullis-server: {error}");
            ExitCode::FAILURE
        }
    }
}

fn sources(mut args: impl Iterator<Item = String>) -> Result<Sources, String> {
    let mut sources = Sources::default();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--config" => sources.file = Some(value("--config")?.into()),
            "--listen" => sources
                .overrides
                .push(("server.listen".into(), value("--listen")?)),
            "--set" => {
                let pair = value("--set")?;
                let (key, val) = pair.split_once('=').ok_or_else(|| {
                    format!("--set {pair:?}: expected KEY=VALUE, like auth.provider=okta")
                })?;
                sources.overrides.push((key.to_owned(), val.to_owned()));
            }
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(sources)
}

async fn run() -> Result<(), String> {
    let settings = load(&sources(std::env::args().skip(1))?).map_err(|e| e.to_string())?;
    init_logging(match settings.server.log_format {
        LogFormat::Json => Logs::Json,
        LogFormat::Pretty => Logs::Pretty,
    });
    let listener = tokio::net::TcpListener::bind(settings.server.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.server.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let metrics = match settings.metrics.listen {
        Some(listen) => Some(
            tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| format!("cannot listen on {listen} (metrics.listen): {e}"))?,
        ),
        None => None,
    };
    tracing::info!(%address, provider = settings.auth.provider.name(), "portcullis-server listening");
    println!("listening on http://{address}");
    if let Some(metrics) = &metrics {
        let address = metrics.local_addr().map_err(|e| e.to_string())?;
        tracing::info!(%address, "metrics listening");
        println!("metrics on http://{address}/metrics");
    }
    portcullis_tutorial::run::standalone(&settings, listener, metrics, shutdown_signal()).await
}
