//! What a run tells as it goes: each resource's [`Change`], and each [`Wait`] AWS asks for.

use std::fmt;
use std::time::Duration;

/// What happened to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// It did not exist and was made.
    Created,
    /// It existed and was changed to match the plan.
    Updated,
    /// It already matched.
    Unchanged,
    /// It was deleted (by [`remove`](super::remove)).
    Deleted,
    /// There was nothing to delete.
    Absent,
    /// A resource of the same name exists but is not tagged as this stack's: left alone.
    Foreign,
}

impl Action {
    /// The word progress lines and `--json` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Unchanged => "unchanged",
            Action::Deleted => "deleted",
            Action::Absent => "absent",
            Action::Foreign => "foreign",
        }
    }

    pub(crate) fn deleted_if(deleted: bool) -> Action {
        if deleted {
            Action::Deleted
        } else {
            Action::Absent
        }
    }
}

impl From<portcullis_cognito::sdk::Provisioned> for Action {
    fn from(done: portcullis_cognito::sdk::Provisioned) -> Action {
        use portcullis_cognito::sdk::Provisioned;
        match done {
            Provisioned::Created => Action::Created,
            Provisioned::Updated => Action::Updated,
            Provisioned::Unchanged => Action::Unchanged,
        }
    }
}

/// One resource and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `table`, `role`, `function`, …
    pub kind: &'static str,
    /// The resource's name.
    pub name: String,
    /// What happened.
    pub action: Action,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            Action::Foreign => "left alone (not tagged as this stack's)",
            other => other.as_str(),
        };
        write!(f, "{:<12} {:<44} {action}", self.kind, self.name)
    }
}

/// A wait AWS asks for: a resource settling, or a call retried after a refusal that passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// The resource's kind.
    pub kind: &'static str,
    pub name: String,
    /// What is waited for.
    pub reason: String,
    /// The retry's number; 0 for a waiter that polls by itself.
    pub retry: u32,
    /// The pause before the retry.
    pub delay: Duration,
    /// When the wait gives up.
    pub bound: Duration,
}

impl Wait {
    pub(crate) fn settling(kind: &'static str, name: &str, reason: &str, bound: Duration) -> Wait {
        Wait {
            kind,
            name: name.to_owned(),
            reason: reason.to_owned(),
            retry: 0,
            delay: Duration::ZERO,
            bound,
        }
    }
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<12} {:<44} waiting: {}",
            self.kind, self.name, self.reason
        )?;
        if self.retry == 0 {
            write!(f, " (up to {} s)", self.bound.as_secs())
        } else {
            write!(
                f,
                " (retry {} in {} s, gives up after {} s)",
                self.retry,
                self.delay.as_secs(),
                self.bound.as_secs()
            )
        }
    }
}

/// Progress of a run, as it happens.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A resource was found, made, changed or deleted.
    Change(&'a Change),
    /// A wait began.
    Wait(&'a Wait),
}

/// The changes of one run, each told to the caller as it happens.
pub(crate) struct Record<'p> {
    pub(crate) changes: Vec<Change>,
    pub(crate) waits: usize,
    pub(crate) progress: &'p mut dyn FnMut(Event<'_>),
}

impl Record<'_> {
    pub(crate) fn note(&mut self, kind: &'static str, name: &str, action: Action) {
        let change = Change {
            kind,
            name: name.to_owned(),
            action,
        };
        (self.progress)(Event::Change(&change));
        self.changes.push(change);
    }

    pub(crate) fn wait(&mut self, wait: Wait) {
        self.waits += 1;
        (self.progress)(Event::Wait(&wait));
    }
}
