//! `cargo xtask deploy` and `cargo xtask remove`: the deployment's typed plan applied through the
//! AWS SDK (or written as a CloudFormation template with `--export`), and deleted again.
//!
//! Everything that can be checked is checked before anything is created: the flags, the provider's
//! settings, the package, the Region, the credentials and that the endpoint answers. A deployment
//! that stops half-way says what exists and how to finish or remove it.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use portcullis_config::{Sources, load};
use portcullis_deploy::apply::{Action, Aws, Backend, Change, Deployed};
use portcullis_deploy::{Arch, CALLBACK_URL, Issuer, Plan, Runtime, Target, cloudformation, plan};

const DEPLOY_USAGE: &str = "usage: cargo xtask deploy --provider cognito|auth0|okta|oidc [--runtime lambda|standalone] \
[--stage dev] [--arch x86_64|arm64] [--region R] [--endpoint-url URL] [--config FILE] \
[--package bootstrap.zip | --backend-url URL] [--embed-jwks] [--export FILE]";
const REMOVE_USAGE: &str = "usage: cargo xtask remove --provider cognito|auth0|okta|oidc [--runtime lambda|standalone] \
[--stage dev] [--region R] [--endpoint-url URL] [--config FILE]";

/// What `deploy`, `remove` and `token` were asked for.
pub(crate) struct Options {
    pub(crate) provider: String,
    pub(crate) runtime: Runtime,
    pub(crate) stage: String,
    pub(crate) arch: Arch,
    pub(crate) region: Option<String>,
    pub(crate) endpoint_url: Option<String>,
    pub(crate) config: Option<PathBuf>,
}

/// The flags every AWS-facing command shares; `extra` handles the command's own (returns false for
/// a flag it does not know).
pub(crate) fn parse_options(
    args: &[String],
    usage: &str,
    mut extra: impl FnMut(&str, &mut dyn FnMut() -> Result<String>) -> Result<bool>,
) -> Result<Options> {
    let mut options = Options {
        provider: String::new(),
        runtime: Runtime::Lambda,
        stage: "dev".to_owned(),
        arch: Arch::X86_64,
        region: None,
        endpoint_url: None,
        config: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || -> Result<String> {
            args.next()
                .cloned()
                .with_context(|| format!("{arg} needs a value\n{usage}"))
        };
        match arg.as_str() {
            "--provider" => options.provider = value()?,
            "--runtime" => options.runtime = crate::build::parse_runtime(&value()?)?,
            "--stage" => options.stage = value()?,
            "--arch" => options.arch = crate::build::parse_arch(&value()?)?,
            "--region" => options.region = Some(value()?),
            "--endpoint-url" => {
                let url = value()?;
                check_url("--endpoint-url", &url)?;
                options.endpoint_url = Some(url);
            }
            "--config" => options.config = Some(value()?.into()),
            other => {
                if !extra(other, &mut value)? {
                    bail!("unknown argument {other:?}\n{usage}");
                }
            }
        }
    }
    if options.provider.is_empty() {
        bail!("--provider is required: cognito, auth0, okta or oidc\n{usage}");
    }
    crate::build::check_provider(&options.provider)?;
    let stage = &options.stage;
    if stage.is_empty()
        || stage.len() > 20
        || !stage
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        bail!(
            "--stage {stage:?}: expected 1 to 20 lowercase letters, digits and hyphens (it is part of every resource name)"
        );
    }
    Ok(options)
}

pub(crate) fn check_url(flag: &str, url: &str) -> Result<()> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
            Ok(())
        }
        _ => bail!("{flag} {url:?}: expected an http:// or https:// URL"),
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
    let target = Target {
        stage: options.stage.clone(),
        runtime: options.runtime,
        arch: options.arch,
        domain_suffix,
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
        .push(("auth.provider".into(), options.provider.clone()));
    let has_file = file.is_file();
    match load(&sources) {
        Ok(settings) => Ok((
            plan(
                Issuer::Configured(&settings.auth),
                &settings.routes,
                &target,
            ),
            Some(settings),
        )),
        // The tutorial's own pool (no resource server, so no custom scopes on its routes).
        Err(_) if options.provider == "cognito" && !has_file => Ok((
            plan(
                Issuer::TutorialCognitoPool,
                &portcullis_config::Routes::default(),
                &target,
            ),
            None,
        )),
        Err(error) if has_file => bail!("{}: {error}", file.display()),
        Err(error) => bail!(
            "the {} provider needs settings: {error} (put them in {} or PORTCULLIS_… environment variables; see README)",
            options.provider,
            portcullis_config::DEFAULT_FILE
        ),
    }
}

