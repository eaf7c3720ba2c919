//! What the end-to-end tests of the command line share: a scratch directory, a deployment package, and running
//! the real `portcullis` binary with a controlled AWS environment.
#![allow(dead_code)] // Each test file uses its own part.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch directory under the target dir (no portcullis.toml, no AWS profile files).
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// [`scratch`] holding `portcullis.toml` with `config`.
pub(crate) fn scratch_with_config(name: &str, config: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::write(dir.join("portcullis.toml"), config).expect("portcullis.toml");
    dir
}

pub(crate) fn host_arch() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "x86_64"
    }
}

/// A deployment package holding an executable ELF named `bootstrap` for the host's architecture.
pub(crate) fn package(dir: &Path) -> PathBuf {
    package_for(dir, host_arch())
}

/// The same for `arch`: the host's `/bin/true` with the ELF header's machine set to `arch` (moto
/// stores the package; nothing runs it).
pub(crate) fn package_for(dir: &Path, arch: &str) -> PathBuf {
    package_marked(dir, arch, None)
}

/// The same, with `marker` appended to the executable (a different build) and in a file of its
/// own.
pub(crate) fn package_marked(dir: &Path, arch: &str, marker: Option<u8>) -> PathBuf {
    let mut elf = std::fs::read("/bin/true").expect("/bin/true");
    let machine: u16 = if arch == "arm64" { 0xb7 } else { 0x3e };
    elf[18..20].copy_from_slice(&machine.to_le_bytes());
    elf.extend(marker);
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    writer
        .start_file(
            "bootstrap",
            zip::write::SimpleFileOptions::default().unix_permissions(0o755),
        )
        .expect("entry");
    writer.write_all(&elf).expect("write");
    let path = match marker {
        Some(marker) => dir.join(format!("bootstrap-{marker}.zip")),
        None => dir.join("bootstrap.zip"),
    };
    std::fs::write(&path, writer.finish().expect("zip").into_inner()).expect("package");
    path
}

/// Runs `portcullis args` in `dir` with only the given AWS environment (no instance metadata lookups).
pub(crate) fn portcullis(dir: &Path, args: &[&str], aws_env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command.args(args).current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_")
            || key.starts_with("PORTCULLIS_")
            || key.starts_with("OAUTH_")
            || key == "DOMAIN_SUFFIX"
        {
            command.env_remove(key);
        }
    }
    command
        .env("HOME", dir)
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("no-aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(aws_env.iter().copied());
    command.output().expect("run portcullis")
}

pub(crate) const KEYS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
];

pub(crate) fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub(crate) fn succeed(output: Output) -> String {
    let (stdout, stderr) = text(&output);
    assert!(
        output.status.success(),
        "portcullis failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

/// The one-line error of a failed run.
pub(crate) fn fail(output: Output) -> String {
    let (stdout, stderr) = text(&output);
    assert!(!output.status.success(), "portcullis succeeded:\n{stdout}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line of error, got:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_owned()
}

/// A fresh moto server, a scratch directory, a runtime and SDK clients straight to moto (for
/// setting up and reading back).
#[cfg(feature = "aws")]
pub(crate) fn on_moto(
    name: &str,
) -> (
    portcullis_testkit::external::Running,
    PathBuf,
    tokio::runtime::Runtime,
    portcullis_deploy::apply::Aws,
) {
    let moto = portcullis_testkit::external::start_moto().expect("moto");
    let dir = scratch(name);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let aws = rt.block_on(portcullis_deploy::apply::Aws::with_static_credentials(
        "us-east-1",
        Some(moto.url()),
        "test",
        "test",
    ));
    (moto, dir, rt, aws)
}
