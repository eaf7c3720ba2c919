//! Real third-party token issuers for interop tests, installed into the project-local `.cache/`
//! (idempotent, one installer at a time across test processes) and started on 127.0.0.1 with a port
//! the OS picks:
//!
//! - moto's server (PyPI `moto[server]`): Amazon Cognito user pools that issue real RS256 tokens;
//! - oauth2-mock-server (npm), through `js/mock-issuer.mjs`: an OIDC issuer shaping tokens as Auth0 or
//!   Okta do.
//!
//! Each process is killed when its handle drops. Start-up waits are bounded.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The moto release the tests are written against (see shared/EMULATORS.md).
pub const MOTO: &str = "moto[server]==5.2.5";
/// The cfn-lint release the exported templates are checked with.
pub const CFN_LINT: &str = "cfn-lint==1.58.0";
/// The oauth2-mock-server release the tests are written against.
pub const OAUTH2_MOCK_SERVER: &str = "oauth2-mock-server@9.3.0";

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The project-local cache for test tools: `.cache/` at the workspace root (git-ignored).
pub fn cache_dir() -> PathBuf {
    workspace_root().join(".cache")
}

/// Runs `install` once per `marker` name, holding a lock file so that parallel test processes wait for
/// one installer instead of racing it.
fn install_once(marker: &str, install: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<()> {
    let cache = cache_dir();
    fs::create_dir_all(&cache)?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(cache.join("install.lock"))?;
    lock.lock()?;
    let done = cache.join(format!(
        "installed-{}",
        marker.replace(['/', '[', ']', '=', '@'], "_")
    ));
    if !done.exists() {
        eprintln!(
            "portcullis-testkit: installing {marker} into {} (once)",
            cache.display()
        );
        install(&cache)?;
        File::create(&done)?;
    }
    lock.unlock()
}

fn run(command: &mut Command, what: &str) -> io::Result<()> {
    let output = command
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("{what}: cannot start: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ")
        )))
    }
}

/// `pip install spec` into the project-local virtual environment `.cache/venv` (created if absent).
fn pip_install(cache: &Path, spec: &str) -> io::Result<()> {
    let venv = cache.join("venv");
    if !venv.join("bin/pip").exists() {
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv .cache/venv",
        )?;
    }
    run(
        Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            spec,
        ]),
        &format!("pip install {spec}"),
    )
}

/// Installs moto's server into `.cache/venv` (needs `python3` with `venv`; reaches PyPI once).
pub fn ensure_moto() -> io::Result<PathBuf> {
    install_once(MOTO, |cache| pip_install(cache, MOTO))?;
    Ok(cache_dir().join("venv/bin/moto_server"))
}

/// Installs cfn-lint into `.cache/venv` (reaches PyPI once) and returns its executable.
pub fn ensure_cfn_lint() -> io::Result<PathBuf> {
    install_once(CFN_LINT, |cache| pip_install(cache, CFN_LINT))?;
    Ok(cache_dir().join("venv/bin/cfn-lint"))
}

/// Installs oauth2-mock-server into `.cache/node` (needs `npm`; reaches the npm registry once) and
/// returns its `node_modules` folder.
pub fn ensure_oauth2_mock_server() -> io::Result<PathBuf> {
    install_once(OAUTH2_MOCK_SERVER, |cache| {
        let prefix = cache.join("node");
        fs::create_dir_all(&prefix)?;
        run(
            Command::new("npm")
                .args([
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    "--prefix",
                ])
                .arg(&prefix)
                .arg(OAUTH2_MOCK_SERVER),
            "npm install oauth2-mock-server",
        )
    })?;
    Ok(cache_dir().join("node/node_modules"))
}

