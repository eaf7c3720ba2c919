//! What a failed apply says: the operation, the resource and the error AWS (or the SDK) gave.

use std::error::Error;
use std::fmt;
use std::time::Duration;

/// A failed step of [`apply`](super::apply) or [`remove`](super::remove).
#[derive(Debug)]
pub enum ApplyError {
    /// An AWS call failed (after the SDK's own retries).
    Call {
        /// The API operation (`CreateFunction`).
        operation: &'static str,
        /// The resource it was for.
        resource: String,
        /// What the SDK returned.
        source: Box<dyn Error + Send + Sync>,
    },
    /// AWS answered without a value the next step needs (an id, an ARN).
    Missing {
        /// The API operation.
        operation: &'static str,
        /// The resource it was for.
        resource: String,
        /// The field that was absent.
        field: &'static str,
    },
    /// A wait or a retry ran out of time.
    TimedOut {
        /// What was waited for.
        what: String,
        /// For how long.
        waited: Duration,
        /// The last answer.
        last: String,
    },
    /// A value of the plan names something the deployment does not have.
    Unresolved {
        /// The value as the plan holds it.
        value: String,
        /// The name that has no value.
        name: String,
    },
    /// A resource with the plan's name exists but is not tagged as this stack's.
    NotOurs {
        /// `role`, `table`, …
        kind: &'static str,
        name: String,
        /// The stack it would have to belong to.
        stack: String,
    },
    /// A Cognito step failed.
    Cognito(portcullis_cognito::sdk::CognitoError),
    /// A check before anything is changed failed (Region, credentials, endpoint), in one line.
    Setup(String),
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::Call {
                operation,
                resource,
                source,
            } => {
                let detail = aws_sdk_lambda::error::DisplayErrorContext(&**source);
                let detail = one_line(&detail.to_string());
                write!(f, "{operation} for {resource} failed: {detail}")
            }
            ApplyError::Missing {
                operation,
                resource,
                field,
            } => write!(f, "{operation} for {resource} answered without {field}"),
            ApplyError::TimedOut { what, waited, last } => write!(
                f,
                "gave up waiting for {what} after {} s: {}",
                waited.as_secs(),
                one_line(last)
            ),
            ApplyError::Unresolved { value, name } => {
                write!(
                    f,
                    "the plan's value {value} names {name}, which this deployment does not have"
                )
            }
            ApplyError::NotOurs { kind, name, stack } => write!(
                f,
                "a {kind} named {name} exists but is not tagged {}={stack}: it is not this \
                 deployment's, so deploy will not take it over (use another --stage, or tag it if it is yours)",
                crate::STACK_TAG
            ),
            ApplyError::Cognito(error) => write!(f, "{error}"),
            ApplyError::Setup(text) => f.write_str(text),
        }
    }
}

impl Error for ApplyError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ApplyError::Call { source, .. } => Some(&**source),
            ApplyError::Cognito(error) => Some(error),
            _ => None,
        }
    }
}

impl From<portcullis_cognito::sdk::CognitoError> for ApplyError {
    fn from(error: portcullis_cognito::sdk::CognitoError) -> ApplyError {
        ApplyError::Cognito(error)
    }
}

/// The error of `operation` on `resource`, for `map_err`.
pub(crate) fn call<E: Error + Send + Sync + 'static>(
    operation: &'static str,
    resource: &str,
) -> impl FnOnce(E) -> ApplyError {
    let resource = resource.to_owned();
    move |source| ApplyError::Call {
        operation,
        resource,
        source: Box::new(source),
    }
}

/// A delete's outcome: `Deleted`, `Absent` when `missing` says the error means "no such
/// resource", else the error of `operation` on `resource`.
pub(crate) fn deletion<T, E: Error + Send + Sync + 'static>(
    result: Result<T, E>,
    missing: impl Fn(&E) -> bool,
    operation: &'static str,
    resource: &str,
) -> Result<super::Action, ApplyError> {
    match result {
        Ok(_) => Ok(super::Action::Deleted),
        Err(e) if missing(&e) => Ok(super::Action::Absent),
        Err(e) => Err(call(operation, resource)(e)),
    }
}

/// `value`, or the error saying `operation` on `resource` answered without `field`.
pub(crate) fn required(
    value: Option<&str>,
    operation: &'static str,
    resource: &str,
    field: &'static str,
) -> Result<String, ApplyError> {
    value
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ApplyError::Missing {
            operation,
            resource: resource.to_owned(),
            field,
        })
}

/// An error and its sources, each shown once, on one line.
pub(crate) fn error_chain(error: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = one_line(&e.to_string());
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// Error text folded onto one line.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
