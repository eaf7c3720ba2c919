//! A flood of refusals cannot turn the `request refused` line into a disk-filling amplifier: at
//! most `REFUSAL_LINES_PER_SECOND` lines per reason each second, the rest told in one summary line
//! with their count.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portcullis_claims::AuthError;
use portcullis_claims::metrics::{Decision, REFUSAL_LINES_PER_SECOND};
use serde_json::Value;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sleeps until just after the next whole second.
fn next_second() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch");
    let left = Duration::from_secs(1) - Duration::from_nanos(u64::from(now.subsec_nanos()));
    std::thread::sleep(left + Duration::from_millis(20));
}

#[test]
fn a_flood_of_refusals_writes_at_most_the_limit_per_second_and_one_summary_with_the_rest() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let refuse = |refusal: &AuthError| {
        Decision {
            route: "GET /orders",
            issuer: None,
            kid: None,
            refusal: Some(refusal),
            elapsed: Duration::ZERO,
        }
        .log()
    };
    next_second();
    for _ in 0..1000 {
        refuse(&AuthError::Malformed);
    }
    // Another reason has its own allowance.
    refuse(&AuthError::Expired);
    next_second();
    refuse(&AuthError::Malformed);

    let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let refused = |reason: &str| {
        lines
            .iter()
            .filter(|l| l["message"] == "request refused" && l["reason"] == reason)
            .count() as u64
    };
    assert_eq!(refused("malformed"), REFUSAL_LINES_PER_SECOND + 1, "{text}");
    assert_eq!(refused("expired"), 1);
    let summaries: Vec<&Value> = lines.iter().filter(|l| l["count"].is_u64()).collect();
    assert_eq!(summaries.len(), 1, "{text}");
    assert_eq!(summaries[0]["reason"], "malformed");
    assert_eq!(summaries[0]["count"], 1000 - REFUSAL_LINES_PER_SECOND);
    assert_eq!(lines.len() as u64, REFUSAL_LINES_PER_SECOND + 1 + 1 + 1);
}
