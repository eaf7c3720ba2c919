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

/// Installs the global tracing subscriber (`RUST_LOG` filters; `info` by default), writing to
/// stderr through a [`QueuedStderr`]: a request never waits on whoever reads the logs. Call
/// [`flush_logs`] before the process exits.
pub fn init_logging(format: Logs) {
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let writer = INSTALLED
        .get_or_init(|| QueuedStderr::to(std::io::stderr(), format))
        .clone();
    let builder = tracing_subscriber::fmt().with_writer(writer);
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

/// Lines queued for stderr.
const QUEUED_LINES: usize = 4096;

/// The writer [`init_logging`] installed, for [`flush_logs`].
static INSTALLED: std::sync::OnceLock<QueuedStderr> = std::sync::OnceLock::new();

/// Waits (at most `within`) until every line logged so far is written: what a binary does on its
/// way out, so its last lines (an error, "shutting down") are not lost with the writer's thread.
pub fn flush_logs(within: Duration) {
    if let Some(writer) = INSTALLED.get() {
        writer.flush_within(within);
    }
}

/// A bounded, non-blocking log writer: each line goes into a queue of 4096 that one thread
/// writes out. A line that finds the queue full (a log reader slower than a flood) is dropped and
/// counted, and the count is written as a line of its own once there is room: logging can neither
/// stall requests nor grow memory.
#[derive(Clone)]
pub struct QueuedStderr {
    queue: std::sync::mpsc::SyncSender<Vec<u8>>,
    counts: std::sync::Arc<Counts>,
}

/// Lines dropped since the last notice, and lines queued and not yet written.
#[derive(Default)]
struct Counts {
    dropped: std::sync::atomic::AtomicU64,
    pending: std::sync::atomic::AtomicU64,
}

impl QueuedStderr {
    /// Starts the thread that writes queued lines to `out` (its own line about dropped ones in
    /// `format`'s style).
    pub fn to(mut out: impl std::io::Write + Send + 'static, format: Logs) -> QueuedStderr {
        use std::sync::atomic::Ordering;
        let (queue, lines) = std::sync::mpsc::sync_channel::<Vec<u8>>(QUEUED_LINES);
        let counts = std::sync::Arc::new(Counts::default());
        let counted = counts.clone();
        let _ = std::thread::Builder::new()
            .name("portcullis-logs".into())
            .spawn(move || {
                // Ends when every writer is gone.
                for line in lines {
                    let lost = counted.dropped.swap(0, Ordering::Relaxed);
                    if lost > 0 {
                        let _ = out.write_all(dropped_notice(format, lost).as_bytes());
                    }
                    let _ = out.write_all(&line);
                    let _ = out.flush();
                    counted.pending.fetch_sub(1, Ordering::Release);
                }
            });
        QueuedStderr { queue, counts }
    }

    fn flush_within(&self, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        while self
            .counts
            .pending
            .load(std::sync::atomic::Ordering::Acquire)
            > 0
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn dropped_notice(format: Logs, lost: u64) -> String {
    let message = "log lines dropped: the log reader was slower than the lines came";
    match format {
        Logs::Json => format!(
            "{{\"level\":\"WARN\",\"target\":\"portcullis::logs\",\"message\":\"{message}\",\"count\":{lost}}}\n"
        ),
        Logs::Pretty => format!("WARN portcullis::logs: {lost} {message}\n"),
    }
}

/// One event's line, queued when the formatter is done with it.
pub struct QueuedLine {
    line: Vec<u8>,
    to: QueuedStderr,
}

impl std::io::Write for QueuedLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for QueuedLine {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        if self.line.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.line);
        self.to.counts.pending.fetch_add(1, Ordering::AcqRel);
        if self.to.queue.try_send(line).is_err() {
            self.to.counts.pending.fetch_sub(1, Ordering::AcqRel);
            self.to.counts.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for QueuedStderr {
    type Writer = QueuedLine;

    fn make_writer(&'a self) -> QueuedLine {
        QueuedLine {
            line: Vec::new(),
            to: self.clone(),
        }
    }
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
    use super::{Logs, QueuedStderr, log_filter};
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

    /// A writer that holds every write until `release` is set, as a stalled log reader does.
    struct Stalled {
        release: std::sync::Arc<std::sync::atomic::AtomicBool>,
        out: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    }

    impl std::io::Write for Stalled {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            while !self.release.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            self.out.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_log_reader_costs_dropped_lines_counted_never_a_wait_and_a_flush_writes_the_rest() {
        use std::io::Write as _;
        use tracing_subscriber::fmt::MakeWriter as _;
        let release = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = QueuedStderr::to(
            Stalled {
                release: release.clone(),
                out: out.clone(),
            },
            Logs::Pretty,
        );
        // Far more lines than the queue holds, all while the reader is stalled: none waits.
        let started = std::time::Instant::now();
        for n in 0..10_000 {
            let mut line = writer.make_writer();
            let _ = writeln!(line, "line {n}");
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "writing never waited on the reader"
        );
        release.store(true, std::sync::atomic::Ordering::SeqCst);
        writer.flush_within(std::time::Duration::from_secs(10));
        let mut last = writer.make_writer();
        let _ = writeln!(last, "after");
        drop(last);
        writer.flush_within(std::time::Duration::from_secs(10));
        let text = String::from_utf8_lossy(&out.lock().expect("lock")).into_owned();
        let written = text.lines().filter(|l| l.starts_with("line ")).count();
        assert!(written <= 4097, "{written} lines kept");
        // One notice, or several when the writer took lines while some were still being dropped.
        let dropped: u64 = text
            .lines()
            .filter_map(|l| l.strip_prefix("WARN portcullis::logs: "))
            .filter_map(|rest| rest.split(' ').next()?.parse::<u64>().ok())
            .sum();
        assert!(dropped > 0, "a line counting the dropped ones");
        assert_eq!(written as u64 + dropped, 10_000);
        assert!(text.ends_with("after\n"), "the flush wrote the last line");
    }
}
