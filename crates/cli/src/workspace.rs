//! The Portcullis source tree, for the commands that compile the example service (`build`,
//! `deploy` without `--package`, `bench`): found from the working directory with `cargo metadata`,
//! never from where this binary was compiled, so an installed `portcullis` works in a checkout and
//! says what to do outside one. Artifacts go to cargo's target directory (`CARGO_TARGET_DIR`,
//! `build.target-dir`), as cargo metadata reports it.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use tokio::io::AsyncBufReadExt;

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
    fn from_metadata(json: &[u8]) -> Result<Option<Workspace>> {
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

impl Workspace {
    /// Builds one target of `portcullis-tutorial` with the release profile (`--bin NAME` or
    /// `--example NAME`), as the named step.
    pub(crate) fn build_release_tutorial(&self, kind: &str, name: &str) -> Result<()> {
        let mut build = cargo(&[
            "build",
            "--release",
            "--locked",
            "--package",
            "portcullis-tutorial",
            kind,
            name,
        ]);
        build.current_dir(&self.root);
        step(&format!("build {name} (release)"), build)
    }

    /// Starts the release `portcullis-server` (built by [`Workspace::build_release_tutorial`]) with
    /// its configuration written to `dir`: the example service trusting `issuer` for `audience`,
    /// `POST /user/profile` requiring `profile/write`, profiles in a new SQLite file in `dir`,
    /// logging at `log` (a `RUST_LOG` filter). Killed when dropped.
    pub(crate) async fn start_release_server(
        &self,
        dir: &std::path::Path,
        issuer: &str,
        audience: &str,
        log: &str,
    ) -> Result<ReleaseServer> {
        let config = dir.join("portcullis.toml");
        let store = dir.join("profiles.db");
        let _ = std::fs::remove_file(&store);
        std::fs::write(
            &config,
            format!(
                "[auth]\nprovider = \"oidc\"\nissuer = \"{issuer}\"\naudience = \"{audience}\"\n\
                 [routes.\"POST /user/profile\"]\nscopes = [\"profile/write\"]\n\
                 [store]\nkind = \"sqlite\"\npath = \"{}\"\n",
                store.display()
            ),
        )?;
        let server = self.target.join("release/portcullis-server");
        let mut child = tokio::process::Command::new(&server)
            .args(["--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .env("RUST_LOG", log)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", server.display()))?;
        let base = announced_url(&mut child).await?;
        let pid = child.id().context("the server's pid")?;
        Ok(ReleaseServer { child, base, pid })
    }
}

/// A running release `portcullis-server`: its process, base URL (`http://127.0.0.1:PORT`) and pid.
pub(crate) struct ReleaseServer {
    pub(crate) child: tokio::process::Child,
    pub(crate) base: String,
    pub(crate) pid: u32,
}

/// A `kB` figure of a process's `/proc/PID/status` (`VmRSS`, `VmHWM`, …), in KiB; `None` when the
/// file has no such line.
pub(crate) fn proc_status_kib(pid: u32, field: &str) -> Result<Option<u64>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    Ok(status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()))
}

/// Reads the server's `listening on http://…` line (bounded wait).
pub(crate) async fn announced_url(child: &mut tokio::process::Child) -> Result<String> {
    let stdout = child.stdout.take().context("the server's output")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix("listening on ") {
                return Ok::<_, std::io::Error>(Some(url.to_owned()));
            }
        }
        Ok(None)
    })
    .await
    .context("the server did not announce its address within 60 s")??;
    line.context("the server exited before listening (see its message above)")
}

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
}
