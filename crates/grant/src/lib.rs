//! Getting a token to test with: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4), and the
//! authorization-code grant with PKCE (RFC 6749 §4.1, RFC 7636) for a person signing in, with the
//! issuer's endpoints found by OIDC discovery.
//!
//! The other side of the wire from the verifier, so a crate of its own: the providers' and the
//! command line's way to get a token, never needed to judge one. Its URLs are held to the
//! verifier's fetch rules (https, or plain http to loopback; redirects on the same host only).

#![warn(missing_docs)]

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use portcullis_claims::fetch::{check_fetchable, same_host_redirects};

/// A client-credentials request to a token endpoint.
#[derive(Clone)]
pub struct ClientCredentials {
    /// The token endpoint (`https://TENANT.auth0.com/oauth/token`, `{issuer}/v1/token` for Okta).
    pub token_url: String,
    /// The OAuth client.
    pub client_id: String,
    /// Its secret (never logged or shown).
    pub client_secret: String,
    /// `audience` parameter (Auth0 requires it; Okta ignores it).
    pub audience: Option<String>,
    /// Scopes to ask for, space-joined into `scope`.
    pub scopes: Vec<String>,
    /// Send the credentials as HTTP Basic (Okta) instead of form fields (Auth0).
    pub basic_auth: bool,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("audience", &self.audience)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// What a token endpoint granted.
#[derive(Clone, Deserialize)]
pub struct GrantedToken {
    /// The access token.
    pub access_token: String,
    /// Normally `Bearer`.
    #[serde(default)]
    pub token_type: String,
    /// Lifetime in seconds, when the endpoint says.
    pub expires_in: Option<u64>,
    /// Granted scopes, when the endpoint says.
    pub scope: Option<String>,
    /// The id token (authorization-code grant with the `openid` scope).
    pub id_token: Option<String>,
    /// The refresh token, when issued.
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for GrantedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantedToken")
            .field("access_token", &"<redacted>")
            .field("id_token", &self.id_token.as_ref().map(|_| "<redacted>"))
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Why no token was granted.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// The token URL is not https (or http to loopback).
    #[error(transparent)]
    Url(#[from] portcullis_claims::ConfigError),
    /// The endpoint could not be reached.
    #[error("token request to {url} failed: {reason}")]
    Transport {
        /// The endpoint.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The answer was larger than any token or discovery document; reading stopped there.
    #[error("{url} sent more than {limit} bytes")]
    TooLarge {
        /// The endpoint.
        url: String,
        /// The bound.
        limit: usize,
    },
    /// The endpoint refused; its OAuth `error` and `error_description` are kept.
    #[error("{url} refused the {grant} grant (HTTP {status}): {detail}")]
    Refused {
        /// `client-credentials`, `authorization-code`, or `discovery` for a discovery document.
        grant: &'static str,
        /// The endpoint.
        url: String,
        /// HTTP status.
        status: u16,
        /// The endpoint's error text, at most 300 characters.
        detail: String,
    },
}

impl ClientCredentials {
    /// A request to `token_url` for `scopes`, credentials sent as form fields and no audience;
    /// set `audience` or `basic_auth` as the provider wants.
    pub fn new(
        token_url: String,
        client_id: &str,
        client_secret: &str,
        scopes: &[String],
    ) -> ClientCredentials {
        ClientCredentials {
            token_url,
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            audience: None,
            scopes: scopes.to_vec(),
            basic_auth: false,
        }
    }

    /// Asks the token endpoint for an access token.
    pub async fn request(&self) -> Result<GrantedToken, GrantError> {
        // Finished before the await, as in `AuthorizationCode::exchange` (the serializer is not `Send`).
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            if !self.basic_auth {
                form.append_pair("client_id", &self.client_id);
                form.append_pair("client_secret", &self.client_secret);
            }
            if let Some(audience) = &self.audience {
                form.append_pair("audience", audience);
            }
            if !self.scopes.is_empty() {
                form.append_pair("scope", &self.scopes.join(" "));
            }
            form.finish()
        };
        let basic = self
            .basic_auth
            .then_some((self.client_id.as_str(), Some(self.client_secret.as_str())));
        post_form(
            "client-credentials",
            "token_url",
            &self.token_url,
            form,
            basic,
        )
        .await
    }
}

/// Sends `form` to the token endpoint `token_url` and reads the granted tokens.
async fn post_form(
    grant: &'static str,
    key: &str,
    token_url: &str,
    form: String,
    basic: Option<(&str, Option<&str>)>,
) -> Result<GrantedToken, GrantError> {
    let url: Url = check_fetchable(key, token_url)?;
    let transport = transport_error(&url);
    // No redirect is followed: it would send the form (and its client secret) to another place.
    let client = http_client(&url, reqwest::redirect::Policy::none())?;
    let mut request = client
        .post(url.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(form);
    if let Some((user, password)) = basic {
        // RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding.
        let encode =
            |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
        request = request.basic_auth(encode(user), password.map(encode));
    }
    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let body = read_capped(&url, response, MAX_TOKEN_ANSWER).await?;
    if !status.is_success() {
        let detail: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        return Err(GrantError::Refused {
            grant,
            url: url.to_string(),
            status: status.as_u16(),
            detail,
        });
    }
    serde_json::from_slice(&body).map_err(|_| GrantError::Refused {
        grant,
        url: url.to_string(),
        status: status.as_u16(),
        detail: "the answer has no access_token".into(),
    })
}

/// How a failed request to `url` is reported.
fn transport_error(url: &Url) -> impl Fn(reqwest::Error) -> GrantError + Copy + '_ {
    move |e| GrantError::Transport {
        url: url.to_string(),
        reason: e.without_url().to_string(),
    }
}

/// The largest token answer read (tokens are bounded by API Gateway's 10 KiB headers).
const MAX_TOKEN_ANSWER: usize = 64 * 1024;
/// The largest discovery document read.
const MAX_DISCOVERY: usize = 100_000;

/// The client for grant and discovery requests: 10 s for the whole exchange, `redirects` as given.
fn http_client(
    url: &Url,
    redirects: reqwest::redirect::Policy,
) -> Result<reqwest::Client, GrantError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(redirects)
        .build()
        .map_err(transport_error(url))
}

/// The body of `response`, read in chunks and refused once past `limit` bytes.
async fn read_capped(
    url: &Url,
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, GrantError> {
    let too_large = || GrantError::TooLarge {
        url: url.to_string(),
        limit,
    };
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error(url))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An issuer's OAuth endpoints (from its discovery document, or known for the provider).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Endpoints {
    /// Where a person signs in (`authorization_endpoint`).
    pub authorization_endpoint: String,
    /// Where codes and credentials become tokens (`token_endpoint`).
    pub token_endpoint: String,
}

impl Endpoints {
    /// Reads `{issuer}/.well-known/openid-configuration`.
    pub async fn discover(
        config: &portcullis_claims::AuthorizerConfig,
    ) -> Result<Endpoints, GrantError> {
        let url = config.discovery_url()?;
        let transport = transport_error(&url);
        let client = http_client(&url, same_host_redirects())?;
        let response = client.get(url.clone()).send().await.map_err(transport)?;
        let status = response.status();
        let body = read_capped(&url, response, MAX_DISCOVERY).await?;
        let refused = |detail: &str| GrantError::Refused {
            grant: "discovery",
            url: url.to_string(),
            status: status.as_u16(),
            detail: detail.to_owned(),
        };
        if !status.is_success() {
            return Err(refused("no discovery document"));
        }
        serde_json::from_slice(&body)
            .map_err(|_| refused("the document lacks authorization_endpoint or token_endpoint"))
    }
}

/// A PKCE pair (RFC 7636, S256): the verifier stays here, the challenge goes to the sign-in page.
#[derive(Clone)]
pub struct Pkce {
    /// 43 characters from 32 random bytes.
    pub verifier: String,
    /// `BASE64URL(SHA-256(verifier))`.
    pub challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("verifier", &"<redacted>")
            .field("challenge", &self.challenge)
            .finish()
    }
}

