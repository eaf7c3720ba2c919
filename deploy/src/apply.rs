//! The plan applied through the AWS SDK (feature `apply`): each resource is found by its name (and
//! the plan's tags), created when absent, updated when it differs, and left alone when it matches, so
//! a second run changes nothing and says so. [`remove`] deletes what [`apply`] made, newest first.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use aws_sdk_apigatewayv2 as apigw;
use aws_sdk_cloudwatchlogs as logs;
use aws_sdk_dynamodb as dynamodb;
use aws_sdk_iam as iam;
use aws_sdk_lambda as lambda;
use base64::Engine;

use crate::{Plan, Runtime, Value};

/// The SDK clients a deployment uses (all for one Region and, optionally, one endpoint).
#[derive(Debug, Clone)]
pub struct Aws {
    /// The Region (also in ARNs and the Cognito issuer).
    pub region: String,
    /// API Gateway v2 (HTTP APIs).
    pub apigw: apigw::Client,
    /// Lambda.
    pub lambda: lambda::Client,
    /// IAM.
    pub iam: iam::Client,
    /// CloudWatch Logs.
    pub logs: logs::Client,
    /// DynamoDB.
    pub dynamodb: dynamodb::Client,
    /// Cognito user pools.
    pub cognito: portcullis_cognito::sdk::CognitoAdmin,
}

impl Aws {
    /// Clients as the AWS CLI would build them: Region from `region` or the environment/profile,
    /// credentials from the default chain (environment, profile, IAM Identity Center, container,
    /// instance), optionally at `endpoint_url` (an emulator, a VPC endpoint). Fails with one line
    /// naming what is missing before any call that changes something.
    pub async fn from_environment(
        region: Option<&str>,
        endpoint_url: Option<&str>,
    ) -> Result<Aws, ApplyError> {
        use aws_credential_types::provider::ProvideCredentials;
        let config = loader(region, endpoint_url).load().await;
        if config.region().is_none() {
            return Err(ApplyError(
                "no AWS Region: pass --region, or set AWS_REGION (or a region in your AWS profile)"
                    .into(),
            ));
        }
        use aws_credential_types::provider::error::CredentialsError;
        let found = match config.credentials_provider() {
            Some(provider) => provider.provide_credentials().await.map(|_| ()),
            None => Err(CredentialsError::not_loaded("no credential provider")),
        };
        let fix = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (after `aws configure` or `aws sso login`)";
        match found {
            Ok(()) => {}
            Err(CredentialsError::CredentialsNotLoaded(_)) => {
                return Err(ApplyError(format!(
                    "no AWS credentials found (environment, profiles, web identity, container and instance \
                     metadata were tried): {fix}"
                )));
            }
            Err(e) => {
                return Err(ApplyError(format!(
                    "the AWS credentials could not be loaded: {}; {fix}",
                    error_chain(&e)
                )));
            }
        }
        Ok(Aws::from_config(&config))
    }

    /// Clients for `region` with static credentials, optionally at `endpoint_url` (tests and
    /// emulators).
    pub async fn with_static_credentials(
        region: &str,
        endpoint_url: Option<&str>,
        access_key: &str,
        secret_key: &str,
    ) -> Aws {
        let loader = loader(Some(region), endpoint_url).credentials_provider(
            aws_credential_types::Credentials::new(
                access_key,
                secret_key,
                None,
                None,
                "portcullis-static",
            ),
        );
        Aws::from_config(&loader.load().await)
    }

    fn from_config(config: &aws_config::SdkConfig) -> Aws {
        Aws {
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
            apigw: apigw::Client::new(config),
            lambda: lambda::Client::new(config),
            iam: iam::Client::new(config),
            logs: logs::Client::new(config),
            dynamodb: dynamodb::Client::new(config),
            cognito: portcullis_cognito::sdk::CognitoAdmin::new(
                aws_sdk_cognitoidentityprovider::Client::new(config),
            ),
        }
    }

    /// One read call before anything is changed: an endpoint that cannot be reached, or
    /// credentials AWS refuses, fail here in one line.
    pub async fn check_reachable(&self, endpoint_url: Option<&str>) -> Result<(), ApplyError> {
        use apigw::error::SdkError;
        let place =
            endpoint_url.map_or_else(|| format!("AWS in {}", self.region), |url| url.to_owned());
        match self.apigw.get_apis().max_results("1").send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) => {
                use apigw::error::ProvideErrorMetadata;
                let code = e.err().code().unwrap_or("unknown error");
                let message = e.err().message().unwrap_or_default();
                Err(ApplyError(one_line(&format!(
                    "{place} refused the first call (GetApis): {code}: {message}; check the credentials and their permissions"
                ))))
            }
            Err(e) => Err(ApplyError(format!(
                "cannot reach {place}: {}; check --endpoint-url, --region and the network",
                error_chain(&e)
            ))),
        }
    }
}

