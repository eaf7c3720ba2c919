//! The request parameter mappings of a route's HTTP proxy integration, as API Gateway's
//! `RequestParameters` take them (`overwrite:header.x-user-sub` = `$context.authorizer.claims.sub`):
//! parsed from `[routes]`, each refused by name where API Gateway would refuse it.

use portcullis_claims::ConfigError;

use crate::SettingsError;
use crate::raw;

/// What a parameter mapping does to the request sent to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingAction {
    /// Set the parameter, replacing the value the client sent.
    Overwrite,
    /// Add the value after the client's (headers joined with a comma).
    Append,
    /// Drop the parameter.
    Remove,
}

/// The part of the backend request a mapping changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappingTarget {
    /// `header.NAME` (name lower-cased).
    Header(String),
    /// `querystring.NAME`.
    QueryString(String),
    /// `path`: the request path sent to the backend.
    Path,
}

/// Where a mapped value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappingValue {
    /// A literal.
    Static(String),
    /// `$request.header.NAME`.
    RequestHeader(String),
    /// `$request.querystring.NAME`.
    RequestQueryString(String),
    /// `$request.path`.
    RequestPath,
    /// `$context.authorizer.claims.NAME`: a claim of the verified token, as API Gateway renders it.
    Claim(String),
    /// `$context.requestId`.
    RequestId,
    /// `$context.routeKey`.
    RouteKey,
}

/// One request parameter mapping of a route's HTTP proxy integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterMapping {
    /// Overwrite, append or remove.
    pub action: MappingAction,
    /// Header, query-string parameter or path.
    pub target: MappingTarget,
    /// The value (`None` for [`MappingAction::Remove`]).
    pub value: Option<MappingValue>,
    /// The mapping as written in `portcullis.toml` and as API Gateway's `RequestParameters` take it:
    /// key `overwrite:header.x-user-sub`, value `$context.authorizer.claims.sub`.
    pub key: String,
    /// The value as written (empty for `remove`).
    pub raw_value: String,
}

/// Headers API Gateway does not let a mapping change ("Transforming API requests and responses for
/// HTTP APIs": reserved headers), lower-cased; `x-amzn-` and `x-amz-` prefixes are reserved too.
const RESERVED_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "upgrade",
    "expect",
    "te",
    "trailer",
    "proxy-authorization",
];

pub(crate) fn parse_mapping(
    key_name: &str,
    raw: raw::Parameter,
) -> Result<ParameterMapping, SettingsError> {
    let invalid = |value: &str, expected: &str| -> SettingsError {
        ConfigError::new(key_name, value, expected).into()
    };
    let (action, target) = raw.key.split_once(':').ok_or_else(|| {
        invalid(
            &raw.key,
            "a key ACTION:TARGET like \"overwrite:header.x-user-sub\" (actions overwrite, append, remove)",
        )
    })?;
    let action = match action {
        "overwrite" => MappingAction::Overwrite,
        "append" => MappingAction::Append,
        "remove" => MappingAction::Remove,
        _ => {
            return Err(invalid(
                &raw.key,
                "an action of overwrite, append or remove before the colon",
            ));
        }
    };
    let target = if target == "path" {
        MappingTarget::Path
    } else if let Some(name) = target.strip_prefix("header.") {
        let name = name.to_ascii_lowercase();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(invalid(&raw.key, "header.NAME with a valid header name"));
        }
        if RESERVED_HEADERS.contains(&name.as_str())
            || name.starts_with("x-amzn-")
            || name.starts_with("x-amz-")
        {
            return Err(invalid(
                &raw.key,
                "a header API Gateway lets mappings change (not a reserved one such as host or content-length, nor x-amz-…)",
            ));
        }
        MappingTarget::Header(name)
    } else if let Some(name) = target.strip_prefix("querystring.") {
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(invalid(
                &raw.key,
                "querystring.NAME with a plain parameter name",
            ));
        }
        MappingTarget::QueryString(name.to_owned())
    } else {
        return Err(invalid(
            &raw.key,
            "a target of header.NAME, querystring.NAME or path after the colon",
        ));
    };
    if action == MappingAction::Remove {
        if raw.value.as_deref().is_some_and(|v| !v.is_empty()) {
            return Err(invalid(
                raw.value.as_deref().unwrap_or_default(),
                "no value for a remove mapping",
            ));
        }
        if target == MappingTarget::Path {
            return Err(invalid(
                &raw.key,
                "overwrite:path (the path cannot be removed)",
            ));
        }
        return Ok(ParameterMapping {
            action,
            target,
            value: None,
            key: raw.key,
            raw_value: String::new(),
        });
    }
    if action == MappingAction::Append && target == MappingTarget::Path {
        return Err(invalid(
            &raw.key,
            "overwrite:path (the path cannot be appended to)",
        ));
    }
    let text = raw
        .value
        .ok_or_else(|| invalid(&raw.key, "a value: a literal or $request.… / $context.…"))?;
    let value = parse_value(&text).ok_or_else(|| {
        invalid(
            &text,
            "a literal of visible ASCII, or one of $request.header.NAME, $request.querystring.NAME, \
             $request.path, $context.authorizer.claims.NAME, $context.requestId, $context.routeKey",
        )
    })?;
    if target == MappingTarget::Path
        && matches!(&value, MappingValue::Static(path) if !path.starts_with('/'))
    {
        return Err(invalid(&text, "a path starting with / for overwrite:path"));
    }
    Ok(ParameterMapping {
        action,
        target,
        value: Some(value),
        key: raw.key,
        raw_value: text,
    })
}

fn parse_value(text: &str) -> Option<MappingValue> {
    if !text.starts_with('$') {
        // A literal must be sendable as a header value: visible ASCII, spaces and tabs.
        let sendable = !text.is_empty()
            && text
                .bytes()
                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
        return sendable.then(|| MappingValue::Static(text.to_owned()));
    }
    let named = |prefix: &str| {
        text.strip_prefix(prefix)
            .filter(|n| !n.is_empty() && n.bytes().all(|b| is_token_byte(b) || b == b':'))
            .map(str::to_owned)
    };
    if text == "$request.path" {
        Some(MappingValue::RequestPath)
    } else if text == "$context.requestId" {
        Some(MappingValue::RequestId)
    } else if text == "$context.routeKey" {
        Some(MappingValue::RouteKey)
    } else if let Some(name) = named("$request.header.") {
        Some(MappingValue::RequestHeader(name.to_ascii_lowercase()))
    } else if let Some(name) = named("$request.querystring.") {
        Some(MappingValue::RequestQueryString(name))
    } else {
        named("$context.authorizer.claims.").map(MappingValue::Claim)
    }
}

/// A byte of an HTTP token (RFC 9110 §5.6.2).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
