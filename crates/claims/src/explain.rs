//! A token's verdict rule by rule, in the gate's order, for a person reading it (the console's
//! inspector): which rules passed, the one that refused with the exact answer it carries, and
//! what the rules after it would have looked at.
//!
//! The verdict is the verifier's own ([`crate::Verifier::verify`]): the explanation is built
//! around it, never beside it, so what it shows cannot differ from what the gate answers.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::limits::MAX_TOKEN_BYTES;
use crate::{AuthError, UtcTime, Verifier};

pub use crate::gate::ALL_RULES;

/// The rule `refusal` of the `authorization` value (`Bearer <token>` or a bare token) is the
/// refusal of. The token is needed for one error only: a segment that is not base64url belongs to
/// `format` when it is the header, to `payload` when the header decoded (the payload or the
/// signature), as the gate meets them in that order.
pub fn rule_of(refusal: &AuthError, authorization: &str) -> &'static str {
    match refusal {
        AuthError::MissingToken | AuthError::RepeatedToken | AuthError::TokenTooLarge => "size",
        AuthError::Malformed | AuthError::InvalidHeader => "format",
        AuthError::InvalidBase64 => {
            let token = crate::token::identity_source(authorization).unwrap_or(authorization);
            let header = token.split('.').next().unwrap_or_default();
            if URL_SAFE_NO_PAD.decode(header).is_ok() {
                "payload"
            } else {
                "format"
            }
        }
        AuthError::Unsigned | AuthError::AlgorithmNotAllowed(_) => "algorithm",
        AuthError::UnsupportedCritical | AuthError::MissingKid => "header",
        AuthError::InvalidPayload => "payload",
        AuthError::UnknownKid
        | AuthError::AmbiguousKid
        | AuthError::KeysUnavailable
        | AuthError::InvalidKid => "kid",
        AuthError::KeyAlgorithmMismatch | AuthError::InvalidSignature => "signature",
        AuthError::InvalidIssuer | AuthError::WrongSigner => "issuer",
        AuthError::InvalidAudience => "audience",
        AuthError::WrongTokenUse => "token_use",
        AuthError::InvalidClaim(_) => "claims",
        AuthError::InvalidExpiry | AuthError::Expired => "exp",
        AuthError::InvalidNotBefore | AuthError::NotYetValid => "nbf",
        AuthError::InvalidIssuedAt | AuthError::IssuedInFuture => "iat",
        AuthError::InsufficientScope { .. } => "scopes",
    }
}

/// How one rule went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The gate checked it and it held.
    Passed,
    /// The rule that refused: the gate answers this.
    Failed(AuthError),
    /// The gate stopped before it (or it does not apply, like `token_use` when none is required).
    NotReached,
}

/// One rule as it was judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCheck {
    /// One of the gate's [`crate::Gate::rules`].
    pub rule: &'static str,
    /// Passed, failed or not reached.
    pub outcome: Outcome,
    /// What the rule looked at, in words (values from the token are clipped to 200 characters).
    pub detail: String,
}

/// A token's verdict without route scopes, rule by rule.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// The token's header, decoded leniently for display (`None` when it is not a JSON object).
    pub header: Option<Map<String, Value>>,
    /// The token's claims, decoded leniently for display (`None` when not a JSON object).
    pub claims: Option<Map<String, Value>>,
    /// The gate's verdict on the token (route scopes aside).
    pub verdict: Result<(), AuthError>,
    /// The gate's rules but `scopes`, in order.
    pub rules: Vec<RuleCheck>,
}

