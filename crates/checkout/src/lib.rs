//! The Portcullis source tree, for every command that compiles in it (`cargo xtask`, `portcullis
//! build` and `deploy` without `--package`, the bench): found from the working directory with
//! `cargo metadata`, never from where a binary was compiled, so an installed `portcullis` works in
//! a checkout and says what to do outside one. Artifacts go to cargo's target directory
//! (`CARGO_TARGET_DIR`, `build.target-dir`), as cargo metadata reports it.
//!
//! xtask depends on this crate alone among the workspace's, and it depends on none: `cargo xtask`
//! stays a few seconds' compile.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// The package that holds the example service's binaries: what marks a Portcullis checkout.
const SERVICE_PACKAGE: &str = "portcullis-tutorial";

/// A checkout of the Portcullis workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The workspace root (where `Cargo.toml` and `deploy/Dockerfile` are).
    pub root: PathBuf,
    /// Cargo's target directory for this workspace.
    pub target: PathBuf,
}

/// `cargo ARGS…`: the cargo that runs us (`CARGO`), else the one on `PATH`.
pub fn cargo(args: &[&str]) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(args);
    command
}

/// Runs `command` as the named step of a longer job: `==> name` before, its time after (written to
/// `progress`, which the binary chooses: this library writes to no stream of its own), and an
/// error naming the step and its exit status when it fails. The command's own output goes where
/// the caller's does.
pub fn step(name: &str, mut command: Command, progress: &mut dyn Write) -> Result<()> {
    let started = Instant::now();
    let _ = writeln!(progress, "==> {name}");
    let _ = progress.flush();
    let status = command
        .status()
        .with_context(|| format!("could not start {command:?}"))?;
    if !status.success() {
        bail!("{name} failed ({status}) after {:.0?}", started.elapsed());
    }
    let _ = writeln!(progress, "==> {name}: ok in {:.1?}", started.elapsed());
    Ok(())
}

impl Workspace {
    /// The checkout around the working directory; outside one, an error saying that `what`
    /// compiles the example service and so runs inside a checkout.
    pub fn find(what: &str) -> Result<Workspace> {
        let output = cargo(&["metadata", "--format-version", "1", "--no-deps"])
            .output()
            .context("running `cargo metadata` (is cargo installed?)")?;
        let found = if output.status.success() {
            Workspace::from_metadata(&output.stdout)?
        } else {
            None
        };
        found.with_context(|| {
            format!(
                "{what} compiles the example service, so it runs inside a Portcullis checkout (run it there); \
                 to deploy your own Lambda package, pass --package ZIP"
            )
        })
    }

    /// The workspace `cargo metadata` describes, if it is a Portcullis checkout.
    pub fn from_metadata(json: &[u8]) -> Result<Option<Workspace>> {
        let metadata: serde_json::Value =
            serde_json::from_slice(json).context("reading `cargo metadata`")?;
        let has_service = metadata["packages"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["name"] == SERVICE_PACKAGE));
        if !has_service {
            return Ok(None);
        }
        let path = |key: &str| -> Result<PathBuf> {
            match metadata[key].as_str() {
                Some(text) => Ok(PathBuf::from(text)),
                None => bail!("`cargo metadata` reported no {key}"),
            }
        };
        Ok(Some(Workspace {
            root: path("workspace_root")?,
            target: path("target_directory")?,
        }))
    }

    /// `cargo ARGS…` run in the workspace root.
    pub fn cargo(&self, args: &[&str]) -> Command {
        let mut command = cargo(args);
        command.current_dir(&self.root);
        command
    }
}

/// The example service's binary and cargo features as `portcullis build` compiles it: one
/// provider's feature (`None`: the generic OIDC issuer, which every build has), then the runtime's.
/// A Lambda package stores profiles in DynamoDB with the credentials Lambda puts in its
/// environment (no SQLite, no aws-config credential chain); the standalone server keeps SQLite and
/// the full credential chain. `cargo xtask test` checks each of these builds.
pub fn service_build(provider: Option<&str>, lambda: bool) -> (&'static str, String) {
    let (binary, runtime) = if lambda {
        ("bootstrap", "dynamodb,lambda")
    } else {
        ("portcullis-server", "aws-config,sqlite")
    };
    let features = match provider {
        Some(provider) => format!("{provider},{runtime}"),
        None => runtime.to_owned(),
    };
    (binary, features)
}

/// The providers a build can compile in besides the generic OIDC issuer.
pub const PROVIDER_FEATURES: [&str; 3] = ["cognito", "auth0", "okta"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_go_where_cargo_s_target_directory_is() {
        let elsewhere = std::env::temp_dir().join("portcullis-elsewhere-target");
        let output = cargo(&["metadata", "--format-version", "1", "--no-deps"])
            .env("CARGO_TARGET_DIR", &elsewhere)
            .output()
            .expect("cargo metadata");
        assert!(output.status.success());
        let workspace = Workspace::from_metadata(&output.stdout)
            .expect("metadata")
            .expect("this checkout");
        assert_eq!(workspace.target, elsewhere);
        assert!(workspace.root.join("crates/tutorial/Cargo.toml").is_file());
    }

    #[test]
    fn a_workspace_without_the_service_is_not_a_checkout() {
        let metadata = br#"{"packages":[{"name":"my-app"}],"workspace_root":"/src","target_directory":"/src/target"}"#;
        assert!(Workspace::from_metadata(metadata).expect("json").is_none());
    }

    #[test]
    fn a_step_writes_its_progress_where_told_and_a_failure_names_itself() {
        let mut progress = Vec::new();
        let error = step("always fails", Command::new("false"), &mut progress).expect_err("fails");
        assert!(
            error
                .to_string()
                .starts_with("always fails failed (exit status: 1)")
        );
        assert_eq!(String::from_utf8_lossy(&progress), "==> always fails\n");
        progress.clear();
        step("succeeds", Command::new("true"), &mut progress).expect("true succeeds");
        let written = String::from_utf8_lossy(&progress);
        assert!(
            written.starts_with("==> succeeds\n==> succeeds: ok in "),
            "{written}"
        );
    }
}
