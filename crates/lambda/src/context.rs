//! What the gate in front of the function put in the request context: the claims it vouched for,
//! and the route it matched.

use lambda_http::http;
use lambda_http::request::RequestContext;
use portcullis_claims::{Claims, Gate, IdentitySource};
use serde_json::Value;

/// The claims (and scopes) the gate in front of the function vouched for, if any; `None` for an
/// event that gate does not send, so a function deployed behind one gate never trusts the shape
/// of another's event.
///
/// - HTTP API: `authorizer.jwt` (payload 2.0) or `authorizer.claims` (payload 1.0). The context
///   holds only API Gateway's string rendering (a list `["Everyone", "Not admin"]` arrives as
///   `"[Everyone Not admin]"`), so the exact claims are taken from the token in the gate's
///   identity `source` when — and only when — it renders to exactly that context (the token the
///   authorizer verified); otherwise the rendering is kept as it is, never split into guessed
///   members.
/// - REST API: `authorizer.claims`, each top-level claim with its JSON type: the claims as they are.
/// - ALB: the request as it came, the token untouched in `Authorization`: the claims are read from
///   it ([`Claims::from_forwarded_token`]). Only an ALB event, and only with `gate` the ALB: every
///   listener rule that forwards to the function must have the `jwt-validation` action.
pub fn vouched_claims<B>(
    request: &http::Request<B>,
    gate: Gate,
    source: &IdentitySource,
) -> Option<(Claims, Option<Vec<String>>)> {
    let context = request.extensions().get::<RequestContext>()?;
    // The gate's identity source, read as the gate reads it (a repeated one is none).
    let token = portcullis_claims::http::identity(request.uri(), request.headers(), source)
        .ok()
        .flatten();
    match (gate, context) {
        (Gate::Alb, RequestContext::Alb(_)) => {
            return Claims::from_forwarded_token(&token?).map(|claims| (claims, None));
        }
        (Gate::Alb, _) | (_, RequestContext::Alb(_)) => return None,
        _ => {}
    }
    let authorizer = context.authorizer()?;
    let exact = |rendered: std::collections::BTreeMap<String, String>| {
        token
            .as_deref()
            .and_then(|text| Claims::from_verified_header(text, &rendered))
            .unwrap_or_else(|| Claims::from_gateway_rendering(&rendered))
    };
    if let Some(jwt) = authorizer.jwt.as_ref().filter(|jwt| !jwt.claims.is_empty()) {
        if gate != Gate::HttpApi {
            return None;
        }
        let rendered = jwt
            .claims
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        return Some((exact(rendered), jwt.scopes.clone()));
    }
    let claims = authorizer
        .fields
        .get("claims")?
        .as_object()
        .filter(|c| !c.is_empty())?;
    if !claims.values().all(Value::is_string) {
        // Only a REST API's authorizer passes JSON types (the HTTP API payload 1.0 renders
        // every claim as a string, and `normalize_event` keeps it so).
        return match gate {
            Gate::RestApi => Some((Claims::from_json(Value::Object(claims.clone()))?, None)),
            _ => None,
        };
    }
    let strings = claims
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect();
    let scopes = authorizer
        .fields
        .get("scopes")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        });
    Some((exact(strings), scopes))
}

/// The route a Lambda event names, as API Gateway writes route keys: payload 2.0's `routeKey`,
/// payload 1.0's method and resource, else `$default` (a function URL, an ALB).
pub(crate) fn route_name(context: Option<&RequestContext>) -> String {
    let named = match context {
        Some(RequestContext::ApiGatewayV2(context)) => context.route_key.clone(),
        Some(RequestContext::ApiGatewayV1(context)) => context
            .resource_path
            .as_ref()
            .map(|resource| format!("{} {resource}", context.http_method)),
        _ => None,
    };
    named.unwrap_or_else(|| "$default".to_owned())
}
