//! `portcullis token`: a token to call the API with. Cognito signs in a test user made through the
//! SDK (created if absent, a fresh random password each run); Auth0, Okta and any OIDC issuer use
//! the client-credentials grant. What `token` and `login` share (the flags they add, how a token
//! is printed, the OAuth client) lives here.
//!
//! The token goes to standard output alone (`TOKEN=$(portcullis token …)`); everything else goes
//! to standard error. Secrets are read from the environment only, never from flags.

// Without the `aws` feature the AWS half of this file is compiled out; what it shares with the
// rest stays, partly unused.
#![cfg_attr(not(feature = "aws"), allow(unused_imports, dead_code))]

use anyhow::{Context, Result, bail};
use portcullis_config::{Provider, Settings};
use portcullis_deploy::LOGIN_CALLBACK_URL;
use portcullis_grant::{ClientCredentials, Endpoints, GrantedToken, random_text};

use crate::deploy::{Options, resolve_plan};
use crate::flags::{PrintArgs, TokenArgs};

/// The flags `token` and `login` add to the shared ones.
#[derive(Default)]
pub(crate) struct Extra {
    pub(crate) username: Option<String>,
    pub(crate) groups: Vec<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) token_url: Option<String>,
    pub(crate) authorize_url: Option<String>,
    pub(crate) domain: Option<String>,
    pub(crate) listen: Option<String>,
    pub(crate) no_browser: bool,
    pub(crate) timeout: Option<u64>,
    pub(crate) print: Print,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Print {
    #[default]
    Access,
    Id,
    Json,
}

impl From<&PrintArgs> for Print {
    fn from(args: &PrintArgs) -> Print {
        match (args.id, args.json) {
            (true, _) => Print::Id,
            (_, true) => Print::Json,
            _ => Print::Access,
        }
    }
}

fn token_extra(args: &TokenArgs) -> Extra {
    Extra {
        username: args.username.clone(),
        groups: args.groups.clone(),
        scopes: args.scopes.clone(),
        client_id: args.client_id.clone(),
        token_url: args.token_url.clone(),
        print: Print::from(&args.print),
        ..Extra::default()
    }
}

pub(crate) fn print(token: &GrantedToken, how: Print) -> Result<()> {
    match how {
        Print::Access => println!("{}", token.access_token),
        Print::Id => match &token.id_token {
            Some(id) => println!("{id}"),
            None => {
                bail!("the issuer returned no id token (ask for the openid scope: --scope openid)")
            }
        },
        Print::Json => println!(
            "{}",
            serde_json::json!({
                "access_token": token.access_token,
                "id_token": token.id_token,
                "refresh_token": token.refresh_token,
                "expires_in": token.expires_in,
                "scope": token.scope,
            })
        ),
    }
    Ok(())
}

/// The machine-to-machine (or app) client's id and, when it has one, its secret.
pub(crate) fn client(extra: &Extra, need_secret: bool) -> Result<(String, Option<String>)> {
    let id = extra
        .client_id
        .clone()
        .or_else(|| std::env::var("OAUTH_CLIENT_ID").ok())
        .filter(|id| !id.is_empty());
    let secret = std::env::var("OAUTH_CLIENT_SECRET")
        .ok()
        .filter(|s| !s.is_empty());
    match (id, secret) {
        (Some(id), Some(secret)) => Ok((id, Some(secret))),
        (Some(id), None) if !need_secret => Ok((id, None)),
        (None, _) if !need_secret => bail!(
            "no OAuth client: pass --client-id or set OAUTH_CLIENT_ID (an application allowed to sign users in \
             with the authorization code flow and {LOGIN_CALLBACK_URL} as a callback)"
        ),
        _ => bail!(
            "client credentials need a machine-to-machine client: set OAUTH_CLIENT_ID (or --client-id) and \
             OAUTH_CLIENT_SECRET (read from the environment only)"
        ),
    }
}

pub(crate) fn token(args: &TokenArgs) -> Result<()> {
    let (options, extra) = (Options::from(&args.target), token_extra(args));
    let runtime = tokio::runtime::Runtime::new()?;
    let granted = grant(&options, &extra, &runtime)?;
    print(&granted, extra.print)
}

/// An access token for the deployment `options` names, as `token` gets one: Cognito's test user
/// (`username`, default a user of the stage), else the client-credentials grant with `scopes`.
pub(crate) fn access_token(
    options: &Options,
    username: Option<String>,
    scopes: &[String],
    runtime: &tokio::runtime::Runtime,
) -> Result<String> {
    let extra = Extra {
        username,
        scopes: scopes.to_vec(),
        ..Extra::default()
    };
    Ok(grant(options, &extra, runtime)?.access_token)
}

