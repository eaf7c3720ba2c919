//! `cargo xtask dev`: the whole service on this machine, in one command.
//!
//! Without `--config`, a development issuer (testkit keys; discovery, JWKS and a token endpoint) runs
//! on 127.0.0.1 and the service trusts it; SQLite lives under `target/dev/`. With `--runtime lambda`
//! the real `bootstrap` binary polls a local Runtime API behind a local HTTP API whose JWT authorizer
//! is `portcullis-claims`, exactly as it would behind API Gateway.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use portcullis_claims::VerifierOptions;
use portcullis_config::{Sources, load};
use portcullis_lambda::emulator::{ApiRoute, Emulator};
use portcullis_testkit::{Issuer, TestKey};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const AUDIENCE: &str = "portcullis-dev";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runtime {
    Standalone,
    Lambda,
}

struct Options {
    runtime: Runtime,
    config: Option<PathBuf>,
    listen: String,
    smoke: bool,
}

fn options(args: &[String]) -> Result<Options> {
    let mut options = Options {
        runtime: Runtime::Standalone,
        config: None,
        listen: "127.0.0.1:3000".into(),
        smoke: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .cloned()
                .with_context(|| format!("{flag} needs a value"))
        };
        match arg.as_str() {
            "--runtime" => {
                options.runtime = match value("--runtime")?.as_str() {
                    "standalone" => Runtime::Standalone,
                    "lambda" => Runtime::Lambda,
                    other => bail!("unknown runtime {other:?}: expected standalone or lambda"),
                }
            }
            "--config" => {
                let path = PathBuf::from(value("--config")?);
                if !path.is_file() {
                    bail!("--config {}: no such file", path.display());
                }
                options.config = Some(path);
            }
            "--listen" => options.listen = value("--listen")?,
            "--smoke" => options.smoke = true,
            other => bail!(
                "unknown argument {other:?}\nusage: cargo xtask dev [--runtime standalone|lambda] [--config FILE] [--listen ADDR] [--smoke]"
            ),
        }
    }
    Ok(options)
}

pub(crate) fn dev(args: &[String]) -> Result<()> {
    let options = options(args)?;
    let runtime = tokio::runtime::Runtime::new().context("starting tokio")?;
    runtime.block_on(run(options))
}

