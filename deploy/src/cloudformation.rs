//! The plan as a CloudFormation template (YAML), for teams that deploy through their own pipelines.
//!
//! The Lambda package is a parameter (`CodeBucket`, `CodeKey`: where the pipeline uploaded
//! `bootstrap.zip`); the standalone runtime's backend is a parameter (`BackendUrl`).

use serde_json::{Map, Value as Json, json};

use portcullis_cognito::tutorial_client;

use crate::gate_rules::GateRules;
use crate::{Plan, Runtime, Value, ids};

mod gates;

/// The template for `rules`' gate: [`template`] for the HTTP API, else the REST API's or the
/// ALB's (the `gates` module).
pub fn template_for(plan: &Plan, rules: &GateRules) -> Json {
    match rules.gate {
        portcullis_config::Gate::HttpApi => template(plan),
        portcullis_config::Gate::RestApi => gates::rest(plan, rules),
        portcullis_config::Gate::Alb => gates::alb(plan, rules),
    }
}

/// [`template_for`] as YAML.
pub fn render_for(plan: &Plan, rules: &GateRules) -> String {
    crate::yaml::to_yaml(&template_for(plan, rules))
}

fn value(v: &Value) -> Json {
    match v {
        Value::Literal(text) => json!(text),
        Value::Ref(name) => json!({ "Ref": name }),
        Value::Sub(template) => json!({ "Fn::Sub": template }),
    }
}

fn tags_list(plan: &Plan) -> Json {
    Json::Array(
        plan.tags
            .iter()
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect(),
    )
}

fn tags_map(plan: &Plan) -> Json {
    json!(plan.tags)
}

/// Resource logical id of a route: `GET /user/profile` → `RouteGetUserProfile`.
fn route_id(key: &str) -> String {
    let mut id = String::from("Route");
    for word in key
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            id.push(first.to_ascii_uppercase());
            id.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    id
}

/// The template as a JSON value (see [`render`] for YAML).
pub fn template(plan: &Plan) -> Json {
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

/// A template's sections, as its builder fills them.
#[derive(Default)]
struct Sections {
    resources: Map<String, Json>,
    parameters: Map<String, Json>,
    outputs: Map<String, Json>,
}

impl Sections {
    fn add(&mut self, id: &str, resource: Json) {
        self.resources.insert(id.to_owned(), resource);
    }

    /// The template around these sections: `what` protects the profile service.
    fn document(self, plan: &Plan, what: &str) -> Json {
        let mut template = json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": format!("Portcullis {} ({}, {}): {what} in front of the profile service", plan.name, plan.provider, match plan.runtime { Runtime::Lambda => "lambda", Runtime::Standalone => "standalone" }),
            "Resources": self.resources,
            "Outputs": self.outputs,
        });
        if !self.parameters.is_empty() {
            template["Parameters"] = Json::Object(self.parameters);
        }
        template
    }
}

/// What every gate's template holds: the profiles table and, when the plan makes it, the
/// tutorial's Cognito pool with its Hosted UI address.
fn base_sections(plan: &Plan) -> Sections {
    let mut sections = Sections::default();

    sections.add(
        ids::TABLE,
        json!({
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": plan.table.name,
                "BillingMode": plan.table.billing_mode,
                "AttributeDefinitions": [{ "AttributeName": plan.table.key, "AttributeType": plan.table.key_type }],
                "KeySchema": [{ "AttributeName": plan.table.key, "KeyType": "HASH" }],
                "Tags": tags_list(plan),
            }
        }),
    );

    if let Some(pool) = &plan.cognito {
        sections.add(
            ids::USER_POOL,
            json!({
                "Type": "AWS::Cognito::UserPool",
                "Properties": {
                    "UserPoolName": pool.pool_name,
                    "UsernameAttributes": ["email"],
                    "AutoVerifiedAttributes": ["email"],
                    "UserPoolTags": tags_map(plan),
                }
            }),
        );
        sections.add(
            ids::USER_POOL_CLIENT,
            json!({
                "Type": "AWS::Cognito::UserPoolClient",
                "Properties": {
                    "ClientName": pool.client_name,
                    "UserPoolId": { "Ref": "UserPool" },
                    "GenerateSecret": false,
                    "AllowedOAuthFlowsUserPoolClient": true,
                    "AllowedOAuthFlows": tutorial_client::OAUTH_FLOWS,
                    "AllowedOAuthScopes": tutorial_client::OAUTH_SCOPES,
                    "CallbackURLs": pool.callback_urls,
                    "SupportedIdentityProviders": tutorial_client::IDENTITY_PROVIDERS,
                    "ExplicitAuthFlows": tutorial_client::AUTH_FLOWS,
                }
            }),
        );
        sections.add(
            "UserPoolDomain",
            json!({
                "Type": "AWS::Cognito::UserPoolDomain",
                "Properties": { "Domain": pool.domain, "UserPoolId": { "Ref": "UserPool" } }
            }),
        );
        sections.outputs.insert(
            "HostedUiUrl".into(),
            json!({ "Value": { "Fn::Sub": format!(
                "https://{}.auth.${{AWS::Region}}.amazoncognito.com/login?client_id=${{UserPoolClient}}&response_type=token&scope=email+openid+profile+aws.cognito.signin.user.admin&redirect_uri={}",
                pool.domain, pool.callback_urls[0]
            ) } }),
        );
    }
    sections
}

