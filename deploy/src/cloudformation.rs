//! The plan as a CloudFormation template (YAML), for teams that deploy through their own pipelines.
//!
//! The Lambda package is a parameter (`CodeBucket`, `CodeKey`: where the pipeline uploaded
//! `bootstrap.zip`); the standalone runtime's backend is a parameter (`BackendUrl`).

use serde_json::{Map, Value as Json, json};

use portcullis_cognito::tutorial_client;

use crate::gate_rules::GateRules;
use crate::{Plan, Runtime, Value, ids};

mod alb;
mod http_api;
mod rest_api;

/// The template for `rules`' gate (each gate's in a module of its own), as JSON.
pub fn template(plan: &Plan, rules: &GateRules) -> Json {
    match rules.gate {
        portcullis_config::Gate::HttpApi => http_api::template(plan),
        portcullis_config::Gate::RestApi => rest_api::template(plan, rules),
        portcullis_config::Gate::Alb => alb::template(plan, rules),
    }
}

/// [`template`] as YAML, what `portcullis deploy --export` writes.
pub fn render(plan: &Plan, rules: &GateRules) -> String {
    crate::yaml::to_yaml(&template(plan, rules))
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
