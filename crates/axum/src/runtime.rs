//! The standalone server around a router: request ids, sensitive headers hidden from traces, request
//! timeouts, `/healthz`, graceful shutdown on SIGTERM/SIGINT, and logs as JSON lines or pretty text.

use std::future::Future;
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

/// What one client may hold of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From the moment the server waits for a request (a new connection, or the next request on a
    /// kept-alive one) until its head has arrived; then the connection is closed. Bounds slow
    /// headers and idle connections alike.
    pub header_timeout: Duration,
    /// Connections served at once; the next waits in the listen backlog until one closes.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

/// How long in-flight requests may take to finish after `shutdown`.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` with the default [`Limits`] until `shutdown` completes, then lets
/// in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, Limits::default(), shutdown).await
}

/// Serves `app` on `listener` within `limits` (HTTP/1.1) until `shutdown` completes, then lets
/// in-flight requests finish (at most 30 s).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let shutdown = std::pin::pin!(shutdown);
    let mut shutdown = shutdown;
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let mut stopped = stopped.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stopped.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
        // Finished connections are reaped as they go, so the set stays as large as what is open.
        while connections.try_join_next().is_some() {}
    }
    let _ = stop.send(true);
    let _ = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    Ok(())
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
