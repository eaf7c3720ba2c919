//! `portcullis login`: the authorization-code grant with PKCE; a listener on `localhost:3000`
//! catches the redirect, checks `state`, and redeems the code. The token goes to standard output
//! alone; everything else to standard error.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use portcullis_config::{Provider, Settings};
use portcullis_grant::{AuthorizationCode, Endpoints, RedirectError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::deploy::{Options, resolve_plan};
use crate::flags::LoginArgs;
#[cfg(feature = "aws")]
use crate::token::cognito_ids;
use crate::token::{Extra, Print, client, discover, print};

fn login_extra(args: &LoginArgs) -> Extra {
    Extra {
        scopes: args.scopes.clone(),
        client_id: args.client_id.clone(),
        token_url: args.token_url.clone(),
        authorize_url: args.authorize_url.clone(),
        domain: args.domain.clone(),
        listen: Some(args.listen.clone()),
        no_browser: args.no_browser,
        timeout: Some(args.timeout),
        print: Print::from(&args.print),
        ..Extra::default()
    }
}

pub(crate) fn login(args: &LoginArgs) -> Result<()> {
    let (options, extra) = (Options::from(&args.target), login_extra(args));
    let (plan, settings) = resolve_plan(&options)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listen = extra.listen.as_deref().unwrap_or("127.0.0.1:3000");
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| {
            format!("cannot listen on {listen} for the sign-in's redirect (is something else on it? --listen ADDR)")
        })?;
        let port = listener.local_addr()?.port();
        let redirect_uri = format!("http://localhost:{port}/callback");
        let (endpoints, client_id, secret, extra_params, default_scopes) =
            sign_in_target(&options, &extra, &plan, settings.as_ref()).await?;
        let scopes = if extra.scopes.is_empty() {
            default_scopes
        } else {
            extra.scopes.clone()
        };
        let mut grant = AuthorizationCode::new(endpoints, &client_id, &redirect_uri, &scopes);
        grant.client_secret = secret;
        grant.extra = extra_params;
        let url = grant.authorize_url()?;
        eprintln!("sign in here (the redirect comes back to {redirect_uri}):\n{url}");
        if !extra.no_browser {
            open_browser(url.as_str());
        }
        let timeout = Duration::from_secs(extra.timeout.unwrap_or(300));
        let code = catch_redirect(&listener, &grant, timeout).await?;
        let granted = grant.exchange(&code).await?;
        eprintln!("signed in");
        print(&granted, extra.print)
    })
}

type SignIn = (
    Endpoints,
    String,
    Option<String>,
    Vec<(String, String)>,
    Vec<String>,
);

