//! Retries AWS asks for: a call refused while something settles (a new role not yet assumable, a
//! function still updating) is tried again with backoff, each retry told as progress, within a bound.

use std::future::Future;
use std::time::{Duration, Instant};

use super::error::{ApplyError, one_line};
use super::{Record, Wait};

/// How long a new role may take to become assumable by Lambda (IAM is eventually consistent;
/// seconds are usual, tens of seconds happen).
pub(crate) const ROLE_PROPAGATION: Duration = Duration::from_secs(90);
/// How long another update of the same function may hold it (`ResourceConflictException`).
pub(crate) const UPDATE_CONFLICT: Duration = Duration::from_secs(120);
/// How long a function may stay `Pending` or `InProgress`, or a table `CREATING`.
pub(crate) const SETTLE: Duration = Duration::from_secs(300);

const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(8);

/// Runs `attempt` until it succeeds, fails with an error `settling` has no reason for, or `bound`
/// would be passed; each retry is told to `record` as a [`Wait`] on `kind` `name`.
pub(crate) async fn retrying<T, E, Fut>(
    record: &mut Record<'_>,
    (kind, name): (&'static str, &str),
    operation: &'static str,
    bound: Duration,
    mut attempt: impl FnMut() -> Fut,
    settling: impl Fn(&E) -> Option<&'static str>,
) -> Result<T, ApplyError>
where
    Fut: Future<Output = Result<T, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let started = Instant::now();
    let mut delay = FIRST_DELAY;
    // Bounded by `bound`: every pass sleeps at least FIRST_DELAY.
    for retry in 1.. {
        let error = match attempt().await {
            Ok(done) => return Ok(done),
            Err(error) => error,
        };
        let Some(reason) = settling(&error) else {
            return Err(super::error::call(operation, name)(error));
        };
        if started.elapsed() + delay > bound {
            return Err(ApplyError::TimedOut {
                what: format!("{operation} for {name} ({reason})"),
                waited: started.elapsed(),
                last: one_line(&aws_sdk_lambda::error::DisplayErrorContext(&error).to_string()),
            });
        }
        record.wait(Wait {
            kind,
            name: name.to_owned(),
            reason: format!("{operation}: {reason}"),
            retry,
            delay,
            bound,
        });
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_DELAY);
    }
    unreachable!("the retry loop returns")
}