impl Pkce {
    /// A fresh pair from the system's random source.
    pub fn new() -> Pkce {
        Pkce::from_verifier(random_text())
    }

    /// The pair for a known verifier (RFC 7636 appendix B checks it).
    pub fn from_verifier(verifier: String) -> Pkce {
        use base64::Engine;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
        Pkce {
            verifier,
            challenge,
        }
    }
}

impl Default for Pkce {
    fn default() -> Pkce {
        Pkce::new()
    }
}

/// 32 random bytes as base64url (43 characters): PKCE verifiers, `state`, test passwords.
pub fn random_text() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    // The system random source failing is not recoverable; an all-zero value would be guessable.
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The authorization-code grant with PKCE for a public client (a secret only when the client has one).
#[derive(Clone)]
pub struct AuthorizationCode {
    /// The issuer's endpoints.
    pub endpoints: Endpoints,
    /// The OAuth client.
    pub client_id: String,
    /// Its secret, for confidential clients (never logged or shown).
    pub client_secret: Option<String>,
    /// Where the sign-in page sends the person back (registered with the client).
    pub redirect_uri: String,
    /// Scopes, space-joined into `scope`.
    pub scopes: Vec<String>,
    /// Extra sign-in parameters (`audience` for Auth0).
    pub extra: Vec<(String, String)>,
    /// The PKCE pair.
    pub pkce: Pkce,
    /// The `state` the redirect must carry back.
    pub state: String,
}