/// The shared loader: Region, endpoint, and timeouts that end a dead endpoint's wait quickly.
fn loader(region: Option<&str>, endpoint_url: Option<&str>) -> aws_config::ConfigLoader {
    use std::time::Duration;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(120))
            .build(),
    );
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader
}

/// An error and its sources, each shown once, on one line.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = one_line(&e.to_string());
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// Error text folded onto one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What happened to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// It did not exist and was made.
    Created,
    /// It existed and was changed to match the plan.
    Updated,
    /// It already matched.
    Unchanged,
    /// It was deleted (by [`remove`]).
    Deleted,
    /// There was nothing to delete.
    Absent,
}

/// One line of progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `table`, `role`, `function`, …
    pub kind: &'static str,
    /// The resource's name.
    pub name: String,
    /// What happened.
    pub action: Action,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Unchanged => "unchanged",
            Action::Deleted => "deleted",
            Action::Absent => "absent",
        };
        write!(f, "{:<12} {:<44} {action}", self.kind, self.name)
    }
}

/// A failed AWS call, naming the operation and the resource.
#[derive(Debug)]
pub struct ApplyError(pub String);

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ApplyError {}

impl From<portcullis_cognito::sdk::CognitoError> for ApplyError {
    fn from(error: portcullis_cognito::sdk::CognitoError) -> ApplyError {
        ApplyError(error.to_string())
    }
}

impl From<portcullis_cognito::sdk::Provisioned> for Action {
    fn from(done: portcullis_cognito::sdk::Provisioned) -> Action {
        use portcullis_cognito::sdk::Provisioned;
        match done {
            Provisioned::Created => Action::Created,
            Provisioned::Updated => Action::Updated,
            Provisioned::Unchanged => Action::Unchanged,
        }
    }
}

impl Action {
    /// `Deleted`, or `Absent` when there was nothing to delete.
    fn deleted_if(deleted: bool) -> Action {
        if deleted {
            Action::Deleted
        } else {
            Action::Absent
        }
    }
}

/// The changes of one run, each told to the caller's `progress` as it happens.
struct Record<P: FnMut(&Change)> {
    changes: Vec<Change>,
    progress: P,
}

impl<P: FnMut(&Change)> Record<P> {
    fn new(progress: P) -> Self {
        Record {
            changes: Vec::new(),
            progress,
        }
    }

    fn note(&mut self, kind: &'static str, name: &str, action: Action) {
        let change = Change {
            kind,
            name: name.to_owned(),
            action,
        };
        (self.progress)(&change);
        self.changes.push(change);
    }
}

fn fail<E: std::error::Error>(
    operation: &'static str,
    resource: &str,
) -> impl FnOnce(E) -> ApplyError {
    let resource = resource.to_owned();
    move |e| {
        let detail = aws_sdk_lambda::error::DisplayErrorContext(e).to_string();
        ApplyError(format!("{operation} for {resource} failed: {detail}"))
    }
}

/// What a deployment made: where the API answers and the Cognito ids, when created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    /// Every resource and what happened to it, in order.
    pub changes: Vec<Change>,
    /// `https://{api}.execute-api.{region}.amazonaws.com`.
    pub endpoint: String,
    /// The created (or found) Cognito pool and app client.
    pub cognito: Option<(String, String)>,
}

/// Values that exist once resources do.
struct Resolved {
    region: String,
    table: String,
    pool: Option<(String, String)>,
}

impl Resolved {
    fn text(&self, value: &Value) -> String {
        match value {
            Value::Literal(text) => text.clone(),
            Value::Ref("ProfilesTable") => self.table.clone(),
            Value::Ref("AWS::Region") => self.region.clone(),
            Value::Ref("UserPool") => self.pool.as_ref().map(|p| p.0.clone()).unwrap_or_default(),
            Value::Ref("UserPoolClient") => {
                self.pool.as_ref().map(|p| p.1.clone()).unwrap_or_default()
            }
            Value::Ref(other) => format!("<unresolved {other}>"),
            Value::CreatedPoolIssuer => format!(
                "https://cognito-idp.{}.amazonaws.com/{}",
                self.region,
                self.pool.as_ref().map(|p| p.0.as_str()).unwrap_or_default()
            ),
        }
    }
}

