//! `portcullis build --provider P --runtime lambda|standalone [--arch x86_64|arm64] [--release]`
//!
//! Builds the service with only the chosen provider compiled in (cargo features). For Lambda, the
//! `bootstrap` for `provided.al2023` is zipped reproducibly (fixed timestamp and permissions) under
//! `target/lambda/{provider}-{arch}/bootstrap.zip`, and refused if it needs a glibc newer than
//! Amazon Linux 2023's 2.34. A missing cross target or linker is named with how to get it; nothing
//! half-built is left in place of an artifact.
//!
//! `--embed-jwks` fetches the configured issuers' key sets now and ships them beside the binary
//! (`jwks.json` in the zip, or in `target/standalone/{provider}-{arch}/`), so a cold start
//! verifies its first token with no network call; the keys are refreshed as usual at run time.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use portcullis_deploy::{Arch, Runtime};

use crate::flags::{BuildArgs, Provider};
use portcullis_checkout::{Workspace, cargo, step};
use portcullis_tutorial::keys::EMBEDDED_JWKS_FILE;

use portcullis_deploy::package::{
    AL2023_GLIBC, LAMBDA_DIRECT_UPLOAD_LIMIT, LAMBDA_UNZIPPED_LIMIT, reproducible_zip,
    required_glibc,
};

/// The Rust target of `arch`.
fn triple(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86_64-unknown-linux-gnu",
        Arch::Arm64 => "aarch64-unknown-linux-gnu",
    }
}

pub(crate) struct Build {
    pub(crate) provider: Provider,
    pub(crate) runtime: Runtime,
    pub(crate) arch: Arch,
    pub(crate) release: bool,
    /// Fetch the issuers' key sets and ship them beside the binary.
    pub(crate) embed_jwks: bool,
    /// The configuration naming the issuers (default `portcullis.toml`).
    pub(crate) config: Option<PathBuf>,
}

pub(crate) fn build(args: &BuildArgs) -> Result<()> {
    let build = Build {
        provider: args.provider,
        runtime: args.runtime.into(),
        arch: args.arch.into(),
        release: args.release,
        embed_jwks: args.embed_jwks,
        config: args.config.clone(),
    };
    // Settings and keys first: a bad configuration or an unreachable issuer fails before compiling.
    let key_sets = embedded_key_sets(&build)?;
    let artifact = compile(&build)?;
    match build.runtime {
        Runtime::Lambda => {
            let zip = package_lambda(&build, &artifact, key_sets.as_deref())?;
            println!(
                "Lambda package: {} ({} bytes)",
                zip.display(),
                std::fs::metadata(&zip)?.len()
            );
        }
        Runtime::Standalone => {
            let artifact = match &key_sets {
                Some(document) => standalone_folder(&build, &artifact, document)?,
                None => artifact,
            };
            println!("Standalone server: {}", artifact.display());
            println!(
                "Container: docker build -f deploy/Dockerfile --build-arg PROVIDER={} .",
                build.provider.name()
            );
        }
    }
    Ok(())
}

/// Builds the runtime's binary and returns its path.
pub(crate) fn compile(build: &Build) -> Result<PathBuf> {
    let workspace = Workspace::find("building the example service")?;
    let cross = Arch::host() != Some(build.arch);
    if cross {
        check_cross_toolchain(build.arch)?;
    }
    let (binary, features) = portcullis_checkout::service_build(
        build.provider.feature(),
        build.runtime == Runtime::Lambda,
    );
    let mut args = vec![
        "build",
        "--locked",
        "--package",
        "portcullis-tutorial",
        "--bin",
        binary,
        "--no-default-features",
        "--features",
        &features,
    ];
    // Release Lambda packages use the `lambda-release` profile (size-optimised, see Cargo.toml).
    let profile = match (build.release, build.runtime) {
        (false, _) => "dev",
        (true, Runtime::Lambda) => "lambda-release",
        (true, Runtime::Standalone) => "release",
    };
    args.extend(["--profile", profile]);
    if cross {
        args.extend(["--target", triple(build.arch)]);
    }
    let mut command = cargo(&args);
    command.current_dir(&workspace.root);
    step(
        &format!(
            "build {binary} ({}, {}, {})",
            build.provider.name(),
            build.arch.lambda_name(),
            if build.release { profile } else { "debug" }
        ),
        command,
        &mut std::io::stdout(),
    )?;
    let mut path = workspace.target.clone();
    if cross {
        path.push(triple(build.arch));
    }
    // Cargo names the dev profile's folder `debug`; every other profile's folder is its name.
    path.push(if build.release { profile } else { "debug" });
    path.push(binary);
    if !path.is_file() {
        bail!("cargo reported success but {} is missing", path.display());
    }
    Ok(path)
}

