//! Amazon Cognito user pools as a Portcullis provider.
//!
//! - Issuers (Cognito API Reference, `IssuerConfigurationType`): `ORIGINAL` pools issue
//!   `https://cognito-idp.{region}.amazonaws.com/{userPoolId}`; `UPDATED` pools (recommended, and what
//!   multi-Region replication uses) issue `https://issuer-cognito-idp.{region}.amazonaws.com/{userPoolId}`
//!   with `region` the pool's primary Region. Each issuer has its own discovery document and JWKS.
//!   [`IssuerType::Both`] trusts both while a pool moves from one to the other.
//! - The audience is the app client id: id tokens carry it as `aud`, access tokens as `client_id` (no
//!   `aud`), which is exactly API Gateway's `client_id` fallback.
//! - Id tokens name the user `cognito:username`, access tokens `username`; groups are `cognito:groups`.
//!
//! ```
//! use portcullis_cognito::{CognitoSettings, IssuerType};
//! let pool = CognitoSettings::new("eu-west-1", "eu-west-1_AbC123", "6p1kqe3vvbh3e6rh2cbqmqtl5a", IssuerType::Original)?;
//! assert_eq!(pool.issuers(), ["https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"]);
//! # Ok::<(), portcullis_claims::ConfigError>(())
//! ```

#![warn(missing_docs)]

use std::str::FromStr;

use portcullis_claims::{
    AuthorizerConfig, Claims, ConfigError, Identity, IdentityMapping, first_string, owned,
    token_kind,
};

#[cfg(feature = "sdk")]
pub mod sdk;

/// The original tutorial's app client, as the SDK provisioning ([`sdk`]) and Portcullis'
/// CloudFormation export both make it: one list, so the two cannot drift.
pub mod tutorial_client {
    /// OAuth scopes.
    pub const OAUTH_SCOPES: [&str; 5] = [
        "phone",
        "email",
        "openid",
        "profile",
        "aws.cognito.signin.user.admin",
    ];
    /// OAuth grants (`token` is the implicit grant's value in the API).
    pub const OAUTH_FLOWS: [&str; 2] = ["implicit", "code"];
    /// Sign-in flows: the test user's password sign-in (`portcullis token`), its admin variant, and
    /// refresh.
    pub const AUTH_FLOWS: [&str; 3] = [
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_ADMIN_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    ];
    /// Identity providers.
    pub const IDENTITY_PROVIDERS: [&str; 1] = ["COGNITO"];
}

/// Which issuer identifiers the pool's tokens may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerType {
    /// `https://cognito-idp.{region}.amazonaws.com/{pool}`.
    Original,
    /// `https://issuer-cognito-idp.{region}.amazonaws.com/{pool}`.
    Updated,
    /// Either (during a migration).
    Both,
}

impl FromStr for IssuerType {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "original" => Ok(IssuerType::Original),
            "updated" => Ok(IssuerType::Updated),
            "both" => Ok(IssuerType::Both),
            other => Err(ConfigError::new(
                "auth.cognito.issuer_type",
                other,
                "one of original, updated, both",
            )),
        }
    }
}

/// A user pool and its app client, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CognitoSettings {
    region: String,
    user_pool_id: String,
    client_id: String,
    issuer_type: IssuerType,
}