/// Debian's Chromium and its WebDriver: `(chromium, chromedriver)`. Installed with apt when absent
/// (needs root and Debian's package sources; the packages are kept in `.cache/apt`, so a second
/// install reuses them); nothing is downloaded from anywhere else.
pub fn ensure_chromium() -> io::Result<(PathBuf, PathBuf)> {
    let binaries = (
        PathBuf::from("/usr/bin/chromium"),
        PathBuf::from("/usr/bin/chromedriver"),
    );
    let present = |(browser, driver): &(PathBuf, PathBuf)| browser.exists() && driver.exists();
    if present(&binaries) {
        return Ok(binaries);
    }
    // One installer at a time (apt refuses a second one rather than waiting). The packages are
    // what counts, not the marker: a removed Chromium is installed again.
    let _ = fs::remove_file(cache_dir().join("installed-chromium-apt"));
    install_once("chromium-apt", |cache| {
        if present(&binaries) {
            return Ok(());
        }
        let archives = cache.join("apt");
        fs::create_dir_all(archives.join("partial"))?;
        let install = || {
            let mut apt = Command::new("apt-get");
            apt.env("DEBIAN_FRONTEND", "noninteractive")
                .arg("-o")
                .arg(format!("Dir::Cache::Archives={}", archives.display()))
                .args(["install", "-y", "-qq", "chromium", "chromium-driver"]);
            apt
        };
        if run(&mut install(), "apt-get install chromium chromium-driver").is_err() {
            // A fresh machine's package lists may be missing or stale.
            run(
                Command::new("apt-get").args(["update", "-qq"]),
                "apt-get update (Chromium for the console's browser tests needs root and Debian's apt)",
            )?;
            run(&mut install(), "apt-get install chromium chromium-driver")?;
        }
        Ok(())
    })?;
    if present(&binaries) {
        Ok(binaries)
    } else {
        Err(io::Error::other(
            "apt-get installed chromium and chromium-driver, but /usr/bin/chromium or /usr/bin/chromedriver is missing",
        ))
    }
}

/// A running tool; killed on drop.
#[derive(Debug)]
pub struct Running {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Running {
    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }
    /// Where the tool's output goes (for a failing test's investigation).
    pub fn log(&self) -> &Path {
        &self.log
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `command`, copies its output to a log file, and waits (bounded) for a line from which
/// `ready` extracts the base URL.
fn spawn(
    name: &str,
    mut command: Command,
    ready: fn(&str) -> Option<String>,
) -> io::Result<Running> {
    let logs = cache_dir().join("logs");
    fs::create_dir_all(&logs)?;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let log = logs.join(format!("{name}-{}.log", child.id()));
    let (found, wait) = mpsc::channel::<String>();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let found = found.clone();
        let mut file = OpenOptions::new().create(true).append(true).open(&log)?;
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = writeln!(file, "{line}");
                if let Some(url) = ready(&line) {
                    let _ = found.send(url);
                }
            }
        });
    }
    let mut running = Running {
        child,
        url: String::new(),
        log,
    };
    match wait.recv_timeout(START_TIMEOUT) {
        Ok(url) => {
            running.url = url;
            Ok(running)
        }
        Err(_) => Err(io::Error::other(format!(
            "{name} did not become ready within {START_TIMEOUT:?}; see {}",
            running.log.display()
        ))),
    }
}

/// Starts moto's server on 127.0.0.1 with an OS-chosen port.
pub fn start_moto() -> io::Result<Running> {
    let binary = ensure_moto()?;
    let mut command = Command::new(binary);
    command.args(["-H", "127.0.0.1", "-p", "0"]);
    spawn("moto", command, |line| {
        // Werkzeug announces "Running on http://127.0.0.1:PORT".
        let start = line.find("http://127.0.0.1:")?;
        let url: String = line[start..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        let port = url.rsplit(':').next()?;
        (port.parse::<u16>().is_ok_and(|p| p != 0)).then_some(url)
    })
}

/// Which provider's token shapes the mock issuer imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Issuer with trailing slash, `aud` list, `azp`, `permissions`.
    Auth0,
    /// `scp` list instead of `scope`, `cid`, `ver`.
    Okta,
    /// Plain OIDC: the server's own issuer URL, `aud`, `azp`.
    Oidc,
}

/// Starts oauth2-mock-server on 127.0.0.1 shaping tokens as `shape`, stamping `issuer_id` as `iss`
/// (Auth0 and Okta) and `audience` as the audience.
pub fn start_mock_issuer(
    shape: Shape,
    issuer_id: Option<&str>,
    audience: &str,
) -> io::Result<Running> {
    let modules = ensure_oauth2_mock_server()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("js/mock-issuer.mjs");
    let mut command = Command::new("node");
    command
        .arg(script)
        .env("PORTCULLIS_NODE_MODULES", modules)
        .env("AUDIENCE", audience)
        .env(
            "PROFILE",
            match shape {
                Shape::Auth0 => "auth0",
                Shape::Okta => "okta",
                Shape::Oidc => "oidc",
            },
        );
    if let Some(issuer) = issuer_id {
        command.env("ISSUER_ID", issuer);
    }
    spawn("oauth2-mock-server", command, |line| {
        line.strip_prefix("READY ").map(str::to_owned)
    })
}
