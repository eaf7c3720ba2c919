//! `portcullis deploy` and `portcullis remove`: the deployment's typed plan applied through the
//! AWS SDK (or written as a CloudFormation template with `--export`), and deleted again.
//!
//! Everything that can be checked is checked before anything is created: the flags, the provider's
//! settings, the package, the Region, the credentials and that the endpoint answers. A deployment
//! that stops half-way says what exists and how to finish or remove it.

// Without the `aws` feature the AWS half of this file is compiled out; what it shares with the
// rest stays, partly unused.
#![cfg_attr(not(feature = "aws"), allow(unused_imports, dead_code))]

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use portcullis_config::{Sources, load};
#[cfg(feature = "aws")]
use portcullis_deploy::apply::{
    Account, Action, Aws, Backend, Change, Connection, Deployed, Event,
};

use crate::flags::{DeployArgs, Provider, RemoveArgs};
use portcullis_config::Gate;
use portcullis_deploy::{
    Arch, CALLBACK_URL, Issuer, Plan, Runtime, Target, Undeployable, cloudformation, deployable,
    plan,
};

/// What `deploy`, `remove` and `token` were asked for.
pub(crate) struct Options {
    pub(crate) provider: Provider,
    pub(crate) runtime: Runtime,
    pub(crate) stage: String,
    pub(crate) arch: Arch,
    pub(crate) region: Option<String>,
    pub(crate) endpoint_url: Option<String>,
    pub(crate) profile: Option<String>,
    pub(crate) config: Option<PathBuf>,
    /// `--gate`: overrides `auth.gate` (deploy only).
    pub(crate) gate: Option<String>,
}

impl From<&crate::flags::Target> for Options {
    fn from(target: &crate::flags::Target) -> Options {
        Options::new(target.provider, &target.place)
    }
}

impl Options {
    /// The deployment of `provider` at `place`.
    pub(crate) fn new(provider: Provider, place: &crate::flags::Place) -> Options {
        Options {
            provider,
            runtime: place.runtime.into(),
            stage: place.stage.clone(),
            arch: place.arch.into(),
            region: place.region.clone(),
            endpoint_url: place.endpoint_url.clone(),
            profile: place.profile.clone(),
            config: place.config.clone(),
            gate: None,
        }
    }
}

/// The plan for `options`, from the provider's settings (configuration file, `PORTCULLIS_…`
/// environment, then `--provider`). Cognito without a configured pool gets the original tutorial's
/// pool, app client and domain, created with the stack.
pub(crate) fn resolve_plan(
    options: &Options,
) -> Result<(Plan, Option<portcullis_config::Settings>)> {
    let domain_suffix = std::env::var("DOMAIN_SUFFIX").unwrap_or_else(|_| "portcullis".into());
    portcullis_cognito::tutorial_domain(&options.stage, &domain_suffix)
        .map_err(|e| anyhow::anyhow!("{e} (from --stage and DOMAIN_SUFFIX)"))?;
    let mut target = Target {
        stage: options.stage.clone(),
        runtime: options.runtime,
        arch: options.arch,
        domain_suffix,
        function: Default::default(),
        cors: None,
        served: &portcullis_tutorial::API_ROUTES,
    };
    let file = options
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(portcullis_config::DEFAULT_FILE));
    if options.config.is_some() && !file.is_file() {
        bail!("--config {}: no such file", file.display());
    }
    let mut sources = Sources {
        file: options.config.clone(),
        ..Sources::default()
    };
    sources
        .overrides
        .push(("auth.provider".into(), options.provider.name().to_owned()));
    if let Some(gate) = &options.gate {
        sources.overrides.push(("auth.gate".into(), gate.clone()));
    }
    let has_file = file.is_file();
    let in_file = || {
        if has_file {
            format!("{}: ", file.display())
        } else {
            String::new()
        }
    };
    match load(&sources) {
        Ok(settings) => {
            target.function = settings.function.clone();
            target.cors = settings.cors.clone();
            Ok((
                plan(
                    Issuer::Configured(&settings.auth),
                    &settings.routes,
                    &target,
                ),
                Some(settings),
            ))
        }
        // Cognito without an [auth.cognito] section: the tutorial's own pool, made with the stack
        // (the file may still hold [routes] and [function]).
        Err(portcullis_config::SettingsError::Missing { key, .. })
            if options.provider == Provider::Cognito && key == "auth.cognito" =>
        {
            let read = portcullis_config::load_without_auth(&sources)
                .map_err(|error| anyhow::anyhow!("{}{error}", in_file()))?;
            target.function = read.function;
            target.cors = read.cors;
            Ok((
                plan(Issuer::TutorialCognitoPool, &read.routes, &target),
                None,
            ))
        }
        Err(error) if has_file => bail!("{}{error}", in_file()),
        Err(error) => bail!(
            "the {} provider needs settings: {error} (put them in {} or PORTCULLIS_… environment variables; see README)",
            options.provider.name(),
            portcullis_config::DEFAULT_FILE
        ),
    }
}

