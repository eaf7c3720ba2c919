//! Where a verifier reads the time.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The time a [`crate::Verifier`] judges by: the system's (the default), or a manual clock that
/// moves only when told, so tests of expiry, cache ages and cool-downs need no sleeping and pass
/// on a loaded machine. Clones share one clock.
#[derive(Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicU64>>,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.manual {
            None => f.write_str("Clock::system"),
            Some(_) => write!(f, "Clock::manual({:?})", self.unix()),
        }
    }
}

/// Equal when both are the system clock, or both are the same manual clock (clones of it).
impl PartialEq for Clock {
    fn eq(&self, other: &Clock) -> bool {
        match (&self.manual, &other.manual) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for Clock {}

impl Clock {
    /// The system clock: wall time for token times, a monotonic clock for cache ages.
    pub fn system() -> Clock {
        Clock { manual: None }
    }

    /// A clock that starts at `since_epoch` (after the UNIX epoch) and moves only by
    /// [`Clock::advance`], for token times and cache ages alike.
    pub fn manual(since_epoch: Duration) -> Clock {
        let nanos = u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX);
        Clock {
            manual: Some(Arc::new(AtomicU64::new(nanos))),
        }
    }

    /// A manual clock at the system's current time.
    pub fn manual_now() -> Clock {
        Clock::manual(Clock::system().unix())
    }

    /// Moves a manual clock forward by `by`; the system clock cannot be moved (returns false).
    pub fn advance(&self, by: Duration) -> bool {
        let Some(manual) = &self.manual else {
            return false;
        };
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        manual
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(nanos))
            })
            .is_ok()
    }

    /// Time since the UNIX epoch (what `exp`, `nbf` and `iat` are compared with).
    pub fn unix(&self) -> Duration {
        match &self.manual {
            Some(manual) => Duration::from_nanos(manual.load(Ordering::SeqCst)),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        }
    }

    /// A reading that never goes backwards, for measuring ages (keys, cool-downs); only
    /// differences between readings mean anything.
    pub(crate) fn monotonic(&self) -> Duration {
        match &self.manual {
            Some(manual) => Duration::from_nanos(manual.load(Ordering::SeqCst)),
            None => {
                static START: OnceLock<Instant> = OnceLock::new();
                START.get_or_init(Instant::now).elapsed()
            }
        }
    }

    /// How long ago the monotonic reading `at` was.
    pub(crate) fn since(&self, at: Duration) -> Duration {
        self.monotonic().saturating_sub(at)
    }
}