fn check_cross_toolchain(arch: Arch) -> Result<()> {
    let installed = std::process::Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let has_target = installed.as_ref().is_ok_and(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.trim() == triple(arch))
    });
    if !has_target {
        bail!(
            "building for {} needs the Rust target {triple}, which is not installed: run `rustup target add {triple}`, \
             then install a linker for it (Debian: `apt-get install gcc-aarch64-linux-gnu`) and set \
             CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc",
            arch.lambda_name(),
            triple = triple(arch)
        );
    }
    let linker = std::env::var("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER")
        .unwrap_or_else(|_| "aarch64-linux-gnu-gcc".into());
    if std::process::Command::new(&linker)
        .arg("--version")
        .output()
        .is_err()
    {
        bail!(
            "building for arm64 needs a C cross compiler and linker ({linker}) for aws-lc-sys and linking: \
             install it (Debian: `apt-get install gcc-aarch64-linux-gnu`) or set CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"
        );
    }
    Ok(())
}

/// The issuers' key sets as `jwks.json` holds them, when `--embed-jwks` asks for them.
pub(crate) fn embedded_key_sets(build: &Build) -> Result<Option<Vec<u8>>> {
    if !build.embed_jwks {
        return Ok(None);
    }
    let file = build
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(portcullis_config::DEFAULT_FILE));
    if !file.is_file() {
        bail!(
            "--embed-jwks needs the issuers' settings and {} does not exist (--config FILE); the Cognito pool \
             `deploy` creates has no keys to embed before it exists",
            file.display()
        );
    }
    let mut sources = portcullis_config::Sources {
        file: Some(file.clone()),
        ..Default::default()
    };
    sources
        .overrides
        .push(("auth.provider".into(), build.provider.name().to_owned()));
    let settings = portcullis_config::load(&sources)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let authorizer = settings
        .auth
        .authorizer(portcullis_claims::VerifierOptions::default())?;
    let runtime = tokio::runtime::Runtime::new()?;
    let document = runtime
        .block_on(authorizer.key_sets())
        .context("--embed-jwks: fetching the issuers' key sets")?;
    let issuers: Vec<&String> = document
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    println!(
        "==> embedding the key sets of {}",
        issuers
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(Some(serde_json::to_vec_pretty(&document)?))
}

/// `target/standalone/{provider}-{arch}/` with the server and its key sets side by side.
fn standalone_folder(build: &Build, binary: &Path, key_sets: &[u8]) -> Result<PathBuf> {
    let dir = Workspace::find("packaging the standalone server")?
        .target
        .join("standalone")
        .join(format!(
            "{}-{}",
            build.provider.name(),
            build.arch.lambda_name()
        ));
    std::fs::create_dir_all(&dir)?;
    let target = dir.join("portcullis-server");
    let _ = std::fs::remove_file(&target);
    if std::fs::hard_link(binary, &target).is_err() {
        std::fs::copy(binary, &target)?;
    }
    std::fs::write(dir.join(EMBEDDED_JWKS_FILE), key_sets)?;
    Ok(target)
}

/// Checks the bootstrap's glibc needs and writes the reproducible zip (with the embedded key sets,
/// when given); returns the zip's path.
pub(crate) fn package_lambda(
    build: &Build,
    bootstrap: &Path,
    key_sets: Option<&[u8]>,
) -> Result<PathBuf> {
    let versions =
        required_glibc(bootstrap).with_context(|| format!("reading {}", bootstrap.display()))?;
    if let Some(newest) = versions.last().filter(|v| **v > AL2023_GLIBC) {
        bail!(
            "{} needs GLIBC_{}.{}.{}, but Amazon Linux 2023 (provided.al2023) has glibc 2.34: build on an older \
             distribution or for a musl target",
            bootstrap.display(),
            newest.0,
            newest.1,
            newest.2
        );
    }
    let dir = Workspace::find("packaging the Lambda function")?
        .target
        .join("lambda")
        .join(format!(
            "{}-{}",
            build.provider.name(),
            build.arch.lambda_name()
        ));
    std::fs::create_dir_all(&dir)?;
    let binary = std::fs::read(bootstrap)?;
    if binary.len() > LAMBDA_UNZIPPED_LIMIT {
        bail!(
            "{} is {} bytes, over Lambda's 250 MB unzipped limit: build with --release",
            bootstrap.display(),
            binary.len()
        );
    }
    let mut entries = vec![("bootstrap", binary.as_slice(), 0o755)];
    if let Some(key_sets) = key_sets {
        entries.push((EMBEDDED_JWKS_FILE, key_sets, 0o644));
    }
    let zip = reproducible_zip(&entries)?;
    if zip.len() > LAMBDA_DIRECT_UPLOAD_LIMIT {
        println!(
            "note: the package is {} bytes, over Lambda's 50 MB direct-upload limit, so `deploy` will refuse it; \
             --release makes it about ten times smaller",
            zip.len()
        );
    }
    // Written beside, then renamed: never a half-written package under the final name.
    let partial = dir.join("bootstrap.zip.partial");
    let target = dir.join("bootstrap.zip");
    std::fs::write(&partial, &zip)?;
    std::fs::rename(&partial, &target)?;
    Ok(target)
}