/// Endpoints, client, extra parameters and default scopes of the provider's sign-in page.
async fn sign_in_target(
    options: &Options,
    extra: &Extra,
    plan: &portcullis_deploy::Plan,
    settings: Option<&Settings>,
) -> Result<SignIn> {
    let openid = |more: &[&str]| -> Vec<String> {
        ["openid", "profile", "email"]
            .iter()
            .chain(more)
            .map(|s| s.to_string())
            .collect()
    };
    let overridden = |mut endpoints: Endpoints| {
        if let Some(url) = &extra.authorize_url {
            endpoints.authorization_endpoint = url.clone();
        }
        if let Some(url) = &extra.token_url {
            endpoints.token_endpoint = url.clone();
        }
        endpoints
    };
    match settings.map(|s| &s.auth.provider) {
        #[cfg(not(feature = "aws"))]
        Some(Provider::Cognito(_)) | None => {
            let _ = (plan, options);
            bail!("{}", crate::deploy::without_aws("login --provider cognito"))
        }
        #[cfg(feature = "aws")]
        Some(Provider::Cognito(_)) | None => {
            let (aws, _) = crate::deploy::connect(options).await?;
            let (_, client_id) = cognito_ids(options, plan, settings, &aws).await?;
            let domain = match (&extra.domain, &plan.cognito) {
                (Some(domain), _) => domain.clone(),
                (None, Some(tutorial)) if settings.is_none() => tutorial.domain.clone(),
                _ => bail!(
                    "a configured Cognito pool needs its Hosted UI domain prefix: pass --domain PREFIX"
                ),
            };
            let base = format!("https://{domain}.auth.{}.amazoncognito.com", aws.region);
            let endpoints = overridden(Endpoints {
                authorization_endpoint: format!("{base}/oauth2/authorize"),
                token_endpoint: format!("{base}/oauth2/token"),
            });
            Ok((endpoints, client_id, None, Vec::new(), openid(&[])))
        }
        Some(provider) => {
            let (client_id, secret) = client(extra, false)?;
            let Some(settings) = settings else {
                bail!("the {} provider needs settings", options.provider.name());
            };
            let (endpoints, params) = match provider {
                Provider::Auth0(tenant) => (
                    Endpoints {
                        authorization_endpoint: format!("https://{}/authorize", tenant.domain()),
                        token_endpoint: tenant.token_url(),
                    },
                    vec![("audience".to_owned(), tenant.audience().to_owned())],
                ),
                Provider::Okta(okta) => (
                    Endpoints {
                        authorization_endpoint: format!("{}/v1/authorize", okta.issuer()),
                        token_endpoint: okta.token_url(),
                    },
                    Vec::new(),
                ),
                _ if extra.authorize_url.is_some() && extra.token_url.is_some() => (
                    Endpoints {
                        authorization_endpoint: String::new(),
                        token_endpoint: String::new(),
                    },
                    Vec::new(),
                ),
                _ => (discover(settings).await?, Vec::new()),
            };
            Ok((
                overridden(endpoints),
                client_id,
                secret,
                params,
                openid(&["offline_access"]),
            ))
        }
    }
}

fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_err()
    {
        eprintln!("(no browser opener found: open the URL above yourself)");
    }
}

/// Waits for the redirect: answers each request on the listener, until one brings this sign-in's
/// code, the issuer refuses, or `timeout` passes. At most 50 requests (a browser also asks for
/// /favicon.ico); each must send its request head within 10 s.
async fn catch_redirect(
    listener: &tokio::net::TcpListener,
    grant: &AuthorizationCode,
    timeout: Duration,
) -> Result<String> {
    let deadline = Instant::now() + timeout;
    eprintln!("waiting up to {} s for the sign-in…", timeout.as_secs());
    for _ in 0..50 {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(accepted) = tokio::time::timeout(left, listener.accept()).await else {
            bail!(
                "no sign-in came back within {} s (--timeout SECONDS to wait longer)",
                timeout.as_secs()
            );
        };
        let (mut stream, _) = accepted?;
        let Ok(Some(target)) =
            tokio::time::timeout(Duration::from_secs(10), request_target(&mut stream)).await
        else {
            let _ = respond(&mut stream, "400 Bad Request", "Not a sign-in redirect.").await;
            continue;
        };
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        if path != "/callback" {
            let _ = respond(&mut stream, "404 Not Found", "Not here.").await;
            continue;
        }
        match grant.code_from_redirect(query) {
            Ok(code) => {
                let _ = respond(
                    &mut stream,
                    "200 OK",
                    "Signed in. The token is in your terminal; you can close this tab.",
                )
                .await;
                return Ok(code);
            }
            Err(error @ RedirectError::Refused(_)) => {
                let _ = respond(&mut stream, "400 Bad Request", &error.to_string()).await;
                bail!("{error}");
            }
            Err(error) => {
                eprintln!("ignored a redirect: {error}");
                let _ = respond(&mut stream, "400 Bad Request", &error.to_string()).await;
            }
        }
    }
    bail!("50 requests reached the listener without this sign-in's redirect; stopped")
}

/// The request target of a `GET` (at most 8 KiB of request head).
async fn request_target(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await.ok()?;
        if read == 0 || head.len() + read > 8192 {
            return None;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("GET"), Some(target), Some(version)) if version.starts_with("HTTP/1.") => {
            Some(target.to_owned())
        }
        _ => None,
    }
}

async fn respond(stream: &mut tokio::net::TcpStream, status: &str, text: &str) -> Result<()> {
    let body = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>Portcullis</title><p>{}</p>\n",
        text.replace('&', "&amp;").replace('<', "&lt;")
    );
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(())
}