/// What the HTTP API forwards requests to.
#[derive(Debug, Clone, Copy)]
pub enum Backend<'a> {
    /// The plan's Lambda function, with this deployment package (`bootstrap.zip`).
    Lambda(&'a [u8]),
    /// A standalone `portcullis-server` at this base URL (HTTP proxy; the request path is passed on).
    Http(&'a str),
}

/// Creates or updates everything in `plan`, forwarding to `backend`. `progress` hears each change
/// as it happens (so a caller knows what exists when a later step fails).
pub async fn apply(
    plan: &Plan,
    aws: &Aws,
    backend: Backend<'_>,
    progress: impl FnMut(&Change),
) -> Result<Deployed, ApplyError> {
    match (plan.runtime, backend) {
        (Runtime::Lambda, Backend::Lambda(_)) | (Runtime::Standalone, Backend::Http(_)) => {}
        (Runtime::Lambda, Backend::Http(_)) => {
            return Err(ApplyError(
                "the plan is for the Lambda runtime but a backend URL was given".into(),
            ));
        }
        (Runtime::Standalone, Backend::Lambda(_)) => {
            return Err(ApplyError(
                "the plan is for the standalone runtime: it needs the server's base URL, not a Lambda package".into(),
            ));
        }
    }
    let mut record = Record::new(progress);
    let tags: HashMap<String, String> = plan
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    record.note(
        "table",
        &plan.table,
        ensure_table(aws, &plan.table, &tags).await?,
    );

    let pool = match &plan.cognito {
        Some(cognito) => {
            let admin = &aws.cognito;
            let (pool_id, done) = admin.ensure_user_pool(&cognito.pool_name).await?;
            record.note("user pool", &cognito.pool_name, done.into());
            let callbacks: Vec<&str> = cognito.callback_urls.iter().map(String::as_str).collect();
            let (client_id, done) = admin
                .ensure_app_client(&pool_id, &cognito.client_name, &callbacks)
                .await?;
            record.note("app client", &cognito.client_name, done.into());
            let done = admin.ensure_domain(&pool_id, &cognito.domain).await?;
            record.note("domain", &cognito.domain, done.into());
            Some((pool_id, client_id))
        }
        None => None,
    };
    let resolved = Resolved {
        region: aws.region.clone(),
        table: plan.table.clone(),
        pool: pool.clone(),
    };

    let function_arn = match (&plan.function, backend) {
        (Some(function), Backend::Lambda(code)) => {
            let (role_arn, role_action) = ensure_role(aws, plan, &function.role, &tags).await?;
            record.note("role", &function.role, role_action);
            record.note(
                "log group",
                &function.log_group,
                ensure_log_group(aws, &function.log_group, &tags).await?,
            );
            let environment: HashMap<String, String> = function
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), resolved.text(v)))
                .collect();
            let (arn, action) =
                ensure_function(aws, function, &role_arn, code, environment, &tags).await?;
            record.note("function", &function.name, action);
            Some(arn)
        }
        _ => None,
    };

    let (api_id, endpoint, action) = ensure_api(aws, plan, &tags).await?;
    record.note("http api", &plan.name, action);
    let issuer = resolved.text(&plan.authorizer.issuer);
    let audiences: Vec<String> = plan
        .authorizer
        .audiences
        .iter()
        .map(|a| resolved.text(a))
        .collect();
    // The API's routes, listed once: they name the authorizer and are compared with the plan's.
    let existing = aws
        .apigw
        .get_routes()
        .api_id(&api_id)
        .send()
        .await
        .map_err(fail("GetRoutes", &api_id))?;
    let (authorizer_id, action) = ensure_authorizer(
        aws,
        &api_id,
        existing.items(),
        &format!("{}-jwt", plan.name),
        &issuer,
        &audiences,
    )
    .await?;
    record.note("authorizer", &format!("{}-jwt", plan.name), action);
    // One integration per distinct set of request parameters (the standalone runtime's routes may
    // map parameters of their own); the Lambda runtime has exactly one.
    let mut integrations: Vec<(BTreeMap<String, String>, String)> = Vec::new();
    for route in &plan.routes {
        let parameters = crate::http_request_parameters(route);
        let known = integrations.iter().find(|(p, _)| *p == parameters);
        let integration_id = match (known, &function_arn, backend) {
            (Some((_, id)), _, _) => id.clone(),
            (None, Some(arn), _) => {
                let (id, action) =
                    ensure_integration(aws, &api_id, Integration::Lambda(arn)).await?;
                record.note("integration", "lambda proxy (payload 2.0)", action);
                integrations.push((parameters, id.clone()));
                id
            }
            (None, None, Backend::Http(url)) => {
                let (id, action) =
                    ensure_integration(aws, &api_id, Integration::Http(url, &parameters)).await?;
                let name = if route.parameters.is_empty() {
                    format!("http proxy to {url}")
                } else {
                    format!("http proxy to {url} with the mappings of {}", route.key)
                };
                record.note("integration", &name, action);
                integrations.push((parameters, id.clone()));
                id
            }
            (None, None, Backend::Lambda(_)) => {
                return Err(ApplyError(
                    "the plan has no Lambda function to integrate".into(),
                ));
            }
        };
        let found = existing
            .items()
            .iter()
            .find(|r| r.route_key() == Some(route.key.as_str()));
        let action =
            ensure_route(aws, &api_id, route, found, &authorizer_id, &integration_id).await?;
        record.note("route", &route.key, action);
    }
    // An integration no route targets any more (its mappings changed) is deleted.
    if let Backend::Http(url) = backend {
        let used: Vec<&str> = integrations.iter().map(|(_, id)| id.as_str()).collect();
        let found = aws
            .apigw
            .get_integrations()
            .api_id(&api_id)
            .send()
            .await
            .map_err(fail("GetIntegrations", &api_id))?;
        for stale in found.items().iter().filter(|i| {
            i.integration_uri() == Some(url)
                && i.integration_id().is_some_and(|id| !used.contains(&id))
        }) {
            let id = stale.integration_id().unwrap_or_default();
            aws.apigw
                .delete_integration()
                .api_id(&api_id)
                .integration_id(id)
                .send()
                .await
                .map_err(fail("DeleteIntegration", id))?;
            record.note(
                "integration",
                &format!("unused http proxy {id}"),
                Action::Deleted,
            );
        }
    }
    record.note("stage", "$default", ensure_stage(aws, &api_id).await?);
    if let (Some(arn), Some(function)) = (&function_arn, &plan.function) {
        record.note(
            "permission",
            &function.name,
            ensure_permission(aws, &function.name, arn, &api_id).await?,
        );
    }
    Ok(Deployed {
        changes: record.changes,
        endpoint,
        cognito: pool,
    })
}

