//! The Portcullis source tree, for the commands that compile the example service (`build`,
//! `deploy` without `--package`, `bench`): found from the working directory with `cargo metadata`,
//! never from where this binary was compiled, so an installed `portcullis` works in a checkout and
//! says what to do outside one. Artifacts go to cargo's target directory (`CARGO_TARGET_DIR`,
//! `build.target-dir`), as cargo metadata reports it.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The package that holds the example service's binaries.
const SERVICE_PACKAGE: &str = "portcullis-tutorial";

/// A checkout of the Portcullis workspace.
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    /// The workspace root (where `Cargo.toml` and `deploy/Dockerfile` are).
    pub(crate) root: PathBuf,
    /// Cargo's target directory for this workspace.
    pub(crate) target: PathBuf,
}

/// The `cargo` to run: the one that runs us, else the one on PATH.
pub(crate) fn cargo(args: &[&str]) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(args);
    command
}

impl Workspace {
    /// The checkout around the working directory.
    pub(crate) fn find(what: &str) -> Result<Workspace> {
        let output = cargo(&["metadata", "--format-version", "1", "--no-deps"])
            .output()
            .context("running `cargo metadata` (is cargo installed?)")?;
        let outside = || {
            anyhow::anyhow!(
                "{what} compiles the example service, so it runs inside a Portcullis checkout (run it there); \
                 to deploy your own Lambda package, pass --package ZIP"
            )
        };
        if !output.status.success() {
            return Err(outside());
        }
        let metadata: serde_json::Value =
            serde_json::from_slice(&output.stdout).context("reading `cargo metadata`")?;
        let has_service = metadata["packages"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["name"] == SERVICE_PACKAGE));
        if !has_service {
            return Err(outside());
        }
        let path = |key: &str| -> Result<PathBuf> {
            match metadata[key].as_str() {
                Some(text) => Ok(PathBuf::from(text)),
                None => bail!("`cargo metadata` reported no {key}"),
            }
        };
        Ok(Workspace {
            root: path("workspace_root")?,
            target: path("target_directory")?,
        })
    }
}

/// Runs `command` as the named step of a longer job, with its time.
pub(crate) fn step(name: &str, mut command: Command) -> Result<()> {
    let started = std::time::Instant::now();
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
