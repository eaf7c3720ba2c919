//! The plan: every resource of one deployment as typed values, built once from the configuration
//! for a provider × runtime ([`plan`]), read by both back ends (the SDK apply, the CloudFormation
//! export). What exists only once created is a [`Value::Ref`] to the resource that will hold it.

use std::collections::BTreeMap;

use portcullis_config::{AuthSettings, FunctionSettings, Provider, Routes};

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
    X86_64,
    /// arm64 (Graviton).
    Arm64,
}

impl Arch {
    /// The architecture this machine builds for without a cross target (`None` on any other).
    pub fn host() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Arm64),
            _ => None,
        }
    }

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
    /// The id (`Ref`) of a resource in this plan, or a pseudo parameter (`AWS::Region`).
    Ref(&'static str),
    /// Text with `${Name}` placeholders, as CloudFormation's `Fn::Sub` takes it: resources of this
    /// plan (`${ProfilesTable}`) and the pseudo parameters `${AWS::Partition}`, `${AWS::Region}`,
    /// `${AWS::AccountId}` and `${AWS::URLSuffix}` (so ARNs and hosts hold in every partition).
    Sub(String),
}

impl Value {
    /// Each of `texts` as known text (a configured issuer's audiences).
    pub(crate) fn literals(texts: &[String]) -> Vec<Value> {
        texts.iter().cloned().map(Value::Literal).collect()
    }
}

/// The Cognito issuer URL of the pool created by this plan.
pub const CREATED_POOL_ISSUER: &str =
    "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${UserPool}";

/// Logical ids of the plan's resources: CloudFormation's resource names, and the names
/// [`Value::Ref`] and [`Value::Sub`] use.
pub mod ids {
    /// The DynamoDB table.
    pub const TABLE: &str = "ProfilesTable";
    /// The Cognito user pool.
    pub const USER_POOL: &str = "UserPool";
    /// The Cognito app client.
    pub const USER_POOL_CLIENT: &str = "UserPoolClient";
    pub const LOG_GROUP: &str = "ProfileLogGroup";
    pub const HTTP_API: &str = "HttpApi";
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
    /// The function's memory, timeout and environment of the user's own (`[function]`).
    pub function: FunctionSettings,
    /// The HTTP API's CORS configuration (`[cors]`).
    pub cors: Option<portcullis_config::CorsSettings>,
    /// The routes the service serves (method, path, whether the JWT authorizer protects it), as
    /// the service states them (`portcullis_tutorial::API_ROUTES`); scopes come from `[routes]`.
    pub served: &'static [(&'static str, &'static str, bool)],
}

/// The HTTP API's JWT authorizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorizer {
    /// Its name (`portcullis-{stage}-jwt`).
    pub name: String,
    /// Its type (`JWT`).
    pub kind: &'static str,
    /// Where the token is read from (`$request.header.Authorization`, or the configured
    /// `auth.identity_source`).
    pub identity_source: String,
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
    /// Lambda runtime identifier (an OS-only runtime: the package holds `bootstrap`).
    pub runtime: &'static str,
    /// Handler (unused by OS-only runtimes, required by the API).
    pub handler: &'static str,
    pub memory_mb: u32,
    /// Timeout in seconds.
    pub timeout_s: u32,
    /// Environment: the `PORTCULLIS_…` configuration, then `[function] environment`.
    pub environment: BTreeMap<String, Value>,
    /// Execution role.
    pub role: Role,
    pub log_group: LogGroup,
    /// The HTTP API's permission to invoke the function.
    pub permission: Permission,
}

/// The function's execution role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Role name.
    pub name: String,
    /// Who may assume it (Lambda).
    pub assume_principal: &'static str,
    /// The inline policy's name.
    pub policy_name: &'static str,
    /// The inline policy's statements.
    pub statements: Vec<Statement>,
}

/// One `Allow` statement of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Actions allowed.
    pub actions: Vec<&'static str>,
    /// On this resource (an ARN).
    pub resource: Value,
}

impl Role {
    /// The trust policy document.
    pub fn assume_policy(&self) -> serde_json::Value {
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{ "Effect": "Allow", "Principal": { "Service": self.assume_principal }, "Action": "sts:AssumeRole" }],
        })
    }

    /// The inline policy document, each resource rendered by `value`.
    pub fn policy(&self, value: impl Fn(&Value) -> serde_json::Value) -> serde_json::Value {
        let statements: Vec<serde_json::Value> = self
            .statements
            .iter()
            .map(|s| serde_json::json!({ "Effect": "Allow", "Action": s.actions, "Resource": value(&s.resource) }))
            .collect();
        serde_json::json!({ "Version": "2012-10-17", "Statement": statements })
    }
}

/// The function's log group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGroup {
    /// `/aws/lambda/{function}`.
    pub name: String,
    /// Days events are kept.
    pub retention_days: i32,
}

/// A resource-based policy statement letting the HTTP API invoke the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// Statement id (how a re-run finds it).
    pub statement_id: &'static str,
    /// The action granted.
    pub action: &'static str,
    /// To whom.
    pub principal: &'static str,
    /// From which API (every stage, method and path).
    pub source_arn: Value,
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

