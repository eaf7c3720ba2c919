//! The real `portcullis-server` in a folder of its own, as a deployment lays it out, started on an
//! ephemeral port (shared by the tests that run the binary).
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A folder holding the server binary (hard-linked, or copied across file systems) and its config.
pub fn folder(name: &str, issuer: &str, audience: &str) -> PathBuf {
    folder_with(name, issuer, audience, "")
}

/// [`folder`] with `extra` appended to the configuration file.
pub fn folder_with(name: &str, issuer: &str, audience: &str, extra: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("folder");
    let binary = Path::new(env!("CARGO_BIN_EXE_portcullis-server"));
    let target = dir.join("portcullis-server");
    if std::fs::hard_link(binary, &target).is_err() {
        std::fs::copy(binary, &target).expect("copy the server");
    }
    std::fs::write(
        dir.join("portcullis.toml"),
        format!(
            "[auth]\nprovider = \"oidc\"\nissuer = \"{issuer}\"\naudience = \"{audience}\"\n\
             [server]\nlisten = \"127.0.0.1:0\"\n[store]\nkind = \"sqlite\"\npath = \"{}\"\n{extra}",
            dir.join("profiles.db").display()
        ),
    )
    .expect("config");
    dir
}

/// Starts the server in `dir`; returns it and its base URL once it listens.
pub fn start(dir: &Path) -> (Child, String) {
    let (child, lines) = start_announcing(dir, "warn", Stdio::null(), 1);
    let base = lines[0]
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {:?}", lines[0]))
        .to_owned();
    (child, base)
}

/// Starts the server in `dir` with `RUST_LOG=log` and its stderr to `stderr`; returns it and the
/// first `lines` lines it prints (the addresses it announces).
pub fn start_announcing(
    dir: &Path,
    log: &str,
    stderr: Stdio,
    lines: usize,
) -> (Child, Vec<String>) {
    let mut child = Command::new(dir.join("portcullis-server"))
        .current_dir(dir)
        .env("RUST_LOG", log)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("server starts");
    let mut output = portcullis_testkit::ChildLines::spawn(child.stdout.take().expect("stdout"));
    let announced = (0..lines)
        .map(|n| {
            output
                .next_within(std::time::Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("the server announces line {n}: {e}"))
        })
        .collect();
    (child, announced)
}
