//! The payload-2.0 event of an HTTP API's Lambda proxy integration, and the function's answer
//! (response format 2.0) turned back into the HTTP response API Gateway sends.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use portcullis_claims::Caller;
use serde_json::{Value, json};

use portcullis_axum::serve::gateway_answer as api_error;

/// The payload-2.0 event API Gateway sends for this request.
#[allow(clippy::too_many_arguments)] // One argument per part of the request; a struct would only rename them.
pub fn event(
    domain: &str,
    route_key: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    caller: Option<&Caller>,
    request_id: &str,
) -> Value {
    let mut joined: HashMap<String, String> = HashMap::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == header::COOKIE {
            cookies.extend(
                value
                    .split(';')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        joined
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let query = uri.query().unwrap_or_default();
    let mut parameters = serde_json::Map::new();
    for (k, v) in raw_query_pairs(query) {
        let entry = parameters
            .entry(k.to_owned())
            .or_insert_with(|| Value::String(String::new()));
        if let Value::String(existing) = entry {
            if !existing.is_empty() {
                existing.push(',');
            }
            existing.push_str(v);
        }
    }
    let (body, is_base64) = body_text(body);
    let mut context = json!({
        "accountId": "000000000000",
        "apiId": "local",
        "domainName": domain,
        "domainPrefix": "local",
        "http": {
            "method": method.as_str(),
            "path": uri.path(),
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": joined.get("user-agent").cloned().unwrap_or_default(),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": clf_time(now.as_secs()),
        "timeEpoch": now.as_millis() as u64,
    });
    if let Some(caller) = caller {
        context["authorizer"] = json!({ "jwt": caller.gateway_jwt() });
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": uri.path(),
        "rawQueryString": query,
        "headers": joined,
        "requestContext": context,
        "isBase64Encoded": is_base64,
    });
    if !parameters.is_empty() {
        event["queryStringParameters"] = Value::Object(parameters);
    }
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    event
}

/// The request as a REST API's Lambda proxy integration hands it over (the "1.0" shape:
/// single- and multi-value headers and query parameters, `resource` the route's path template),
/// with a JWT authorizer's claims in `requestContext.authorizer.claims`: the token's top-level
/// claims with their JSON types ("Use JWT claims in REST API integrations": `"42"` is not `42`).
#[allow(clippy::too_many_arguments)] // As `event`: one argument per part of the request.
pub fn rest_event(
    domain: &str,
    resource: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    caller: Option<&Caller>,
    request_id: &str,
) -> Value {
    let (single, multi) = header_maps(headers);
    let (query, multi_query) = query_maps(uri.query().unwrap_or_default());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (body, is_base64) = body_text(body);
    let mut context = json!({
        "accountId": "000000000000",
        "apiId": "local",
        "domainName": domain,
        "domainPrefix": "local",
        "extendedRequestId": request_id,
        "httpMethod": method.as_str(),
        "identity": {
            "sourceIp": "127.0.0.1",
            "userAgent": single.get("user-agent").cloned().unwrap_or_default(),
        },
        "path": uri.path(),
        "protocol": "HTTP/1.1",
        "requestId": request_id,
        "requestTime": clf_time(now.as_secs()),
        "requestTimeEpoch": now.as_millis() as u64,
        "resourceId": "local",
        "resourcePath": resource,
        "stage": "local",
    });
    if let Some(caller) = caller {
        context["authorizer"] = json!({ "claims": Value::Object(caller.claims.as_map().clone()) });
    }
    json!({
        "resource": resource,
        "path": uri.path(),
        "httpMethod": method.as_str(),
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": Value::Null,
        "stageVariables": Value::Null,
        "requestContext": context,
        "body": body.map_or(Value::Null, Value::String),
        "isBase64Encoded": is_base64,
    })
}

/// The request as an Application Load Balancer hands it to a Lambda target whose target group has
/// multi-value headers on, as the export sets it (every value of a repeated header or parameter,
/// query parameters as sent: with it off, the target would see only the last `Authorization`, not
/// necessarily the one `jwt-validation` checked). The action passes the request on untouched: the
/// target finds the token, unchanged, in `authorization`, and no claims anywhere else.
pub fn alb_event(method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Value {
    let (_, multi) = header_maps(headers);
    let mut query = serde_json::Map::new();
    for (k, v) in raw_query_pairs(uri.query().unwrap_or_default()) {
        if let Value::Array(values) = query
            .entry(k.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            values.push(Value::String(v.to_owned()));
        }
    }
    let (body, is_base64) = body_text(body);
    json!({
        "requestContext": {
            "elb": {
                "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/local/0000000000000000"
            }
        },
        "httpMethod": method.as_str(),
        "path": uri.path(),
        "multiValueQueryStringParameters": query,
        "multiValueHeaders": multi,
        "body": body.unwrap_or_default(),
        "isBase64Encoded": is_base64,
    })
}

/// Each header's last value, and every value by name (names lower-case, as `HeaderMap` keeps
/// them).
fn header_maps(headers: &HeaderMap) -> (HashMap<String, String>, HashMap<String, Vec<String>>) {
    let mut single = HashMap::new();
    let mut multi: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        single.insert(name.as_str().to_owned(), value.clone());
        multi
            .entry(name.as_str().to_owned())
            .or_default()
            .push(value);
    }
    (single, multi)
}

/// The query string's `name=value` pairs as sent (not decoded), empty pairs skipped, as payload
/// 2.0 and an ALB hand them over.
fn raw_query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// Query parameters percent-decoded, each one's last value and every value; `null` for none,
/// as a REST API sends them.
fn query_maps(query: &str) -> (Value, Value) {
    let mut single = serde_json::Map::new();
    let mut multi = serde_json::Map::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        single.insert(k.to_string(), Value::String(v.to_string()));
        if let Value::Array(values) = multi
            .entry(k.to_string())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            values.push(Value::String(v.into_owned()));
        }
    }
    if single.is_empty() {
        (Value::Null, Value::Null)
    } else {
        (Value::Object(single), Value::Object(multi))
    }
}

