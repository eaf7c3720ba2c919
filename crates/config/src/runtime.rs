//! The `[server]`, `[store]` and `[lambda]` sections: how the service runs and where profiles live.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use portcullis_claims::ConfigError;

use crate::SettingsError;
use crate::raw;

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
    let body_limit = raw.body_limit_bytes.unwrap_or(DEFAULT_BODY_LIMIT as u64);
    if body_limit == 0 || body_limit > 10 * 1024 * 1024 {
        return Err(ConfigError::new(
            "server.body_limit_bytes",
            body_limit,
            "between 1 byte and 10 MiB",
        )
        .into());
    }
    let timeout = raw.request_timeout_ms.unwrap_or(10_000);
    if !(100..=300_000).contains(&timeout) {
        return Err(ConfigError::new(
            "server.request_timeout_ms",
            timeout,
            "between 100 and 300000 milliseconds",
        )
        .into());
    }
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
        log_format,
    })
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
