//! Lambda events as API Gateway's HTTP API sends them to a proxy integration, for tests that
//! invoke a function with what no local gateway would produce (another authorizer type, payload
//! 1.0, claims a JWT authorizer would pass but the function must refuse).

use serde_json::{Value, json};

/// A payload-2.0 event for `method path` (route key the same), with `authorizer` as the request
/// context's `authorizer` member (absent with `None`).
pub fn http_api_event(method: &str, path: &str, authorizer: Option<Value>) -> Value {
    let route = format!("{method} {path}");
    let mut context = json!({
        "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com", "domainPrefix": "api",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "curl"},
        "requestId": "id", "routeKey": route, "stage": "$default",
        "time": "24/Nov/2026:09:00:00 +0000", "timeEpoch": 1795510800000u64,
    });
    if let Some(authorizer) = authorizer {
        context["authorizer"] = authorizer;
    }
    json!({
        "version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": "",
        "headers": {"host": "api.example.com"}, "requestContext": context, "isBase64Encoded": false,
    })
}

/// A payload-1.0 event for `GET path` (the REST-style shape an HTTP API sends with payload format
/// 1.0), with `authorizer` as the request context's `authorizer` member.
pub fn http_api_event_v1(path: &str, authorizer: Value) -> Value {
    json!({
        "version": "1.0", "resource": path, "path": path, "httpMethod": "GET",
        "headers": {"Host": "api.example.com"}, "multiValueHeaders": {"Host": ["api.example.com"]},
        "queryStringParameters": null, "multiValueQueryStringParameters": null,
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "authorizer": authorizer, "domainName": "api.example.com",
            "httpMethod": "GET", "identity": {"sourceIp": "192.0.2.1"}, "path": path, "protocol": "HTTP/1.1",
            "requestId": "id", "requestTime": "24/Nov/2026:09:00:00 +0000", "requestTimeEpoch": 1795510800000u64,
            "resourcePath": path, "stage": "$default",
        },
        "pathParameters": null, "stageVariables": null, "body": null, "isBase64Encoded": false,
    })
}

/// A REST API's Lambda proxy event for `method path` on stage `prod` (no `version`: the shape
/// REST APIs send), its JWT authorizer's `claims` JSON-typed in the request context.
pub fn rest_api_event(method: &str, path: &str, claims: Value) -> Value {
    json!({
        "resource": path, "path": path, "httpMethod": method,
        "headers": {"Host": "api.example.com"}, "multiValueHeaders": {"Host": ["api.example.com"]},
        "queryStringParameters": null, "multiValueQueryStringParameters": null,
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "authorizer": {"claims": claims},
            "domainName": "api.example.com", "httpMethod": method, "identity": {"sourceIp": "192.0.2.1"},
            "path": format!("/prod{path}"), "protocol": "HTTP/1.1", "requestId": "id",
            "requestTime": "24/Nov/2026:09:00:00 +0000", "requestTimeEpoch": 1795510800000u64,
            "resourceId": "abc123", "resourcePath": path, "stage": "prod",
        },
        "pathParameters": null, "stageVariables": null, "body": null, "isBase64Encoded": false,
    })
}

/// An Application Load Balancer's event for `method path` (multi-value headers on, as the export
/// sets the target group), with `authorization` as the request's `Authorization` header,
/// untouched by the `jwt-validation` action, when given.
pub fn alb_event(method: &str, path: &str, authorization: Option<&str>) -> Value {
    let mut headers = json!({"host": ["alb.example.com"]});
    if let Some(value) = authorization {
        headers["authorization"] = json!([value]);
    }
    json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/0123456789abcdef"}},
        "httpMethod": method, "path": path, "multiValueQueryStringParameters": {},
        "multiValueHeaders": headers, "body": "", "isBase64Encoded": false,
    })
}
