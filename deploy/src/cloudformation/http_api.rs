//! The HTTP API template: the API with its JWT authorizer, a route per served route (the route's
//! scopes), a Lambda proxy or HTTP proxy integration, the `$default` stage, and what every gate's
//! template holds (the table, the tutorial's pool when made, the function).

use serde_json::{Value as Json, json};

use super::{base_sections, function_resources, invoke_permission, route_id, tags_map, value};
use crate::{Plan, Runtime, ids};

/// The HTTP API template, as JSON.
pub(super) fn template(plan: &Plan) -> Json {
    let mut sections = base_sections(plan);

    sections.add(
        ids::HTTP_API,
        json!({
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": api_properties(plan),
        }),
    );
    sections.add(
        "JwtAuthorizer",
        json!({
            "Type": "AWS::ApiGatewayV2::Authorizer",
            "Properties": {
                "ApiId": { "Ref": "HttpApi" },
                "Name": plan.authorizer.name,
                "AuthorizerType": plan.authorizer.kind,
                "IdentitySource": [plan.authorizer.identity_source],
                "JwtConfiguration": {
                    "Issuer": value(&plan.authorizer.issuer),
                    "Audience": plan.authorizer.audiences.iter().map(value).collect::<Vec<_>>(),
                },
            }
        }),
    );

    match (&plan.function, plan.runtime) {
        (Some(function), Runtime::Lambda) => {
            function_resources(plan, function, &[], &mut sections);
            sections.add(
                "ProfileIntegration",
                json!({
                    "Type": "AWS::ApiGatewayV2::Integration",
                    "Properties": {
                        "ApiId": { "Ref": "HttpApi" },
                        "IntegrationType": plan.integration.kind,
                        "IntegrationUri": { "Fn::GetAtt": ["ProfileFunction", "Arn"] },
                        "PayloadFormatVersion": plan.integration.payload_format_version,
                    }
                }),
            );
            sections.add(
                "ProfileInvokePermission",
                invoke_permission(function, value(&function.permission.source_arn)),
            );
        }
        _ => {
            sections.parameters.insert(
                "BackendUrl".into(),
                json!({ "Type": "String", "Description": "Base URL of the standalone portcullis-server behind this API" }),
            );
            // The path passed on (without it an HTTP API sends every route to the bare base URL),
            // and the route's mappings: one integration for the routes without mappings, one for
            // each route with mappings of its own.
            let http_integration = |request_parameters: Json| {
                json!({
                    "Type": "AWS::ApiGatewayV2::Integration",
                    "Properties": {
                        "ApiId": { "Ref": "HttpApi" },
                        "IntegrationType": plan.integration.kind,
                        "IntegrationMethod": plan.integration.method,
                        "IntegrationUri": { "Ref": "BackendUrl" },
                        "PayloadFormatVersion": plan.integration.payload_format_version,
                        "RequestParameters": request_parameters,
                    }
                })
            };
            sections.add(
                "ProfileIntegration",
                http_integration(json!({ "overwrite:path": "$request.path" })),
            );
            for route in plan.routes.iter().filter(|r| !r.parameters.is_empty()) {
                sections.add(
                    &format!("{}Integration", route_id(&route.key)),
                    http_integration(json!(crate::http_request_parameters(route))),
                );
            }
        }
    }

    for route in &plan.routes {
        let integration = if route.parameters.is_empty() {
            "ProfileIntegration".to_owned()
        } else {
            format!("{}Integration", route_id(&route.key))
        };
        let mut properties = json!({
            "ApiId": { "Ref": "HttpApi" },
            "RouteKey": route.key,
            "Target": { "Fn::Sub": crate::route_target(&format!("${{{integration}}}")) },
            "AuthorizationType": if route.authorized { "JWT" } else { "NONE" },
        });
        if route.authorized {
            properties["AuthorizerId"] = json!({ "Ref": "JwtAuthorizer" });
            if !route.scopes.is_empty() {
                properties["AuthorizationScopes"] = json!(route.scopes);
            }
        }
        sections.add(
            &route_id(&route.key),
            json!({ "Type": "AWS::ApiGatewayV2::Route", "Properties": properties }),
        );
    }
    sections.add(
        "DefaultStage",
        json!({
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": { "ApiId": { "Ref": "HttpApi" }, "StageName": plan.stage.name, "AutoDeploy": plan.stage.auto_deploy, "Tags": tags_map(plan) }
        }),
    );
    sections.outputs.insert(
        "ApiEndpoint".into(),
        json!({ "Value": { "Fn::GetAtt": ["HttpApi", "ApiEndpoint"] } }),
    );
    for route in plan.routes.iter().filter(|r| r.authorized) {
        let (method, path) = route.key.split_once(' ').unwrap_or(("ANY", "/"));
        sections.outputs.insert(
            format!("{}Endpoint", &route_id(&route.key)[5..]),
            json!({ "Value": { "Fn::Sub": format!("{method} - ${{HttpApi.ApiEndpoint}}{path}") } }),
        );
    }

    sections.document(plan, "HTTP API with a JWT authorizer")
}

/// The HTTP API's properties: name, protocol, tags, and the CORS configuration when `[cors]` has one.
fn api_properties(plan: &Plan) -> Json {
    let mut properties =
        json!({ "Name": plan.name, "ProtocolType": "HTTP", "Tags": tags_map(plan) });
    if let Some(cors) = &plan.cors {
        let mut configuration = json!({
            "AllowOrigins": cors.allow_origins,
            "AllowCredentials": cors.allow_credentials,
        });
        for (key, list) in [
            ("AllowMethods", &cors.allow_methods),
            ("AllowHeaders", &cors.allow_headers),
            ("ExposeHeaders", &cors.expose_headers),
        ] {
            if !list.is_empty() {
                configuration[key] = json!(list);
            }
        }
        if let Some(seconds) = cors.max_age_seconds {
            configuration["MaxAge"] = json!(seconds);
        }
        properties["CorsConfiguration"] = configuration;
    }
    properties
}
