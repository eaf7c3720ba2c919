//! What an authorizer checks: issuer, audiences, algorithms, leeway, and how keys are fetched.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use url::Url;

use crate::gate::{ClaimRule, Gate, IdentitySource};

/// At most 50 audiences per authorizer (AWS "HTTP API quotas").
pub const MAX_AUDIENCES: usize = 50;
/// At most 10 scopes per route (AWS "HTTP API quotas").
pub const MAX_ROUTE_SCOPES: usize = 10;
/// Request line plus header values are at most 10240 bytes (AWS "HTTP API quotas"): no token is longer.
pub const MAX_TOKEN_BYTES: usize = 10_240;
/// JWKS fetch timeout, 1500 ms (AWS "HTTP API quotas"); OIDC discovery has the same limit.
pub const FETCH_TIMEOUT: Duration = Duration::from_millis(1500);
/// JWKS response at most 150000 bytes (AWS "HTTP API quotas").
pub const MAX_JWKS_BYTES: usize = 150_000;
/// API Gateway caches an issuer's public keys for up to two hours ("Control access to HTTP APIs with
/// JWT authorizers"): after that we refresh.
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(2 * 60 * 60);
/// How long keys that could not be refreshed are still used: 6 hours (three missed refreshes),
/// then requests fail closed with "keys unavailable" until the issuer answers again.
pub const KEYS_MAX_STALENESS: Duration = Duration::from_secs(6 * 60 * 60);
/// Unknown `kid`s trigger at most one refetch per this window, so random kids cause no fetch storm.
pub const REFRESH_COOLDOWN: Duration = Duration::from_secs(30);
/// Verified tokens remembered by default.
pub const TOKEN_CACHE_ENTRIES: usize = 4096;
/// The verified-token cache's default byte budget (its claims' estimated heap size): 16 MiB, a
/// sixteenth of a 256 MB function, whatever the tokens carry.
pub const TOKEN_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// A signature algorithm this verifier can check. HMAC is deliberately absent: a JWKS publishes
/// public keys, and an HMAC "verified" with a public key is the algorithm-confusion attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    ES512,
    EdDSA,
}

impl Algorithm {
    /// What API Gateway's JWT authorizer accepts: RSA PKCS#1 v1.5 signatures.
    pub const GATEWAY_DEFAULT: [Algorithm; 3] =
        [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512];

    /// Every algorithm this crate can check.
    pub const ALL: [Algorithm; 10] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
    ];

    /// The JOSE name (`"RS256"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::ES512 => "ES512",
            Algorithm::EdDSA => "EdDSA",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = ConfigError;

    /// Exact JOSE names only: `rs256` is not `RS256`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                ConfigError::new(
                    "algorithms",
                    s,
                    "one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA",
                )
            })
    }
}

/// A configuration value that cannot work, named with the key, the value and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {key} {value:?}: expected {expected}")]
pub struct ConfigError {
    /// The setting.
    pub key: String,
    /// The value given (never a secret: this type only sees public settings).
    pub value: String,
    /// What would have been accepted.
    pub expected: String,
}

impl ConfigError {
    /// A new error for `key` = `value`.
    pub fn new(key: &str, value: impl fmt::Display, expected: &str) -> Self {
        ConfigError {
            key: key.to_owned(),
            value: value.to_string(),
            expected: expected.to_owned(),
        }
    }
}

/// How an authorizer judges tokens. There is no `Default`: the caller always names the issuer and the
/// audiences. Algorithms start at API Gateway's set (RS256, RS384, RS512) and leeway at zero.
///
/// ```
/// use portcullis_claims::{Algorithm, AuthorizerConfig, Gate};
/// use std::time::Duration;
///
/// let issuer = "https://tenant.eu.auth0.com/";
/// let config = AuthorizerConfig::for_gate(Gate::RestApi, issuer, ["https://api.example.com"])?
///     .with_algorithms([Algorithm::RS256, Algorithm::ES256])?
///     .with_leeway(Duration::from_secs(5));
/// assert_eq!(config.issuer(), "https://tenant.eu.auth0.com/");
/// # Ok::<(), portcullis_claims::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerConfig {
    gate: Gate,
    issuer: String,
    audiences: Vec<String>,
    jwks_uri: Option<Url>,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
    token_use: Option<String>,
    loopback_keys: bool,
    claims: Vec<ClaimRule>,
    identity_source: IdentitySource,
}

