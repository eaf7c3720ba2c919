//! `portcullis invoke GET /user/profile`: one request to the deployed API (or, with `--local`, to
//! the one `dev` runs) with a token fetched as `token` fetches one; the answer's status, headers
//! and body are printed. The token itself is never printed.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::flags::InvokeArgs;

/// How long one request may take (API Gateway gives an integration at most 30 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(35);

pub(crate) fn invoke(args: &InvokeArgs) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let (base, token, proxied) = match (&args.local, args.provider) {
        (Some(local), _) => {
            let token = if args.no_token {
                None
            } else {
                let state_dir = args
                    .state_dir
                    .clone()
                    .unwrap_or_else(|| ".portcullis/dev".into());
                Some(runtime.block_on(dev_token(&state_dir, &args.scopes))?)
            };
            (local.clone(), token, false)
        }
        (None, Some(provider)) => deployed(args, provider, &runtime)?,
        (None, None) => bail!(
            "invoke needs --provider (the deployed API of that provider and --stage) or --local (the API `{} dev` runs)",
            crate::invoked_as()
        ),
    };
    let url = format!("{}{}", base.trim_end_matches('/'), args.path);
    let method = args.method.as_str();
    let answer = runtime.block_on(async {
        let mut client = reqwest::Client::builder().timeout(REQUEST_TIMEOUT);
        if !proxied {
            client = client.no_proxy();
        }
        let client = client.build()?;
        let mut request = client.request(
            reqwest::Method::from_bytes(method.as_bytes()).context("method")?,
            &url,
        );
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        if let Some(data) = &args.data {
            request = request
                .header("content-type", "application/json")
                .body(data.clone());
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url}: no answer"))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap_or_default();
        anyhow::Ok((status, headers, body))
    })?;
    let (status, headers, body) = answer;
    println!("{status}");
    for (name, value) in &headers {
        println!("{name}: {}", String::from_utf8_lossy(value.as_bytes()));
    }
    println!();
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(json) => println!("{}", serde_json::to_string_pretty(&json)?),
        Err(_) => println!("{}", String::from_utf8_lossy(&body)),
    }
    if !status.is_success() {
        bail!("{method} {} answered {status}", args.path);
    }
    Ok(())
}

/// A token of `dev`'s development issuer, named in the configuration it wrote to `state_dir`.
async fn dev_token(state_dir: &Path, scopes: &[String]) -> Result<String> {
    let config = state_dir.join("portcullis.toml");
    if !config.is_file() {
        bail!(
            "no {}: start `{} dev` first (or pass --state-dir where it keeps its state)",
            config.display(),
            crate::invoked_as()
        );
    }
    let settings = portcullis_config::load(&portcullis_config::Sources {
        file: Some(config.clone()),
        env: Some(Default::default()),
        ..Default::default()
    })
    .map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?;
    let issuer = settings.auth.configs[0]
        .issuer()
        .trim_end_matches('/')
        .to_owned();
    let scope = if scopes.is_empty() {
        "profile/read profile/write".to_owned()
    } else {
        scopes.join(" ")
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?;
    let answer = client
        .post(format!("{issuer}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("client_id", "portcullis-invoke")
                .append_pair("scope", &scope)
                .finish(),
        )
        .send()
        .await
        .with_context(|| {
            format!(
                "the development issuer {issuer} does not answer: is `{} dev` still running?",
                crate::invoked_as()
            )
        })?;
    if !answer.status().is_success() {
        bail!(
            "the development issuer {issuer} refused a token: {}",
            answer.status()
        );
    }
    let body = answer.bytes().await.context("the issuer's answer")?;
    let granted: serde_json::Value =
        serde_json::from_slice(&body).context("the issuer's answer is not JSON")?;
    granted["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("the development issuer answered without an access_token")
}

#[cfg(feature = "aws")]
/// The deployed API's endpoint (or `--url`) and a token for it.
fn deployed(
    args: &InvokeArgs,
    provider: crate::flags::Provider,
    runtime: &tokio::runtime::Runtime,
) -> Result<(String, Option<String>, bool)> {
    let options = crate::deploy::Options::new(provider, &args.place);
    let base = match &args.url {
        Some(url) => url.clone(),
        None => {
            let (plan, _) = crate::deploy::resolve_plan(&options)?;
            let (aws, _) = runtime.block_on(crate::deploy::connect(&options))?;
            match runtime.block_on(portcullis_deploy::apply::describe(&plan, &aws))? {
                Some(live) => live.api.1,
                None => bail!(
                    "no deployment {} in {}: run `{} deploy {}` first",
                    plan.name,
                    aws.region,
                    crate::invoked_as(),
                    crate::deploy::same_flags(&options)
                ),
            }
        }
    };
    let token = if args.no_token {
        None
    } else {
        Some(crate::token::access_token(
            &options,
            args.username.clone(),
            &args.scopes,
            runtime,
        )?)
    };
    Ok((base, token, true))
}

#[cfg(not(feature = "aws"))]
fn deployed(
    _: &InvokeArgs,
    _: crate::flags::Provider,
    _: &tokio::runtime::Runtime,
) -> Result<(String, Option<String>, bool)> {
    bail!("{}", crate::deploy::without_aws("invoke --provider"))
}