impl std::fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationCode")
            .field("endpoints", &self.endpoints)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("redirect_uri", &self.redirect_uri)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl AuthorizationCode {
    /// A sign-in with a fresh PKCE pair and state.
    pub fn new(
        endpoints: Endpoints,
        client_id: &str,
        redirect_uri: &str,
        scopes: &[String],
    ) -> Self {
        AuthorizationCode {
            endpoints,
            client_id: client_id.to_owned(),
            client_secret: None,
            redirect_uri: redirect_uri.to_owned(),
            scopes: scopes.to_vec(),
            extra: Vec::new(),
            pkce: Pkce::new(),
            state: random_text(),
        }
    }

    /// The sign-in page's URL to open in a browser.
    pub fn authorize_url(&self) -> Result<Url, GrantError> {
        let mut url = check_fetchable(
            "authorization_endpoint",
            &self.endpoints.authorization_endpoint,
        )?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", &self.redirect_uri)
                .append_pair("state", &self.state)
                .append_pair("code_challenge", &self.pkce.challenge)
                .append_pair("code_challenge_method", "S256");
            if !self.scopes.is_empty() {
                query.append_pair("scope", &self.scopes.join(" "));
            }
            for (k, v) in &self.extra {
                query.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// Checks the redirect's query (`code` and `state`, or the issuer's `error`) and returns the code.
    pub fn code_from_redirect(&self, query: &str) -> Result<String, RedirectError> {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        // Compared in full, and first: a redirect from someone else's sign-in (or any page that
        // sends the browser here) is not ours to redeem, nor to end the login with an error.
        if get("state") != Some(self.state.as_str()) {
            return Err(RedirectError::State);
        }
        if let Some(error) = get("error") {
            let description: String = get("error_description")
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            return Err(RedirectError::Refused(
                format!("{error} {description}").trim().to_owned(),
            ));
        }
        match get("code") {
            Some(code) if !code.is_empty() && code.len() <= 4096 => Ok(code.to_owned()),
            _ => Err(RedirectError::NoCode),
        }
    }

    /// Redeems `code` at the token endpoint with the PKCE verifier.
    pub async fn exchange(&self, code: &str) -> Result<GrantedToken, GrantError> {
        // Built and finished before the request: the serializer is not `Send`, and a future
        // holding it across the await could not be spawned (a server's handler awaits this).
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("client_id", &self.client_id)
            .append_pair("code_verifier", &self.pkce.verifier)
            .finish();
        let basic = self
            .client_secret
            .as_deref()
            .map(|secret| (self.client_id.as_str(), Some(secret)));
        post_form(
            "authorization-code",
            "token_endpoint",
            &self.endpoints.token_endpoint,
            form,
            basic,
        )
        .await
    }
}

/// Why a redirect to the local listener carries no usable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectError {
    /// The issuer said no (`error`, `error_description`).
    #[error("the sign-in was refused: {0}")]
    Refused(String),
    /// `state` is missing or not the one sent.
    #[error(
        "the redirect's state does not match this sign-in (an old or foreign redirect); sign in again"
    )]
    State,
    /// No `code` in the redirect.
    #[error("the redirect carries no authorization code")]
    NoCode,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server spawns these (the console's sign-in callback awaits `exchange`): their futures
    /// must be `Send`, so nothing that is not (the form serializer) may live across an await.
    #[test]
    fn grant_requests_can_be_awaited_on_a_spawned_task() {
        fn spawnable<F: std::future::Future + Send>(_: F) {}
        let endpoints = Endpoints {
            authorization_endpoint: "https://issuer.example.com/authorize".into(),
            token_endpoint: "https://issuer.example.com/token".into(),
        };
        let sign_in = AuthorizationCode::new(
            endpoints,
            "client",
            "http://127.0.0.1:1/callback",
            &["openid".to_owned()],
        );
        spawnable(sign_in.exchange("code"));
        let credentials = ClientCredentials {
            token_url: "https://issuer.example.com/token".into(),
            client_id: "client".into(),
            client_secret: "secret".into(),
            audience: None,
            scopes: vec![],
            basic_auth: false,
        };
        spawnable(credentials.request());
    }
}
