//! Decisions made visible: what the gate accepted and refused, by route, issuer and reason; key
//! fetches, their failures and cache hits; how long judging took. Counted in [`Metrics`], rendered
//! as Prometheus text ([`Metrics::prometheus`], the standalone server's `/metrics`) or as
//! CloudWatch embedded metric format lines ([`Metrics::emf`], a Lambda function's stdout); and one
//! structured log line per refusal ([`Decision::log`]). Never the token.
//!
//! Every label is bounded: a route is a configured route key (or axum's matched path), an issuer is
//! a configured issuer (a token naming another is counted under the empty issuer), a reason is one
//! of [`AuthError::REASONS`]. Nothing the sender chose becomes a label.
//!
//! ```
//! use std::time::Duration;
//! use portcullis_claims::AuthError;
//! use portcullis_claims::metrics::{Decision, Metrics};
//!
//! let metrics = Metrics::new();
//! metrics.record(&Decision {
//!     route: "GET /user/profile",
//!     issuer: None,
//!     kid: None,
//!     refusal: Some(&AuthError::MissingToken),
//!     elapsed: Duration::from_micros(3),
//! });
//! let text = metrics.prometheus();
//! assert!(text.contains(
//!     r#"portcullis_requests_refused_total{route="GET /user/profile",issuer="",reason="missing_token",status="401"} 1"#
//! ));
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::jwks::KeyStats;
use crate::{AuthError, Authorizer, Judgement, lock};

/// The content type of [`Metrics::prometheus`]'s text (Prometheus exposition format 0.0.4).
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The CloudWatch namespace of the embedded metric format lines.
pub const EMF_NAMESPACE: &str = "Portcullis";

/// Distinct routes counted; later ones are counted under `$other` (a bound, should a caller pass
/// labels that are not a fixed route table's).
pub const MAX_ROUTES: usize = 256;

/// The upper bounds of the latency histogram's buckets, in seconds: a remembered token takes
/// microseconds, a first-sight RSA check tens of them, a key fetch milliseconds (at most 1.5 s).
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// Where [`Metrics::writing_emf`] writes its lines: a Lambda function's stdout, given by its
/// binary (`EmfWriter::new(std::io::stdout())`).
#[derive(Clone)]
pub struct EmfWriter(Arc<Mutex<dyn std::io::Write + Send>>);

impl EmfWriter {
    /// Lines go to `out`, one write and flush per decision.
    pub fn new(out: impl std::io::Write + Send + 'static) -> EmfWriter {
        EmfWriter(Arc::new(Mutex::new(out)))
    }
}

impl std::fmt::Debug for EmfWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmfWriter")
    }
}

/// One decision as it is counted and logged.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'a> {
    /// The route as API Gateway names it: `GET /user/profile`, `$default`.
    pub route: &'a str,
    /// The configured issuer the token named (`None`: it named none, or had no readable `iss`).
    pub issuer: Option<&'a str>,
    /// The token header's `kid`, already clipped (for the log line only; never a label).
    pub kid: Option<&'a str>,
    /// Why the request was refused; `None` when it was accepted.
    pub refusal: Option<&'a AuthError>,
    /// How long judging took.
    pub elapsed: Duration,
}