/// The DynamoDB table of profiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Table name.
    pub name: String,
    /// The partition key.
    pub key: &'static str,
    /// The key's attribute type (`S`: a string).
    pub key_type: &'static str,
    /// `PAY_PER_REQUEST` (on demand).
    pub billing_mode: &'static str,
}

/// The HTTP API's stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// `$default`: served at the API's root.
    pub name: &'static str,
    /// Every change is deployed at once.
    pub auto_deploy: bool,
}

/// How an integration forwards: its type, method and payload format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntegrationShape {
    /// `AWS_PROXY` or `HTTP_PROXY`.
    pub kind: &'static str,
    /// The method sent to the backend (`ANY` passes the request's); none for Lambda.
    pub method: Option<&'static str>,
    /// `2.0` (the Lambda event) or `1.0` (HTTP proxies take only 1.0).
    pub payload_format_version: &'static str,
}

/// The Lambda runtime's integration: the function gets payload 2.0 events.
pub const LAMBDA_PROXY: IntegrationShape = IntegrationShape {
    kind: "AWS_PROXY",
    method: None,
    payload_format_version: "2.0",
};

/// The standalone runtime's integration: the request forwarded as sent.
pub const HTTP_PROXY: IntegrationShape = IntegrationShape {
    kind: "HTTP_PROXY",
    method: Some("ANY"),
    payload_format_version: "1.0",
};

/// A route's target for integration `id` (an id, or a `${LogicalId}` placeholder).
pub fn route_target(id: &str) -> String {
    format!("integrations/{id}")
}

/// Everything one deployment holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// `portcullis-{stage}`: the prefix of every name.
    pub name: String,
    /// Provider name.
    pub provider: &'static str,
    pub runtime: Runtime,
    /// The JWT authorizer.
    pub authorizer: Authorizer,
    pub routes: Vec<Route>,
    pub stage: Stage,
    /// The API's CORS configuration (`None`: API Gateway routes OPTIONS like any method).
    pub cors: Option<portcullis_config::CorsSettings>,
    /// How the API's integrations forward (one shape per runtime).
    pub integration: IntegrationShape,
    /// The function (Lambda runtime).
    pub function: Option<Function>,
    /// The DynamoDB table of profiles.
    pub table: Table,
    /// Cognito resources created with the stack (Cognito provider without an existing pool).
    pub cognito: Option<CognitoPool>,
    /// Tags on every resource: a re-run finds and updates them; `remove` deletes exactly them.
    pub tags: BTreeMap<String, String>,
}

/// The tag that marks a resource as a stack's (its value: the stack's name): a re-run finds and
/// updates what carries it; `remove` deletes exactly that; nothing without it is taken over.
pub const STACK_TAG: &str = "portcullis:stack";

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
    let (authorizer, cognito) = authorization(issuer, &name, target);
    let routes = target
        .served
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
    let table = Table {
        name: format!("{name}-profiles"),
        key: "sub",
        key_type: "S",
        billing_mode: "PAY_PER_REQUEST",
    };
    let function = (target.runtime == Runtime::Lambda).then(|| {
        function(
            &name,
            target,
            function_environment(issuer, provider, &authorizer, target),
        )
    });
    let tags = BTreeMap::from([
        ("portcullis:stage".to_owned(), target.stage.clone()),
        ("portcullis:provider".to_owned(), provider.to_owned()),
        (STACK_TAG.to_owned(), name.clone()),
    ]);
    Plan {
        name,
        provider,
        runtime: target.runtime,
        authorizer,
        routes,
        stage: Stage {
            name: "$default",
            auto_deploy: true,
        },
        cors: target.cors.clone(),
        integration: match target.runtime {
            Runtime::Lambda => LAMBDA_PROXY,
            Runtime::Standalone => HTTP_PROXY,
        },
        function,
        table,
        cognito,
        tags,
    }
}

