//! `cargo xtask deploy --provider P [--runtime lambda|standalone] [--stage S] [--arch A] [--config FILE]
//! --export FILE`: the deployment's typed plan, written as a CloudFormation template.
//!
//! Applying the plan through the AWS SDK (and `cargo xtask remove`) is not built yet: without
//! `--export` the command says so and changes nothing.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use portcullis_config::{Sources, load};
use portcullis_deploy::{Arch, Issuer, Runtime, Target, cloudformation, plan};

const USAGE: &str = "usage: cargo xtask deploy --provider cognito|auth0|okta|oidc [--runtime lambda|standalone] \
[--stage dev] [--arch x86_64|arm64] [--config FILE] --export FILE";

pub(crate) fn deploy(args: &[String]) -> Result<()> {
    let mut provider = None;
    let mut runtime = Runtime::Lambda;
    let mut stage = "dev".to_owned();
    let mut arch = Arch::X86_64;
    let mut config: Option<PathBuf> = None;
    let mut export: Option<PathBuf> = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .cloned()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--provider" => provider = Some(value("--provider")?),
            "--runtime" => {
                runtime = match value("--runtime")?.as_str() {
                    "lambda" => Runtime::Lambda,
                    "standalone" => Runtime::Standalone,
                    other => bail!("unknown runtime {other:?}: expected lambda or standalone"),
                }
            }
            "--stage" => stage = value("--stage")?,
            "--arch" => {
                arch = match value("--arch")?.as_str() {
                    "x86_64" => Arch::X86_64,
                    "arm64" => Arch::Arm64,
                    other => bail!("unknown architecture {other:?}: expected x86_64 or arm64"),
                }
            }
            "--config" => config = Some(value("--config")?.into()),
            "--export" => export = Some(value("--export")?.into()),
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    let provider = provider.with_context(|| format!("--provider is required\n{USAGE}"))?;
    if !crate::build::PROVIDERS.iter().any(|(p, _)| *p == provider) {
        bail!("--provider {provider:?}: expected one of cognito, auth0, okta, oidc");
    }
    if stage.is_empty()
        || !stage
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        bail!(
            "--stage {stage:?}: expected lowercase letters, digits and hyphens (it is part of every resource name)"
        );
    }
    let Some(export) = export else {
        bail!(
            "applying a deployment through the AWS SDK is not built yet; nothing was created. \
             Use --export FILE to write the CloudFormation template and deploy it with your pipeline."
        );
    };
    let domain_suffix = std::env::var("DOMAIN_SUFFIX").unwrap_or_else(|_| "portcullis".into());
    let target = Target {
        stage,
        runtime,
        arch,
        domain_suffix,
    };
    let file = config
        .clone()
        .unwrap_or_else(|| PathBuf::from(portcullis_config::DEFAULT_FILE));
    let mut sources = Sources {
        file: config,
        ..Sources::default()
    };
    sources
        .overrides
        .push(("auth.provider".into(), provider.clone()));
    let has_file = file.is_file();
    let plan = match load(&sources) {
        Ok(settings) => plan(
            Issuer::Configured(&settings.auth),
            &settings.routes,
            &target,
        ),
        // The tutorial's own pool: Cognito without a configured pool is created with the stack.
        // The tutorial's own pool (no resource server, so no custom scopes on its routes).
        Err(_) if provider == "cognito" && !has_file => plan(
            Issuer::TutorialCognitoPool,
            &portcullis_config::Routes::default(),
            &target,
        ),
        Err(error) => bail!("{}: {error}", file.display()),
    };
    std::fs::write(&export, cloudformation::render(&plan))
        .with_context(|| format!("writing {}", export.display()))?;
    println!(
        "wrote {} ({} resources, nothing applied)",
        export.display(),
        cloudformation::template(&plan)["Resources"]
            .as_object()
            .map_or(0, |r| r.len())
    );
    Ok(())
}