impl<'a> Decision<'a> {
    /// The decision `judgement` made on a request to `route`.
    pub fn of(route: &'a str, judgement: &'a Judgement<'a>) -> Decision<'a> {
        Decision {
            route,
            issuer: judgement.issuer,
            kid: judgement.kid.as_deref(),
            refusal: judgement.verdict.as_ref().err(),
            elapsed: judgement.elapsed,
        }
    }

    /// Whether [`Decision::log`] would write anything for a refusal now (target
    /// `portcullis::decision` at `info` enabled): when it would not and no metrics are counted,
    /// a runtime need not even name the route.
    pub fn logged() -> bool {
        tracing::enabled!(target: "portcullis::decision", tracing::Level::INFO)
    }

    /// One structured line for a refusal (reason, status, route, issuer, kid), at `info` with the
    /// target `portcullis::decision` (`RUST_LOG=info,portcullis::decision=warn` silences it);
    /// nothing for an acceptance. The token is never in it: the kid is the sender's words, clipped.
    ///
    /// A flood cannot make it a disk-filling amplifier: at most [`REFUSAL_LINES_PER_SECOND`]
    /// lines per reason each second; the rest of that second's refusals for the reason are told in
    /// one `requests refused` summary line with their `count`, written with the first refusal of a
    /// later second (the metrics count every one).
    pub fn log(&self) {
        if let Some(refusal) = self.refusal {
            if !FLOOD.admit(refusal) {
                return;
            }
            tracing::info!(
                target: "portcullis::decision",
                reason = refusal.reason(),
                status = refusal.status(),
                route = self.route,
                issuer = self.issuer.unwrap_or_default(),
                kid = self.kid.unwrap_or_default(),
                "request refused"
            );
        }
    }
}

/// The most `request refused` lines written per reason each second ([`Decision::log`]).
pub const REFUSAL_LINES_PER_SECOND: u64 = 20;

/// Refusal lines written and held back in the current second, per reason.
struct Flood {
    second: AtomicU64,
    written: [AtomicU64; AuthError::REASONS.len()],
    held: [AtomicU64; AuthError::REASONS.len()],
}

static FLOOD: Flood = Flood {
    second: AtomicU64::new(0),
    written: [const { AtomicU64::new(0) }; AuthError::REASONS.len()],
    held: [const { AtomicU64::new(0) }; AuthError::REASONS.len()],
};

impl Flood {
    /// Whether a line for `refusal` may be written now; first, when a new second has begun, the
    /// summary of each reason's lines held back in the last one.
    fn admit(&self, refusal: &AuthError) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.second.load(Ordering::Relaxed);
        if last != now
            && self
                .second
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            for (i, reason) in AuthError::REASONS.iter().enumerate() {
                self.written[i].store(0, Ordering::Relaxed);
                let held = self.held[i].swap(0, Ordering::Relaxed);
                if held > 0 {
                    tracing::info!(
                        target: "portcullis::decision",
                        reason = *reason,
                        count = held,
                        "requests refused (lines held back past {REFUSAL_LINES_PER_SECOND} a second)"
                    );
                }
            }
        }
        let i = reason_index(refusal);
        if self.written[i].fetch_add(1, Ordering::Relaxed) < REFUSAL_LINES_PER_SECOND {
            true
        } else {
            self.held[i].fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

/// Why a listener answered a request itself, before any route or gate saw it: counted by
/// [`Metrics::reject`] under [`Rejection::reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The request line and header values together are over API Gateway's 10,240 bytes.
    HeadTooLarge,
    /// The body is over the listener's limit (API Gateway's payload: 10 MB).
    BodyTooLarge,
    /// The path could mean another path to a backend that decodes or normalises it (a dot
    /// segment, an encoded slash, a `;`): the route chosen for it need not be the one served.
    AmbiguousPath,
}

impl Rejection {
    /// Every rejection, in the order the metrics list them.
    pub const ALL: [Rejection; 3] = [
        Rejection::HeadTooLarge,
        Rejection::BodyTooLarge,
        Rejection::AmbiguousPath,
    ];

    /// The metric label: `head_too_large`, `body_too_large`, `ambiguous_path`.
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::HeadTooLarge => "head_too_large",
            Rejection::BodyTooLarge => "body_too_large",
            Rejection::AmbiguousPath => "ambiguous_path",
        }
    }

    /// The status answered: 413 for a size, 400 for an ambiguous path.
    pub fn status(self) -> u16 {
        match self {
            Rejection::HeadTooLarge | Rejection::BodyTooLarge => 413,
            Rejection::AmbiguousPath => 400,
        }
    }
}

