//! The infrastructure of one Portcullis deployment as a typed plan: what the stack holds, built from
//! the configuration for a provider × runtime, with back ends that read it. This crate has the plan
//! and the CloudFormation export ([`cloudformation`]); applying it through the AWS SDK comes with
//! `cargo xtask deploy`.
//!
//! Values that only exist once something is created (a Cognito pool id, a function ARN) are
//! [`Value::Ref`]s to the resource that will hold them, so one plan serves both back ends.

#[cfg(feature = "apply")]
pub mod apply;
pub mod cloudformation;
pub mod package;
mod yaml;

use std::collections::BTreeMap;

use portcullis_config::{AuthSettings, Provider, Routes};

/// Where the service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// The `bootstrap` on Lambda behind the HTTP API (payload 2.0).
    Lambda,
    /// The standalone server elsewhere, behind the HTTP API through an HTTP proxy integration.
    Standalone,
}

/// CPU architecture of the Lambda function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// x86_64.
    X86_64,
    /// arm64 (Graviton).
    Arm64,
}

impl Arch {
    /// Lambda's name for it.
    pub fn lambda_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// A value known now, or one a created resource will hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Known text.
    Literal(String),
    /// The id (`Ref`) of a resource in this plan.
    Ref(&'static str),
    /// The Cognito issuer URL of the pool created by this plan.
    CreatedPoolIssuer,
}

/// What to deploy, besides the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `dev`, `prod`, … (part of every name).
    pub stage: String,
    /// Where the service runs.
    pub runtime: Runtime,
    /// Lambda architecture.
    pub arch: Arch,
    /// Makes the Cognito Hosted UI domain prefix unique (the tutorial's `DOMAIN_SUFFIX`).
    pub domain_suffix: String,
}

/// The HTTP API's JWT authorizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorizer {
    /// Issuer (compared exactly with `iss`).
    pub issuer: Value,
    /// Audiences (`aud`, or `client_id` without `aud`).
    pub audiences: Vec<Value>,
}

/// A route of the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `GET /user/profile`.
    pub key: String,
    /// Whether the JWT authorizer protects it.
    pub authorized: bool,
    /// Authorization scopes (any one suffices).
    pub scopes: Vec<String>,
    /// The request parameter mappings of its HTTP proxy integration beyond `overwrite:path`, as
    /// API Gateway's `RequestParameters` take them (`remove:` with an empty value); from the
    /// `[routes]` entry the route matches. Empty for the Lambda runtime.
    pub parameters: BTreeMap<String, String>,
}

/// The `RequestParameters` of the standalone runtime's HTTP proxy integration for `route`: the
/// path passed on (without it an HTTP API sends every route to the bare base URL), then the
/// route's own mappings.
pub fn http_request_parameters(route: &Route) -> BTreeMap<String, String> {
    let mut parameters =
        BTreeMap::from([("overwrite:path".to_owned(), "$request.path".to_owned())]);
    parameters.extend(route.parameters.clone());
    parameters
}

/// The Lambda function and what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// Function name.
    pub name: String,
    /// Architecture.
    pub arch: Arch,
    /// Memory in MB.
    pub memory_mb: u32,
    /// Timeout in seconds.
    pub timeout_s: u32,
    /// Environment: the `PORTCULLIS_…` configuration.
    pub environment: BTreeMap<String, Value>,
    /// Execution role name.
    pub role: String,
    /// Log group name and retention.
    pub log_group: String,
}

/// The original tutorial's Cognito resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CognitoPool {
    /// User pool name.
    pub pool_name: String,
    /// App client name.
    pub client_name: String,
    /// Hosted UI domain prefix.
    pub domain: String,
    /// OAuth callbacks: the tutorial's page first, then `cargo xtask login`'s local listener.
    pub callback_urls: Vec<String>,
}

/// Everything one deployment holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// `portcullis-{stage}`: the prefix of every name.
    pub name: String,
    /// Provider name.
    pub provider: &'static str,
    /// Runtime.
    pub runtime: Runtime,
    /// The JWT authorizer.
    pub authorizer: Authorizer,
    /// Routes.
    pub routes: Vec<Route>,
    /// The function (Lambda runtime).
    pub function: Option<Function>,
    /// The DynamoDB table of profiles.
    pub table: String,
    /// Cognito resources created with the stack (Cognito provider without an existing pool).
    pub cognito: Option<CognitoPool>,
    /// Tags on every resource: a re-run finds and updates them; `remove` deletes exactly them.
    pub tags: BTreeMap<String, String>,
}

/// The service's routes: method, path, protected (mirrors `portcullis_tutorial::API_ROUTES`).
pub const SERVICE_ROUTES: [(&str, &str, bool); 3] = [
    ("GET", "/user/profile", true),
    ("POST", "/user/profile", true),
    ("GET", "/healthz", false),
];

/// The tutorial app client's callback.
pub const CALLBACK_URL: &str = "https://localhost:3000";

/// Where `cargo xtask login` listens for the sign-in's redirect (plain http is allowed for localhost).
pub const LOGIN_CALLBACK_URL: &str = "http://localhost:3000/callback";

/// Who issues the tokens the deployment trusts.
#[derive(Debug, Clone, Copy)]
pub enum Issuer<'a> {
    /// A configured provider (an existing Cognito pool, Auth0, Okta, any OIDC issuer).
    Configured(&'a AuthSettings),
    /// The original tutorial's Cognito user pool, app client and domain, created with the stack.
    TutorialCognitoPool,
}