async fn ensure_table(
    aws: &Aws,
    name: &str,
    tags: &HashMap<String, String>,
) -> Result<Action, ApplyError> {
    use dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, Tag,
    };
    match aws.dynamodb.describe_table().table_name(name).send().await {
        Ok(_) => return Ok(Action::Unchanged),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) => {}
        Err(e) => return Err(fail("DescribeTable", name)(e)),
    }
    let bad = |e: dynamodb::error::BuildError| ApplyError(format!("CreateTable for {name}: {e}"));
    let mut request = aws
        .dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("sub")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(bad)?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("sub")
                .key_type(KeyType::Hash)
                .build()
                .map_err(bad)?,
        );
    for (k, v) in tags {
        request = request.tags(Tag::builder().key(k).value(v).build().map_err(bad)?);
    }
    request.send().await.map_err(fail("CreateTable", name))?;
    Ok(Action::Created)
}

fn assume_role_policy() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Principal": { "Service": "lambda.amazonaws.com" }, "Action": "sts:AssumeRole" }],
    })
    .to_string()
}

fn role_policy(plan: &Plan, region: &str) -> String {
    let log_group = plan
        .function
        .as_ref()
        .map(|f| f.log_group.clone())
        .unwrap_or_default();
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem"], "Resource": format!("arn:aws:dynamodb:{region}:*:table/{}", plan.table) },
            { "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": format!("arn:aws:logs:{region}:*:log-group:{log_group}:*") },
        ],
    })
    .to_string()
}

async fn ensure_role(
    aws: &Aws,
    plan: &Plan,
    name: &str,
    tags: &HashMap<String, String>,
) -> Result<(String, Action), ApplyError> {
    let policy = role_policy(plan, &aws.region);
    let (arn, action) = match aws.iam.get_role().role_name(name).send().await {
        Ok(found) => (
            found.role().map(|r| r.arn().to_owned()).unwrap_or_default(),
            Action::Unchanged,
        ),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            let mut request = aws
                .iam
                .create_role()
                .role_name(name)
                .assume_role_policy_document(assume_role_policy());
            for (k, v) in tags {
                request = request.tags(
                    iam::types::Tag::builder()
                        .key(k)
                        .value(v)
                        .build()
                        .map_err(|e| ApplyError(e.to_string()))?,
                );
            }
            let created = request.send().await.map_err(fail("CreateRole", name))?;
            (
                created
                    .role()
                    .map(|r| r.arn().to_owned())
                    .unwrap_or_default(),
                Action::Created,
            )
        }
        Err(e) => return Err(fail("GetRole", name)(e)),
    };
    let current = aws
        .iam
        .get_role_policy()
        .role_name(name)
        .policy_name("profiles-and-logs")
        .send()
        .await
        .ok();
    let same = current.as_ref().is_some_and(|p| {
        let document = p.policy_document();
        let decoded = percent_decode(document);
        serde_json::from_str::<serde_json::Value>(&decoded).ok()
            == serde_json::from_str::<serde_json::Value>(&policy).ok()
    });
    if same {
        return Ok((arn, action));
    }
    aws.iam
        .put_role_policy()
        .role_name(name)
        .policy_name("profiles-and-logs")
        .policy_document(&policy)
        .send()
        .await
        .map_err(fail("PutRolePolicy", name))?;
    Ok((
        arn,
        if action == Action::Unchanged {
            Action::Updated
        } else {
            action
        },
    ))
}

