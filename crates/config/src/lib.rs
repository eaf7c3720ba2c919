//! Portcullis configuration: one file (`portcullis.toml`), overridden by `PORTCULLIS_…` environment
//! variables (separator `__`: `PORTCULLIS_AUTH__AUDIENCE`), then by command-line flags.
//!
//! ```toml
//! [auth]
//! provider = "cognito"            # cognito | auth0 | okta | oidc
//! # issuer = "https://…"          # oidc: required; others: derived, may be overridden
//! # audience = ["…"]              # oidc: required; others: derived
//! # jwks_uri = "https://…/jwks.json"   # optional override of discovery
//! # allow_loopback_keys = true         # emulators only: keys from http://127.0.0.1 for an https issuer
//! [auth.cognito]
//! region = "us-east-1"
//! user_pool_id = "us-east-1_AbC123"
//! client_id = "6p1kqe3vvbh3e6rh2cbqmqtl5a"
//! [routes."POST /user/profile"]
//! scopes = ["profile/write"]
//! ```
//!
//! Every bad value is refused by [`load`] with a message that names the key, the value and what was
//! expected. Switching provider is a change of `auth.provider`; each provider's section may stay.
//!
//! ```
//! use portcullis_config::{Sources, load};
//! let settings = load(&Sources::text(r#"
//!     [auth]
//!     provider = "auth0"
//!     [auth.auth0]
//!     domain = "tenant.eu.auth0.com"
//!     audience = "https://api.example.com"
//! "#))?;
//! assert_eq!(settings.auth.configs[0].issuer(), "https://tenant.eu.auth0.com/");
//! # Ok::<(), portcullis_config::SettingsError>(())
//! ```

mod mapping;
mod raw;
mod routes;
mod runtime;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use portcullis_claims::{
    Algorithm, Authorizer, AuthorizerConfig, ConfigError, IdentityMapping, IdentitySource,
    OidcMapping, VerifierOptions,
};

pub use crate::routes::{
    Authorization, MappingAction, MappingTarget, MappingValue, Method, ParameterMapping, Route,
    Routes,
};
pub use crate::runtime::{
    DEFAULT_BODY_LIMIT, FunctionSettings, LAMBDA_ENVIRONMENT_BYTES, LambdaMode, LogFormat,
    MetricsSettings, ServerSettings, StoreSettings,
};
pub use portcullis_claims::cors::CorsConfiguration as CorsSettings;
/// The gate types settings name (`auth.gate`, `[[auth.claims]]`), for crates that read settings.
pub use portcullis_claims::{ClaimFormat, ClaimRule, Gate};

/// The default configuration file, read from the working directory when present.
pub const DEFAULT_FILE: &str = "portcullis.toml";

/// Where settings come from, lowest precedence first: file, environment, flags.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// A configuration file; `None` reads `portcullis.toml` if it exists.
    pub file: Option<PathBuf>,
    /// Configuration text instead of a file (tests, embedded defaults).
    pub text: Option<String>,
    /// Environment variables; `None` reads the process environment.
    pub env: Option<HashMap<String, String>>,
    /// Flag overrides as `(key, value)`, e.g. `("auth.provider", "okta")`.
    pub overrides: Vec<(String, String)>,
}

impl Sources {
    /// Settings from this text only (no file, no environment).
    pub fn text(text: &str) -> Sources {
        Sources {
            text: Some(text.to_owned()),
            env: Some(HashMap::new()),
            ..Sources::default()
        }
    }
}

/// Why the settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A value that cannot work (key, value, expectation).
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    /// A required key is absent.
    #[error("missing {key}: expected {expected}")]
    Missing {
        key: String,
        /// What it should hold.
        expected: String,
    },
    /// The file or environment could not be read or parsed.
    #[error("cannot read configuration from {source_name}: {detail}")]
    Source {
        /// The file, or "environment".
        source_name: String,
        /// What went wrong (with the key, when the parser names one).
        detail: String,
    },
    /// The provider was left out of this build.
    #[error(
        "auth.provider {provider:?} is not compiled into this build: rebuild with cargo feature {provider:?}"
    )]
    NotBuilt {
        /// The provider named.
        provider: String,
    },
}