impl AuthorizerConfig {
    /// An HTTP API authorizer for `issuer` (compared byte for byte with `iss`) and `audiences`
    /// (1 to 50).
    pub fn new<A: Into<String>>(
        issuer: impl Into<String>,
        audiences: impl IntoIterator<Item = A>,
    ) -> Result<Self, ConfigError> {
        AuthorizerConfig::for_gate(Gate::HttpApi, issuer, audiences)
    }

    /// An authorizer of `gate` for `issuer` and `audiences`: 1 to 50 on API Gateway (the REST
    /// count limit is **U**, so the HTTP API's); on the ALB, which checks no audience, none or
    /// any (kept for display, never checked: add a claim rule named `aud` to check one).
    ///
    /// ```
    /// use portcullis_claims::{Algorithm, AuthorizerConfig, Gate};
    /// let config = AuthorizerConfig::for_gate(Gate::Alb, "https://idp.example.com", [""; 0])?;
    /// assert!(config.with_algorithms([Algorithm::ES256]).is_err()); // the ALB takes RS256 only
    /// # Ok::<(), portcullis_claims::ConfigError>(())
    /// ```
    pub fn for_gate<A: Into<String>>(
        gate: Gate,
        issuer: impl Into<String>,
        audiences: impl IntoIterator<Item = A>,
    ) -> Result<Self, ConfigError> {
        let issuer = issuer.into();
        let url = check_fetchable("issuer", &issuer)?;
        match gate {
            // "An absolute https URL with a host, without user information, query or fragment"
            // (`JwtIssuerInput`).
            Gate::RestApi if url.query().is_some() || url.fragment().is_some() => {
                return Err(ConfigError::new(
                    "issuer",
                    &issuer,
                    "an issuer URL without query or fragment (the REST API JWT authorizer's rule)",
                ));
            }
            Gate::Alb if issuer.len() > 256 => {
                return Err(ConfigError::new(
                    "issuer",
                    format!("{} characters", issuer.len()),
                    "an issuer of at most 256 characters (the ALB's limit)",
                ));
            }
            _ => {}
        }
        let audiences: Vec<String> = audiences.into_iter().map(Into::into).collect();
        if gate.checks_audience() && (audiences.is_empty() || audiences.len() > MAX_AUDIENCES) {
            return Err(ConfigError::new(
                "audience",
                format!("{} entries", audiences.len()),
                "between 1 and 50 audiences (API Gateway's quota)",
            ));
        }
        if let Some(blank) = audiences.iter().find(|a| a.trim().is_empty()) {
            return Err(ConfigError::new("audience", blank, "a non-empty audience"));
        }
        Ok(AuthorizerConfig {
            gate,
            issuer,
            audiences,
            jwks_uri: None,
            algorithms: gate.default_algorithms().to_vec(),
            leeway: Duration::ZERO,
            token_use: None,
            loopback_keys: false,
            claims: Vec::new(),
            identity_source: IdentitySource::default(),
        })
    }

    /// Also require these additional claims (REST and ALB; the HTTP API checks none), refused
    /// when the gate does not allow a rule: its name, format, values or count.
    pub fn with_claims(
        mut self,
        rules: impl IntoIterator<Item = ClaimRule>,
    ) -> Result<Self, ConfigError> {
        let rules: Vec<ClaimRule> = rules.into_iter().collect();
        crate::gate::check_claim_rules(self.gate, &rules)?;
        self.claims = rules;
        Ok(self)
    }

    /// Read the token from this identity source instead of the `Authorization` header, when the
    /// gate allows it ([`IdentitySource::parse`]).
    pub fn with_identity_source(mut self, source: IdentitySource) -> Result<Self, ConfigError> {
        IdentitySource::parse(self.gate, &source.expression())?;
        self.identity_source = source;
        Ok(self)
    }

    /// The gate whose rules judge.
    pub fn gate(&self) -> Gate {
        self.gate
    }
    /// The additional claim rules.
    pub fn claims(&self) -> &[ClaimRule] {
        &self.claims
    }
    /// Where the token is read from.
    pub fn identity_source(&self) -> &IdentitySource {
        &self.identity_source
    }

    /// Fetch keys from this URL instead of the `jwks_uri` that OIDC discovery names.
    pub fn with_jwks_uri(mut self, uri: &str) -> Result<Self, ConfigError> {
        self.jwks_uri = Some(check_fetchable_for(
            &self.issuer,
            self.loopback_keys,
            "jwks_uri",
            uri,
        )?);
        Ok(self)
    }

