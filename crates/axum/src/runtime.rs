//! The standalone server around a router: request ids, sensitive headers hidden from traces, request
//! timeouts, `/healthz`, graceful shutdown on SIGTERM/SIGINT, and logs as JSON lines or pretty text.
//! The listener itself, with what one client may hold of it, is [`crate::serve`].

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, StatusCode, header};
use axum::routing::get;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Log output: JSON lines for deployed runtimes, pretty text for development.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logs {
    /// One JSON object per line.
    Json,
    /// Human-readable.
    Pretty,
}

/// The filter `RUST_LOG` asks for (`info`, `warn,portcullis=debug`, …); `info` when it is unset
/// or unreadable.
pub fn log_filter(directives: Option<&str>) -> tracing_subscriber::filter::Targets {
    directives
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing_subscriber::filter::LevelFilter::INFO)
        })
}

/// Installs the global tracing subscriber (`RUST_LOG` filters; `info` by default).
pub fn init_logging(format: Logs) {
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr);
    let _ = match format {
        Logs::Json => builder
            .json()
            .flatten_event(true)
            .finish()
            .with(filter)
            .try_init(),
        Logs::Pretty => builder.compact().finish().with(filter).try_init(),
    };
}

/// Wraps `app` with what every deployment needs, and adds an unprotected `GET /healthz`:
/// `x-request-id` set (or kept) and echoed, `Authorization` and `Cookie` hidden from traces, a
/// per-request timeout (408).
pub fn harden(app: Router, request_timeout: Duration) -> Router {
    // Outermost last: the id is set first and echoed on every answer, a 408 from the timeout
    // layer included (the request a client most needs to find in the logs).
    app.route("/healthz", get(|| async { (StatusCode::OK, "ok") }))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(TraceLayer::new_for_http())
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Completes on SIGTERM (how Lambda, ECS and Kubernetes stop a process) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn rust_log_directives_filter_by_target_and_level_and_default_to_info() {
        let filter = log_filter(Some("warn,portcullis_claims=debug"));
        assert!(filter.would_enable("portcullis_claims::jwks", &Level::DEBUG));
        assert!(!filter.would_enable("hyper", &Level::INFO));
        assert!(filter.would_enable("hyper", &Level::WARN));
        for unset in [None, Some(""), Some("portcullis=loudest")] {
            let filter = log_filter(unset);
            assert!(filter.would_enable("anything", &Level::INFO), "{unset:?}");
            assert!(!filter.would_enable("anything", &Level::DEBUG), "{unset:?}");
        }
    }
}