fn grant(
    options: &Options,
    extra: &Extra,
    runtime: &tokio::runtime::Runtime,
) -> Result<GrantedToken> {
    let (plan, settings) = resolve_plan(options)?;
    let granted = match settings.as_ref().map(|s| &s.auth.provider) {
        #[cfg(feature = "aws")]
        Some(Provider::Cognito(_)) | None => {
            runtime.block_on(cognito_token(options, extra, &plan, settings.as_ref()))?
        }
        #[cfg(not(feature = "aws"))]
        Some(Provider::Cognito(_)) | None => {
            let _ = &plan;
            bail!("{}", crate::deploy::without_aws("token --provider cognito"))
        }
        Some(provider) => {
            let Some(settings) = settings.as_ref() else {
                bail!("the {} provider needs settings", options.provider.name());
            };
            let (id, secret) = client(extra, true)?;
            let secret = secret.unwrap_or_default();
            let mut request = match provider {
                Provider::Auth0(tenant) => tenant.client_credentials(&id, &secret, &extra.scopes),
                Provider::Okta(okta) => {
                    if extra.scopes.is_empty() {
                        bail!(
                            "Okta's client-credentials grant needs at least one custom scope of the authorization server: pass --scope NAME"
                        );
                    }
                    okta.client_credentials(&id, &secret, &extra.scopes)
                }
                _ => {
                    let token_url = match &extra.token_url {
                        Some(url) => url.clone(),
                        None => runtime.block_on(discover(settings))?.token_endpoint,
                    };
                    ClientCredentials::new(token_url, &id, &secret, &extra.scopes)
                }
            };
            if let Some(url) = &extra.token_url {
                request.token_url = url.clone();
            }
            eprintln!(
                "requesting a client-credentials token from {}",
                request.token_url
            );
            runtime.block_on(request.request())?
        }
    };
    Ok(granted)
}

pub(crate) async fn discover(settings: &Settings) -> Result<Endpoints> {
    Ok(Endpoints::discover(&settings.auth.configs[0]).await?)
}

/// The pool and app client: configured, or the tutorial's pool made by `deploy`.
#[cfg(feature = "aws")]
pub(crate) async fn cognito_ids(
    options: &Options,
    plan: &portcullis_deploy::Plan,
    settings: Option<&Settings>,
    aws: &portcullis_deploy::apply::Aws,
) -> Result<(String, String)> {
    if let Some(Settings {
        auth:
            portcullis_config::AuthSettings {
                provider: Provider::Cognito(pool),
                ..
            },
        ..
    }) = settings
    {
        return Ok((pool.user_pool_id().to_owned(), pool.client_id().to_owned()));
    }
    let tutorial = plan
        .cognito
        .as_ref()
        .context("the plan has no Cognito pool")?;
    let deploy_first = || {
        format!(
            "run `{} deploy --provider cognito --stage {}` first, or configure [auth.cognito] with an existing pool",
            crate::invoked_as(),
            options.stage
        )
    };
    let pool_id = aws
        .cognito
        .find_user_pool(&tutorial.pool_name)
        .await?
        .with_context(|| {
            format!(
                "no Cognito pool {} in {}: {}",
                tutorial.pool_name,
                aws.region,
                deploy_first()
            )
        })?;
    let client_id = aws
        .cognito
        .find_app_client(&pool_id, &tutorial.client_name)
        .await?
        .with_context(|| {
            format!(
                "pool {} has no app client {}: {}",
                tutorial.pool_name,
                tutorial.client_name,
                deploy_first()
            )
        })?;
    Ok((pool_id, client_id))
}

#[cfg(feature = "aws")]
async fn cognito_token(
    options: &Options,
    extra: &Extra,
    plan: &portcullis_deploy::Plan,
    settings: Option<&Settings>,
) -> Result<GrantedToken> {
    let (aws, _) = crate::deploy::connect(options).await?;
    let (pool_id, client_id) = cognito_ids(options, plan, settings, &aws).await?;
    let username = extra
        .username
        .clone()
        .unwrap_or_else(|| "portcullis-test@example.com".to_owned());
    // A fresh password each run (set again on an existing user): nothing to store or leak.
    // The suffix meets Cognito's default policy whatever the random part holds.
    let password = std::env::var("COGNITO_TEST_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| format!("{}Aa1!", random_text()));
    let groups: Vec<&str> = extra.groups.iter().map(String::as_str).collect();
    eprintln!("test user {username} in pool {pool_id} (app client {client_id})");
    aws.cognito
        .ensure_user(&pool_id, &username, &password, &groups)
        .await?;
    let tokens = match aws
        .cognito
        .password_tokens(&client_id, &username, &password)
        .await
    {
        Ok(tokens) => tokens,
        // An app client without USER_PASSWORD_AUTH may still allow the admin flow.
        Err(user_flow) => aws
            .cognito
            .admin_password_tokens(&pool_id, &client_id, &username, &password)
            .await
            .with_context(|| format!("and before that: {user_flow}"))?,
    };
    Ok(GrantedToken {
        access_token: tokens.access_token,
        token_type: "Bearer".into(),
        expires_in: None,
        scope: None,
        id_token: Some(tokens.id_token),
        refresh_token: tokens.refresh_token,
    })
}
