//! The raw event, before `lambda_http` reads it: claim maps normalised leniently, so one odd claim
//! never makes the whole event fail to deserialize.

use portcullis_claims::gateway_value;
use serde_json::Value;

/// Rewrites the authorizer claims of a raw API Gateway event so they always read as API Gateway
/// documents them: in `authorizer.jwt` (payload 2.0) and `authorizer` (payload 1.0), non-string claim
/// values become API Gateway's string rendering, nulls are dropped, and scopes that are not a list of
/// strings are dropped.
pub fn normalize_event(event: &mut Value) {
    // A REST API's proxy event (no `version`, unlike both HTTP API payloads) carries the JWT
    // authorizer's claims with their JSON types: kept as they are, read as they are.
    let rest = event.get("version").is_none() && event.get("httpMethod").is_some();
    let Some(authorizer) = event
        .pointer_mut("/requestContext/authorizer")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if !rest {
        normalize_claims(authorizer);
    }
    if let Some(jwt) = authorizer.get_mut("jwt").and_then(Value::as_object_mut) {
        normalize_claims(jwt);
    }
}

fn normalize_claims(holder: &mut serde_json::Map<String, Value>) {
    match holder.get_mut("claims") {
        Some(Value::Object(claims)) => {
            let rendered: serde_json::Map<String, Value> = claims
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), Value::String(gateway_value(v)?))))
                .collect();
            *claims = rendered;
        }
        Some(_) => {
            holder.remove("claims");
        }
        None => {}
    }
    match holder.get_mut("scopes") {
        Some(Value::Array(scopes)) => scopes.retain(Value::is_string),
        Some(Value::Null) | None => {}
        Some(_) => {
            holder.insert("scopes".into(), Value::Null);
        }
    }
}
