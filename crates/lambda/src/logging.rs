//! How the function logs: Lambda's logging configuration, then `RUST_LOG`.

/// How the function logs: `AWS_LAMBDA_LOG_FORMAT` and `AWS_LAMBDA_LOG_LEVEL`, which Lambda sets from
/// the function's logging configuration ("Configuring advanced logging controls": a custom runtime
/// reads them itself), then `RUST_LOG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// JSON lines (`JSON`, and our default when Lambda sets no format) or plain text (`Text`).
    pub json: bool,
    /// The tracing filter: a level from `AWS_LAMBDA_LOG_LEVEL` (`FATAL` is `error`), else `RUST_LOG`,
    /// else `info`.
    pub filter: String,
}

impl LogSettings {
    /// The settings for these variables' values.
    pub fn from_vars(
        format: Option<&str>,
        level: Option<&str>,
        rust_log: Option<&str>,
    ) -> LogSettings {
        let json = !format.is_some_and(|f| f.trim().eq_ignore_ascii_case("text"));
        let level = level.map(str::trim).filter(|l| !l.is_empty()).map(|l| {
            match l.to_ascii_uppercase().as_str() {
                "TRACE" => "trace",
                "DEBUG" => "debug",
                "WARN" => "warn",
                "ERROR" | "FATAL" => "error",
                _ => "info",
            }
            .to_owned()
        });
        let filter = level
            .or_else(|| {
                rust_log
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "info".to_owned());
        LogSettings { json, filter }
    }

    /// The settings of this process's environment.
    pub fn from_env() -> LogSettings {
        let var = |name: &str| std::env::var(name).ok();
        LogSettings::from_vars(
            var("AWS_LAMBDA_LOG_FORMAT").as_deref(),
            var("AWS_LAMBDA_LOG_LEVEL").as_deref(),
            var("RUST_LOG").as_deref(),
        )
    }
}

/// Installs the global tracing subscriber as [`LogSettings::from_env`] says (logs to stderr, which
/// Lambda sends to CloudWatch Logs).
pub fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let settings = LogSettings::from_env();
    let filter = settings
        .filter
        .parse::<tracing_subscriber::filter::Targets>()
        .unwrap_or_else(|_| {
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing_subscriber::filter::LevelFilter::INFO)
        });
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr);
    let _ = if settings.json {
        builder
            .json()
            .flatten_event(true)
            .finish()
            .with(filter)
            .try_init()
    } else {
        builder
            .with_ansi(false)
            .compact()
            .finish()
            .with(filter)
            .try_init()
    };
}

#[cfg(test)]
mod log_tests {
    use super::LogSettings;

    #[test]
    fn lambda_s_logging_configuration_wins_over_rust_log() {
        let cases = [
            // (AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL, RUST_LOG) → (json, filter)
            ((None, None, None), (true, "info")),
            ((Some("JSON"), Some("DEBUG"), Some("warn")), (true, "debug")),
            (
                (Some("Text"), None, Some("portcullis=trace")),
                (false, "portcullis=trace"),
            ),
            ((Some("text"), Some("FATAL"), None), (false, "error")),
            ((None, Some("WARN"), None), (true, "warn")),
            ((None, Some(""), Some("debug")), (true, "debug")),
            ((Some("Yaml"), Some("TRACE"), None), (true, "trace")),
        ];
        for ((format, level, rust_log), (json, filter)) in cases {
            assert_eq!(
                LogSettings::from_vars(format, level, rust_log),
                LogSettings {
                    json,
                    filter: filter.to_owned()
                },
                "{format:?} {level:?} {rust_log:?}"
            );
        }
    }
}
