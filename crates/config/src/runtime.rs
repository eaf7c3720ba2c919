//! The `[server]`, `[store]` and `[lambda]` sections: how the service runs and where profiles live.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use portcullis_claims::ConfigError;

use crate::raw;
use crate::{CorsSettings, SettingsError};

/// The largest profile body accepted by default (16 KiB).
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;

/// How the standalone server listens and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Where to listen (`127.0.0.1:3000` by default).
    pub listen: SocketAddr,
    /// Request bodies larger than this are refused with 413.
    pub body_limit: usize,
    /// Requests taking longer are answered 408.
    pub request_timeout: Duration,
    /// A connection whose next request head has not arrived within this is closed (slow headers,
    /// idle keep-alive).
    pub header_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// JSON lines (deployed) or human-readable (dev).
    pub log_format: LogFormat,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable, for `cargo xtask dev`.
    Pretty,
}

/// Where profiles are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSettings {
    /// An SQLite file (created if absent).
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// A DynamoDB table.
    DynamoDb {
        /// Table name.
        table: String,
        /// Region, when not the environment's.
        region: Option<String>,
        /// Endpoint override (moto, LocalStack, DynamoDB Local).
        endpoint_url: Option<String>,
    },
}

/// How the Lambda adapter learns who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LambdaMode {
    /// Trust the claims an API Gateway JWT authorizer put in the request context.
    Gateway,
    /// Verify the `Authorization` header in the function (function URLs, ALB).
    Verify,
}

pub(crate) fn server(raw: Option<raw::Server>) -> Result<ServerSettings, SettingsError> {
    let raw = raw.unwrap_or(raw::Server {
        listen: None,
        body_limit_bytes: None,
        request_timeout_ms: None,
        header_timeout_ms: None,
        max_connections: None,
        log_format: None,
    });
    let listen = raw.listen.as_deref().unwrap_or("127.0.0.1:3000");
    let listen: SocketAddr = listen.parse().map_err(|_| {
        ConfigError::new(
            "server.listen",
            listen,
            "an address and port like 127.0.0.1:3000",
        )
    })?;
    let body_limit = within(
        "server.body_limit_bytes",
        raw.body_limit_bytes.unwrap_or(DEFAULT_BODY_LIMIT as u64),
        1..=10 * 1024 * 1024,
        "between 1 byte and 10 MiB",
    )?;
    const MILLISECONDS: &str = "between 100 and 300000 milliseconds";
    let timeout = within(
        "server.request_timeout_ms",
        raw.request_timeout_ms.unwrap_or(10_000),
        100..=300_000,
        MILLISECONDS,
    )?;
    let header_timeout = within(
        "server.header_timeout_ms",
        raw.header_timeout_ms.unwrap_or(10_000),
        100..=300_000,
        MILLISECONDS,
    )?;
    let max_connections = within(
        "server.max_connections",
        raw.max_connections.unwrap_or(1024),
        1..=65_536,
        "between 1 and 65536",
    )?;
    let log_format = match raw.log_format.as_deref().unwrap_or("json") {
        "json" => LogFormat::Json,
        "pretty" => LogFormat::Pretty,
        other => {
            return Err(
                ConfigError::new("server.log_format", other, "\"json\" or \"pretty\"").into(),
            );
        }
    };
    Ok(ServerSettings {
        listen,
        body_limit: body_limit as usize,
        request_timeout: Duration::from_millis(timeout),
        header_timeout: Duration::from_millis(header_timeout),
        max_connections: max_connections as usize,
        log_format,
    })
}

/// `value` of `key` when `range` holds it, else the error naming `expected`.
fn within(
    key: &str,
    value: u64,
    range: std::ops::RangeInclusive<u64>,
    expected: &str,
) -> Result<u64, SettingsError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::new(key, value, expected).into())
    }
}

pub(crate) fn store(raw: Option<raw::Store>) -> Result<StoreSettings, SettingsError> {
    let raw = raw.unwrap_or(raw::Store {
        kind: None,
        path: None,
        table: None,
        region: None,
        endpoint_url: None,
    });
    match raw.kind.as_deref().unwrap_or("sqlite") {
        "sqlite" => {
            if raw.table.is_some() {
                return Err(ConfigError::new(
                    "store.table",
                    raw.table.unwrap_or_default(),
                    "no table for kind = \"sqlite\" (use path)",
                )
                .into());
            }
            let path = raw.path.unwrap_or_else(|| "portcullis-profiles.db".into());
            if path.trim().is_empty() {
                return Err(ConfigError::new(
                    "store.path",
                    path,
                    "a file path for the SQLite database",
                )
                .into());
            }
            Ok(StoreSettings::Sqlite { path: path.into() })
        }
        "dynamodb" => {
            let table = raw
                .table
                .ok_or_else(|| SettingsError::missing("store.table", "the DynamoDB table name"))?;
            let valid = (3..=255).contains(&table.len())
                && table
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
            if !valid {
                return Err(ConfigError::new(
                    "store.table",
                    table,
                    "3 to 255 letters, digits, _ - or . (DynamoDB's rule)",
                )
                .into());
            }
            if let Some(url) = &raw.endpoint_url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(ConfigError::new("store.endpoint_url", url, "an http(s) URL").into());
            }
            Ok(StoreSettings::DynamoDb {
                table,
                region: raw.region,
                endpoint_url: raw.endpoint_url,
            })
        }
        other => Err(ConfigError::new("store.kind", other, "\"sqlite\" or \"dynamodb\"").into()),
    }
}