/// Builds the plan for `issuer`, the configured route scopes and `target`.
pub fn plan(issuer: Issuer<'_>, route_scopes: &Routes, target: &Target) -> Plan {
    let name = format!("portcullis-{}", target.stage);
    let provider = match issuer {
        Issuer::Configured(auth) => auth.provider.name(),
        Issuer::TutorialCognitoPool => "cognito",
    };
    let (authorizer, cognito) = if let Issuer::Configured(auth) = issuer {
        let config = &auth.configs[0];
        (
            Authorizer {
                issuer: Value::Literal(config.issuer().to_owned()),
                audiences: config
                    .audiences()
                    .iter()
                    .map(|a| Value::Literal(a.clone()))
                    .collect(),
            },
            None,
        )
    } else {
        (
            Authorizer {
                issuer: Value::CreatedPoolIssuer,
                audiences: vec![Value::Ref("UserPoolClient")],
            },
            Some(CognitoPool {
                pool_name: format!("{name}-users"),
                client_name: format!("{name}-web"),
                domain: format!(
                    "service-user-pool-domain-{}-{}",
                    target.stage, target.domain_suffix
                ),
                callback_urls: vec![CALLBACK_URL.to_owned(), LOGIN_CALLBACK_URL.to_owned()],
            }),
        )
    };
    let routes = SERVICE_ROUTES
        .iter()
        .map(|(method, path, authorized)| Route {
            key: format!("{method} {path}"),
            authorized: *authorized,
            scopes: if *authorized {
                route_scopes.scopes(method, path).to_vec()
            } else {
                Vec::new()
            },
            parameters: match (target.runtime, route_scopes.find(method, path)) {
                (Runtime::Standalone, Some(configured)) => configured
                    .parameters()
                    .iter()
                    .map(|m| (m.key.clone(), m.raw_value.clone()))
                    .collect(),
                _ => BTreeMap::new(),
            },
        })
        .collect();
    let table = format!("{name}-profiles");
    let function = (target.runtime == Runtime::Lambda).then(|| {
        let mut environment = BTreeMap::new();
        let mut set = |k: &str, v: Value| {
            environment.insert(format!("PORTCULLIS_{k}"), v);
        };
        set("LAMBDA__MODE", Value::Literal("gateway".into()));
        set("STORE__KIND", Value::Literal("dynamodb".into()));
        set("STORE__TABLE", Value::Ref("ProfilesTable"));
        set("AUTH__PROVIDER", Value::Literal(provider.into()));
        match issuer {
            Issuer::Configured(AuthSettings {
                provider: Provider::Cognito(pool),
                ..
            }) => {
                set(
                    "AUTH__COGNITO__REGION",
                    Value::Literal(pool.region().into()),
                );
                set(
                    "AUTH__COGNITO__USER_POOL_ID",
                    Value::Literal(pool.user_pool_id().into()),
                );
                set(
                    "AUTH__COGNITO__CLIENT_ID",
                    Value::Literal(pool.client_id().into()),
                );
            }
            Issuer::TutorialCognitoPool => {
                set("AUTH__COGNITO__REGION", Value::Ref("AWS::Region"));
                set("AUTH__COGNITO__USER_POOL_ID", Value::Ref("UserPool"));
                set("AUTH__COGNITO__CLIENT_ID", Value::Ref("UserPoolClient"));
            }
            Issuer::Configured(AuthSettings {
                provider: Provider::Auth0(tenant),
                ..
            }) => {
                set(
                    "AUTH__AUTH0__DOMAIN",
                    Value::Literal(tenant.domain().into()),
                );
                set(
                    "AUTH__AUTH0__AUDIENCE",
                    Value::Literal(tenant.audience().into()),
                );
                if let Some(claim) = tenant.roles_claim() {
                    set("AUTH__AUTH0__ROLES_CLAIM", Value::Literal(claim.into()));
                }
            }
            Issuer::Configured(AuthSettings {
                provider: Provider::Okta(okta),
                ..
            }) => {
                set("AUTH__OKTA__DOMAIN", Value::Literal(okta.domain().into()));
                set(
                    "AUTH__OKTA__AUTHORIZATION_SERVER",
                    Value::Literal(okta.authorization_server().into()),
                );
                set(
                    "AUTH__OKTA__AUDIENCE",
                    Value::Literal(okta.audience().into()),
                );
            }
            Issuer::Configured(_) => {
                set("AUTH__ISSUER", authorizer.issuer.clone());
                let audiences: Vec<String> = authorizer
                    .audiences
                    .iter()
                    .filter_map(|a| match a {
                        Value::Literal(text) => Some(text.clone()),
                        _ => None,
                    })
                    .collect();
                set("AUTH__AUDIENCE", Value::Literal(audiences.join(",")));
            }
        }
        Function {
            name: format!("{name}-profile"),
            arch: target.arch,
            memory_mb: 256,
            timeout_s: 10,
            environment,
            role: format!("{name}-profile-role"),
            log_group: format!("/aws/lambda/{name}-profile"),
        }
    });
    let tags = BTreeMap::from([
        ("portcullis:stage".to_owned(), target.stage.clone()),
        ("portcullis:provider".to_owned(), provider.to_owned()),
        ("portcullis:stack".to_owned(), name.clone()),
    ]);
    Plan {
        name,
        provider,
        runtime: target.runtime,
        authorizer,
        routes,
        function,
        table,
        cognito,
        tags,
    }
}