/// IAM returns policy documents URL-encoded.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn ensure_log_group(
    aws: &Aws,
    name: &str,
    tags: &HashMap<String, String>,
) -> Result<Action, ApplyError> {
    let found = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .map_err(fail("DescribeLogGroups", name))?;
    let existing = found
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name));
    let action = match existing {
        Some(group) if group.retention_in_days() == Some(14) => return Ok(Action::Unchanged),
        Some(_) => Action::Updated,
        None => {
            aws.logs
                .create_log_group()
                .log_group_name(name)
                .set_tags(Some(tags.clone()))
                .send()
                .await
                .map_err(fail("CreateLogGroup", name))?;
            Action::Created
        }
    };
    aws.logs
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(14)
        .send()
        .await
        .map_err(fail("PutRetentionPolicy", name))?;
    Ok(action)
}

async fn ensure_function(
    aws: &Aws,
    function: &crate::Function,
    role_arn: &str,
    code: &[u8],
    environment: HashMap<String, String>,
    tags: &HashMap<String, String>,
) -> Result<(String, Action), ApplyError> {
    use lambda::primitives::Blob;
    use lambda::types::{Architecture, Environment, FunctionCode, Runtime as LambdaRuntime};
    let arch = match function.arch {
        crate::Arch::X86_64 => Architecture::X8664,
        crate::Arch::Arm64 => Architecture::Arm64,
    };
    let sha = base64::engine::general_purpose::STANDARD
        .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, code));
    match aws
        .lambda
        .get_function()
        .function_name(&function.name)
        .send()
        .await
    {
        Ok(found) => {
            let config = found.configuration();
            let arn = config
                .and_then(|c| c.function_arn())
                .unwrap_or_default()
                .to_owned();
            let mut action = Action::Unchanged;
            if config.and_then(|c| c.code_sha256()) != Some(sha.as_str())
                || config.map(|c| c.architectures()) != Some(&[arch.clone()][..])
            {
                aws.lambda
                    .update_function_code()
                    .function_name(&function.name)
                    .zip_file(Blob::new(code))
                    .architectures(arch)
                    .send()
                    .await
                    .map_err(fail("UpdateFunctionCode", &function.name))?;
                action = Action::Updated;
            }
            let current_env = config
                .and_then(|c| c.environment())
                .and_then(|e| e.variables());
            let same_config = current_env == Some(&environment)
                && config.and_then(|c| c.memory_size()) == Some(function.memory_mb as i32)
                && config.and_then(|c| c.timeout()) == Some(function.timeout_s as i32)
                && config.and_then(|c| c.role()) == Some(role_arn);
            if !same_config {
                aws.lambda
                    .update_function_configuration()
                    .function_name(&function.name)
                    .role(role_arn)
                    .memory_size(function.memory_mb as i32)
                    .timeout(function.timeout_s as i32)
                    .environment(
                        Environment::builder()
                            .set_variables(Some(environment))
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(fail("UpdateFunctionConfiguration", &function.name))?;
                action = Action::Updated;
            }
            Ok((arn, action))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            let created = aws
                .lambda
                .create_function()
                .function_name(&function.name)
                .runtime(LambdaRuntime::Providedal2023)
                .handler("bootstrap")
                .role(role_arn)
                .architectures(arch)
                .memory_size(function.memory_mb as i32)
                .timeout(function.timeout_s as i32)
                .code(FunctionCode::builder().zip_file(Blob::new(code)).build())
                .environment(
                    Environment::builder()
                        .set_variables(Some(environment))
                        .build(),
                )
                .set_tags(Some(tags.clone()))
                .send()
                .await
                .map_err(fail("CreateFunction", &function.name))?;
            Ok((
                created.function_arn().unwrap_or_default().to_owned(),
                Action::Created,
            ))
        }
        Err(e) => Err(fail("GetFunction", &function.name)(e)),
    }
}