impl SettingsError {
    pub(crate) fn missing(key: &str, expected: &str) -> SettingsError {
        SettingsError::Missing {
            key: key.to_owned(),
            expected: expected.to_owned(),
        }
    }
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Who issues tokens and how they are judged.
    pub auth: AuthSettings,
    /// Scopes per route.
    pub routes: Routes,
    /// The standalone server.
    pub server: ServerSettings,
    /// The profile store.
    pub store: StoreSettings,
    /// The Lambda adapter's mode.
    pub lambda: LambdaMode,
    /// The deployed Lambda function's memory, timeout and environment.
    pub function: FunctionSettings,
    /// The HTTP API's CORS configuration (`[cors]`; `None`: OPTIONS is routed and judged).
    pub cors: Option<CorsSettings>,
    /// Decision metrics (`[metrics]`): off unless asked for.
    pub metrics: MetricsSettings,
}

/// The chosen provider and the authorizer configuration derived from it.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// The provider and its own settings.
    pub provider: Provider,
    /// One configuration per trusted issuer (two for a Cognito pool trusting both issuer forms).
    pub configs: Vec<AuthorizerConfig>,
    /// How claims become an [`portcullis_claims::Identity`].
    pub mapping: Arc<dyn IdentityMapping>,
    /// How long keys that could not be refreshed are still used (`auth.keys_max_staleness_seconds`;
    /// `None`: the verifier's default, 6 hours).
    pub keys_max_staleness: Option<Duration>,
}

impl AuthSettings {
    /// The gate whose rules judge (`auth.gate`; `http-api` by default).
    pub fn gate(&self) -> Gate {
        self.configs
            .first()
            .map_or(Gate::HttpApi, AuthorizerConfig::gate)
    }

    /// The authorizer for these settings (`options` with the configured staleness bound).
    pub fn authorizer(&self, mut options: VerifierOptions) -> Result<Authorizer, ConfigError> {
        if let Some(bound) = self.keys_max_staleness {
            options.cache_policy.max_staleness = bound;
        }
        Authorizer::new(self.configs.clone(), options)
    }

    /// The issuer a per-user record (a profile) is kept under for a token issued by `iss`, or `None`
    /// when `iss` is not a trusted issuer. It is `iss` itself, except that a Cognito pool's two issuer
    /// forms name one pool: both give the original form, so a user's records survive moving
    /// `auth.cognito.issuer_type` from `original` through `both` to `updated`.
    pub fn record_issuer(&self, iss: &str) -> Option<String> {
        if !self.configs.iter().any(|config| config.issuer() == iss) {
            return None;
        }
        match &self.provider {
            #[cfg(feature = "cognito")]
            Provider::Cognito(pool) if iss == pool.updated_issuer() => Some(pool.original_issuer()),
            _ => Some(iss.to_owned()),
        }
    }

    /// Whose the records are that were kept before records were keyed by issuer (keyed by subject
    /// alone): the first trusted issuer's, as [`AuthSettings::record_issuer`] names it.
    pub fn legacy_record_issuer(&self) -> String {
        self.configs
            .first()
            .and_then(|config| self.record_issuer(config.issuer()))
            .unwrap_or_default()
    }
}

/// The provider in use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Provider {
    /// Amazon Cognito.
    #[cfg(feature = "cognito")]
    Cognito(portcullis_cognito::CognitoSettings),
    #[cfg(feature = "auth0")]
    Auth0(portcullis_auth0::Auth0Settings),
    #[cfg(feature = "okta")]
    Okta(portcullis_okta::OktaSettings),
    /// Any OpenID Connect issuer.
    Oidc,
}