impl Verifier {
    /// The verdict on `authorization` (`Bearer <token>` or a bare token), rule by rule; route
    /// scopes are the caller's to add ([`crate::require_any_scope`] per route).
    pub async fn explain(&self, authorization: &str) -> Explanation {
        let verdict = self.verify(authorization).await.map(|_| ());
        let token = crate::token::identity_source(authorization).unwrap_or(authorization);
        let (header, claims) = peek(token);
        let failed = verdict
            .as_ref()
            .err()
            .map(|refusal| rule_of(refusal, authorization));
        let config = self.config();
        let gate_rules = config.gate().rules();
        let failed_at = failed.and_then(|rule| gate_rules.iter().position(|r| *r == rule));
        let now = self.now_unix();
        let rules = gate_rules[..gate_rules.len() - 1]
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                let outcome = match (failed_at, &verdict) {
                    (Some(at), Err(refusal)) if at == i => Outcome::Failed(refusal.clone()),
                    (Some(at), _) if at < i => Outcome::NotReached,
                    _ if *rule == "token_use" && config.token_use().is_none() => {
                        Outcome::NotReached
                    }
                    _ if *rule == "claims" && config.claims().is_empty() => Outcome::NotReached,
                    _ => Outcome::Passed,
                };
                let detail = detail(
                    rule,
                    authorization,
                    header.as_ref(),
                    claims.as_ref(),
                    self,
                    now,
                );
                RuleCheck {
                    rule,
                    outcome,
                    detail,
                }
            })
            .collect();
        Explanation {
            header,
            claims,
            verdict,
            rules,
        }
    }
}

/// The keyless reading of `authorization` (see `fuzzing::describe`).
#[cfg(feature = "fuzzing")]
pub(crate) fn describe(authorization: &str) -> usize {
    let token = crate::token::identity_source(authorization).unwrap_or(authorization);
    let (_, claims) = peek(token);
    let _ = rule_of(&AuthError::InvalidBase64, authorization);
    let _ = crate::token::header_kid(authorization);
    let now = 1_800_000_000;
    ["exp", "nbf", "iat"]
        .iter()
        .filter_map(|name| claims.as_ref()?.get(*name))
        .map(|value| time_detail(Some(value), now, true))
        .filter(|text| !text.is_empty())
        .count()
}

/// A decoded JSON object of a token (its header or its claims).
type Object = Map<String, Value>;

/// Header and payload as JSON objects, without any check: for display only.
fn peek(token: &str) -> (Option<Object>, Option<Object>) {
    if token.len() > MAX_TOKEN_BYTES {
        return (None, None);
    }
    let mut parts = token.split('.');
    let object = |part: Option<&str>| {
        let bytes = URL_SAFE_NO_PAD.decode(part?).ok()?;
        match serde_json::from_slice::<Value>(&bytes).ok()? {
            Value::Object(map) => Some(map),
            _ => None,
        }
    };
    let header = object(parts.next());
    let claims = object(parts.next());
    (header, claims)
}

