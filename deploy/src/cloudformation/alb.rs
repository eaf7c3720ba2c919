//! The ALB fragment: no load balancer and no VPC; a listener rule per route on an existing HTTPS
//! listener (`ListenerArn`), each protected one with a `jwt-validation` action
//! (`JwtValidationConfig`: `JwksEndpoint`, `Issuer`, `AdditionalClaims`, the route's scopes as a
//! `scope` claim rule) before its `forward`; for the Lambda runtime a `lambda` target group and the
//! ALB's invoke permission.

use serde_json::{Value as Json, json};

use super::{base_sections, function_resources, route_id, tags_list, value};
use crate::gate_rules::GateRules;
use crate::{Plan, Runtime};
use portcullis_config::env_var;

/// The ALB fragment: listener rules (and a Lambda target group) for an existing HTTPS listener.
pub(super) fn template(plan: &Plan, rules: &GateRules) -> Json {
    let mut sections = base_sections(plan);
    sections.parameters.insert(
        "ListenerArn".into(),
        json!({ "Type": "String", "Description": "ARN of the HTTPS listener of your Application Load Balancer (jwt-validation runs on HTTPS listeners only)" }),
    );
    let target_group = match (&plan.function, plan.runtime) {
        (Some(function), Runtime::Lambda) => {
            function_resources(
                plan,
                function,
                &[(env_var("auth.gate"), "alb".to_owned())],
                &mut sections,
            );
            sections.add(
                "ProfileAlbInvokePermission",
                json!({
                    "Type": "AWS::Lambda::Permission",
                    "Properties": {
                        "FunctionName": { "Fn::GetAtt": ["ProfileFunction", "Arn"] },
                        "Action": "lambda:InvokeFunction",
                        "Principal": "elasticloadbalancing.amazonaws.com",
                        "SourceAccount": { "Ref": "AWS::AccountId" },
                    }
                }),
            );
            sections.add(
                "ProfileTargetGroup",
                json!({
                    "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
                    // The ALB checks it may invoke the function when the target is registered.
                    "DependsOn": ["ProfileAlbInvokePermission"],
                    "Properties": {
                        "Name": format!("{}-profile", plan.name),
                        "TargetType": "lambda",
                        "Targets": [{ "Id": { "Fn::GetAtt": ["ProfileFunction", "Arn"] } }],
                        // Every value of a repeated header reaches the function, which refuses two
                        // `Authorization` headers: with this off it would see only the last one,
                        // and which one jwt-validation checks is not documented.
                        "TargetGroupAttributes": [{ "Key": "lambda.multi_value_headers.enabled", "Value": "true" }],
                        "Tags": tags_list(plan),
                    }
                }),
            );
            sections.outputs.insert(
                "TargetGroupArn".into(),
                json!({ "Value": { "Ref": "ProfileTargetGroup" } }),
            );
            json!({ "Ref": "ProfileTargetGroup" })
        }
        _ => {
            sections.parameters.insert(
                "TargetGroupArn".into(),
                json!({ "Type": "String", "Description": "ARN of the target group of the standalone portcullis-server" }),
            );
            json!({ "Ref": "TargetGroupArn" })
        }
    };
    let issuer = &rules.issuers[0];
    for (i, route) in plan.routes.iter().enumerate() {
        let (method, path) = route.key.split_once(' ').unwrap_or(("GET", "/"));
        let forward = json!({ "Type": "forward", "TargetGroupArn": target_group });
        let actions = if route.authorized {
            let mut claims: Vec<Json> = issuer
                .claims
                .iter()
                .map(|rule| {
                    json!({ "Name": rule.name(), "Format": rule.format().as_str(), "Values": rule.values() })
                })
                .collect();
            if !route.scopes.is_empty() {
                claims.push(json!({ "Name": "scope", "Format": "space-separated-values", "Values": route.scopes }));
            }
            let mut config = json!({
                "JwksEndpoint": issuer.jwks_endpoint.as_ref().map(value),
                "Issuer": value(&issuer.issuer),
            });
            if !claims.is_empty() {
                config["AdditionalClaims"] = Json::Array(claims);
            }
            let mut forward = forward;
            forward["Order"] = json!(2);
            vec![
                json!({ "Type": "jwt-validation", "Order": 1, "JwtValidationConfig": config }),
                forward,
            ]
        } else {
            vec![forward]
        };
        sections.add(
            &route_id(&route.key).replacen("Route", "Rule", 1),
            json!({
                "Type": "AWS::ElasticLoadBalancingV2::ListenerRule",
                "Properties": {
                    "ListenerArn": { "Ref": "ListenerArn" },
                    // Rules are tried by priority; each matches one method and one path.
                    "Priority": 100 + 10 * i,
                    "Conditions": [
                        { "Field": "path-pattern", "PathPatternConfig": { "Values": [path] } },
                        { "Field": "http-request-method", "HttpRequestMethodConfig": { "Values": [method] } },
                    ],
                    "Actions": actions,
                }
            }),
        );
    }
    sections.document(plan, "ALB listener rules with jwt-validation actions")
}
