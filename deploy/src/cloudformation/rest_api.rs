//! The REST API template: the same table, pool and function as the HTTP API's, behind a `RestApi`
//! with a resource per path segment, a method per route (authorization `JWT`, the route's scopes),
//! the `JWT` authorizer with `JwtConfiguration` (every trusted issuer, its audiences and
//! `SINGLE_STRING` claim rules), a Lambda (or HTTP) proxy integration, a deployment and a stage
//! named after the plan's. cfn-lint 1.58.0 (schemas of 2026-10-20) does not know
//! `AWS::ApiGateway::Authorizer.JwtConfiguration` yet: that one resource tells it to skip E3002.

use serde_json::{Value as Json, json};

use super::{
    Sections, base_sections, function_resources, invoke_permission, route_id, tags_list, value,
};
use crate::gate_rules::GateRules;
use crate::{Plan, Runtime};
use portcullis_config::env_var;

/// Logical id of the REST API.
const REST_API: &str = "RestApi";

/// A path's logical id: `/user/profile` → `ResourceUserProfile`.
fn resource_id(path: &str) -> String {
    route_id(path).replacen("Route", "Resource", 1)
}

/// The REST API template.
pub(super) fn template(plan: &Plan, rules: &GateRules) -> Json {
    let mut sections = base_sections(plan);
    sections.add(
        REST_API,
        json!({
            "Type": "AWS::ApiGateway::RestApi",
            "Properties": {
                "Name": plan.name,
                "EndpointConfiguration": { "Types": ["REGIONAL"] },
                "Tags": tags_list(plan),
            }
        }),
    );
    sections.add("JwtAuthorizer", authorizer(plan, rules));
    let stage = plan.name.trim_start_matches("portcullis-").to_owned();
    backend(plan, rules, &mut sections);
    resources(plan, &mut sections);
    let methods = methods(plan, &stage, &mut sections);
    sections.add(
        "ApiDeployment",
        json!({
            "Type": "AWS::ApiGateway::Deployment",
            "DependsOn": methods,
            "Properties": { "RestApiId": { "Ref": REST_API } }
        }),
    );
    sections.add(
        "ApiStage",
        json!({
            "Type": "AWS::ApiGateway::Stage",
            "Properties": {
                "RestApiId": { "Ref": REST_API },
                "DeploymentId": { "Ref": "ApiDeployment" },
                "StageName": stage,
                "Tags": tags_list(plan),
            }
        }),
    );
    sections.outputs.insert(
        "ApiEndpoint".into(),
        json!({ "Value": { "Fn::Sub": format!("https://${{{REST_API}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage}") } }),
    );
    sections.document(plan, "REST API with a JWT authorizer")
}

/// The `JWT` authorizer: every trusted issuer with its audiences and `SINGLE_STRING` claim rules.
fn authorizer(plan: &Plan, rules: &GateRules) -> Json {
    let issuers: Vec<Json> = rules
        .issuers
        .iter()
        .map(|issuer| {
            let mut entry = json!({
                "Issuer": value(&issuer.issuer),
                "Audiences": issuer.audiences.iter().map(value).collect::<Vec<_>>(),
            });
            if !issuer.claims.is_empty() {
                entry["AdditionalClaims"] = issuer
                    .claims
                    .iter()
                    .map(|rule| {
                        let mut claim = json!({
                            "ClaimName": rule.name(),
                            "Format": "SINGLE_STRING",
                            "Required": rule.required(),
                        });
                        if !rule.values().is_empty() {
                            claim["ExpectedValues"] = json!(rule.values());
                        }
                        claim
                    })
                    .collect();
            }
            entry
        })
        .collect();
    json!({
        "Type": "AWS::ApiGateway::Authorizer",
        // cfn-lint 1.58.0's schema predates JwtConfiguration (E3002 "additional property").
        "Metadata": { "cfn-lint": { "config": { "ignore_checks": ["E3002"] } } },
        "Properties": {
            "RestApiId": { "Ref": REST_API },
            "Name": plan.authorizer.name,
            "Type": "JWT",
            // REST's expression syntax for a header (its JWT authorizer's is **U**).
            "IdentitySource": plan.authorizer.identity_source.replacen("$request.header.", "method.request.header.", 1),
            "JwtConfiguration": {
                "DefaultAlgorithms": rules.algorithms,
                "Issuers": issuers,
            },
        }
    })
}