fn detail(
    rule: &str,
    authorization: &str,
    header: Option<&Map<String, Value>>,
    claims: Option<&Map<String, Value>>,
    verifier: &Verifier,
    now: i64,
) -> String {
    let config = verifier.config();
    let from_header = |name: &str| header.and_then(|h| h.get(name)).map(shown);
    let claim = |name: &str| claims.and_then(|c| c.get(name));
    match rule {
        "size" => format!(
            "{} bytes, at most {MAX_TOKEN_BYTES} (API Gateway's request header bound)",
            authorization.len()
        ),
        "format" => {
            "three dot-separated segments; the header base64url, a JSON object without repeated members".to_owned()
        }
        "header" => format!(
            "no crit; kid {}",
            from_header("kid").unwrap_or_else(|| "missing (a non-empty string is required)".into())
        ),
        "payload" => {
            "the payload base64url, a JSON object without repeated members; the signature base64url".to_owned()
        }
        "algorithm" => format!(
            "alg {}; allowed: {}",
            from_header("alg").unwrap_or_else(|| "missing".into()),
            config
                .algorithms()
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "kid" => format!(
            "kid {} in the issuer's key set ({} usable keys)",
            from_header("kid").unwrap_or_else(|| "missing".into()),
            verifier.keys().stats().keys
        ),
        "signature" => "checked with the key the kid names, for the token's alg".to_owned(),
        "issuer" => format!(
            "iss {}; expected exactly {}",
            claim("iss").map_or_else(|| "missing".into(), shown),
            config.issuer()
        ),
        "audience" => format!(
            "{}; accepted: {}",
            match (claim("aud"), claim("client_id")) {
                (Some(aud), _) => format!("aud {}", shown(aud)),
                (None, Some(client_id)) if config.gate().client_id_fallback() => {
                    format!("no aud; client_id {}", shown(client_id))
                }
                (None, _) if !config.gate().client_id_fallback() => {
                    "no aud (required: this gate does not fall back to client_id)".to_owned()
                }
                (None, _) => "no aud and no client_id".to_owned(),
            },
            config.audiences().join(", ")
        ),
        "claims" if config.claims().is_empty() => "no additional claim rules".to_owned(),
        "claims" => config
            .claims()
            .iter()
            .map(|rule| {
                let value = claim(rule.name()).map_or_else(|| "missing".into(), shown);
                format!("{} {value} ({rule})", rule.name())
            })
            .collect::<Vec<_>>()
            .join("; "),
        "token_use" => match config.token_use() {
            Some(required) => format!(
                "token_use {}; required {required}",
                claim("token_use").map_or_else(|| "missing".into(), shown)
            ),
            None => "not required (API Gateway does not check it)".to_owned(),
        },
        "exp" => time_detail(claim("exp"), now, true),
        "nbf" => time_detail(claim("nbf"), now, false),
        "iat" => time_detail(claim("iat"), now, false),
        _ => String::new(),
    }
}

/// A claim value as shown to a person: strings bare, anything else as JSON, at most 200 characters.
fn shown(value: &Value) -> String {
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 200 {
        text.chars().take(200).collect::<String>() + "…"
    } else {
        text
    }
}

/// `1733350000 (2026-12-04 22:06:40 UTC, in 59 min)`; a time claim that is not a number is named so.
fn time_detail(value: Option<&Value>, now: i64, required: bool) -> String {
    let Some(value) = value else {
        return if required {
            "missing (required)".to_owned()
        } else {
            "absent (optional)".to_owned()
        };
    };
    let Some(at) = value.as_f64() else {
        return format!("{} is not a number", shown(value));
    };
    let seconds = at as i64;
    let utc = UtcTime::from_epoch(seconds.max(0) as u64);
    format!(
        "{seconds} ({:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC, {})",
        utc.year,
        utc.month,
        utc.day,
        utc.hour,
        utc.minute,
        utc.second,
        relative(seconds.saturating_sub(now))
    )
}

/// `in 5 min`, `3 h ago`, `now`.
pub fn relative(delta_seconds: i64) -> String {
    let magnitude = delta_seconds.unsigned_abs();
    let amount = match magnitude {
        0 => return "now".to_owned(),
        1..=119 => format!("{magnitude} s"),
        120..=7_199 => format!("{} min", magnitude / 60),
        7_200..=172_799 => format!("{} h", magnitude / 3_600),
        _ => format!("{} days", magnitude / 86_400),
    };
    if delta_seconds > 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_as_a_person_says_them() {
        assert_eq!(relative(0), "now");
        assert_eq!(relative(30), "in 30 s");
        assert_eq!(relative(-30), "30 s ago");
        assert_eq!(relative(3_540), "in 59 min");
        assert_eq!(relative(-7_200), "2 h ago");
        assert_eq!(relative(3 * 86_400), "in 3 days");
    }

    #[test]
    fn hostile_time_claims_are_described_without_overflow() {
        use serde_json::json;
        let now = 1_800_000_000;
        for value in [
            json!(-1e300),
            json!(1e300),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(-0.5),
        ] {
            let text = time_detail(Some(&value), now, true);
            assert!(text.contains("UTC"), "{value}: {text}");
        }
        assert_eq!(
            time_detail(Some(&json!("soon")), now, true),
            "soon is not a number"
        );
        assert_eq!(time_detail(None, now, true), "missing (required)");
    }

    #[test]
    fn a_segment_that_is_not_base64url_is_the_format_rule_in_the_header_and_the_payload_rule_after_it()
     {
        assert_eq!(
            rule_of(&AuthError::InvalidBase64, "Bearer e!30.e30.sig"),
            "format"
        );
        assert_eq!(
            rule_of(&AuthError::InvalidBase64, "e30.e!30.sig"),
            "payload"
        );
        assert_eq!(rule_of(&AuthError::InvalidBase64, "e30.e30.s!g"), "payload");
        assert!(ALL_RULES.contains(&rule_of(&AuthError::MissingKid, "")));
    }

    #[test]
    fn peeking_never_panics_and_reads_only_objects() {
        for token in ["", ".", "..", "a.b.c", "e30.W10.x", "e30.e30.", "😀.😀.😀"] {
            let _ = peek(token);
        }
        assert_eq!(peek("e30.e30.").0, Some(Map::new()));
        assert_eq!(peek("e30.W10.x").1, None);
    }
}
