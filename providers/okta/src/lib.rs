//! Okta as a Portcullis provider.
//!
//! - Only a custom authorization server (`https://{domain}/oauth2/{server}`, `default` included) issues
//!   access tokens a resource server may verify. The org authorization server (`https://{domain}`)
//!   issues access tokens meant for Okta's own APIs only, which Okta says not to validate yourself, so
//!   it is refused with an explanation.
//! - Audience `api://default` for the default server; scopes are the `scp` list; `cid` names the
//!   client, `uid` the user.
//!
//! ```
//! use portcullis_okta::OktaSettings;
//! let okta = OktaSettings::new("dev-123.okta.com", "default", "api://default")?;
//! assert_eq!(okta.issuer(), "https://dev-123.okta.com/oauth2/default");
//! assert_eq!(okta.token_url(), "https://dev-123.okta.com/oauth2/default/v1/token");
//! # Ok::<(), portcullis_claims::ConfigError>(())
//! ```

#![warn(missing_docs)]

use portcullis_claims::{
    AuthorizerConfig, Claims, ConfigError, Identity, IdentityMapping, check_domain, first_string,
    owned, token_kind,
};
use portcullis_grant::ClientCredentials;

/// An Okta org, one of its custom authorization servers, and the audience it issues for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OktaSettings {
    domain: String,
    authorization_server: String,
    audience: String,
}

impl OktaSettings {
    /// `domain` is the org host (`dev-123.okta.com`), `authorization_server` a custom server id
    /// (`default` or `aus…`), `audience` its audience (`api://default`).
    pub fn new(
        domain: &str,
        authorization_server: &str,
        audience: &str,
    ) -> Result<OktaSettings, ConfigError> {
        let domain = check_domain("auth.okta.domain", domain)?;
        if let Some(first) = domain.split('.').next()
            && first.ends_with("-admin")
        {
            return Err(ConfigError::new(
                "auth.okta.domain",
                &domain,
                &format!(
                    "the org domain, not the admin console's ({})",
                    domain.replacen("-admin", "", 1)
                ),
            ));
        }
        let server = authorization_server.trim();
        if server.is_empty() || server.eq_ignore_ascii_case("org") {
            return Err(ConfigError::new(
                "auth.okta.authorization_server",
                authorization_server,
                "a custom authorization server such as \"default\": the org authorization server's access tokens \
                 are for Okta's own APIs and cannot be verified by a resource server",
            ));
        }
        if !server
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ConfigError::new(
                "auth.okta.authorization_server",
                authorization_server,
                "an authorization server id (letters, digits, - or _), such as default",
            ));
        }
        if audience.trim().is_empty() {
            return Err(ConfigError::new(
                "auth.okta.audience",
                audience,
                "the server's audience, such as api://default",
            ));
        }
        Ok(OktaSettings {
            domain,
            authorization_server: server.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// The org host.
    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// The custom authorization server id.
    pub fn authorization_server(&self) -> &str {
        &self.authorization_server
    }
    /// The authorization server's key set, `{issuer}/v1/keys` (for gates that take an explicit
    /// JWKS endpoint, like the ALB's).
    pub fn jwks_uri(&self) -> String {
        format!("{}/v1/keys", self.issuer())
    }
    /// `https://{domain}/oauth2/{server}`.
    pub fn issuer(&self) -> String {
        format!(
            "https://{}/oauth2/{}",
            self.domain, self.authorization_server
        )
    }
    /// The audience.
    pub fn audience(&self) -> &str {
        &self.audience
    }
    /// `{issuer}/v1/token`.
    pub fn token_url(&self) -> String {
        format!("{}/v1/token", self.issuer())
    }

    /// The authorizer configuration for this server and audience.
    pub fn authorizer_config(&self) -> Result<AuthorizerConfig, ConfigError> {
        AuthorizerConfig::new(self.issuer(), [self.audience.clone()])
    }

    /// A client-credentials request (HTTP Basic client authentication; Okta needs at least one
    /// custom scope).
    pub fn client_credentials(
        &self,
        client_id: &str,
        client_secret: &str,
        scopes: &[String],
    ) -> ClientCredentials {
        ClientCredentials {
            basic_auth: true,
            ..ClientCredentials::new(self.token_url(), client_id, client_secret, scopes)
        }
    }
}

/// Okta's claim names: `scp`, `cid`, `groups`; `sub` is the user's login.
#[derive(Debug, Clone, Copy, Default)]
pub struct OktaMapping;

impl IdentityMapping for OktaMapping {
    fn identity(&self, claims: &Claims) -> Identity {
        Identity {
            subject: claims.sub().map(str::to_owned),
            // Okta's `sub` is the user's login; `uid` (the user id) stays in the claims.
            username: first_string(claims, &["preferred_username", "sub"]),
            email: claims.email().map(str::to_owned),
            groups: owned(claims.groups()),
            permissions: Vec::new(),
            token_scopes: owned(claims.scopes()),
            client_id: first_string(claims, &["cid", "client_id"]),
            token_kind: token_kind(claims),
        }
    }
}

/// The README's examples, compiled (and those without `no_run` run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
