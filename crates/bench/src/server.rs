//! The release `portcullis-server` the bench and the soak run: built in the checkout, started on
//! loopback with a configuration of their own, measured from `/proc`.

use anyhow::{Context, Result};
use portcullis_checkout::{Workspace, step};
use tokio::io::AsyncBufReadExt;

/// Builds one target of `portcullis-tutorial` with the release profile (`--bin NAME` or
/// `--example NAME`), as the named step.
pub(crate) fn build_release_tutorial(workspace: &Workspace, kind: &str, name: &str) -> Result<()> {
    let build = workspace.cargo(&[
        "build",
        "--release",
        "--locked",
        "--package",
        "portcullis-tutorial",
        kind,
        name,
    ]);
    step(
        &format!("build {name} (release)"),
        build,
        &mut std::io::stdout(),
    )
}

/// How the release server logs: the `RUST_LOG` filter, and where stderr goes (`None`: the bench's
/// own stderr).
pub(crate) struct Logging<'a> {
    pub(crate) filter: &'a str,
    pub(crate) to_file: Option<&'a std::path::Path>,
}

impl Logging<'_> {
    /// Warnings only, to the bench's stderr.
    pub(crate) const WARN: Logging<'static> = Logging {
        filter: "warn",
        to_file: None,
    };
}

/// Starts the release `portcullis-server` (built by [`build_release_tutorial`]) with
/// its configuration written to `dir`: the example service trusting `issuer` for `audience`,
/// `POST /user/profile` requiring `profile/write`, profiles in a new SQLite file in `dir`,
/// `GET /metrics` on a listener of its own, logging as `logging` says. Killed when dropped.
pub(crate) async fn start_release_server(
    workspace: &Workspace,
    dir: &std::path::Path,
    issuer: &str,
    audience: &str,
    logging: Logging<'_>,
) -> Result<ReleaseServer> {
    let config = dir.join("portcullis.toml");
    let store = dir.join("profiles.db");
    let _ = std::fs::remove_file(&store);
    std::fs::write(
        &config,
        format!(
            "[auth]\nprovider = \"oidc\"\nissuer = \"{issuer}\"\naudience = \"{audience}\"\n\
             [routes.\"POST /user/profile\"]\nscopes = [\"profile/write\"]\n\
             [store]\nkind = \"sqlite\"\npath = \"{}\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n",
            store.display()
        ),
    )?;
    let server = workspace.target.join("release/portcullis-server");
    let stderr = match logging.to_file {
        Some(path) => std::process::Stdio::from(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => std::process::Stdio::inherit(),
    };
    let mut child = tokio::process::Command::new(&server)
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env("RUST_LOG", logging.filter)
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", server.display()))?;
    let (base, metrics) = announced_urls(&mut child).await?;
    let pid = child.id().context("the server's pid")?;
    Ok(ReleaseServer {
        child,
        base,
        metrics,
        pid,
    })
}

/// A running release `portcullis-server`: its process, base URL (`http://127.0.0.1:PORT`) and pid.
pub(crate) struct ReleaseServer {
    pub(crate) child: tokio::process::Child,
    pub(crate) base: String,
    /// `http://127.0.0.1:PORT/metrics`.
    pub(crate) metrics: String,
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

/// Reads the server's `listening on http://…` and `metrics on http://…/metrics` lines (bounded
/// wait).
pub(crate) async fn announced_urls(child: &mut tokio::process::Child) -> Result<(String, String)> {
    let stdout = child.stdout.take().context("the server's output")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let found = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        let (mut base, mut metrics) = (None, None);
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix("listening on ") {
                base = Some(url.to_owned());
            }
            if let Some(url) = line.strip_prefix("metrics on ") {
                metrics = Some(url.to_owned());
            }
            if let (Some(base), Some(metrics)) = (&base, &metrics) {
                return Ok::<_, std::io::Error>(Some((base.clone(), metrics.clone())));
            }
        }
        Ok(None)
    })
    .await
    .context("the server did not announce its addresses within 60 s")??;
    found.context("the server exited before listening (see its message above)")
}