async fn run(options: Options) -> Result<()> {
    let root = crate::workspace_root();
    let dev_dir = root.join("target/dev");
    std::fs::create_dir_all(&dev_dir).with_context(|| format!("creating {}", dev_dir.display()))?;
    let binary = match options.runtime {
        Runtime::Standalone => "portcullis-server",
        Runtime::Lambda => "bootstrap",
    };
    println!("==> building {binary}");
    crate::step(
        "build",
        crate::cargo(&["build", "--package", "portcullis-profile", "--bin", binary]),
    )?;
    let binary = root.join("target/debug").join(binary);

    let issuer = match &options.config {
        Some(_) => None,
        None => Some(
            Issuer::start_minting(TestKey::rsa("portcullis-dev"), AUDIENCE, "127.0.0.1:0")
                .await
                .context("starting the development issuer on 127.0.0.1")?,
        ),
    };
    let config = match (&options.config, &issuer) {
        (Some(path), _) => path.clone(),
        (None, Some(issuer)) => {
            let path = dev_dir.join("portcullis.toml");
            let text = format!(
                "# Written by `cargo xtask dev`: the development issuer below lives only while it runs.\n\
                 [auth]\nprovider = \"oidc\"\nissuer = \"{}\"\naudience = \"{AUDIENCE}\"\n\n\
                 [routes.\"POST /user/profile\"]\nscopes = [\"profile/write\"]\n\n\
                 [store]\nkind = \"sqlite\"\npath = \"{}\"\n\n[server]\nlog_format = \"pretty\"\n",
                issuer.url(),
                dev_dir.join("profiles.db").display()
            );
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            path
        }
        (None, None) => unreachable!("an issuer runs whenever no --config is given"),
    };

    let (base, mut child, _emulator) = match options.runtime {
        Runtime::Standalone => {
            let mut child = Command::new(&binary)
                .arg("--config")
                .arg(&config)
                .arg("--listen")
                .arg(&options.listen)
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting {}", binary.display()))?;
            let base = announced_url(&mut child).await?;
            (base, child, None)
        }
        Runtime::Lambda => {
            let settings = load(&Sources {
                file: Some(config.clone()),
                ..Sources::default()
            })
            .map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?;
            let authorizer = settings.auth.authorizer(VerifierOptions::default())?;
            let routes = ApiRoute::table(&portcullis_deploy::SERVICE_ROUTES, |m, p| {
                settings.routes.scopes(m, p).to_vec()
            });
            let emulator = Emulator::start(authorizer, routes, &options.listen)
                .await
                .with_context(|| format!("starting the local HTTP API on {}", options.listen))?;
            // The function reads portcullis.toml from its working directory, as from /var/task.
            let function_config = dev_dir.join("portcullis.toml");
            if config != function_config {
                std::fs::copy(&config, &function_config).with_context(|| {
                    format!(
                        "copying {} to {}",
                        config.display(),
                        function_config.display()
                    )
                })?;
            }
            let child = Command::new(&binary)
                .current_dir(&dev_dir)
                .envs(emulator.function_env())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting {}", binary.display()))?;
            (emulator.gateway_url(), child, Some(emulator))
        }
    };
    wait_healthy(&base).await?;

    let token = issuer.as_ref().and_then(|i| {
        i.mint(
            "dev-user",
            "profile/read profile/write",
            &serde_json::json!({"email": "dev@example.com"}),
        )
    });
    let runtime = match options.runtime {
        Runtime::Standalone => "standalone server",
        Runtime::Lambda => "Lambda bootstrap behind a local HTTP API",
    };
    println!("\nPortcullis is running ({runtime}) at {base}");
    match (&issuer, &token) {
        (Some(issuer), Some(token)) => {
            println!(
                "Development issuer: {} (throwaway keys; the token below is valid for one hour)\n",
                issuer.url()
            );
            println!("  curl -s {base}/user/profile -H 'Authorization: Bearer {token}'\n");
            println!(
                "  curl -s -X POST {base}/user/profile -H 'Authorization: Bearer {token}' \\\n    -H 'Content-Type: application/json' -d '{{\"name\":\"Alice\"}}'\n"
            );
            println!(
                "Another token: curl -s -X POST {}/token -d client_id=alice --data-urlencode 'scope=profile/read profile/write'",
                issuer.url()
            );
        }
        _ => println!(
            "Configuration: {} (get a token from your provider)",
            config.display()
        ),
    }

    if options.smoke {
        let outcome = smoke(&base, token.as_deref()).await;
        let _ = child.kill().await;
        return outcome;
    }
    println!("\nPress Ctrl-C to stop.");
    tokio::select! {
        () = stop_signal() => println!("\nstopping"),
        status = child.wait() => bail!("the service exited: {status:?}"),
    }
    let _ = child.kill().await;
    Ok(())
}

/// Reads the server's `listening on http://…` line (bounded wait).
pub(crate) async fn announced_url(child: &mut Child) -> Result<String> {
    let stdout = child.stdout.take().context("the server's output")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), async {
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

/// Polls `/healthz` until it answers 200 (at most 30 s).
async fn wait_healthy(base: &str) -> Result<()> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{base}/healthz did not answer 200 within 30 s")
}

/// What a newcomer would do with the printed commands: GET, POST, GET, and a request without a token.
async fn smoke(base: &str, token: Option<&str>) -> Result<()> {
    let token = token.context("--smoke needs the development issuer (no --config)")?;
    let client = reqwest::Client::new();
    let url = format!("{base}/user/profile");
    let bearer = format!("Bearer {token}");
    let check = |what: &str, status: u16, expected: u16| {
        println!("smoke: {what} → {status}");
        if status == expected {
            Ok(())
        } else {
            Err(anyhow::anyhow!("{what}: expected {expected}, got {status}"))
        }
    };
    let anonymous = client.get(&url).send().await?;
    check("GET without a token", anonymous.status().as_u16(), 401)?;
    let get = client
        .get(&url)
        .header("authorization", &bearer)
        .send()
        .await?;
    check("GET", get.status().as_u16(), 200)?;
    let post = client
        .post(&url)
        .header("authorization", &bearer)
        .header("content-type", "application/json")
        .body(r#"{"name":"Alice"}"#)
        .send()
        .await?;
    check("POST", post.status().as_u16(), 200)?;
    let after = client
        .get(&url)
        .header("authorization", &bearer)
        .send()
        .await?;
    check("GET after POST", after.status().as_u16(), 200)?;
    let body: serde_json::Value = serde_json::from_str(&after.text().await?)?;
    if body["profile"]["name"] != "Alice" {
        bail!("GET after POST did not return the stored profile: {body}");
    }
    println!("smoke: ok");
    Ok(())
}

/// Ctrl-C or SIGTERM: either way the service is stopped with us, never left running.
async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