pub(crate) fn lambda(raw: Option<raw::Lambda>) -> Result<LambdaMode, SettingsError> {
    match raw.and_then(|l| l.mode).as_deref().unwrap_or("gateway") {
        "gateway" => Ok(LambdaMode::Gateway),
        "verify" => Ok(LambdaMode::Verify),
        other => Err(ConfigError::new(
            "lambda.mode",
            other,
            "\"gateway\" (behind an HTTP API JWT authorizer) or \"verify\"",
        )
        .into()),
    }
}

/// Decision metrics (`[metrics]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Where the standalone server answers `GET /metrics` in Prometheus text format: a listener
    /// of its own, apart from the API (`None`, the default: no metrics endpoint).
    pub listen: Option<SocketAddr>,
    /// Whether the Lambda function writes CloudWatch embedded metric format lines to stdout, one
    /// per decision (off by default: each metric and dimension set is a billed custom metric).
    pub emf: bool,
}

pub(crate) fn metrics(raw: Option<raw::Metrics>) -> Result<MetricsSettings, SettingsError> {
    let Some(raw) = raw else {
        return Ok(MetricsSettings::default());
    };
    let listen = match raw.listen.as_deref() {
        None => None,
        Some(listen) => Some(listen.parse().map_err(|_| {
            ConfigError::new(
                "metrics.listen",
                listen,
                "an address and port like 127.0.0.1:9464, apart from server.listen",
            )
        })?),
    };
    Ok(MetricsSettings {
        listen,
        emf: raw.emf.unwrap_or(false),
    })
}

/// The Lambda function's settings (`[function]`): memory, timeout and environment variables of
/// the user's own, applied by `portcullis deploy` as an update when they change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSettings {
    /// Memory in MB (Lambda: 128 to 10,240).
    pub memory_mb: u32,
    /// Timeout in seconds (Lambda: 1 to 900).
    pub timeout_s: u32,
    /// Environment variables besides the `PORTCULLIS_…` ones the deployment sets.
    pub environment: std::collections::BTreeMap<String, String>,
}

impl Default for FunctionSettings {
    fn default() -> FunctionSettings {
        FunctionSettings {
            memory_mb: 256,
            timeout_s: 10,
            environment: Default::default(),
        }
    }
}

/// Lambda's memory range in MB.
pub(crate) const LAMBDA_MEMORY_MB: std::ops::RangeInclusive<i64> = 128..=10_240;
/// Lambda's timeout range in seconds.
pub(crate) const LAMBDA_TIMEOUT_S: std::ops::RangeInclusive<i64> = 1..=900;
/// Lambda's bound on all environment variables of a function together (keys and values, bytes).
pub const LAMBDA_ENVIRONMENT_BYTES: usize = 4096;

/// Names Lambda sets itself and refuses in a function's configuration.
const LAMBDA_RESERVED: [&str; 18] = [
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

pub(crate) fn function(raw: Option<raw::Function>) -> Result<FunctionSettings, SettingsError> {
    let defaults = FunctionSettings::default();
    let Some(raw) = raw else {
        return Ok(defaults);
    };
    let memory_mb = raw.memory_mb.unwrap_or(i64::from(defaults.memory_mb));
    if !LAMBDA_MEMORY_MB.contains(&memory_mb) {
        return Err(ConfigError::new(
            "function.memory_mb",
            memory_mb,
            "Lambda's range, 128 to 10240 (MB)",
        )
        .into());
    }
    let timeout_s = raw.timeout_s.unwrap_or(i64::from(defaults.timeout_s));
    if !LAMBDA_TIMEOUT_S.contains(&timeout_s) {
        return Err(ConfigError::new(
            "function.timeout_s",
            timeout_s,
            "Lambda's range, 1 to 900 (seconds; an HTTP API waits at most 30)",
        )
        .into());
    }
    let mut size = 0;
    for (name, value) in &raw.environment {
        let key = format!("function.environment.{name}");
        let mut chars = name.chars();
        let well_formed = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !well_formed {
            return Err(ConfigError::new(
                &key,
                name,
                "a name of letters, digits and _, starting with a letter (Lambda's rule)",
            )
            .into());
        }
        if LAMBDA_RESERVED.contains(&name.as_str()) {
            return Err(
                ConfigError::new(&key, name, "a name Lambda does not reserve for itself").into(),
            );
        }
        if name.to_ascii_uppercase().starts_with("PORTCULLIS_") {
            return Err(ConfigError::new(
                &key,
                name,
                "a name outside PORTCULLIS_ (deploy sets those from the [auth] and [store] settings)",
            )
            .into());
        }
        size += name.len() + value.len();
    }
    if size > LAMBDA_ENVIRONMENT_BYTES {
        return Err(ConfigError::new(
            "function.environment",
            format!("{size} bytes"),
            "at most 4096 bytes of names and values together (Lambda's limit)",
        )
        .into());
    }
    Ok(FunctionSettings {
        memory_mb: memory_mb as u32,
        timeout_s: timeout_s as u32,
        environment: raw.environment,
    })
}

pub(crate) fn cors(raw: Option<raw::Cors>) -> Result<Option<CorsSettings>, SettingsError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let list =
        |value: Option<raw::OneOrMany>| value.map(raw::OneOrMany::into_vec).unwrap_or_default();
    Ok(Some(CorsSettings::new(
        list(raw.allow_origins),
        list(raw.allow_methods),
        list(raw.allow_headers),
        list(raw.expose_headers),
        raw.max_age_seconds,
        raw.allow_credentials.unwrap_or(false),
    )?))
}