impl CognitoSettings {
    /// Checks the region (`us-east-1`), the pool id (`{region}_{id}`, same region) and the client id.
    pub fn new(
        region: &str,
        user_pool_id: &str,
        client_id: &str,
        issuer_type: IssuerType,
    ) -> Result<CognitoSettings, ConfigError> {
        check_region(region)?;
        let Some((pool_region, id)) = user_pool_id.split_once('_') else {
            return Err(ConfigError::new(
                "auth.cognito.user_pool_id",
                user_pool_id,
                &format!("a pool id like {region}_AbC123 (region, underscore, id)"),
            ));
        };
        if pool_region != region {
            return Err(ConfigError::new(
                "auth.cognito.user_pool_id",
                user_pool_id,
                &format!(
                    "a pool in region {region} (auth.cognito.region), but this id names region {pool_region}"
                ),
            ));
        }
        if id.is_empty()
            || user_pool_id.len() > 55
            || !id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(ConfigError::new(
                "auth.cognito.user_pool_id",
                user_pool_id,
                "at most 55 characters, the id part letters and digits (AWS pattern [\\w-]+_[0-9a-zA-Z]+)",
            ));
        }
        if client_id.is_empty()
            || client_id.len() > 128
            || !client_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'+')
        {
            return Err(ConfigError::new(
                "auth.cognito.client_id",
                client_id,
                "an app client id of 1 to 128 letters, digits, _ or + (AWS pattern [\\w+]+)",
            ));
        }
        Ok(CognitoSettings {
            region: region.to_owned(),
            user_pool_id: user_pool_id.to_owned(),
            client_id: client_id.to_owned(),
            issuer_type,
        })
    }

    /// The Region.
    pub fn region(&self) -> &str {
        &self.region
    }
    /// The user pool id.
    pub fn user_pool_id(&self) -> &str {
        &self.user_pool_id
    }
    /// The app client id: the audience.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
    /// Which issuers are trusted.
    pub fn issuer_type(&self) -> IssuerType {
        self.issuer_type
    }

    /// The pool's original issuer form, `https://cognito-idp.{region}.amazonaws.com/{pool}`.
    pub fn original_issuer(&self) -> String {
        format!(
            "https://cognito-idp.{}.amazonaws.com/{}",
            self.region, self.user_pool_id
        )
    }

    /// The pool's key set, `{original issuer}/.well-known/jwks.json` (for gates that take an
    /// explicit JWKS endpoint, like the ALB's).
    pub fn jwks_uri(&self) -> String {
        format!("{}/.well-known/jwks.json", self.original_issuer())
    }

    /// The pool's updated issuer form, `https://issuer-cognito-idp.{region}.amazonaws.com/{pool}`.
    pub fn updated_issuer(&self) -> String {
        format!(
            "https://issuer-cognito-idp.{}.amazonaws.com/{}",
            self.region, self.user_pool_id
        )
    }

    /// The trusted issuer identifiers, original first.
    pub fn issuers(&self) -> Vec<String> {
        let (original, updated) = (self.original_issuer(), self.updated_issuer());
        match self.issuer_type {
            IssuerType::Original => vec![original],
            IssuerType::Updated => vec![updated],
            IssuerType::Both => vec![original, updated],
        }
    }

    /// One authorizer configuration per trusted issuer, audience the app client id.
    pub fn authorizer_configs(&self) -> Result<Vec<AuthorizerConfig>, ConfigError> {
        self.issuers()
            .into_iter()
            .map(|issuer| AuthorizerConfig::new(issuer, [self.client_id.clone()]))
            .collect()
    }

    /// The Hosted UI sign-in URL for a pool domain prefix (implicit grant, as the original tutorial
    /// used it) returning to `redirect_uri`.
    pub fn hosted_ui_url(&self, domain_prefix: &str, redirect_uri: &str) -> String {
        let mut query = String::new();
        for (i, (k, v)) in [
            ("client_id", self.client_id.as_str()),
            ("response_type", "token"),
            (
                "scope",
                "email openid profile aws.cognito.signin.user.admin",
            ),
            ("redirect_uri", redirect_uri),
        ]
        .into_iter()
        .enumerate()
        {
            query.push(if i == 0 { '?' } else { '&' });
            query.push_str(k);
            query.push('=');
            query.push_str(&percent_encode(v));
        }
        format!(
            "https://{domain_prefix}.auth.{}.amazoncognito.com/login{query}",
            self.region
        )
    }
}

/// The Hosted UI domain prefix of the original tutorial: `service-user-pool-domain-{stage}-{suffix}`
/// (`DOMAIN_SUFFIX` keeps it unique, since prefixes are global per Region).
pub fn tutorial_domain(stage: &str, suffix: &str) -> Result<String, ConfigError> {
    let domain = format!("service-user-pool-domain-{stage}-{suffix}");
    let ok = domain.len() <= 63
        && domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !domain.ends_with('-')
        && !stage.is_empty()
        && !suffix.is_empty();
    if ok {
        Ok(domain)
    } else {
        Err(ConfigError::new(
            "domain",
            domain,
            "a Hosted UI prefix of at most 63 lowercase letters, digits and hyphens (check stage and DOMAIN_SUFFIX)",
        ))
    }
}

/// Cognito's claim names: `cognito:username` or `username`, `cognito:groups`, `client_id` or `aud`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CognitoMapping;

impl IdentityMapping for CognitoMapping {
    fn identity(&self, claims: &Claims) -> Identity {
        Identity {
            subject: claims.sub().map(str::to_owned),
            username: first_string(claims, &["cognito:username", "username"]),
            email: claims.email().map(str::to_owned),
            groups: owned(claims.strings("cognito:groups")),
            permissions: Vec::new(),
            token_scopes: owned(claims.scopes()),
            client_id: first_string(claims, &["client_id", "aud"]),
            token_kind: token_kind(claims),
        }
    }
}

fn check_region(region: &str) -> Result<(), ConfigError> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = parts.len() >= 3
        && parts[0].len() == 2
        && parts
            .iter()
            .take(parts.len() - 1)
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            "auth.cognito.region",
            region,
            "an AWS Region code like us-east-1",
        ))
    }
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosted_ui_url_escapes_its_parameters() {
        let pool =
            CognitoSettings::new("us-east-1", "us-east-1_Ab1", "client", IssuerType::Original)
                .unwrap();
        assert_eq!(
            pool.hosted_ui_url("service-user-pool-domain-dev-x1", "https://localhost:3000"),
            "https://service-user-pool-domain-dev-x1.auth.us-east-1.amazoncognito.com/login?client_id=client\
             &response_type=token&scope=email%20openid%20profile%20aws.cognito.signin.user.admin\
             &redirect_uri=https%3A%2F%2Flocalhost%3A3000"
        );
    }

    #[test]
    fn tutorial_domain_is_checked_for_cognito_prefix_rules() {
        assert_eq!(
            tutorial_domain("dev", "x1").unwrap(),
            "service-user-pool-domain-dev-x1"
        );
        assert!(tutorial_domain("Dev", "x1").is_err());
        assert!(tutorial_domain("dev", "").is_err());
        assert!(tutorial_domain("dev", &"a".repeat(40)).is_err());
    }

    #[test]
    fn both_issuer_forms_are_trusted_when_asked() {
        let pool =
            CognitoSettings::new("eu-west-1", "eu-west-1_Ab1", "client", IssuerType::Both).unwrap();
        assert_eq!(
            pool.issuers(),
            [
                "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab1",
                "https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab1"
            ]
        );
    }
}

/// The README's examples, compiled (and those without `no_run` run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