#[cfg(not(feature = "aws"))]
pub(crate) fn deploy(_: &DeployArgs) -> Result<()> {
    bail!("{}", without_aws("deploy"))
}

#[cfg(not(feature = "aws"))]
pub(crate) fn remove(_: &RemoveArgs) -> Result<()> {
    bail!("{}", without_aws("remove"))
}

/// What a command that needs the AWS SDK says in a build without it.
#[cfg(not(feature = "aws"))]
pub(crate) fn without_aws(command: &str) -> String {
    format!(
        "`{command}` talks to AWS, and this portcullis was built without the `aws` feature: \
         install it with `cargo install --path crates/cli` (the feature is on by default)"
    )
}

#[cfg(feature = "aws")]
pub(crate) fn deploy(args: &DeployArgs) -> Result<()> {
    let export = args.export.clone();
    let package = args.package.clone();
    let backend_url = args.backend_url.clone();
    let embed_jwks = args.embed_jwks;
    let mut options = Options::from(&args.target);
    options.gate = args.gate.clone();
    let (plan, settings) = resolve_plan(&options)?;
    let gate = match (&settings, &options.gate) {
        (Some(settings), _) => settings.auth.gate(),
        (None, Some(name)) => name.parse()?,
        (None, None) => Gate::HttpApi,
    };
    let issuer = match &settings {
        Some(settings) => Issuer::Configured(&settings.auth),
        None => Issuer::TutorialCognitoPool,
    };
    // Before anything is written or created: what cannot be deployed as configured.
    let routes = match &settings {
        Some(settings) => settings.routes.clone(),
        None => portcullis_config::Routes::default(),
    };
    let rules = deployable(issuer, gate, &plan, &routes).map_err(|e| match e {
        Undeployable::LambdaParameterMappings { .. } => anyhow::anyhow!("{e}"),
        _ => anyhow::anyhow!("--gate {gate}: {e}"),
    })?;
    for note in &rules.notes {
        eprintln!("note: {note}");
    }

    if let Some(export) = &export {
        if package.is_some() || backend_url.is_some() {
            bail!(
                "--export writes a template and applies nothing: --package and --backend-url do not apply"
            );
        }
        std::fs::write(export, cloudformation::render(&plan, &rules))
            .with_context(|| format!("writing {}", export.display()))?;
        println!(
            "wrote {} ({} resources, {}, nothing applied)",
            export.display(),
            cloudformation::template(&plan, &rules)["Resources"]
                .as_object()
                .map_or(0, |r| r.len()),
            gate.title()
        );
        return Ok(());
    }
    if gate != Gate::HttpApi {
        bail!(
            "--gate {gate}: the {} is deployed through CloudFormation only: this build's AWS SDK has \
             no {} and moto cannot check one, so nothing is applied here. Write the template with \
             `portcullis deploy --provider {} --gate {gate} --export stack.yaml` and deploy it with \
             `aws cloudformation deploy`",
            gate.title(),
            match gate {
                Gate::RestApi => "REST API JWT authorizer",
                _ => "jwt-validation listener action",
            },
            options.provider.name()
        );
    }

    check_code_flags(
        &options,
        package.as_deref(),
        backend_url.as_deref(),
        embed_jwks,
    )?;

    let runtime = tokio::runtime::Runtime::new()?;
    let (aws, account) = runtime.block_on(connect(&options))?;

    let code = match options.runtime {
        Runtime::Lambda => Some(lambda_code(&options, package.as_deref(), embed_jwks)?),
        Runtime::Standalone => None,
    };
    let backend = match (&code, &backend_url) {
        (Some(code), _) => Backend::Lambda(code),
        (None, Some(url)) => Backend::Http(url),
        (None, None) => bail!("--runtime standalone needs --backend-url"),
    };

    let json = args.json;
    if args.dry_run {
        return dry_run(&runtime, &plan, &aws, &account, backend, json);
    }
    progress(
        json,
        &format!(
            "==> deploy {} ({}, stage {})",
            plan.name, plan.provider, options.stage
        ),
    );
    let mut seen: Vec<Change> = Vec::new();
    let result = runtime.block_on(until_interrupted(portcullis_deploy::apply::apply(
        &plan,
        &aws,
        &account,
        backend,
        |event| show(event, &mut seen, json),
    )));
    let stopped = |why: String| stopped_message(&why, &seen, &options);
    let deployed = match result {
        Some(Ok(deployed)) => deployed,
        Some(Err(error)) => bail!("{}", stopped(format!("stopped: {error}"))),
        None => return Err(crate::Interrupted(stopped("interrupted (Ctrl-C)".into())).into()),
    };
    if json {
        println!("{}", deployed_json(&plan, &options, &aws, &deployed));
    } else {
        report(&plan, &options, &aws, &deployed);
    }
    Ok(())
}

