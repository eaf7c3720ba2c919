//! Getting a token to test with: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4).

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::config::check_fetchable;

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
}

impl std::fmt::Debug for GrantedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantedToken")
            .field("access_token", &"<redacted>")
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
    Url(#[from] crate::ConfigError),
    /// The endpoint could not be reached.
    #[error("token request to {url} failed: {reason}")]
    Transport {
        /// The endpoint.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The endpoint refused; its OAuth `error` and `error_description` are kept.
    #[error("{url} refused the client-credentials grant (HTTP {status}): {detail}")]
    Refused {
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
        let url: Url = check_fetchable("token_url", &self.token_url)?;
        let transport = |e: reqwest::Error| GrantError::Transport {
            url: url.to_string(),
            reason: e.without_url().to_string(),
        };
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
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(transport)?;
        let mut request = client
            .post(url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(form.finish());
        if self.basic_auth {
            request = request.basic_auth(&self.client_id, Some(&self.client_secret));
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            let detail: String = String::from_utf8_lossy(&body).chars().take(300).collect();
            return Err(GrantError::Refused {
                url: url.to_string(),
                status: status.as_u16(),
                detail,
            });
        }
        serde_json::from_slice(&body).map_err(|_| GrantError::Refused {
            url: url.to_string(),
            status: status.as_u16(),
            detail: "the answer has no access_token".into(),
        })
    }
}
