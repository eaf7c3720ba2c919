//! `portcullis dev`: the example service on this machine, in one command, with nothing to compile.
//!
//! Without `--config`, a development issuer (throwaway keys; discovery, JWKS and a token endpoint)
//! runs on 127.0.0.1 and the service trusts it; SQLite and the generated configuration live in
//! `--state-dir` (`.portcullis/dev`). The standalone server runs inside this process. With
//! `--runtime lambda` this same binary is started again as the function (`portcullis
//! lambda-bootstrap`), polling a local Runtime API behind a local HTTP API whose JWT authorizer is
//! `portcullis-claims`, exactly as the deployed `bootstrap` runs behind API Gateway.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use portcullis_axum::runtime::{Logs, init_logging};
use portcullis_claims::{Gate, VerifierOptions};
use portcullis_config::{LogFormat, Routes, Settings, Sources, load};
use portcullis_emulator::{Emulator, Setup};
use portcullis_testkit::{Issuer, TestKey};
use tokio::process::{Child, Command};

use crate::console::ConsoleSetup;
use crate::flags::{DevArgs, Runtime};

/// The audience of the development issuer's tokens.
pub(crate) const DEV_AUDIENCE: &str = "portcullis-dev";

/// The development issuer on an ephemeral loopback port: discovery, JWKS, and `POST /token`.
pub(crate) async fn dev_issuer() -> Result<Issuer> {
    Issuer::start_minting(TestKey::rsa("portcullis-dev"), DEV_AUDIENCE, "127.0.0.1:0")
        .await
        .context("starting the development issuer on 127.0.0.1")
}