/// What a stopped or interrupted deploy says: what exists now (`seen` so far), and how to finish
/// or take it away.
#[cfg(feature = "aws")]
fn stopped_message(why: &str, seen: &[Change], options: &Options) -> String {
    let standing: Vec<String> = seen
        .iter()
        .filter(|c| {
            matches!(
                c.action,
                Action::Created | Action::Updated | Action::Unchanged
            )
        })
        .map(|c| format!("{} {}", c.kind, c.name))
        .collect();
    if standing.is_empty() {
        return format!("deploy {why}; nothing was created");
    }
    format!(
        "deploy {why}; these exist now: {}. Run the same deploy again to finish, or \
         `{} remove {}` to delete them",
        standing.join(", "),
        crate::invoked_as(),
        same_flags(options)
    )
}

/// Refuses the flag combinations that do not fit the runtime, before anything is connected.
#[cfg(feature = "aws")]
fn check_code_flags(
    options: &Options,
    package: Option<&Path>,
    backend_url: Option<&str>,
    embed_jwks: bool,
) -> Result<()> {
    match (options.runtime, package, backend_url) {
        (Runtime::Lambda, _, Some(_)) => {
            bail!(
                "--backend-url is for --runtime standalone; the Lambda runtime deploys the bootstrap package"
            )
        }
        (Runtime::Standalone, Some(_), _) => {
            bail!(
                "--package is for the Lambda runtime; --runtime standalone forwards to --backend-url"
            )
        }
        (Runtime::Standalone, _, _) if embed_jwks => bail!(
            "--embed-jwks builds the Lambda package; for the standalone server use \
         `{} build --runtime standalone --embed-jwks` and run it from target/standalone/",
            crate::invoked_as()
        ),
        (Runtime::Standalone, None, None) => bail!(
            "--runtime standalone needs --backend-url https://…: the base URL where portcullis-server runs \
         (build it with `{} build --runtime standalone`, container file deploy/Dockerfile)",
            crate::invoked_as()
        ),
        (Runtime::Lambda, Some(package), _) => {
            if embed_jwks {
                bail!(
                    "--embed-jwks applies when deploy builds the package; build your package with `{} build --embed-jwks`",
                    crate::invoked_as()
                );
            }
            portcullis_deploy::package::check_package(package, options.arch)
                .map_err(|e| anyhow::anyhow!("--package {e}"))?;
        }
        _ => {}
    }
    Ok(())
}

