//! Auth0 tenants as a Portcullis provider.
//!
//! - Issuer `https://{domain}/`: Auth0 puts a trailing slash in `iss`, and API Gateway compares `iss`
//!   byte for byte, so the slash is part of the configured issuer.
//! - Audience: the API identifier (`https://api.example.com`). Access tokens often carry a list
//!   (`[api, https://{domain}/userinfo]`); any match suffices.
//! - RBAC permissions arrive in `permissions`; roles and other custom claims are namespaced
//!   (`https://example.com/roles`), so the roles claim is a setting.
//!
//! ```
//! use portcullis_auth0::Auth0Settings;
//! let tenant = Auth0Settings::new("Tenant.EU.auth0.com", "https://api.example.com", None)?;
//! assert_eq!(tenant.issuer(), "https://tenant.eu.auth0.com/");
//! assert_eq!(tenant.token_url(), "https://tenant.eu.auth0.com/oauth/token");
//! # Ok::<(), portcullis_claims::ConfigError>(())
//! ```

#![warn(missing_docs)]

use portcullis_claims::{
    AuthorizerConfig, Claims, ConfigError, Identity, IdentityMapping, check_domain, first_string,
    owned, token_kind,
};
use portcullis_grant::ClientCredentials;

/// A tenant and the API whose tokens are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth0Settings {
    domain: String,
    audience: String,
    roles_claim: Option<String>,
}

impl Auth0Settings {
    /// `domain` is the tenant host (`tenant.eu.auth0.com` or a custom domain), `audience` the API
    /// identifier, `roles_claim` an optional namespaced claim holding roles.
    pub fn new(
        domain: &str,
        audience: &str,
        roles_claim: Option<&str>,
    ) -> Result<Auth0Settings, ConfigError> {
        let domain = check_domain("auth.auth0.domain", domain)?;
        if audience.trim().is_empty() {
            return Err(ConfigError::new(
                "auth.auth0.audience",
                audience,
                "the API identifier, like https://api.example.com",
            ));
        }
        if let Some(claim) = roles_claim
            && !(claim.starts_with("https://") || claim.starts_with("http://"))
        {
            return Err(ConfigError::new(
                "auth.auth0.roles_claim",
                claim,
                "a namespaced claim such as https://example.com/roles (Auth0 drops non-namespaced custom claims)",
            ));
        }
        Ok(Auth0Settings {
            domain,
            audience: audience.to_owned(),
            roles_claim: roles_claim.map(str::to_owned),
        })
    }

    /// The tenant host.
    pub fn domain(&self) -> &str {
        &self.domain
    }
    /// The namespaced roles claim, if configured.
    pub fn roles_claim(&self) -> Option<&str> {
        self.roles_claim.as_deref()
    }
    /// `https://{domain}/`, trailing slash included.
    pub fn issuer(&self) -> String {
        format!("https://{}/", self.domain)
    }
    /// The tenant's key set, `https://{domain}/.well-known/jwks.json` (for gates that take an
    /// explicit JWKS endpoint, like the ALB's).
    pub fn jwks_uri(&self) -> String {
        format!("https://{}/.well-known/jwks.json", self.domain)
    }
    /// The API identifier.
    pub fn audience(&self) -> &str {
        &self.audience
    }
    /// The tenant's token endpoint.
    pub fn token_url(&self) -> String {
        format!("https://{}/oauth/token", self.domain)
    }

    /// The authorizer configuration for this tenant and API.
    pub fn authorizer_config(&self) -> Result<AuthorizerConfig, ConfigError> {
        AuthorizerConfig::new(self.issuer(), [self.audience.clone()])
    }

    /// The mapping of this tenant's claims.
    pub fn mapping(&self) -> Auth0Mapping {
        Auth0Mapping {
            roles_claim: self.roles_claim.clone(),
        }
    }

    /// A client-credentials request for this API (credentials sent as form fields, as Auth0 expects).
    pub fn client_credentials(
        &self,
        client_id: &str,
        client_secret: &str,
        scopes: &[String],
    ) -> ClientCredentials {
        ClientCredentials {
            audience: Some(self.audience.clone()),
            ..ClientCredentials::new(self.token_url(), client_id, client_secret, scopes)
        }
    }
}

/// Auth0's claim names: `permissions`, a namespaced roles claim, `azp` for the client.
#[derive(Debug, Clone, Default)]
pub struct Auth0Mapping {
    roles_claim: Option<String>,
}

impl IdentityMapping for Auth0Mapping {
    fn identity(&self, claims: &Claims) -> Identity {
        Identity {
            subject: claims.sub().map(str::to_owned),
            username: first_string(claims, &["nickname", "name", "preferred_username"]),
            email: claims.email().map(str::to_owned),
            groups: self
                .roles_claim
                .as_deref()
                .map(|c| owned(claims.strings(c)))
                .unwrap_or_default(),
            permissions: owned(claims.strings("permissions")),
            token_scopes: owned(claims.scopes()),
            client_id: first_string(claims, &["azp", "client_id"]),
            token_kind: token_kind(claims),
        }
    }
}

/// The README's examples, compiled (and those without `no_run` run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