impl Provider {
    /// `cognito`, `auth0`, `okta` or `oidc`.
    pub fn name(&self) -> &'static str {
        match self {
            #[cfg(feature = "cognito")]
            Provider::Cognito(_) => "cognito",
            #[cfg(feature = "auth0")]
            Provider::Auth0(_) => "auth0",
            #[cfg(feature = "okta")]
            Provider::Okta(_) => "okta",
            Provider::Oidc => "oidc",
        }
    }
}

/// The environment variable that sets the configuration key `key` (`auth.cognito.region` →
/// `PORTCULLIS_AUTH__COGNITO__REGION`): what the deploy writes into a function's environment and
/// `dev` into its child's, named by the loader that reads it.
///
/// ```
/// assert_eq!(portcullis_config::env_var("auth.gate"), "PORTCULLIS_AUTH__GATE");
/// ```
pub fn env_var(key: &str) -> String {
    format!(
        "{}_{}",
        raw::ENV_PREFIX,
        key.to_ascii_uppercase().replace('.', raw::ENV_SEPARATOR)
    )
}

/// Reads and validates settings from `sources`.
pub fn load(sources: &Sources) -> Result<Settings, SettingsError> {
    let raw = raw::read(sources)?;
    let auth = raw.auth.ok_or_else(|| {
        SettingsError::missing(
            "auth",
            "an [auth] section with provider = \"cognito\" | \"auth0\" | \"okta\" | \"oidc\"",
        )
    })?;
    let routes = Routes::parse(raw.routes)?;
    let server = runtime::server(raw.server)?;
    let metrics = runtime::metrics(raw.metrics)?;
    if let Some(listen) = metrics.listen
        && listen == server.listen
        && listen.port() != 0
    {
        return Err(ConfigError::new(
            "metrics.listen",
            listen,
            "an address apart from server.listen (the metrics stay off the API's listener)",
        )
        .into());
    }
    let auth = derive_auth(auth)?;
    let cors = runtime::cors(raw.cors)?;
    if auth.gate() == Gate::Alb {
        // The ALB has neither: a listener rule forwards the request as it came.
        if cors.is_some() {
            return Err(ConfigError::new(
                "cors",
                "[cors]",
                "no [cors] with gate = \"alb\" (an Application Load Balancer has no CORS configuration: answer CORS in the service)",
            )
            .into());
        }
        if let Some(route) = routes.iter().find(|r| !r.parameters().is_empty()) {
            return Err(ConfigError::new(
                &format!("routes.\"{}\".parameters", route.key()),
                format!("{} mappings", route.parameters().len()),
                "none with gate = \"alb\" (an ALB passes the request on untouched: no parameter mappings)",
            )
            .into());
        }
    }
    Ok(Settings {
        auth,
        routes,
        server,
        store: runtime::store(raw.store)?,
        lambda: runtime::lambda(raw.lambda)?,
        function: runtime::function(raw.function)?,
        cors,
        metrics,
    })
}

/// What a deployment reads besides `[auth]`: the routes, the function settings and `[cors]`. For a
/// deployment that brings its own issuer (`portcullis deploy --provider cognito` without an
/// `[auth.cognito]` section creates the tutorial's pool).
pub fn load_without_auth(sources: &Sources) -> Result<WithoutAuth, SettingsError> {
    let raw = raw::read(sources)?;
    Ok(WithoutAuth {
        routes: Routes::parse(raw.routes)?,
        function: runtime::function(raw.function)?,
        cors: runtime::cors(raw.cors)?,
    })
}

/// What [`load_without_auth`] reads.
#[derive(Debug, Clone)]
pub struct WithoutAuth {
    /// Scopes per route.
    pub routes: Routes,
    /// The deployed Lambda function's memory, timeout and environment.
    pub function: FunctionSettings,
    /// The HTTP API's CORS configuration.
    pub cors: Option<CorsSettings>,
}

/// What a provider contributes before the generic `[auth]` overrides are applied.
struct Derived {
    provider: Provider,
    issuers: Vec<String>,
    audiences: Vec<String>,
    mapping: Arc<dyn IdentityMapping>,
}