/// The API's permission (the plan's principal and action) to invoke the function, from
/// `source_arn`.
fn invoke_permission(function: &crate::Function, source_arn: Json) -> Json {
    json!({
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "FunctionName": { "Ref": "ProfileFunction" },
            "Action": function.permission.action,
            "Principal": function.permission.principal,
            "SourceArn": source_arn,
        }
    })
}

/// The Lambda function of the plan, its role and log group, and the package parameters; `extra`
/// adds to its environment what the gate in front of it needs.
fn function_resources(
    plan: &Plan,
    function: &crate::Function,
    extra: &[(String, String)],
    sections: &mut Sections,
) {
    sections.parameters.insert(
        "CodeBucket".into(),
        json!({ "Type": "String", "Description": "S3 bucket holding bootstrap.zip" }),
    );
    sections.parameters.insert("CodeKey".into(), json!({ "Type": "String", "Description": "S3 key of bootstrap.zip (cargo xtask build --runtime lambda)" }));
    sections.add(
        ids::LOG_GROUP,
        json!({
            "Type": "AWS::Logs::LogGroup",
            "Properties": { "LogGroupName": function.log_group.name, "RetentionInDays": function.log_group.retention_days, "Tags": tags_list(plan) }
        }),
    );
    let role = &function.role;
    sections.add(
        "ProfileRole",
        json!({
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": role.name,
                "AssumeRolePolicyDocument": role.assume_policy(),
                "Policies": [{ "PolicyName": role.policy_name, "PolicyDocument": role.policy(value) }],
                "Tags": tags_list(plan),
            }
        }),
    );
    let mut environment: Map<String, Json> = function
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), value(v)))
        .collect();
    for (k, v) in extra {
        environment.insert(k.clone(), json!(v));
    }
    sections.add(
        "ProfileFunction",
        json!({
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": function.name,
                "Runtime": function.runtime,
                "Handler": function.handler,
                "Architectures": [function.arch.lambda_name()],
                "MemorySize": function.memory_mb,
                "Timeout": function.timeout_s,
                "Code": { "S3Bucket": { "Ref": "CodeBucket" }, "S3Key": { "Ref": "CodeKey" } },
                "Role": { "Fn::GetAtt": ["ProfileRole", "Arn"] },
                "Environment": { "Variables": environment },
                "LoggingConfig": { "LogGroup": { "Ref": ids::LOG_GROUP } },
                "Tags": tags_list(plan),
            }
        }),
    );
}

/// The template as YAML.
pub fn render(plan: &Plan) -> String {
    crate::yaml::to_yaml(&template(plan))
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

#[cfg(test)]
mod tests {
    use super::route_id;

    #[test]
    fn route_ids_are_cloudformation_logical_ids() {
        assert_eq!(route_id("GET /user/profile"), "RouteGetUserProfile");
        assert_eq!(route_id("POST /user/profile"), "RoutePostUserProfile");
        assert_eq!(route_id("GET /healthz"), "RouteGetHealthz");
    }
}