/// The body as text, or base64 when it is not UTF-8; `None` when empty.
fn body_text(body: &Bytes) -> (Option<String>, bool) {
    if body.is_empty() {
        return (None, false);
    }
    match std::str::from_utf8(body) {
        Ok(text) => (Some(text.to_owned()), false),
        Err(_) => (Some(STANDARD.encode(body)), true),
    }
}

/// A Lambda proxy response (format 2.0) as the HTTP response API Gateway sends.
pub fn lambda_response(answer: &Value) -> Response {
    let status = answer
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::OK);
    let text = answer
        .get("body")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let body = if answer.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        match STANDARD.decode(text) {
            Ok(bytes) => bytes,
            Err(_) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        }
    } else {
        text.as_bytes().to_vec()
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let mut insert = |name: &str, value: &str| {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            headers.append(name, value);
        }
    };
    if let Some(map) = answer.get("headers").and_then(Value::as_object) {
        for (name, value) in map {
            if let Some(value) = value.as_str() {
                insert(name, value);
            }
        }
    }
    if let Some(map) = answer.get("multiValueHeaders").and_then(Value::as_object) {
        for (name, values) in map {
            for value in values
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                insert(name, value);
            }
        }
    }
    for cookie in answer
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        insert("set-cookie", cookie);
    }
    response
}

/// `24/Nov/2026:09:00:00 +0000`, the form of `requestContext.time`.
fn clf_time(epoch_seconds: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = portcullis_claims::UtcTime::from_epoch(epoch_seconds);
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        t.day,
        MONTHS[(t.month as usize).saturating_sub(1) % 12],
        t.year,
        t.hour,
        t.minute,
        t.second
    )
}

#[cfg(test)]
mod tests {
    use super::clf_time;

    #[test]
    fn request_time_uses_api_gateway_s_format() {
        assert_eq!(clf_time(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf_time(1_795_510_111), "24/Nov/2026:08:48:31 +0000");
        assert_eq!(clf_time(951_782_400), "29/Feb/2000:00:00:00 +0000");
    }
}