/// The Lambda package's bytes: `package` as given, else the service built and zipped now.
#[cfg(feature = "aws")]
fn lambda_code(options: &Options, package: Option<&Path>, embed_jwks: bool) -> Result<Vec<u8>> {
    let package = match package {
        Some(package) => package.to_path_buf(),
        None => {
            let build = crate::build::Build {
                provider: options.provider,
                runtime: Runtime::Lambda,
                arch: options.arch,
                release: true,
                embed_jwks,
                config: options.config.clone(),
            };
            let key_sets = crate::build::embedded_key_sets(&build)?;
            let binary = crate::build::compile(&build)?;
            crate::build::package_lambda(&build, &binary, key_sets.as_deref())?
        }
    };
    let code = std::fs::read(&package).with_context(|| format!("reading {}", package.display()))?;
    if code.len() > portcullis_deploy::package::LAMBDA_DIRECT_UPLOAD_LIMIT {
        bail!(
            "{} is {} bytes, over Lambda's 50 MB direct-upload limit: build it with --release",
            package.display(),
            code.len()
        );
    }
    Ok(code)
}

#[cfg(feature = "aws")]
/// `deploy --dry-run`: what would change, read from the live account; nothing is changed.
fn dry_run(
    runtime: &tokio::runtime::Runtime,
    plan: &Plan,
    aws: &Aws,
    account: &Account,
    backend: Backend<'_>,
    json: bool,
) -> Result<()> {
    progress(
        json,
        &format!(
            "==> dry run of deploy {} ({}) in {}, account {}: nothing is changed",
            plan.name, plan.provider, aws.region, account.id
        ),
    );
    let changes = runtime.block_on(portcullis_deploy::apply::dry_run(
        plan,
        aws,
        account,
        backend,
        |event| {
            if let Event::Change(c) = event {
                let would = match c.action {
                    Action::Unchanged => "unchanged".to_owned(),
                    other => format!("would be {}", other.as_str()),
                };
                progress(json, &format!("  {:<12} {:<44} {would}", c.kind, c.name));
            }
        },
    ))?;
    let count = |action: Action| changes.iter().filter(|c| c.action == action).count();
    if json {
        let resources: Vec<serde_json::Value> = changes
            .iter()
            .map(|c| serde_json::json!({ "kind": c.kind, "name": c.name, "action": c.action.as_str() }))
            .collect();
        println!(
            "{}",
            serde_json::json!({ "stack": plan.name, "dry_run": true, "resources": resources })
        );
    } else if count(Action::Created) + count(Action::Updated) + count(Action::Deleted) == 0 {
        println!(
            "nothing would change: all {} resources match the plan",
            changes.len()
        );
    } else {
        println!(
            "{} would be created, {} updated, {} deleted, {} unchanged; nothing was changed",
            count(Action::Created),
            count(Action::Updated),
            count(Action::Deleted),
            count(Action::Unchanged)
        );
    }
    Ok(())
}

#[cfg(feature = "aws")]
/// `work`, or `None` when Ctrl-C comes first (the work is dropped between two AWS calls' answers;
/// what it made so far is in the progress it told).
async fn until_interrupted<T>(work: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::select! {
        done = work => Some(done),
        _ = tokio::signal::ctrl_c() => None,
    }
}