/// The JWT authorizer for `issuer`, and the tutorial's Cognito pool when the stack creates it.
fn authorization(
    issuer: Issuer<'_>,
    name: &str,
    target: &Target,
) -> (Authorizer, Option<CognitoPool>) {
    if let Issuer::Configured(auth) = issuer {
        let config = &auth.configs[0];
        (
            Authorizer {
                name: format!("{name}-jwt"),
                kind: "JWT",
                identity_source: if *config.identity_source() == Default::default() {
                    IDENTITY_SOURCE.to_owned()
                } else {
                    config.identity_source().expression()
                },
                issuer: Value::Literal(config.issuer().to_owned()),
                audiences: Value::literals(config.audiences()),
            },
            None,
        )
    } else {
        (
            Authorizer {
                name: format!("{name}-jwt"),
                kind: "JWT",
                identity_source: IDENTITY_SOURCE.to_owned(),
                issuer: Value::Sub(CREATED_POOL_ISSUER.to_owned()),
                audiences: vec![Value::Ref(ids::USER_POOL_CLIENT)],
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
    }
}

/// The function's environment: the `PORTCULLIS_…` store and provider settings, where the token
/// is read when the authorizer reads it elsewhere than `Authorization`, then `[function]
/// environment`.
fn function_environment(
    issuer: Issuer<'_>,
    provider: &str,
    authorizer: &Authorizer,
    target: &Target,
) -> BTreeMap<String, Value> {
    let mut environment = BTreeMap::new();
    let mut set = |key: &str, v: Value| {
        environment.insert(portcullis_config::env_var(key), v);
    };
    set("lambda.mode", Value::Literal("gateway".into()));
    set("store.kind", Value::Literal("dynamodb".into()));
    set("store.table", Value::Ref(ids::TABLE));
    set("auth.provider", Value::Literal(provider.into()));
    // The function reads the verified token only where the authorizer did.
    if authorizer.identity_source != IDENTITY_SOURCE {
        set(
            "auth.identity_source",
            Value::Literal(authorizer.identity_source.clone()),
        );
    }
    match issuer {
        Issuer::Configured(AuthSettings {
            provider: Provider::Cognito(pool),
            ..
        }) => {
            set("auth.cognito.region", Value::Literal(pool.region().into()));
            set(
                "auth.cognito.user_pool_id",
                Value::Literal(pool.user_pool_id().into()),
            );
            set(
                "auth.cognito.client_id",
                Value::Literal(pool.client_id().into()),
            );
        }
        Issuer::TutorialCognitoPool => {
            set("auth.cognito.region", Value::Ref("AWS::Region"));
            set("auth.cognito.user_pool_id", Value::Ref(ids::USER_POOL));
            set("auth.cognito.client_id", Value::Ref(ids::USER_POOL_CLIENT));
        }
        Issuer::Configured(AuthSettings {
            provider: Provider::Auth0(tenant),
            ..
        }) => {
            set("auth.auth0.domain", Value::Literal(tenant.domain().into()));
            set(
                "auth.auth0.audience",
                Value::Literal(tenant.audience().into()),
            );
            if let Some(claim) = tenant.roles_claim() {
                set("auth.auth0.roles_claim", Value::Literal(claim.into()));
            }
        }
        Issuer::Configured(AuthSettings {
            provider: Provider::Okta(okta),
            ..
        }) => {
            set("auth.okta.domain", Value::Literal(okta.domain().into()));
            set(
                "auth.okta.authorization_server",
                Value::Literal(okta.authorization_server().into()),
            );
            set("auth.okta.audience", Value::Literal(okta.audience().into()));
        }
        Issuer::Configured(_) => {
            set("auth.issuer", authorizer.issuer.clone());
            let audiences: Vec<String> = authorizer
                .audiences
                .iter()
                .filter_map(|a| match a {
                    Value::Literal(text) => Some(text.clone()),
                    _ => None,
                })
                .collect();
            set("auth.audience", Value::Literal(audiences.join(",")));
        }
    }
    for (key, value) in &target.function.environment {
        environment.insert(key.clone(), Value::Literal(value.clone()));
    }
    environment
}

/// The Lambda function, its role, log group and API Gateway's permission to invoke it.
fn function(name: &str, target: &Target, environment: BTreeMap<String, Value>) -> Function {
    Function {
        name: format!("{name}-profile"),
        arch: target.arch,
        runtime: "provided.al2023",
        handler: "bootstrap",
        memory_mb: target.function.memory_mb,
        timeout_s: target.function.timeout_s,
        environment,
        role: Role {
            name: format!("{name}-profile-role"),
            assume_principal: "lambda.amazonaws.com",
            policy_name: "profiles-and-logs",
            statements: vec![
                Statement {
                    // Reads and conditional writes; PutItem and DeleteItem for the one
                    // transaction that moves a profile an older release kept by subject alone
                    // (a transaction's items need their underlying actions).
                    actions: vec![
                        "dynamodb:GetItem",
                        "dynamodb:UpdateItem",
                        "dynamodb:PutItem",
                        "dynamodb:DeleteItem",
                    ],
                    resource: Value::Sub(format!(
                        "arn:${{AWS::Partition}}:dynamodb:${{AWS::Region}}:${{AWS::AccountId}}:table/${{{}}}",
                        ids::TABLE
                    )),
                },
                Statement {
                    actions: vec!["logs:CreateLogStream", "logs:PutLogEvents"],
                    resource: Value::Sub(format!(
                        "arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:${{{}}}:*",
                        ids::LOG_GROUP
                    )),
                },
            ],
        },
        log_group: LogGroup {
            name: format!("/aws/lambda/{name}-profile"),
            retention_days: 14,
        },
        permission: Permission {
            statement_id: "portcullis-http-api",
            action: "lambda:InvokeFunction",
            principal: "apigateway.amazonaws.com",
            source_arn: Value::Sub(format!(
                "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{}}}/*",
                ids::HTTP_API
            )),
        },
    }
}

/// Where the authorizer reads the token (the only identity source a JWT authorizer has).
pub const IDENTITY_SOURCE: &str = "$request.header.Authorization";