/// Counts of decisions, key fetches and judging times; a clone shares them. Recording takes one
/// short lock (route and issuer counts) and a few relaxed atomic adds.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    inner: Arc<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    decisions: Mutex<Decisions>,
    /// By [`Rejection::ALL`]'s order.
    rejected: [AtomicU64; Rejection::ALL.len()],
    latency: Histogram,
    /// Whose key caches the key metrics read.
    authorizer: Option<Authorizer>,
    /// With embedded metric format lines on: where they go, and each issuer's key statistics as
    /// last written.
    emf: Option<(EmfWriter, Mutex<Vec<LastKeyStats>>)>,
}

/// An issuer's key statistics and verified-token cache hits as the last EMF line gave them.
type LastKeyStats = (KeyStats, u64);

/// Route → issuer (empty: none named) → counts.
type Decisions = BTreeMap<Box<str>, BTreeMap<Box<str>, Counts>>;

/// A key metric: its name, type, help text, and its value from an issuer's key statistics and
/// verified-token cache hits.
type KeyFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&KeyStats, u64) -> u64,
);

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    accepted: u64,
    refused: [u64; AuthError::REASONS.len()],
}

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Decision counts and the latency histogram, without key metrics.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Also reports the key caches of `authorizer`'s issuers (fetches, failures, lookups, keys)
    /// and its verified-token cache hits, and has it keep those statistics and time each
    /// judgement from now on ([`Authorizer::count_statistics`]).
    pub fn with_keys_of(authorizer: &Authorizer) -> Metrics {
        Metrics::build(Some(authorizer.clone()), None)
    }

    /// As [`Metrics::new`] or [`Metrics::with_keys_of`], and [`Metrics::record`] also writes
    /// each decision to `out` as CloudWatch embedded metric format lines ([`Metrics::emf`]): what
    /// a Lambda function does, whose binary passes its stdout, which CloudWatch Logs reads (this
    /// library writes to no stream it did not get).
    pub fn writing_emf(authorizer: Option<&Authorizer>, out: EmfWriter) -> Metrics {
        Metrics::build(authorizer.cloned(), Some(out))
    }

    fn build(authorizer: Option<Authorizer>, emf: Option<EmfWriter>) -> Metrics {
        if let Some(authorizer) = &authorizer {
            authorizer.count_statistics();
        }
        let issuers = authorizer.as_ref().map_or(0, |a| a.verifiers().len());
        Metrics {
            inner: Arc::new(Registry {
                decisions: Mutex::default(),
                rejected: Default::default(),
                latency: Histogram::default(),
                authorizer,
                emf: emf.map(|out| (out, Mutex::new(vec![(KeyStats::default(), 0); issuers]))),
            }),
        }
    }

    /// Counts `decision`; with embedded metric format on, also writes its lines to stdout.
    pub fn record(&self, decision: &Decision<'_>) {
        let route = {
            let mut routes = lock(&self.inner.decisions);
            let route = if routes.contains_key(decision.route) || routes.len() < MAX_ROUTES {
                decision.route
            } else {
                "$other"
            };
            if !routes.contains_key(route) {
                routes.insert(route.into(), BTreeMap::new());
            }
            let issuers = routes.get_mut(route).expect("inserted above");
            let issuer = decision.issuer.unwrap_or_default();
            if !issuers.contains_key(issuer) {
                issuers.insert(issuer.into(), Counts::default());
            }
            let counts = issuers.get_mut(issuer).expect("inserted above");
            match decision.refusal {
                None => counts.accepted += 1,
                Some(refusal) => counts.refused[reason_index(refusal)] += 1,
            }
            route
        };
        self.inner.latency.observe(decision.elapsed);
        if let Some((out, _)) = &self.inner.emf {
            let lines = self.emf(&Decision { route, ..*decision }, unix_millis());
            let mut out = lock(&out.0);
            for line in lines {
                let _ = writeln!(out, "{line}");
            }
            let _ = out.flush();
        }
    }

    /// [`Decision::log`] (refusals), then [`Metrics::record`] when there are metrics: what every
    /// runtime does with each decision.
    pub fn observe(metrics: Option<&Metrics>, decision: &Decision<'_>) {
        decision.log();
        if let Some(metrics) = metrics {
            metrics.record(decision);
        }
    }

    /// Counts a request a listener answered itself, before any route or gate saw it.
    pub fn reject(&self, rejection: Rejection) {
        self.inner.rejected[rejection as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// How many requests were rejected for `rejection` so far.
    pub fn rejected(&self, rejection: Rejection) -> u64 {
        self.inner.rejected[rejection as usize].load(Ordering::Relaxed)
    }

    /// Everything counted, in Prometheus text exposition format ([`PROMETHEUS_CONTENT_TYPE`]).
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let decisions = lock(&self.inner.decisions).clone();
        family(
            &mut out,
            "portcullis_requests_accepted_total",
            "counter",
            "Requests whose token the gate accepted, by route and issuer.",
        );
        for (route, issuers) in &decisions {
            for (issuer, counts) in issuers.iter().filter(|(_, c)| c.accepted > 0) {
                let labels = labels(&[("route", route), ("issuer", issuer)]);
                let _ = writeln!(
                    out,
                    "portcullis_requests_accepted_total{labels} {}",
                    counts.accepted
                );
            }
        }
        family(
            &mut out,
            "portcullis_requests_refused_total",
            "counter",
            "Requests the gate refused, by route, the issuer the token named (empty: none), the rule that refused and the status answered.",
        );
        for (route, issuers) in &decisions {
            for (issuer, counts) in issuers {
                for (reason, count) in AuthError::REASONS.iter().zip(counts.refused) {
                    if count == 0 {
                        continue;
                    }
                    let status = if *reason == "insufficient_scope" {
                        "403"
                    } else {
                        "401"
                    };
                    let labels = labels(&[
                        ("route", route),
                        ("issuer", issuer),
                        ("reason", reason),
                        ("status", status),
                    ]);
                    let _ = writeln!(out, "portcullis_requests_refused_total{labels} {count}");
                }
            }
        }
        family(
            &mut out,
            "portcullis_requests_rejected_total",
            "counter",
            "Requests a listener answered itself before any route or gate: over a size limit, or a path a backend could read as another; by reason and the status answered.",
        );
        for rejection in Rejection::ALL {
            let status = rejection.status().to_string();
            let labels = labels(&[("reason", rejection.reason()), ("status", &status)]);
            let _ = writeln!(
                out,
                "portcullis_requests_rejected_total{labels} {}",
                self.rejected(rejection)
            );
        }
        self.key_families(&mut out);
        self.latency_family(&mut out);
        out
    }

    fn key_families(&self, out: &mut String) {
        let Some(authorizer) = &self.inner.authorizer else {
            return;
        };
        let stats: Vec<(&str, KeyStats, u64)> = authorizer
            .verifiers()
            .iter()
            .map(|v| (v.config().issuer(), v.keys().stats(), v.remembered_hits()))
            .collect();
        let families: [KeyFamily; 6] = [
            (
                "portcullis_jwks_fetches_total",
                "counter",
                "Key set documents fetched and stored, by issuer.",
                |s, _| s.fetches,
            ),
            (
                "portcullis_jwks_fetch_failures_total",
                "counter",
                "Key set fetches that failed (the cached keys were kept), by issuer.",
                |s, _| s.failures,
            ),
            (
                "portcullis_jwks_cache_hits_total",
                "counter",
                "Key lookups answered from the cached key set, by issuer.",
                |s, _| s.hits,
            ),
            (
                "portcullis_jwks_cache_misses_total",
                "counter",
                "Key lookups that needed a fetch (or its cool-down's verdict), by issuer.",
                |s, _| s.misses,
            ),
            (
                "portcullis_jwks_keys",
                "gauge",
                "Usable keys in the issuer's cached key set.",
                |s, _| s.keys as u64,
            ),
            (
                "portcullis_token_cache_hits_total",
                "counter",
                "Tokens answered from the verified-token cache (no signature check), by issuer.",
                |_, remembered| remembered,
            ),
        ];
        for (name, kind, help, value) in families {
            family(out, name, kind, help);
            for (issuer, stats, remembered) in &stats {
                let labels = labels(&[("issuer", issuer)]);
                let _ = writeln!(out, "{name}{labels} {}", value(stats, *remembered));
            }
        }
    }

    fn latency_family(&self, out: &mut String) {
        let name = "portcullis_verification_seconds";
        family(
            out,
            name,
            "histogram",
            "Time to judge a request's token, key fetches included.",
        );
        let histogram = &self.inner.latency;
        let mut cumulative = 0;
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&histogram.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = histogram.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = histogram.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }

    /// The embedded metric format lines for `decision` at `timestamp_ms`: one for the decision
    /// (`Decisions` and `VerificationLatency` by route and outcome, by reason, by issuer), and,
    /// when key metrics are on and an issuer's key statistics moved since the last lines, one per
    /// such issuer with the increments (`JwksFetches`, `JwksFetchFailures`, `JwksCacheHits`,
    /// `JwksCacheMisses`, `TokenCacheHits`). Without [`Metrics::writing_emf`] the key lines are
    /// not tracked and only the decision line comes back.
    pub fn emf(&self, decision: &Decision<'_>, timestamp_ms: u64) -> Vec<String> {
        let (outcome, reason, status) = match decision.refusal {
            None => ("accepted", "none", 200),
            Some(refusal) => ("refused", refusal.reason(), refusal.status()),
        };
        let issuer = decision.issuer.unwrap_or("none");
        let decision_line = emf_line(
            timestamp_ms,
            &[
                &["Route", "Outcome"],
                &["Outcome", "Reason"],
                &["Issuer", "Outcome"],
            ],
            &[
                ("Decisions", "Count"),
                ("VerificationLatency", "Microseconds"),
            ],
            [
                ("Route", json!(decision.route)),
                ("Outcome", json!(outcome)),
                ("Reason", json!(reason)),
                ("Issuer", json!(issuer)),
                ("Status", json!(status)),
                ("Decisions", json!(1)),
                (
                    "VerificationLatency",
                    json!(decision.elapsed.as_secs_f64() * 1e6),
                ),
            ],
        );
        let mut lines = vec![decision_line];
        let (Some(authorizer), Some((_, last))) = (&self.inner.authorizer, &self.inner.emf) else {
            return lines;
        };
        let mut last = lock(last);
        for (verifier, (seen, seen_remembered)) in
            authorizer.verifiers().iter().zip(last.iter_mut())
        {
            let now = verifier.keys().stats();
            let remembered = verifier.remembered_hits();
            if now == *seen && remembered == *seen_remembered {
                continue;
            }
            let increments = [
                ("JwksFetches", now.fetches - seen.fetches),
                ("JwksFetchFailures", now.failures - seen.failures),
                ("JwksCacheHits", now.hits - seen.hits),
                ("JwksCacheMisses", now.misses - seen.misses),
                ("TokenCacheHits", remembered - *seen_remembered),
            ];
            lines.push(emf_line(
                timestamp_ms,
                &[&["Issuer"]],
                &increments.map(|(name, _)| (name, "Count")),
                std::iter::once(("Issuer", json!(verifier.config().issuer())))
                    .chain(increments.map(|(name, increment)| (name, json!(increment)))),
            ));
            *seen = now;
            *seen_remembered = remembered;
        }
        lines
    }
}

