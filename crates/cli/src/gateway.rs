//! `portcullis gateway`: a local HTTP API whose JWT authorizer is Portcullis, in front of your own
//! backend: an HTTP service (`--upstream`, an HTTP proxy integration) or a Lambda `bootstrap`
//! (`--lambda`, behind a local Runtime API with payload 2.0 events).
//!
//! Routes, scopes and parameter mappings come from `[routes]` of `portcullis.toml`; without any, a
//! protected `$default` route sends every request through the authorizer. The trusted issuer is the
//! configuration's `[auth]`, or with `--issuer dev` a development issuer whose token is printed.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use portcullis_claims::VerifierOptions;
use portcullis_config::{Route, Routes, Settings};
use portcullis_emulator::{Emulator, Integration, Setup};
use portcullis_testkit::Issuer;
use tokio::process::Command;

use crate::console::ConsoleSetup;
use crate::dev::{DEV_AUDIENCE, dev_issuer, load_file};
use crate::flags::{GatewayArgs, IssuerChoice};

pub(crate) fn gateway(args: &GatewayArgs) -> Result<()> {
    crate::console::address(&args.console.console)?;
    let file = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(portcullis_config::DEFAULT_FILE));
    if !file.is_file() {
        match (&args.config, args.issuer) {
            (Some(_), _) => bail!("--config {}: no such file", file.display()),
            (None, IssuerChoice::Config) => bail!(
                "no {} in this directory: write one with [auth] (your provider) and [routes], pass --config FILE, \
                 or try it with --issuer dev",
                file.display()
            ),
            (None, IssuerChoice::Dev) => {}
        }
    }
    if let Some(path) = &args.lambda
        && !path.is_file()
    {
        bail!(
            "--lambda {}: no such file (expected your function's bootstrap executable)",
            path.display()
        );
    }
    let runtime = tokio::runtime::Runtime::new().context("starting tokio")?;
    runtime.block_on(run(args, file))
}

async fn run(args: &GatewayArgs, file: PathBuf) -> Result<()> {
    let issuer = match args.issuer {
        IssuerChoice::Dev => Some(Arc::new(dev_issuer().await?)),
        IssuerChoice::Config => None,
    };
    let mut overrides = match &issuer {
        Some(issuer) => vec![
            ("auth.provider".to_owned(), "oidc".to_owned()),
            ("auth.issuer".to_owned(), issuer.url().to_owned()),
            ("auth.audience".to_owned(), DEV_AUDIENCE.to_owned()),
        ],
        None => Vec::new(),
    };
    overrides.extend(args.gate.overrides());
    let settings = if file.is_file() {
        load_file(&file, overrides)?
    } else {
        let mut sources = portcullis_config::Sources::text("");
        sources.overrides = overrides;
        portcullis_config::load(&sources).map_err(|e| anyhow::anyhow!("{e}"))?
    };
    let routes = if settings.routes.is_empty() {
        Routes::from_iter([Route::protected_default()])
    } else {
        settings.routes.clone()
    };
    let authorizer = settings.auth.authorizer(VerifierOptions::default())?;
    // Keys now, so a wrong issuer shows at start and the first request does not wait.
    if let Err(error) = authorizer.hydrate().await {
        eprintln!(
            "warning: the issuer's keys could not be fetched yet ({error}); requests will retry"
        );
    }
    let (integration, backend) = match (&args.upstream, &args.lambda) {
        (Some(url), _) => (
            Integration::Http(url.clone()),
            format!("your HTTP backend {url}"),
        ),
        (None, Some(path)) => (
            Integration::Lambda,
            format!("your Lambda function {}", path.display()),
        ),
        (None, None) => bail!("gateway needs --upstream URL or --lambda PATH"),
    };
    let metrics = serve_metrics(&settings, &authorizer).await?;
    let setup = Setup {
        cors: settings.cors.clone(),
        integration,
        limits: portcullis_tutorial::run::limits(&settings.server),
        metrics,
        ..Setup::new(authorizer, routes.clone())
    };
    let emulator = Emulator::start(setup, &args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (--listen ADDR)", args.listen))?;
    let mut function = match &args.lambda {
        Some(path) => Some(
            Command::new(path)
                .envs(emulator.function_env())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting --lambda {}", path.display()))?,
        ),
        None => None,
    };
    let base = emulator.gateway_url();
    let console = crate::console::start(
        &args.console.console,
        ConsoleSetup::new(
            &settings.auth,
            routes.clone(),
            base.clone(),
            issuer.clone(),
            args.lambda.is_some().then(|| emulator.events()),
        ),
    )
    .await?;
    println!("Portcullis gateway at {base} in front of {backend}");
    print_routes_and_token(&routes, issuer.as_deref(), &settings, &base)?;
    if let Some((url, _)) = &console {
        println!(
            "console: {url} (mint or paste a token, see the verdict rule by rule, call the API)"
        );
    }
    println!("Press Ctrl-C to stop.");
    match &mut function {
        Some(child) => tokio::select! {
            () = crate::dev::stop_signal() => {}
            status = child.wait() => bail!("your function exited: {status:?}"),
        },
        None => crate::dev::stop_signal().await,
    }
    Ok(())
}

/// With `[metrics] listen`, `GET /metrics` there: the gateway's decisions and its listeners'
/// rejections, in Prometheus text, as the standalone server reports them.
async fn serve_metrics(
    settings: &Settings,
    authorizer: &portcullis_claims::Authorizer,
) -> Result<Option<portcullis_claims::metrics::Metrics>> {
    let Some(listen) = settings.metrics.listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (metrics.listen)"))?;
    println!("metrics: http://{}/metrics", listener.local_addr()?);
    let metrics = portcullis_claims::metrics::Metrics::with_keys_of(authorizer);
    tokio::spawn(portcullis_axum::serve::serve(
        listener,
        portcullis_tutorial::run::metrics_router(metrics.clone()),
        std::future::pending(),
    ));
    Ok(Some(metrics))
}

/// The routes as the gateway judges them (authorizer, scopes, parameter mappings), then how to get
/// a token: one from the development issuer holding every route's scopes, or the configured one's.
fn print_routes_and_token(
    routes: &Routes,
    issuer: Option<&Issuer>,
    settings: &Settings,
    base: &str,
) -> Result<()> {
    println!("routes:");
    for route in routes.iter() {
        let auth = if !route.is_protected() {
            "no authorizer".to_owned()
        } else if route.scopes().is_empty() {
            "JWT".to_owned()
        } else {
            format!("JWT, one of scopes {}", route.scopes().join(" "))
        };
        println!("  {} ({auth})", route.key());
        for mapping in route.parameters() {
            println!("    {} = {}", mapping.key, mapping.raw_value);
        }
    }
    match issuer {
        Some(issuer) => {
            let scopes: BTreeSet<&str> = routes
                .iter()
                .flat_map(|r| r.scopes().iter().map(String::as_str))
                .collect();
            let scopes: Vec<&str> = scopes.into_iter().collect();
            let token = issuer
                .mint(
                    "dev-user",
                    &scopes.join(" "),
                    &serde_json::json!({"email": "dev@example.com"}),
                )
                .context("minting a development token")?;
            println!(
                "development issuer {} (throwaway keys; this token holds every route's scopes, valid one hour):",
                issuer.url()
            );
            println!("  curl -s {base}/ -H 'Authorization: Bearer {token}'");
        }
        None => println!(
            "issuer: {} (get a token from your provider: {} token --provider …)",
            settings.auth.configs[0].issuer(),
            crate::invoked_as()
        ),
    }
    Ok(())
}
