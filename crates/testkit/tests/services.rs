//! The third-party test servers install at the versions the tests are written against, and the
//! suite's network is what `cargo xtask test` says it is.
//!
//! `cargo xtask test` runs this binary once with the network (so the installers can reach PyPI and
//! the npm registry), then the whole suite in a network namespace with only loopback up, where the
//! machine allows one; there it sets `XTASK_TEST_NETWORK=loopback-only`.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use portcullis_testkit::external::{
    CFN_LINT, MOTO, OAUTH2_MOCK_SERVER, cache_dir, ensure_cfn_lint, ensure_chromium, ensure_moto,
    ensure_oauth2_mock_server,
};

/// The version a pin names: `moto[server]==5.2.5` → `5.2.5`, `oauth2-mock-server@9.3.0` → `9.3.0`.
fn pinned(spec: &str) -> &str {
    spec.rsplit(['=', '@']).next().expect("a pin")
}

#[test]
fn test_servers_install_at_their_pinned_versions() {
    ensure_moto().expect("moto installs");
    ensure_cfn_lint().expect("cfn-lint installs");
    let modules = ensure_oauth2_mock_server().expect("oauth2-mock-server installs");

    let python = cache_dir().join("venv/bin/python");
    let out = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('moto'), m.version('cfn-lint'))",
        ])
        .output()
        .expect("the venv's python runs");
    assert!(out.status.success(), "{out:?}");
    let versions = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(
        versions.split_whitespace().collect::<Vec<_>>(),
        [pinned(MOTO), pinned(CFN_LINT)],
        "moto and cfn-lint in {}",
        python.display()
    );

    let manifest = std::fs::read_to_string(modules.join("oauth2-mock-server/package.json"))
        .expect("oauth2-mock-server's package.json");
    let manifest: serde_json::Value = serde_json::from_str(&manifest).expect("JSON");
    assert_eq!(manifest["version"], pinned(OAUTH2_MOCK_SERVER));
}

/// The console's browser tests drive Debian's Chromium through its ChromeDriver: both install
/// (with apt, when absent) at one version.
#[test]
fn chromium_and_its_driver_install_at_one_version() {
    let (chromium, chromedriver) = ensure_chromium().expect("chromium and chromium-driver install");
    let major = |binary: &std::path::Path| {
        let out = Command::new(binary)
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let version = text
            .split_whitespace()
            .find(|word| word.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .unwrap_or_else(|| panic!("a version in {text:?}"))
            .to_owned();
        version
            .split('.')
            .next()
            .expect("a major version")
            .to_owned()
    };
    assert_eq!(major(&chromium), major(&chromedriver));
}

/// Where the suite runs loopback-only, nothing but 127.0.0.1 answers: a connection to a
/// documentation address (TEST-NET-1, RFC 5737) fails at once for want of a route, while a
/// loopback listener takes one. Elsewhere this says that the run was not confined.
#[test]
fn the_suite_reaches_nothing_but_loopback_when_confined() {
    let Ok(network) = std::env::var("XTASK_TEST_NETWORK") else {
        eprintln!("not confined: XTASK_TEST_NETWORK is unset (cargo xtask test sets it)");
        return;
    };
    assert_eq!(network, "loopback-only", "XTASK_TEST_NETWORK");

    let listener = TcpListener::bind("127.0.0.1:0").expect("loopback binds");
    TcpStream::connect_timeout(
        &listener.local_addr().expect("address"),
        Duration::from_secs(5),
    )
    .expect("loopback connects");

    let outside: SocketAddr = "192.0.2.1:80".parse().expect("address");
    let refused = TcpStream::connect_timeout(&outside, Duration::from_secs(5))
        .expect_err("nothing outside loopback is reachable");
    assert_eq!(refused.kind(), ErrorKind::NetworkUnreachable, "{refused}");
}