fn derive_auth(auth: raw::Auth) -> Result<AuthSettings, SettingsError> {
    let gate: Gate = match &auth.gate {
        Some(name) => name.parse().map_err(|e| rekey(e, "auth"))?,
        None => Gate::HttpApi,
    };
    let derived = provider_defaults(&auth, gate)?;
    let identity_source = match &auth.identity_source {
        Some(expression) => {
            Some(IdentitySource::parse(gate, expression).map_err(|e| rekey(e, "auth"))?)
        }
        None => None,
    };
    let trusted = trusted_issuers(&auth, derived.issuers, derived.audiences, gate)?;
    let algorithms = match &auth.algorithms {
        Some(names) => Some(
            names
                .iter()
                .map(|n| {
                    n.parse::<Algorithm>()
                        .map_err(|e| ConfigError::new("auth.algorithms", n, &e.expected))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let configs = trusted
        .into_iter()
        .map(|trusted| {
            authorizer_config(
                trusted,
                &auth,
                gate,
                identity_source.as_ref(),
                algorithms.as_deref(),
            )
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;
    if let Some(token_use) = &auth.token_use
        && token_use != "id"
        && token_use != "access"
    {
        return Err(ConfigError::new("auth.token_use", token_use, "\"id\" or \"access\"").into());
    }
    let keys_max_staleness = match auth.keys_max_staleness_seconds {
        Some(seconds) if !(60..=7 * 86_400).contains(&seconds) => {
            return Err(ConfigError::new(
                "auth.keys_max_staleness_seconds",
                seconds,
                "between 60 seconds and 7 days (604800): how long keys the issuer could not refresh are still used",
            )
            .into());
        }
        Some(seconds) => Some(Duration::from_secs(seconds)),
        None => None,
    };
    Ok(AuthSettings {
        provider: derived.provider,
        configs,
        mapping: derived.mapping,
        keys_max_staleness,
    })
}

/// What the provider named in `auth.provider` contributes: its issuers, audiences and mapping.
/// A gate that checks no audience (the ALB's) asks for none.
fn provider_defaults(auth: &raw::Auth, gate: Gate) -> Result<Derived, SettingsError> {
    let provider = auth.provider.as_deref().ok_or_else(|| {
        SettingsError::missing("auth.provider", "one of cognito, auth0, okta, oidc")
    })?;
    Ok(match provider {
        "cognito" => cognito(auth)?,
        "auth0" => auth0(auth)?,
        "okta" => okta(auth)?,
        "oidc" => Derived {
            provider: Provider::Oidc,
            issuers: vec![auth.issuer.clone().ok_or_else(|| {
                SettingsError::missing(
                    "auth.issuer",
                    "the issuer URL (the tokens' iss) for provider oidc",
                )
            })?],
            audiences: match auth.audience.clone().map(raw::OneOrMany::into_vec) {
                Some(audiences) => audiences,
                None if !gate.checks_audience() => Vec::new(),
                None => {
                    return Err(SettingsError::missing(
                        "auth.audience",
                        "one or more audiences for provider oidc",
                    ));
                }
            },
            mapping: Arc::new(OidcMapping),
        },
        other => {
            return Err(ConfigError::new(
                "auth.provider",
                other,
                "one of cognito, auth0, okta, oidc",
            )
            .into());
        }
    })
}

/// Every issuer the configuration trusts, with the section its settings came from: the provider's
/// (or `auth.issuer`'s), then `[[auth.issuers]]` (the REST API gate only).
fn trusted_issuers(
    auth: &raw::Auth,
    derived_issuers: Vec<String>,
    derived_audiences: Vec<String>,
    gate: Gate,
) -> Result<Vec<Trusted>, SettingsError> {
    let mut issuers = derived_issuers;
    if let Some(issuer) = &auth.issuer {
        if issuers.len() > 1 {
            return Err(ConfigError::new(
                "auth.issuer",
                issuer,
                "no override while auth.cognito.issuer_type = \"both\" trusts two issuers",
            )
            .into());
        }
        issuers = vec![issuer.clone()];
    }
    let audiences = auth
        .audience
        .clone()
        .map(raw::OneOrMany::into_vec)
        .unwrap_or(derived_audiences);
    if auth.jwks_uri.is_some() && issuers.len() > 1 {
        return Err(ConfigError::new(
            "auth.jwks_uri",
            auth.jwks_uri.as_deref().unwrap_or_default(),
            "no override while two issuers are trusted (each has its own JWKS)",
        )
        .into());
    }
    let further = match auth.issuers.clone() {
        None => Vec::new(),
        Some(raw::Issuers::Tables(tables)) => tables,
        Some(raw::Issuers::Json(text)) => serde_json::from_str(&text).map_err(|e| {
            ConfigError::new(
                "auth.issuers",
                &text,
                &format!("a JSON list of {{\"issuer\": …, \"audience\": […]}} tables ({e})"),
            )
        })?,
    };
    if !further.is_empty() && gate != Gate::RestApi {
        return Err(ConfigError::new(
            "auth.issuers",
            &further[0].issuer,
            &format!(
                "none on the {} (one issuer per authorizer: only gate = \"rest-api\" trusts several)",
                gate.title()
            ),
        )
        .into());
    }
    let claims = claim_rules(auth.claims.as_deref().unwrap_or_default());
    let mut trusted: Vec<Trusted> = issuers
        .into_iter()
        .map(|issuer| Trusted {
            section: "auth".to_owned(),
            issuer,
            audiences: audiences.clone(),
            jwks_uri: auth.jwks_uri.clone(),
            claims: claims.clone(),
        })
        .collect();
    for (i, extra) in further.iter().enumerate() {
        let section = format!("auth.issuers[{i}]");
        let audiences = extra
            .audience
            .clone()
            .map(raw::OneOrMany::into_vec)
            .ok_or_else(|| {
                SettingsError::missing(
                    &format!("{section}.audience"),
                    "the audiences this issuer's tokens carry in aud",
                )
            })?;
        if trusted.iter().any(|t| t.issuer == extra.issuer) {
            return Err(ConfigError::new(
                &format!("{section}.issuer"),
                &extra.issuer,
                "an issuer not already trusted (each issuer once)",
            )
            .into());
        }
        trusted.push(Trusted {
            issuer: extra.issuer.clone(),
            audiences,
            jwks_uri: extra.jwks_uri.clone(),
            claims: claim_rules(extra.claims.as_deref().unwrap_or_default()),
            section,
        });
    }
    Ok(trusted)
}

/// One trusted issuer's [`AuthorizerConfig`]: the gate's rules, and the `[auth]` settings every
/// issuer shares (loopback keys, algorithms, identity source, leeway, token use).
fn authorizer_config(
    trusted: Trusted,
    auth: &raw::Auth,
    gate: Gate,
    identity_source: Option<&IdentitySource>,
    algorithms: Option<&[Algorithm]>,
) -> Result<AuthorizerConfig, ConfigError> {
    let section = trusted.section.as_str();
    let mut config = AuthorizerConfig::for_gate(gate, trusted.issuer, trusted.audiences)
        .map_err(|e| rekey(e, section))?;
    if auth.allow_loopback_keys == Some(true) {
        config = config.allowing_loopback_keys();
    }
    if let Some(uri) = &trusted.jwks_uri {
        config = config.with_jwks_uri(uri).map_err(|e| rekey(e, section))?;
    }
    if let Some(algorithms) = algorithms {
        config = config
            .with_algorithms(algorithms.iter().copied())
            .map_err(|e| rekey(e, "auth"))?;
    }
    config = trusted
        .claims
        .and_then(|claims| config.with_claims(claims))
        .map_err(|mut e| {
            e.key = format!("{section}.{}", e.key);
            e
        })?;
    if let Some(source) = identity_source {
        config = config
            .with_identity_source(source.clone())
            .map_err(|e| rekey(e, "auth"))?;
    }
    if let Some(seconds) = auth.leeway_seconds {
        if seconds > 300 {
            return Err(ConfigError::new(
                "auth.leeway_seconds",
                seconds,
                "at most 300 seconds of clock skew",
            ));
        }
        config = config.with_leeway(Duration::from_secs(seconds));
    }
    if let Some(token_use) = &auth.token_use {
        config = config.with_token_use(token_use);
    }
    Ok(config)
}

/// One trusted issuer before it becomes an [`AuthorizerConfig`], with the section its settings
/// came from (for error keys).
struct Trusted {
    section: String,
    issuer: String,
    audiences: Vec<String>,
    jwks_uri: Option<String>,
    claims: Result<Vec<ClaimRule>, ConfigError>,
}

/// Additional claim rules as written: `format` defaults to `single-string`, `required` to `true`
/// (fail closed: a rule is a claim the token must carry; REST's API defaults to `false`, so
/// `required = false` must be written, and the export always writes it out; an ALB rule is always
/// required). The gate's limits are checked by [`AuthorizerConfig::with_claims`].
fn claim_rules(raw: &[raw::ClaimRule]) -> Result<Vec<ClaimRule>, ConfigError> {
    raw.iter()
        .map(|rule| {
            let format = match &rule.format {
                Some(name) => name.parse::<ClaimFormat>().map_err(|mut e| {
                    e.key = format!("claims.{}.format", rule.name);
                    e
                })?,
                None => ClaimFormat::SingleString,
            };
            let required = rule.required.unwrap_or(true);
            Ok(ClaimRule::new(
                rule.name.clone(),
                format,
                rule.values.clone().unwrap_or_default(),
                required,
            ))
        })
        .collect()
}

/// Prefixes the key of a core error with the configuration section (`issuer` → `auth.issuer`).
fn rekey(mut error: ConfigError, section: &str) -> ConfigError {
    if !error.key.contains('.') {
        error.key = format!("{section}.{}", error.key);
    }
    error
}

// Used by the provider sections only: an OIDC-only build compiles none of them.
#[cfg(any(feature = "cognito", feature = "auth0", feature = "okta"))]
fn section<'a, T>(
    section: &'a Option<T>,
    key: &str,
    expected: &str,
) -> Result<&'a T, SettingsError> {
    section
        .as_ref()
        .ok_or_else(|| SettingsError::missing(key, expected))
}

#[cfg(any(feature = "cognito", feature = "auth0", feature = "okta"))]
fn field<'a>(
    value: &'a Option<String>,
    key: &str,
    expected: &str,
) -> Result<&'a str, SettingsError> {
    value
        .as_deref()
        .ok_or_else(|| SettingsError::missing(key, expected))
}

#[cfg(feature = "cognito")]
fn cognito(auth: &raw::Auth) -> Result<Derived, SettingsError> {
    use portcullis_cognito::{CognitoMapping, CognitoSettings, IssuerType};
    let c = section(
        &auth.cognito,
        "auth.cognito",
        "an [auth.cognito] section with region, user_pool_id, client_id",
    )?;
    let region = field(
        &c.region,
        "auth.cognito.region",
        "an AWS Region code like us-east-1",
    )?;
    let pool = field(
        &c.user_pool_id,
        "auth.cognito.user_pool_id",
        "a pool id like us-east-1_AbC123",
    )?;
    let client = field(
        &c.client_id,
        "auth.cognito.client_id",
        "the app client id (the audience)",
    )?;
    let issuer_type = c
        .issuer_type
        .as_deref()
        .unwrap_or("original")
        .parse::<IssuerType>()?;
    let settings = CognitoSettings::new(region, pool, client, issuer_type)?;
    Ok(Derived {
        issuers: settings.issuers(),
        audiences: vec![settings.client_id().to_owned()],
        provider: Provider::Cognito(settings),
        mapping: Arc::new(CognitoMapping),
    })
}

#[cfg(feature = "auth0")]
fn auth0(auth: &raw::Auth) -> Result<Derived, SettingsError> {
    let a = section(
        &auth.auth0,
        "auth.auth0",
        "an [auth.auth0] section with domain and audience",
    )?;
    let domain = field(
        &a.domain,
        "auth.auth0.domain",
        "the tenant host, like tenant.eu.auth0.com",
    )?;
    let audience = field(
        &a.audience,
        "auth.auth0.audience",
        "the API identifier, like https://api.example.com",
    )?;
    let settings =
        portcullis_auth0::Auth0Settings::new(domain, audience, a.roles_claim.as_deref())?;
    Ok(Derived {
        issuers: vec![settings.issuer()],
        audiences: vec![settings.audience().to_owned()],
        mapping: Arc::new(settings.mapping()),
        provider: Provider::Auth0(settings),
    })
}

#[cfg(feature = "okta")]
fn okta(auth: &raw::Auth) -> Result<Derived, SettingsError> {
    let o = section(
        &auth.okta,
        "auth.okta",
        "an [auth.okta] section with domain (and authorization_server, audience)",
    )?;
    let domain = field(
        &o.domain,
        "auth.okta.domain",
        "the org host, like dev-123.okta.com",
    )?;
    let server = o.authorization_server.as_deref().unwrap_or("default");
    let audience = o.audience.as_deref().unwrap_or("api://default");
    let settings = portcullis_okta::OktaSettings::new(domain, server, audience)?;
    Ok(Derived {
        issuers: vec![settings.issuer()],
        audiences: vec![settings.audience().to_owned()],
        provider: Provider::Okta(settings),
        mapping: Arc::new(portcullis_okta::OktaMapping),
    })
}

#[cfg(not(feature = "cognito"))]
fn cognito(_: &raw::Auth) -> Result<Derived, SettingsError> {
    Err(SettingsError::NotBuilt {
        provider: "cognito".into(),
    })
}
#[cfg(not(feature = "auth0"))]
fn auth0(_: &raw::Auth) -> Result<Derived, SettingsError> {
    Err(SettingsError::NotBuilt {
        provider: "auth0".into(),
    })
}
#[cfg(not(feature = "okta"))]
fn okta(_: &raw::Auth) -> Result<Derived, SettingsError> {
    Err(SettingsError::NotBuilt {
        provider: "okta".into(),
    })
}

impl fmt::Display for AuthSettings {
    /// A readable summary of what will be trusted (for start-up logs and `xtask` output).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "provider: {}", self.provider.name())?;
        // The HTTP API gate is the default and says nothing, as before gates were a setting.
        if self.gate() != Gate::HttpApi {
            writeln!(f, "gate: {} ({})", self.gate(), self.gate().title())?;
        }
        for config in &self.configs {
            writeln!(f, "issuer: {}", config.issuer())?;
            if config.gate().checks_audience() {
                writeln!(f, "  audiences: {}", config.audiences().join(", "))?;
            } else {
                writeln!(
                    f,
                    "  audiences: not checked by this gate (a claim rule named aud checks one)"
                )?;
            }
            match config.jwks_uri() {
                Some(uri) => writeln!(f, "  keys: {uri}")?,
                None => writeln!(
                    f,
                    "  keys: discovery at {}",
                    config.discovery_url().map_err(|_| fmt::Error)?
                )?,
            }
            let algorithms: Vec<&str> = config.algorithms().iter().map(|a| a.as_str()).collect();
            writeln!(f, "  algorithms: {}", algorithms.join(" "))?;
            writeln!(f, "  leeway: {}s", config.leeway().as_secs())?;
            writeln!(f, "  token_use: {}", config.token_use().unwrap_or("any"))?;
            for rule in config.claims() {
                writeln!(f, "  claim {}: {rule}", rule.name())?;
            }
            if *config.identity_source() != IdentitySource::default() {
                writeln!(
                    f,
                    "  identity source: {}",
                    config.identity_source().expression()
                )?;
            }
        }
        Ok(())
    }
}