pub(crate) fn deploy(args: &[String]) -> Result<()> {
    let mut export: Option<PathBuf> = None;
    let mut package: Option<PathBuf> = None;
    let mut backend_url: Option<String> = None;
    let mut embed_jwks = false;
    let options = parse_options(args, DEPLOY_USAGE, |flag, value| {
        match flag {
            "--embed-jwks" => embed_jwks = true,
            "--export" => export = Some(PathBuf::from(value()?)),
            "--package" => package = Some(PathBuf::from(value()?)),
            "--backend-url" => {
                let url = value()?;
                check_url("--backend-url", &url)?;
                backend_url = Some(url);
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let (plan, _) = resolve_plan(&options)?;

    if let Some(export) = &export {
        if package.is_some() || backend_url.is_some() {
            bail!(
                "--export writes a template and applies nothing: --package and --backend-url do not apply"
            );
        }
        std::fs::write(export, cloudformation::render(&plan))
            .with_context(|| format!("writing {}", export.display()))?;
        println!(
            "wrote {} ({} resources, nothing applied)",
            export.display(),
            cloudformation::template(&plan)["Resources"]
                .as_object()
                .map_or(0, |r| r.len())
        );
        return Ok(());
    }

    match (options.runtime, &package, &backend_url) {
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
             `cargo xtask build --runtime standalone --embed-jwks` and run it from target/standalone/"
        ),
        (Runtime::Standalone, None, None) => bail!(
            "--runtime standalone needs --backend-url https://…: the base URL where portcullis-server runs \
             (build it with `cargo xtask build --runtime standalone`, container file deploy/Dockerfile)"
        ),
        (Runtime::Lambda, Some(package), _) => {
            if embed_jwks {
                bail!(
                    "--embed-jwks applies when deploy builds the package; build your package with `cargo xtask build --embed-jwks`"
                );
            }
            check_package(package, options.arch)?;
        }
        _ => {}
    }

    let runtime = tokio::runtime::Runtime::new()?;
    let aws = runtime.block_on(connect(&options))?;

    let code = match options.runtime {
        Runtime::Lambda => {
            let package = match &package {
                Some(package) => package.clone(),
                None => {
                    let build = crate::build::Build {
                        provider: options.provider.clone(),
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
            let code = std::fs::read(&package)
                .with_context(|| format!("reading {}", package.display()))?;
            if code.len() > crate::build::LAMBDA_DIRECT_UPLOAD_LIMIT {
                bail!(
                    "{} is {} bytes, over Lambda's 50 MB direct-upload limit: build it with --release",
                    package.display(),
                    code.len()
                );
            }
            Some(code)
        }
        Runtime::Standalone => None,
    };
    let backend = match (&code, &backend_url) {
        (Some(code), _) => Backend::Lambda(code),
        (None, Some(url)) => Backend::Http(url),
        (None, None) => bail!("--runtime standalone needs --backend-url"),
    };

    println!(
        "==> deploy {} ({}, stage {})",
        plan.name, plan.provider, options.stage
    );
    let mut seen: Vec<Change> = Vec::new();
    let result = runtime.block_on(portcullis_deploy::apply::apply(
        &plan,
        &aws,
        backend,
        |change| {
            println!("  {change}");
            seen.push(change.clone());
        },
    ));
    let deployed = match result {
        Ok(deployed) => deployed,
        Err(error) => {
            let standing: Vec<&Change> = seen
                .iter()
                .filter(|c| {
                    matches!(
                        c.action,
                        Action::Created | Action::Updated | Action::Unchanged
                    )
                })
                .collect();
            if standing.is_empty() {
                bail!("deploy stopped: {error}; nothing was created");
            }
            let list: Vec<String> = standing
                .iter()
                .map(|c| format!("{} {}", c.kind, c.name))
                .collect();
            bail!(
                "deploy stopped: {error}; these exist now: {}. Run the same deploy again to finish, or \
                 `cargo xtask remove {}` to delete them",
                list.join(", "),
                same_flags(&options)
            );
        }
    };
    report(&plan, &options, &aws, &deployed);
    Ok(())
}

/// The flags that name the same deployment again (for `remove` and a re-run).
fn same_flags(options: &Options) -> String {
    let mut flags = format!("--provider {} --stage {}", options.provider, options.stage);
    if options.runtime == Runtime::Standalone {
        flags.push_str(" --runtime standalone");
    }
    if let Some(region) = &options.region {
        flags.push_str(&format!(" --region {region}"));
    }
    if let Some(url) = &options.endpoint_url {
        flags.push_str(&format!(" --endpoint-url {url}"));
    }
    if let Some(config) = &options.config {
        flags.push_str(&format!(" --config {}", config.display()));
    }
    flags
}

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
    if let (Some((pool_id, client_id)), Some(cognito)) = (&deployed.cognito, &plan.cognito) {
        match portcullis_cognito::CognitoSettings::new(
            &aws.region,
            pool_id,
            client_id,
            portcullis_cognito::IssuerType::Original,
        ) {
            Ok(settings) => println!(
                "sign in (Cognito Hosted UI):\n  {}",
                settings.hosted_ui_url(&cognito.domain, CALLBACK_URL)
            ),
            Err(error) => println!("note: no Hosted UI URL for pool {pool_id}: {error}"),
        }
        println!("user pool {pool_id}, app client {client_id}");
    }
    println!(
        "a token to call them with: cargo xtask token {}",
        same_flags(options)
    );
}

/// The AWS clients, after checking Region, credentials and that the endpoint answers.
pub(crate) async fn connect(options: &Options) -> Result<Aws> {
    let aws =
        Aws::from_environment(options.region.as_deref(), options.endpoint_url.as_deref()).await?;
    aws.check_reachable(options.endpoint_url.as_deref()).await?;
    Ok(aws)
}

pub(crate) fn remove(args: &[String]) -> Result<()> {
    let options = parse_options(args, REMOVE_USAGE, |_, _| Ok(false))?;
    let (plan, _) = resolve_plan(&options)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let aws = runtime.block_on(connect(&options))?;
    println!(
        "==> remove {} ({}, stage {})",
        plan.name, plan.provider, options.stage
    );
    let mut seen: Vec<Change> = Vec::new();
    let result = runtime.block_on(portcullis_deploy::apply::remove(&plan, &aws, |change| {
        println!("  {change}");
        seen.push(change.clone());
    }));
    let deleted = seen.iter().filter(|c| c.action == Action::Deleted).count();
    let absent = seen.iter().filter(|c| c.action == Action::Absent).count();
    if let Err(error) = result {
        bail!(
            "remove stopped: {error}; {deleted} deleted so far. What remains is still tagged portcullis:stack={}: \
             run `cargo xtask remove {}` again to finish",
            plan.name,
            same_flags(&options)
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

/// A Lambda package must be a zip with an executable `bootstrap` for the function's architecture.
fn check_package(path: &Path, arch: Arch) -> Result<()> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("--package {}: cannot open it", path.display()))?;
    let size = file.metadata()?.len();
    if size > crate::build::LAMBDA_DIRECT_UPLOAD_LIMIT as u64 {
        bail!(
            "--package {}: {size} bytes, over Lambda's 50 MB direct-upload limit: build it with --release",
            path.display()
        );
    }
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| anyhow::anyhow!("--package {}: not a zip file ({e})", path.display()))?;
    let mut entry = archive.by_name("bootstrap").map_err(|_| {
        anyhow::anyhow!(
            "--package {}: no `bootstrap` entry at the top of the zip (build one with `cargo xtask build --runtime lambda`)",
            path.display()
        )
    })?;
    if entry.unix_mode().is_some_and(|mode| mode & 0o111 == 0) {
        bail!(
            "--package {}: `bootstrap` is not executable",
            path.display()
        );
    }
    let mut header = [0u8; 20];
    entry.read_exact(&mut header).map_err(|_| {
        anyhow::anyhow!(
            "--package {}: `bootstrap` is not an ELF executable",
            path.display()
        )
    })?;
    if &header[..4] != b"\x7fELF" {
        bail!(
            "--package {}: `bootstrap` is not an ELF executable",
            path.display()
        );
    }
    let machine = u16::from_le_bytes([header[18], header[19]]);
    let found = match machine {
        0x3e => "x86_64",
        0xb7 => "arm64",
        _ => "another architecture",
    };
    if found != arch.lambda_name() {
        bail!(
            "--package {}: `bootstrap` is built for {found}, but the function is {} (--arch)",
            path.display(),
            arch.lambda_name()
        );
    }
    Ok(())
}