/// What the methods integrate with: the function (with what it must know behind a REST API) and
/// API Gateway's permission to invoke it, or the standalone server's `BackendUrl`.
fn backend(plan: &Plan, rules: &GateRules, sections: &mut Sections) {
    match (&plan.function, plan.runtime) {
        (Some(function), Runtime::Lambda) => {
            // lambda_http puts a REST stage before each path; the service's routes have none.
            let mut extra = vec![
                (
                    "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH".to_owned(),
                    "true".to_owned(),
                ),
                (env_var("auth.gate"), "rest-api".to_owned()),
            ];
            // The function keeps records under each trusted issuer: it names the further ones.
            let further: Vec<Json> = rules.issuers[1..]
                .iter()
                .filter_map(|issuer| match (&issuer.issuer, &issuer.audiences[..]) {
                    (crate::Value::Literal(iss), audiences) => Some(json!({
                        "issuer": iss,
                        "audience": audiences.iter().filter_map(|a| match a {
                            crate::Value::Literal(a) => Some(a.clone()),
                            _ => None,
                        }).collect::<Vec<_>>(),
                    })),
                    _ => None,
                })
                .collect();
            if !further.is_empty() {
                extra.push((env_var("auth.issuers"), Json::Array(further).to_string()));
            }
            function_resources(plan, function, &extra, sections);
            sections.add(
            "ProfileInvokePermission",
            invoke_permission(
                function,
                json!({ "Fn::Sub": format!("arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{REST_API}}}/*") }),
            ),
        );
        }
        _ => {
            sections.parameters.insert(
            "BackendUrl".into(),
            json!({ "Type": "String", "Description": "Base URL of the standalone portcullis-server behind this API (no trailing slash)" }),
        );
        }
    }
}

/// One resource per path prefix, parents first.
fn resources(plan: &Plan, sections: &mut Sections) {
    let mut paths: Vec<String> = Vec::new();
    for route in &plan.routes {
        let (_, path) = route.key.split_once(' ').unwrap_or(("ANY", "/"));
        let mut prefix = String::new();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            prefix.push('/');
            prefix.push_str(segment);
            if !paths.contains(&prefix) {
                paths.push(prefix.clone());
            }
        }
    }
    for path in &paths {
        let (parent, part) = path.rsplit_once('/').unwrap_or(("", path));
        let parent_id = if parent.is_empty() {
            json!({ "Fn::GetAtt": [REST_API, "RootResourceId"] })
        } else {
            json!({ "Ref": resource_id(parent) })
        };
        sections.add(
        &resource_id(path),
        json!({
            "Type": "AWS::ApiGateway::Resource",
            "Properties": { "RestApiId": { "Ref": REST_API }, "ParentId": parent_id, "PathPart": part }
        }),
    );
    }
}

/// A method per route (authorization `JWT` with the route's scopes, or `NONE`) and its endpoint
/// output; their logical ids, which the deployment depends on.
fn methods(plan: &Plan, stage: &str, sections: &mut Sections) -> Vec<String> {
    let integration = |path: &str| match plan.runtime {
        Runtime::Lambda => json!({
            "Type": "AWS_PROXY",
            "IntegrationHttpMethod": "POST",
            "Uri": { "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${ProfileFunction.Arn}/invocations" },
        }),
        Runtime::Standalone => json!({
            "Type": "HTTP_PROXY",
            "IntegrationHttpMethod": "ANY",
            "Uri": { "Fn::Sub": format!("${{BackendUrl}}{path}") },
        }),
    };
    let mut methods = Vec::new();
    for route in &plan.routes {
        let (method, path) = route.key.split_once(' ').unwrap_or(("ANY", "/"));
        let id = route_id(&route.key).replacen("Route", "Method", 1);
        let mut properties = json!({
            "RestApiId": { "Ref": REST_API },
            "ResourceId": { "Ref": resource_id(path) },
            "HttpMethod": method,
            "AuthorizationType": if route.authorized { "JWT" } else { "NONE" },
            "Integration": integration(path),
        });
        if route.authorized {
            properties["AuthorizerId"] = json!({ "Ref": "JwtAuthorizer" });
            if !route.scopes.is_empty() {
                properties["AuthorizationScopes"] = json!(route.scopes);
            }
        }
        sections.add(
            &id,
            json!({ "Type": "AWS::ApiGateway::Method", "Properties": properties }),
        );
        methods.push(id);
        if route.authorized {
            sections.outputs.insert(
            format!("{}Endpoint", &route_id(&route.key)[5..]),
            json!({ "Value": { "Fn::Sub": format!("{method} - https://${{{REST_API}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage}{path}") } }),
        );
        }
    }
    methods
}