/// The HTTP API of this plan: the one named `plan.name` carrying the plan's stack tag.
async fn find_api(aws: &Aws, plan: &Plan) -> Result<Option<apigw::types::Api>, ApplyError> {
    let apis = aws
        .apigw
        .get_apis()
        .send()
        .await
        .map_err(fail("GetApis", &plan.name))?;
    let stack = plan.tags.get("portcullis:stack");
    Ok(apis
        .items()
        .iter()
        .find(|api| {
            api.name() == Some(plan.name.as_str())
                && api.tags().and_then(|t| t.get("portcullis:stack")) == stack
        })
        .cloned())
}

async fn ensure_api(
    aws: &Aws,
    plan: &Plan,
    tags: &HashMap<String, String>,
) -> Result<(String, String, Action), ApplyError> {
    if let Some(api) = find_api(aws, plan).await? {
        return Ok((
            api.api_id().unwrap_or_default().to_owned(),
            api.api_endpoint().unwrap_or_default().to_owned(),
            Action::Unchanged,
        ));
    }
    let created = aws
        .apigw
        .create_api()
        .name(&plan.name)
        .protocol_type(apigw::types::ProtocolType::Http)
        .set_tags(Some(tags.clone()))
        .send()
        .await
        .map_err(fail("CreateApi", &plan.name))?;
    Ok((
        created.api_id().unwrap_or_default().to_owned(),
        created.api_endpoint().unwrap_or_default().to_owned(),
        Action::Created,
    ))
}

/// The authorizer named `name`: among those the API lists, and those its `routes` point at (moto's
/// server does not implement GetAuthorizers; real API Gateway answers both ways).
async fn find_authorizer(
    aws: &Aws,
    api_id: &str,
    routes: &[apigw::types::Route],
    name: &str,
) -> Result<Option<apigw::types::Authorizer>, ApplyError> {
    let mut ids: Vec<String> = match aws.apigw.get_authorizers().api_id(api_id).send().await {
        Ok(listed) => listed
            .items()
            .iter()
            .filter_map(|a| a.authorizer_id().map(str::to_owned))
            .collect(),
        Err(_) => Vec::new(),
    };
    ids.extend(
        routes
            .iter()
            .filter_map(|r| r.authorizer_id().map(str::to_owned)),
    );
    ids.sort();
    ids.dedup();
    for id in ids {
        let found = aws
            .apigw
            .get_authorizer()
            .api_id(api_id)
            .authorizer_id(&id)
            .send()
            .await
            .map_err(fail("GetAuthorizer", name))?;
        if found.name() == Some(name) {
            let authorizer = apigw::types::Authorizer::builder()
                .authorizer_id(id)
                .name(name)
                .set_jwt_configuration(found.jwt_configuration().cloned())
                .build();
            return Ok(Some(authorizer));
        }
    }
    Ok(None)
}

async fn ensure_authorizer(
    aws: &Aws,
    api_id: &str,
    routes: &[apigw::types::Route],
    name: &str,
    issuer: &str,
    audiences: &[String],
) -> Result<(String, Action), ApplyError> {
    use apigw::types::{AuthorizerType, JwtConfiguration};
    // Always the whole JWT configuration: an update carrying only part of it clears the rest.
    let jwt = JwtConfiguration::builder()
        .issuer(issuer)
        .set_audience(Some(audiences.to_vec()))
        .build();
    match find_authorizer(aws, api_id, routes, name).await? {
        Some(existing) => {
            let id = existing.authorizer_id().unwrap_or_default().to_owned();
            let current = existing.jwt_configuration();
            if current.and_then(|j| j.issuer()) == Some(issuer)
                && current.map(|j| j.audience()) == Some(audiences)
            {
                return Ok((id, Action::Unchanged));
            }
            aws.apigw
                .update_authorizer()
                .api_id(api_id)
                .authorizer_id(&id)
                .authorizer_type(AuthorizerType::Jwt)
                .identity_source("$request.header.Authorization")
                .jwt_configuration(jwt)
                .send()
                .await
                .map_err(fail("UpdateAuthorizer", name))?;
            Ok((id, Action::Updated))
        }
        None => {
            let created = aws
                .apigw
                .create_authorizer()
                .api_id(api_id)
                .name(name)
                .authorizer_type(AuthorizerType::Jwt)
                .identity_source("$request.header.Authorization")
                .jwt_configuration(jwt)
                .send()
                .await
                .map_err(fail("CreateAuthorizer", name))?;
            Ok((
                created.authorizer_id().unwrap_or_default().to_owned(),
                Action::Created,
            ))
        }
    }
}

/// The integration behind a route.
#[derive(Clone, Copy)]
enum Integration<'a> {
    /// Lambda proxy to this function ARN, payload 2.0.
    Lambda(&'a str),
    /// HTTP proxy to this base URL with these request parameters (the path passed on, and the
    /// route's mappings).
    Http(&'a str, &'a BTreeMap<String, String>),
}

