//! The configuration as written, before validation: every field optional so that a missing one gets
//! our own message, and unknown keys refused so that a typo is never silently ignored.
//!
//! Every provider's section is parsed in every build, so one file can keep them all; a section whose
//! provider is not compiled in is read but never used.
#![cfg_attr(
    not(all(feature = "cognito", feature = "auth0", feature = "okta")),
    allow(dead_code)
)]

use std::collections::BTreeMap;
use std::path::Path;

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

use crate::{DEFAULT_FILE, SettingsError, Sources};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    pub(crate) auth: Option<Auth>,
    #[serde(default)]
    pub(crate) routes: BTreeMap<String, Route>,
    pub(crate) server: Option<Server>,
    pub(crate) store: Option<Store>,
    pub(crate) lambda: Option<Lambda>,
    pub(crate) function: Option<Function>,
    pub(crate) cors: Option<Cors>,
    pub(crate) metrics: Option<Metrics>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Metrics {
    pub(crate) listen: Option<String>,
    pub(crate) emf: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Cors {
    pub(crate) allow_origins: Option<OneOrMany>,
    pub(crate) allow_methods: Option<OneOrMany>,
    pub(crate) allow_headers: Option<OneOrMany>,
    pub(crate) expose_headers: Option<OneOrMany>,
    pub(crate) max_age_seconds: Option<i64>,
    pub(crate) allow_credentials: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Function {
    pub(crate) memory_mb: Option<i64>,
    pub(crate) timeout_s: Option<i64>,
    #[serde(default)]
    pub(crate) environment: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Server {
    pub(crate) listen: Option<String>,
    pub(crate) body_limit_bytes: Option<u64>,
    pub(crate) request_timeout_ms: Option<u64>,
    pub(crate) header_timeout_ms: Option<u64>,
    pub(crate) max_connections: Option<u64>,
    pub(crate) log_format: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Store {
    pub(crate) kind: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) table: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) endpoint_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Lambda {
    pub(crate) mode: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Auth {
    pub(crate) provider: Option<String>,
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Option<OneOrMany>,
    pub(crate) jwks_uri: Option<String>,
    pub(crate) algorithms: Option<Vec<String>>,
    pub(crate) leeway_seconds: Option<u64>,
    pub(crate) keys_max_staleness_seconds: Option<u64>,
    pub(crate) allow_loopback_keys: Option<bool>,
    pub(crate) token_use: Option<String>,
    pub(crate) gate: Option<String>,
    pub(crate) identity_source: Option<String>,
    pub(crate) claims: Option<Vec<ClaimRule>>,
    pub(crate) issuers: Option<Issuers>,
    pub(crate) cognito: Option<Cognito>,
    pub(crate) auth0: Option<Auth0>,
    pub(crate) okta: Option<Okta>,
}

/// An additional claim rule (`[[auth.claims]]`, or an issuer's `claims`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClaimRule {
    pub(crate) name: String,
    pub(crate) format: Option<String>,
    pub(crate) values: Option<Vec<String>>,
    pub(crate) required: Option<bool>,
}

/// `[[auth.issuers]]` in the file, or `PORTCULLIS_AUTH__ISSUERS` as a JSON list of the same
/// tables (how a deployment hands them to a function, whose settings are environment variables).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Issuers {
    Tables(Vec<TrustedIssuer>),
    Json(String),
}

/// A further trusted issuer of a REST API JWT authorizer (`[[auth.issuers]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrustedIssuer {
    pub(crate) issuer: String,
    pub(crate) audience: Option<OneOrMany>,
    pub(crate) jwks_uri: Option<String>,
    pub(crate) claims: Option<Vec<ClaimRule>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Cognito {
    pub(crate) region: Option<String>,
    pub(crate) user_pool_id: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) issuer_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Auth0 {
    pub(crate) domain: Option<String>,
    pub(crate) audience: Option<String>,
    pub(crate) roles_claim: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Okta {
    pub(crate) domain: Option<String>,
    pub(crate) authorization_server: Option<String>,
    pub(crate) audience: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Route {
    #[serde(default)]
    pub(crate) scopes: Vec<String>,
    pub(crate) authorization: Option<String>,
    #[serde(default)]
    pub(crate) parameters: Vec<Parameter>,
}

/// One of a route's request parameter mappings, as API Gateway's `RequestParameters` entry
/// `"overwrite:header.x-user-sub": "$context.authorizer.claims.sub"` (a list, because the keys
/// hold dots, which the loader reads as nesting).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Parameter {
    pub(crate) key: String,
    pub(crate) value: Option<String>,
}

/// A string or a list of strings (`audience = "a"` or `audience = ["a", "b"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

pub(crate) fn read(sources: &Sources) -> Result<Settings, SettingsError> {
    let mut builder = Config::builder();
    let mut name = String::from("defaults");
    if let Some(text) = &sources.text {
        builder = builder.add_source(File::from_str(text, FileFormat::Toml));
        name = "the given text".into();
    }
    match &sources.file {
        Some(path) => {
            if !path.is_file() {
                return Err(SettingsError::Source {
                    source_name: path.display().to_string(),
                    detail: "no such file".into(),
                });
            }
            builder = builder.add_source(File::from(path.as_path()).format(FileFormat::Toml));
            name = path.display().to_string();
        }
        None if sources.text.is_none() && Path::new(DEFAULT_FILE).is_file() => {
            builder = builder.add_source(File::new(DEFAULT_FILE, FileFormat::Toml));
            name = DEFAULT_FILE.into();
        }
        None => {}
    }
    let environment = Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("_")
        .separator(ENV_SEPARATOR)
        // List splitting only happens with parsing on; scalar values still deserialize as strings.
        .try_parsing(true)
        .list_separator(",")
        .with_list_parse_key("auth.audience")
        .with_list_parse_key("auth.algorithms")
        .with_list_parse_key("cors.allow_origins")
        .with_list_parse_key("cors.allow_methods")
        .with_list_parse_key("cors.allow_headers")
        .with_list_parse_key("cors.expose_headers")
        .source(sources.env.clone());
    builder = builder.add_source(environment);
    for (key, value) in &sources.overrides {
        builder = builder
            .set_override(key.as_str(), value.as_str())
            .map_err(|e| SettingsError::Source {
                source_name: format!("flag {key}"),
                detail: e.to_string(),
            })?;
    }
    let built = builder.build().map_err(|e| SettingsError::Source {
        source_name: name.clone(),
        detail: e.to_string(),
    })?;
    built.try_deserialize().map_err(|e| SettingsError::Source {
        source_name: format!("{name} and PORTCULLIS_ environment variables"),
        detail: e.to_string(),
    })
}

/// The environment variables' prefix (`PORTCULLIS_`, then the key) and the separator that stands
/// for a key's dots: the loader above reads them, [`crate::env_var`] writes them.
pub(crate) const ENV_PREFIX: &str = "PORTCULLIS";
pub(crate) const ENV_SEPARATOR: &str = "__";