/// One embedded metric format line: the `_aws` metadata declaring `metrics` (name, unit) in the
/// namespace by each of `dimensions`, then the `members` (dimension values and metric values).
fn emf_line<'a>(
    timestamp_ms: u64,
    dimensions: &[&[&str]],
    metrics: &[(&str, &str)],
    members: impl IntoIterator<Item = (&'a str, Value)>,
) -> String {
    let declared: Vec<Value> = metrics
        .iter()
        .map(|(name, unit)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut line = serde_json::Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": EMF_NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": declared,
            }],
        }),
    );
    for (name, value) in members {
        line.insert(name.into(), value);
    }
    Value::Object(line).to_string()
}

/// Where `refusal`'s reason stands in [`AuthError::REASONS`].
fn reason_index(refusal: &AuthError) -> usize {
    let reason = refusal.reason();
    AuthError::REASONS
        .iter()
        .position(|r| *r == reason)
        .unwrap_or(0)
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// `{name="value",…}` with each value escaped as the exposition format asks (backslash, double
/// quote, line feed).
fn labels(pairs: &[(&str, &str)]) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_a_distinct_reason_listed_in_reasons() {
        let all = [
            AuthError::MissingToken,
            AuthError::RepeatedToken,
            AuthError::TokenTooLarge,
            AuthError::Malformed,
            AuthError::InvalidBase64,
            AuthError::InvalidHeader,
            AuthError::InvalidPayload,
            AuthError::Unsigned,
            AuthError::AlgorithmNotAllowed(crate::AlgName::of(Some("HS256"))),
            AuthError::UnsupportedCritical,
            AuthError::MissingKid,
            AuthError::InvalidKid,
            AuthError::UnknownKid,
            AuthError::AmbiguousKid,
            AuthError::KeyAlgorithmMismatch,
            AuthError::InvalidSignature,
            AuthError::KeysUnavailable,
            AuthError::InvalidIssuer,
            AuthError::WrongSigner,
            AuthError::InvalidAudience,
            AuthError::InvalidExpiry,
            AuthError::Expired,
            AuthError::InvalidNotBefore,
            AuthError::NotYetValid,
            AuthError::InvalidIssuedAt,
            AuthError::IssuedInFuture,
            AuthError::WrongTokenUse,
            AuthError::InvalidClaim("tenant".into()),
            AuthError::InsufficientScope { required: vec![] },
        ];
        let reasons: Vec<&str> = all.iter().map(AuthError::reason).collect();
        assert_eq!(reasons, AuthError::REASONS);
        for (i, error) in all.iter().enumerate() {
            assert_eq!(reason_index(error), i, "{error:?}");
        }
    }

    #[test]
    fn label_values_are_escaped_and_routes_past_the_bound_are_counted_as_other() {
        assert_eq!(
            labels(&[("route", "GET /a\"b\\c\nd"), ("issuer", "")]),
            r#"{route="GET /a\"b\\c\nd",issuer=""}"#
        );
        let metrics = Metrics::new();
        for i in 0..MAX_ROUTES + 3 {
            let route = format!("GET /r{i}");
            metrics.record(&Decision {
                route: &route,
                issuer: None,
                kid: None,
                refusal: None,
                elapsed: Duration::ZERO,
            });
        }
        let text = metrics.prometheus();
        assert!(
            text.contains(r#"portcullis_requests_accepted_total{route="$other",issuer=""} 3"#),
            "{text}"
        );
        assert_eq!(
            text.matches("portcullis_requests_accepted_total{").count(),
            MAX_ROUTES + 1
        );
    }

    #[test]
    fn the_latency_histogram_is_cumulative_with_sum_and_count() {
        let metrics = Metrics::new();
        for micros in [3, 7, 40, 3_000_000] {
            metrics.record(&Decision {
                route: "GET /",
                issuer: None,
                kid: None,
                refusal: None,
                elapsed: Duration::from_micros(micros),
            });
        }
        let text = metrics.prometheus();
        for line in [
            r#"portcullis_verification_seconds_bucket{le="0.000005"} 1"#,
            r#"portcullis_verification_seconds_bucket{le="0.00001"} 2"#,
            r#"portcullis_verification_seconds_bucket{le="0.000025"} 2"#,
            r#"portcullis_verification_seconds_bucket{le="0.00005"} 3"#,
            r#"portcullis_verification_seconds_bucket{le="2.5"} 3"#,
            r#"portcullis_verification_seconds_bucket{le="+Inf"} 4"#,
            "portcullis_verification_seconds_sum 3.00005",
            "portcullis_verification_seconds_count 4",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