async fn ensure_integration(
    aws: &Aws,
    api_id: &str,
    integration: Integration<'_>,
) -> Result<(String, Action), ApplyError> {
    use apigw::types::IntegrationType;
    let (uri, wanted) = match integration {
        Integration::Lambda(arn) => (arn, None),
        Integration::Http(url, parameters) => (url, Some(parameters)),
    };
    let found = aws
        .apigw
        .get_integrations()
        .api_id(api_id)
        .send()
        .await
        .map_err(fail("GetIntegrations", api_id))?;
    if let Some(existing) = found.items().iter().find(|i| {
        let parameters: Option<BTreeMap<String, String>> = i
            .request_parameters()
            .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        i.integration_uri() == Some(uri)
            && wanted.is_none_or(|wanted| parameters.as_ref() == Some(wanted))
    }) {
        return Ok((
            existing.integration_id().unwrap_or_default().to_owned(),
            Action::Unchanged,
        ));
    }
    let request = aws
        .apigw
        .create_integration()
        .api_id(api_id)
        .integration_uri(uri);
    let request = match integration {
        Integration::Lambda(_) => request
            .integration_type(IntegrationType::AwsProxy)
            .payload_format_version("2.0"),
        // Without the path mapping, an HTTP API sends every route to the bare base URL.
        Integration::Http(_, parameters) => request
            .integration_type(IntegrationType::HttpProxy)
            .integration_method("ANY")
            .payload_format_version("1.0")
            .set_request_parameters(Some(
                parameters
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )),
    };
    let created = request
        .send()
        .await
        .map_err(fail("CreateIntegration", api_id))?;
    Ok((
        created.integration_id().unwrap_or_default().to_owned(),
        Action::Created,
    ))
}

/// Creates `route`, or updates `existing` (the API's route with the same key) when it differs.
async fn ensure_route(
    aws: &Aws,
    api_id: &str,
    route: &crate::Route,
    existing: Option<&apigw::types::Route>,
    authorizer_id: &str,
    integration_id: &str,
) -> Result<Action, ApplyError> {
    use apigw::types::AuthorizationType;
    let target = format!("integrations/{integration_id}");
    let (kind, authorizer) = if route.authorized {
        (AuthorizationType::Jwt, Some(authorizer_id))
    } else {
        (AuthorizationType::None, None)
    };
    let scopes = (!route.scopes.is_empty()).then(|| route.scopes.clone());
    match existing {
        Some(existing) => {
            let same = existing.authorization_type() == Some(&kind)
                && existing.authorizer_id() == authorizer
                && existing.target() == Some(target.as_str())
                && existing.authorization_scopes().to_vec() == scopes.clone().unwrap_or_default();
            if same {
                return Ok(Action::Unchanged);
            }
            aws.apigw
                .update_route()
                .api_id(api_id)
                .route_id(existing.route_id().unwrap_or_default())
                .route_key(&route.key)
                .target(&target)
                .authorization_type(kind)
                .set_authorizer_id(authorizer.map(str::to_owned))
                .set_authorization_scopes(scopes)
                .send()
                .await
                .map_err(fail("UpdateRoute", &route.key))?;
            Ok(Action::Updated)
        }
        None => {
            aws.apigw
                .create_route()
                .api_id(api_id)
                .route_key(&route.key)
                .target(&target)
                .authorization_type(kind)
                .set_authorizer_id(authorizer.map(str::to_owned))
                .set_authorization_scopes(scopes)
                .send()
                .await
                .map_err(fail("CreateRoute", &route.key))?;
            Ok(Action::Created)
        }
    }
}

async fn ensure_stage(aws: &Aws, api_id: &str) -> Result<Action, ApplyError> {
    let found = aws
        .apigw
        .get_stages()
        .api_id(api_id)
        .send()
        .await
        .map_err(fail("GetStages", api_id))?;
    if found
        .items()
        .iter()
        .any(|s| s.stage_name() == Some("$default"))
    {
        return Ok(Action::Unchanged);
    }
    aws.apigw
        .create_stage()
        .api_id(api_id)
        .stage_name("$default")
        .auto_deploy(true)
        .send()
        .await
        .map_err(fail("CreateStage", api_id))?;
    Ok(Action::Created)
}