/// Settings from `file`, with a message that names it.
pub(crate) fn load_file(file: &Path, overrides: Vec<(String, String)>) -> Result<Settings> {
    load(&Sources {
        file: Some(file.to_path_buf()),
        overrides,
        ..Sources::default()
    })
    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

pub(crate) fn dev(args: &DevArgs) -> Result<()> {
    crate::console::address(&args.console.console)?;
    if let Some(path) = &args.config
        && !path.is_file()
    {
        bail!("--config {}: no such file", path.display());
    }
    let runtime = tokio::runtime::Runtime::new().context("starting tokio")?;
    let outcome = runtime.block_on(run(args));
    portcullis_axum::runtime::flush_logs(Duration::from_secs(2));
    outcome
}

/// The function side of `dev --runtime lambda` (and of any local Runtime API): the example
/// service's Lambda runtime, configured from `portcullis.toml` in the working directory and
/// `PORTCULLIS_…` variables, as the deployed `bootstrap` is.
pub(crate) fn lambda_bootstrap() -> Result<()> {
    portcullis_tutorial::run::init_lambda_logging();
    let settings = load(&Sources::default()).map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    let runtime = tokio::runtime::Runtime::new().context("starting tokio")?;
    // Embedded metric format lines (with `[metrics] emf`) to stdout, as the deployed bootstrap.
    let stdout = portcullis_claims::metrics::EmfWriter::new(std::io::stdout());
    runtime
        .block_on(portcullis_tutorial::run::lambda(&settings, stdout))
        .map_err(|e| anyhow::anyhow!("{e}"))
}

async fn run(args: &DevArgs) -> Result<()> {
    let state = std::path::absolute(&args.state_dir)
        .with_context(|| format!("--state-dir {}", args.state_dir.display()))?;
    std::fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
    let issuer = match &args.config {
        Some(_) => None,
        None => Some(Arc::new(dev_issuer().await?)),
    };
    let config = dev_config(args, &state, issuer.as_deref())?;
    let settings = load_file(&config, args.gate.overrides())?;
    let gate = settings.auth.gate();
    let served_routes = settings
        .routes
        .with_served(&portcullis_tutorial::API_ROUTES);
    // What the console needs of the settings, which the standalone server's task takes.
    let (console_auth, console_routes) = (settings.auth.clone(), served_routes.clone());

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (base, mut service, emulator) = match args.runtime {
        Runtime::Standalone => {
            init_logging(match settings.server.log_format {
                LogFormat::Json => Logs::Json,
                LogFormat::Pretty => Logs::Pretty,
            });
            let listener = tokio::net::TcpListener::bind(&args.listen)
                .await
                .with_context(|| format!("cannot listen on {} (--listen ADDR)", args.listen))?;
            let base = format!("http://{}", listener.local_addr()?);
            let task = tokio::spawn(async move {
                portcullis_tutorial::run::standalone(&settings, listener, None, async {
                    let _ = stopped.await;
                })
                .await
            });
            (base, Service::InProcess(task), None)
        }
        Runtime::Lambda => {
            start_function(&settings, served_routes, &args.listen, &state, &config).await?
        }
    };
    wait_healthy(&base).await?;
    let console = crate::console::start(
        &args.console.console,
        ConsoleSetup::new(
            &console_auth,
            console_routes,
            base.clone(),
            issuer.clone(),
            emulator.as_ref().map(Emulator::events),
        ),
    )
    .await?;

    let token = issuer.as_ref().and_then(|i| {
        i.mint(
            "dev-user",
            "profile/read profile/write",
            &serde_json::json!({"email": "dev@example.com"}),
        )
    });
    print_banner(
        args.runtime,
        gate,
        &base,
        &config,
        issuer.as_deref(),
        token.as_deref(),
    );

    if let Some((url, _)) = &console {
        println!(
            "\nConsole: {url} (mint or paste a token, see the verdict rule by rule, call the API)"
        );
    }

    if args.smoke {
        let outcome = smoke(&base, token.as_deref()).await;
        let _ = stop.send(());
        service.stop().await;
        return outcome;
    }
    println!("\nPress Ctrl-C to stop.");
    tokio::select! {
        () = stop_signal() => println!("\nstopping"),
        outcome = service.wait() => bail!("the service stopped: {outcome}"),
    }
    let _ = stop.send(());
    service.stop().await;
    Ok(())
}

/// The configuration `dev` runs with: `--config`, else one written to the state folder that trusts
/// the development `issuer` (routes and store as the tutorial's).
fn dev_config(args: &DevArgs, state: &Path, issuer: Option<&Issuer>) -> Result<PathBuf> {
    Ok(match (&args.config, &issuer) {
        (Some(path), _) => path.clone(),
        (None, Some(issuer)) => {
            let path = state.join("portcullis.toml");
            let text = format!(
                "# Written by `portcullis dev`: the development issuer below lives only while it runs.\n\
             [auth]\nprovider = \"oidc\"\nissuer = \"{}\"\naudience = \"{DEV_AUDIENCE}\"\n\n\
             [routes.\"POST /user/profile\"]\nscopes = [\"profile/write\"]\n\n\
             [store]\nkind = \"sqlite\"\npath = {}\n\n[server]\nlog_format = \"pretty\"\n",
                issuer.url(),
                // Quoted as a TOML basic string (JSON's escapes are TOML's): any folder name works.
                serde_json::Value::String(state.join("profiles.db").display().to_string())
            );
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            path
        }
        (None, None) => bail!("no development issuer and no --config"),
    })
}

/// The example service as a Lambda function (this program re-run as `lambda-bootstrap`) behind a
/// local gateway on `listen`, its configuration copied to its working directory: the gateway's URL,
/// the function's process, the gateway.
async fn start_function(
    settings: &Settings,
    served_routes: Routes,
    listen: &str,
    state: &Path,
    config: &Path,
) -> Result<(String, Service, Option<Emulator>)> {
    let gate = settings.auth.gate();
    let authorizer = settings.auth.authorizer(VerifierOptions::default())?;
    let setup = Setup {
        cors: settings.cors.clone(),
        limits: portcullis_tutorial::run::limits(&settings.server),
        ..Setup::new(authorizer, served_routes)
    };
    let emulator = Emulator::start(setup, listen)
        .await
        .with_context(|| format!("starting the local HTTP API on {}", listen))?;
    // The function reads portcullis.toml from its working directory, as from /var/task.
    let function_config = state.join("portcullis.toml");
    // Compared as files, not as spellings: copying a file onto itself would empty it.
    let same_file = match (config.canonicalize(), function_config.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same_file {
        std::fs::copy(config, &function_config).with_context(|| {
            format!(
                "copying {} to {}",
                config.display(),
                function_config.display()
            )
        })?;
    }
    let program =
        std::env::current_exe().context("finding this program to run it as the function")?;
    let child = Command::new(&program)
        .arg("lambda-bootstrap")
        .current_dir(state)
        .envs(emulator.function_env())
        // The function judges (or trusts) as the gate in front of it.
        .env(portcullis_config::env_var("auth.gate"), gate.as_str())
        .envs(function_env_for(gate))
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {} lambda-bootstrap", program.display()))?;
    Ok((
        emulator.gateway_url(),
        Service::Child(child),
        Some(emulator),
    ))
}

/// Where the service runs, its gate, and how to call it: a token and `curl`s from the development
/// issuer, else the configuration the user's provider issues tokens for.
fn print_banner(
    runtime: Runtime,
    gate: Gate,
    base: &str,
    config: &Path,
    issuer: Option<&Issuer>,
    token: Option<&str>,
) {
    let runtime = match (runtime, gate) {
        (Runtime::Standalone, _) => "standalone server".to_owned(),
        (Runtime::Lambda, Gate::HttpApi) => "Lambda function behind a local HTTP API".to_owned(),
        (Runtime::Lambda, Gate::RestApi) => "Lambda function behind a local REST API".to_owned(),
        (Runtime::Lambda, Gate::Alb) => {
            "Lambda function behind a local Application Load Balancer".to_owned()
        }
    };
    println!(
        "\nPortcullis is running ({runtime}) at {base}\nGate: {} ({}; README \"Which AWS gate?\")",
        gate,
        gate.title()
    );
    if !gate.checks_audience() {
        println!(
            "  The ALB checks no audience: add an [[auth.claims]] rule named aud to check one."
        );
    }
    match (issuer, token) {
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
}

/// What the example function needs behind `gate`, as a deployment sets it: behind a REST API,
/// whose stage (`local` here, `prod` say on AWS) lambda_http puts before each path, the routes
/// are matched without it.
pub(crate) fn function_env_for(gate: Gate) -> Vec<(&'static str, &'static str)> {
    match gate {
        Gate::RestApi => vec![("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true")],
        Gate::HttpApi | Gate::Alb => Vec::new(),
    }
}

/// The running service: a task of this process, or the function's process.
enum Service {
    InProcess(tokio::task::JoinHandle<Result<(), String>>),
    Child(Child),
}

impl Service {
    /// Waits for the service to end by itself; says how it ended.
    async fn wait(&mut self) -> String {
        match self {
            Service::InProcess(task) => match task.await {
                Ok(Ok(())) => "it exited".to_owned(),
                Ok(Err(error)) => error,
                Err(error) => error.to_string(),
            },
            Service::Child(child) => format!("{:?}", child.wait().await),
        }
    }

    async fn stop(self) {
        match self {
            Service::InProcess(task) => {
                let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
            }
            Service::Child(mut child) => {
                let _ = child.kill().await;
            }
        }
    }
}

/// An HTTP client for this machine's own servers: no proxy from the environment.
fn loopback_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("building an HTTP client")
}

/// Polls `/healthz` until it answers 200 (at most 30 s).
async fn wait_healthy(base: &str) -> Result<()> {
    let client = loopback_client()?;
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
    let client = loopback_client()?;
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
pub(crate) async fn stop_signal() {
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