    /// Lets an https issuer's keys come from plain http on loopback: for emulators that sign as a
    /// real issuer but serve keys on 127.0.0.1 (moto's Cognito, oauth2-mock-server). Never in
    /// production: in Lambda, `127.0.0.1:9001` is the Runtime API. Set it before
    /// [`AuthorizerConfig::with_jwks_uri`].
    pub fn allowing_loopback_keys(mut self) -> Self {
        self.loopback_keys = true;
        self
    }

    /// Whether [`AuthorizerConfig::allowing_loopback_keys`] was set.
    pub fn loopback_keys(&self) -> bool {
        self.loopback_keys
    }

    /// Accept exactly these algorithms (at least one, each one the gate takes:
    /// [`Gate::algorithms`]).
    pub fn with_algorithms(
        mut self,
        algorithms: impl IntoIterator<Item = Algorithm>,
    ) -> Result<Self, ConfigError> {
        let mut algorithms: Vec<Algorithm> = algorithms.into_iter().collect();
        for algorithm in &algorithms {
            self.gate.check_algorithm(*algorithm)?;
        }
        algorithms.sort();
        algorithms.dedup();
        if algorithms.is_empty() {
            return Err(ConfigError::new(
                "algorithms",
                "[]",
                "at least one signature algorithm",
            ));
        }
        self.algorithms = algorithms;
        Ok(self)
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat` (API Gateway tolerates none).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Also require `token_use` to equal this (Cognito: `"access"` or `"id"`). API Gateway itself does
    /// not check `token_use`; this is an opt-in hardening.
    pub fn with_token_use(mut self, token_use: impl Into<String>) -> Self {
        self.token_use = Some(token_use.into());
        self
    }

    /// The expected `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// The accepted audiences.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }
    /// The JWKS URL override, if any.
    pub fn jwks_uri(&self) -> Option<&Url> {
        self.jwks_uri.as_ref()
    }
    /// The allowed algorithms, sorted.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }
    /// The tolerated clock skew.
    pub fn leeway(&self) -> Duration {
        self.leeway
    }
    /// The required `token_use`, if any.
    pub fn token_use(&self) -> Option<&str> {
        self.token_use.as_deref()
    }

    /// Where OIDC discovery looks: `{issuer}/.well-known/openid-configuration`, with exactly one
    /// slash whether or not the issuer ends in one.
    pub fn discovery_url(&self) -> Result<Url, ConfigError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        check_fetchable("issuer", &url)
    }
}

/// An https URL, or plain http to a loopback host (local issuers and emulators).
pub fn check_fetchable(key: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value)
        .map_err(|e| ConfigError::new(key, value, &format!("an absolute https URL ({e})")))?;
    if url.host_str().is_none() || url.cannot_be_a_base() {
        return Err(ConfigError::new(
            key,
            value,
            "an absolute https URL with a host",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(key, value, "a URL without credentials"));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        _ => Err(ConfigError::new(
            key,
            value,
            "an https URL (plain http only for loopback hosts)",
        )),
    }
}

/// [`check_fetchable`] for a URL `issuer`'s keys are fetched from: plain http only when the issuer
/// itself is plain http on loopback (the development issuer), never for an https issuer (in Lambda,
/// `127.0.0.1:9001` is the Runtime API).
pub(crate) fn check_fetchable_for(
    issuer: &str,
    loopback_keys: bool,
    key: &str,
    value: &str,
) -> Result<Url, ConfigError> {
    let url = check_fetchable(key, value)?;
    let issuer_is_plain_loopback =
        Url::parse(issuer).is_ok_and(|issuer| issuer.scheme() == "http" && is_loopback(&issuer));
    if url.scheme() == "http" && !issuer_is_plain_loopback && !loopback_keys {
        return Err(ConfigError::new(
            key,
            value,
            "an https URL (plain http only for a plain http loopback issuer)",
        ));
    }
    Ok(url)
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// A bare host name such as `tenant.eu.auth0.com` (no scheme, path or port), for provider settings
/// that derive URLs from a domain.
pub fn check_domain(key: &str, value: &str) -> Result<String, ConfigError> {
    if value.contains("://") {
        let host = value
            .split("://")
            .nth(1)
            .unwrap_or_default()
            .trim_end_matches('/');
        return Err(ConfigError::new(
            key,
            value,
            &format!("a host name without scheme, like {host:?}"),
        ));
    }
    let labels_ok = value.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if value.is_empty() || value.len() > 253 || !value.contains('.') || !labels_ok {
        return Err(ConfigError::new(
            key,
            value,
            "a host name like tenant.example.com (no path, port or slash)",
        ));
    }
    Ok(value.to_ascii_lowercase())
}