async fn ensure_permission(
    aws: &Aws,
    function: &str,
    function_arn: &str,
    api_id: &str,
) -> Result<Action, ApplyError> {
    let account = function_arn.split(':').nth(4).unwrap_or("*");
    let source = format!(
        "arn:aws:execute-api:{}:{account}:{api_id}/*",
        aws_region_of(function_arn)
    );
    // Already granted? (The function's resource policy names the statement.)
    if let Ok(policy) = aws.lambda.get_policy().function_name(function).send().await
        && let Some(text) = policy.policy()
        && let Ok(document) = serde_json::from_str::<serde_json::Value>(text)
        && document["Statement"]
            .as_array()
            .is_some_and(|s| s.iter().any(|st| st["Sid"] == "portcullis-http-api"))
    {
        return Ok(Action::Unchanged);
    }
    let result = aws
        .lambda
        .add_permission()
        .function_name(function)
        .statement_id("portcullis-http-api")
        .action("lambda:InvokeFunction")
        .principal("apigateway.amazonaws.com")
        .source_arn(source)
        .send()
        .await;
    match result {
        Ok(_) => Ok(Action::Created),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_conflict_exception()) =>
        {
            Ok(Action::Unchanged)
        }
        Err(e) => Err(fail("AddPermission", function)(e)),
    }
}

/// `Deleted`, or `Absent` when the service answers with `not_found` (its error code for "no such
/// resource"); other errors fail.
fn deletion<T, E: std::error::Error + lambda::error::ProvideErrorMetadata>(
    result: Result<T, E>,
    not_found: &str,
    operation: &'static str,
    resource: &str,
) -> Result<Action, ApplyError> {
    match result {
        Ok(_) => Ok(Action::Deleted),
        Err(e) if e.code() == Some(not_found) => Ok(Action::Absent),
        Err(e) => Err(fail(operation, resource)(e)),
    }
}

fn aws_region_of(arn: &str) -> &str {
    arn.split(':').nth(3).unwrap_or("*")
}

/// Deletes what [`apply`] made for `plan`, newest first. Absent resources are reported, not errors.
pub async fn remove(
    plan: &Plan,
    aws: &Aws,
    progress: impl FnMut(&Change),
) -> Result<Vec<Change>, ApplyError> {
    let mut record = Record::new(progress);
    match find_api(aws, plan).await? {
        Some(api) => {
            aws.apigw
                .delete_api()
                .api_id(api.api_id().unwrap_or_default())
                .send()
                .await
                .map_err(fail("DeleteApi", &plan.name))?;
            record.note("http api", &plan.name, Action::Deleted);
        }
        None => record.note("http api", &plan.name, Action::Absent),
    }
    if let Some(function) = &plan.function {
        let deleted = aws
            .lambda
            .delete_function()
            .function_name(&function.name)
            .send()
            .await;
        record.note(
            "function",
            &function.name,
            deletion(
                deleted,
                "ResourceNotFoundException",
                "DeleteFunction",
                &function.name,
            )?,
        );
        let deleted = aws
            .logs
            .delete_log_group()
            .log_group_name(&function.log_group)
            .send()
            .await;
        record.note(
            "log group",
            &function.log_group,
            deletion(
                deleted,
                "ResourceNotFoundException",
                "DeleteLogGroup",
                &function.log_group,
            )?,
        );
        // The inline policy goes with the role; a role already gone has none left either.
        let _ = aws
            .iam
            .delete_role_policy()
            .role_name(&function.role)
            .policy_name("profiles-and-logs")
            .send()
            .await;
        let deleted = aws.iam.delete_role().role_name(&function.role).send().await;
        record.note(
            "role",
            &function.role,
            deletion(deleted, "NoSuchEntity", "DeleteRole", &function.role)?,
        );
    }
    let deleted = aws
        .dynamodb
        .delete_table()
        .table_name(&plan.table)
        .send()
        .await;
    record.note(
        "table",
        &plan.table,
        deletion(
            deleted,
            "ResourceNotFoundException",
            "DeleteTable",
            &plan.table,
        )?,
    );
    if let Some(cognito) = &plan.cognito {
        let admin = &aws.cognito;
        match admin.find_user_pool(&cognito.pool_name).await? {
            Some(pool_id) => {
                let deleted = admin.delete_domain(&pool_id, &cognito.domain).await?;
                record.note("domain", &cognito.domain, Action::deleted_if(deleted));
                // The app client goes with its pool.
                let client = admin
                    .find_app_client(&pool_id, &cognito.client_name)
                    .await?;
                let deleted = admin.delete_user_pool(&pool_id).await?;
                record.note(
                    "app client",
                    &cognito.client_name,
                    Action::deleted_if(deleted && client.is_some()),
                );
                record.note("user pool", &cognito.pool_name, Action::deleted_if(deleted));
            }
            None => {
                record.note("domain", &cognito.domain, Action::Absent);
                record.note("app client", &cognito.client_name, Action::Absent);
                record.note("user pool", &cognito.pool_name, Action::Absent);
            }
        }
    }
    Ok(record.changes)
}