#[cfg(feature = "aws")]
/// A progress line: on stdout, or on stderr when stdout carries the `--json` document.
fn progress(json: bool, line: &str) {
    if json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

#[cfg(feature = "aws")]
/// A progress line; changes are kept for the summary.
fn show(event: Event<'_>, seen: &mut Vec<Change>, json: bool) {
    match event {
        Event::Change(change) => {
            progress(json, &format!("  {change}"));
            seen.push(change.clone());
        }
        Event::Wait(wait) => progress(json, &format!("  {wait}")),
    }
}

#[cfg(feature = "aws")]
/// The flags that name the same deployment again (for `remove` and a re-run).
pub(crate) fn same_flags(options: &Options) -> String {
    let mut flags = format!(
        "--provider {} --stage {}",
        options.provider.name(),
        options.stage
    );
    if options.runtime == Runtime::Standalone {
        flags.push_str(" --runtime standalone");
    }
    if let Some(region) = &options.region {
        flags.push_str(&format!(" --region {region}"));
    }
    if let Some(url) = &options.endpoint_url {
        flags.push_str(&format!(" --endpoint-url {url}"));
    }
    if let Some(profile) = &options.profile {
        flags.push_str(&format!(" --profile {profile}"));
    }
    if let Some(config) = &options.config {
        flags.push_str(&format!(" --config {}", config.display()));
    }
    flags
}

#[cfg(feature = "aws")]
/// The Hosted UI sign-in URL of the tutorial's pool.
pub(crate) fn hosted_ui(aws: &Aws, plan: &Plan, pool_id: &str, client_id: &str) -> Option<String> {
    let cognito = plan.cognito.as_ref()?;
    portcullis_cognito::CognitoSettings::new(
        &aws.region,
        pool_id,
        client_id,
        portcullis_cognito::IssuerType::Original,
    )
    .ok()
    .map(|settings| settings.hosted_ui_url(&cognito.domain, CALLBACK_URL))
}

#[cfg(feature = "aws")]
/// `deploy --json`: what was deployed, as one document.
fn deployed_json(
    plan: &Plan,
    options: &Options,
    aws: &Aws,
    deployed: &Deployed,
) -> serde_json::Value {
    let routes: Vec<serde_json::Value> = plan
        .routes
        .iter()
        .map(|route| {
            let (method, path) = route.key.split_once(' ').unwrap_or(("ANY", "/"));
            serde_json::json!({
                "route": route.key,
                "method": method,
                "url": format!("{}{path}", deployed.endpoint),
                "authorization": if route.authorized { "JWT" } else { "NONE" },
                "scopes": route.scopes,
            })
        })
        .collect();
    let resources: Vec<serde_json::Value> = deployed
        .changes
        .iter()
        .map(|c| serde_json::json!({ "kind": c.kind, "name": c.name, "action": c.action.as_str() }))
        .collect();
    let cognito = deployed.cognito.as_ref().map(|(pool_id, client_id)| {
        serde_json::json!({
            "user_pool_id": pool_id,
            "client_id": client_id,
            "hosted_ui": hosted_ui(aws, plan, pool_id, client_id),
        })
    });
    serde_json::json!({
        "stack": plan.name,
        "provider": plan.provider,
        "stage": options.stage,
        "region": aws.region,
        "endpoint": deployed.endpoint,
        "changed": deployed.changes.iter().any(|c| matches!(c.action, Action::Created | Action::Updated)),
        "waits": deployed.waits,
        "resources": resources,
        "routes": routes,
        "cognito": cognito,
    })
}

#[cfg(feature = "aws")]
fn report(plan: &Plan, options: &Options, aws: &Aws, deployed: &Deployed) {
    let count = |action: Action| {
        deployed
            .changes
            .iter()
            .filter(|c| c.action == action)
            .count()
    };
    let (created, updated, unchanged) = (
        count(Action::Created),
        count(Action::Updated),
        count(Action::Unchanged),
    );
    if created + updated == 0 {
        println!("nothing changed: all {unchanged} resources already match the plan");
    } else {
        println!("{created} created, {updated} updated, {unchanged} unchanged");
    }
    println!("endpoints:");
    for route in plan.routes.iter().filter(|r| r.authorized) {
        if let Some((method, path)) = route.key.split_once(' ') {
            println!("  {method} - {}{path}", deployed.endpoint);
        }
    }
    if let Some((pool_id, client_id)) = &deployed.cognito {
        match hosted_ui(aws, plan, pool_id, client_id) {
            Some(url) => println!("sign in (Cognito Hosted UI):\n  {url}"),
            None => println!("note: no Hosted UI URL for pool {pool_id}"),
        }
        println!("user pool {pool_id}, app client {client_id}");
    }
    println!(
        "a token to call them with: {} token {}",
        crate::invoked_as(),
        same_flags(options)
    );
}

#[cfg(feature = "aws")]
/// The AWS clients and the account, after checking Region, credentials and that the endpoint
/// answers.
pub(crate) async fn connect(options: &Options) -> Result<(Aws, Account)> {
    let connection = Connection {
        region: options.region.clone(),
        endpoint_url: options.endpoint_url.clone(),
        profile: options.profile.clone(),
    };
    let aws = Aws::connect(&connection).await?;
    let account = aws.account(options.endpoint_url.as_deref()).await?;
    Ok((aws, account))
}

#[cfg(feature = "aws")]
/// Asks on the terminal before deleting; anything but `y` or `yes` deletes nothing.
fn confirm(plan: &Plan, aws: &Aws, account: &Account) -> Result<()> {
    use std::io::Write;
    eprint!(
        "Delete every resource of {} (the API, function, role, log group, table{}) in account {}, {}? [y/N] ",
        plan.name,
        if plan.cognito.is_some() {
            ", Cognito pool and its users"
        } else {
            ""
        },
        account.id,
        aws.region
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        return Ok(());
    }
    bail!(
        "nothing removed (answered {:?}); pass --yes to remove without asking",
        answer.trim()
    )
}

#[cfg(feature = "aws")]
pub(crate) fn remove(args: &RemoveArgs) -> Result<()> {
    let options = Options::from(&args.target);
    let (plan, _) = resolve_plan(&options)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let (aws, account) = runtime.block_on(connect(&options))?;
    if !args.yes && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        confirm(&plan, &aws, &account)?;
    }
    println!(
        "==> remove {} ({}, stage {})",
        plan.name, plan.provider, options.stage
    );
    let mut seen: Vec<Change> = Vec::new();
    let result = runtime.block_on(until_interrupted(portcullis_deploy::apply::remove(
        &plan,
        &aws,
        |event| show(event, &mut seen, false),
    )));
    let deleted = seen.iter().filter(|c| c.action == Action::Deleted).count();
    let absent = seen.iter().filter(|c| c.action == Action::Absent).count();
    let foreign = seen.iter().filter(|c| c.action == Action::Foreign).count();
    let stopped = |why: String| {
        format!(
            "remove {why}; {deleted} deleted so far. What remains is still tagged {}={}: \
             run `{} remove {}` again to finish",
            portcullis_deploy::STACK_TAG,
            plan.name,
            crate::invoked_as(),
            same_flags(&options)
        )
    };
    match result {
        Some(Ok(_)) => {}
        Some(Err(error)) => bail!("{}", stopped(format!("stopped: {error}"))),
        None => return Err(crate::Interrupted(stopped("interrupted (Ctrl-C)".into())).into()),
    }
    if foreign > 0 {
        println!(
            "left alone: {foreign} resources have this stack's names but not its tag {}={}",
            portcullis_deploy::STACK_TAG,
            plan.name
        );
    }
    if deleted == 0 {
        println!("nothing to remove: no resource of {} exists", plan.name);
    } else {
        println!("removed {deleted} resources of {}", plan.name);
        if absent > 0 {
            println!("({absent} were already gone)");
        }
    }
    Ok(())
}
