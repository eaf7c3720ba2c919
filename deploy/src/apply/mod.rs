//! The plan applied through the AWS SDK (feature `apply`): each resource is found by its name (and
//! the plan's tags), created when absent, updated when it differs, and left alone when it matches, so
//! a second run changes nothing and says so. [`remove`] deletes what [`apply`] made, newest first.
//!
//! AWS is eventually consistent and throttles; moto is neither. Every call goes through the SDK's
//! standard retry mode ([`MAX_ATTEMPTS`]); every list is read to its last page; a new role,
//! a `Pending` or `InProgress` function and a `CREATING` table are waited for or retried within a
//! bound, and each wait is told as progress ([`Event::Wait`]). One module per service, ensure and
//! delete side by side.

mod apigw;
mod clients;
mod dynamodb;
mod error;
mod iam;
mod lambda;
mod logs;
mod retry;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

/// The SDK crates the clients are built from (their types, for callers of [`Aws`]'s clients).
pub mod sdk {
    pub use aws_sdk_apigatewayv2 as apigatewayv2;
    pub use aws_sdk_cloudwatchlogs as cloudwatchlogs;
    pub use aws_sdk_dynamodb as dynamodb;
}
pub use clients::{Account, Aws, Connection, MAX_ATTEMPTS};
pub use error::ApplyError;
pub use lambda::code_sha256;

use crate::{Plan, Runtime, Value, ids};

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
    /// A resource of the same name exists but is not tagged as this stack's: left alone.
    Foreign,
}

impl Action {
    /// The word progress lines and `--json` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Unchanged => "unchanged",
            Action::Deleted => "deleted",
            Action::Absent => "absent",
            Action::Foreign => "foreign",
        }
    }

    fn deleted_if(deleted: bool) -> Action {
        if deleted {
            Action::Deleted
        } else {
            Action::Absent
        }
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

/// One resource and what happened to it.
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
            Action::Foreign => "left alone (not tagged as this stack's)",
            other => other.as_str(),
        };
        write!(f, "{:<12} {:<44} {action}", self.kind, self.name)
    }
}

/// A wait AWS asks for: a resource settling, or a call retried after a refusal that passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// The resource's kind.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// What is waited for.
    pub reason: String,
    /// The retry's number; 0 for a waiter that polls by itself.
    pub retry: u32,
    /// The pause before the retry.
    pub delay: Duration,
    /// When the wait gives up.
    pub bound: Duration,
}

impl Wait {
    fn settling(kind: &'static str, name: &str, reason: &str, bound: Duration) -> Wait {
        Wait {
            kind,
            name: name.to_owned(),
            reason: reason.to_owned(),
            retry: 0,
            delay: Duration::ZERO,
            bound,
        }
    }
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<12} {:<44} waiting: {}",
            self.kind, self.name, self.reason
        )?;
        if self.retry == 0 {
            write!(f, " (up to {} s)", self.bound.as_secs())
        } else {
            write!(
                f,
                " (retry {} in {} s, gives up after {} s)",
                self.retry,
                self.delay.as_secs(),
                self.bound.as_secs()
            )
        }
    }
}

/// Progress of a run, as it happens.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A resource was found, made, changed or deleted.
    Change(&'a Change),
    /// A wait began.
    Wait(&'a Wait),
}

/// The changes of one run, each told to the caller as it happens.
pub(crate) struct Record<'p> {
    changes: Vec<Change>,
    waits: usize,
    progress: &'p mut dyn FnMut(Event<'_>),
}

impl Record<'_> {
    fn note(&mut self, kind: &'static str, name: &str, action: Action) {
        let change = Change {
            kind,
            name: name.to_owned(),
            action,
        };
        (self.progress)(Event::Change(&change));
        self.changes.push(change);
    }

    fn wait(&mut self, wait: Wait) {
        self.waits += 1;
        (self.progress)(Event::Wait(&wait));
    }
}

/// What a deployment made: where the API answers and the Cognito ids, when created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    /// Every resource and what happened to it, in order.
    pub changes: Vec<Change>,
    /// How many waits and retries AWS asked for.
    pub waits: usize,
    /// `https://{api}.execute-api.{region}.amazonaws.com`.
    pub endpoint: String,
    /// The created (or found) Cognito pool and app client.
    pub cognito: Option<(String, String)>,
}

/// Values that exist once resources do: the account, the Region and the plan's resources by
/// logical id.
pub struct Resolved {
    region: String,
    account: Account,
    refs: BTreeMap<&'static str, String>,
}

impl Resolved {
    /// For the plan's resources named so far (`ProfilesTable`, `ProfileLogGroup`).
    pub fn new(plan: &Plan, region: &str, account: &Account) -> Resolved {
        let mut refs = BTreeMap::from([(ids::TABLE, plan.table.name.clone())]);
        if let Some(function) = &plan.function {
            refs.insert(ids::LOG_GROUP, function.log_group.name.clone());
        }
        Resolved {
            region: region.to_owned(),
            account: account.clone(),
            refs,
        }
    }

    /// Adds the value of logical id `id` (a pool id, an API id).
    pub fn set(&mut self, id: &'static str, value: &str) {
        self.refs.insert(id, value.to_owned());
    }

    fn lookup(&self, name: &str, value: &Value) -> Result<String, ApplyError> {
        match name {
            "AWS::Region" => Ok(self.region.clone()),
            "AWS::Partition" => Ok(self.account.partition.clone()),
            "AWS::AccountId" => Ok(self.account.id.clone()),
            "AWS::URLSuffix" => Ok(self.account.url_suffix.clone()),
            other => self
                .refs
                .get(other)
                .cloned()
                .ok_or_else(|| ApplyError::Unresolved {
                    value: format!("{value:?}"),
                    name: other.to_owned(),
                }),
        }
    }

    /// The text of `value`.
    pub fn text(&self, value: &Value) -> Result<String, ApplyError> {
        match value {
            Value::Literal(text) => Ok(text.clone()),
            Value::Ref(name) => self.lookup(name, value),
            Value::Sub(template) => {
                let mut out = String::new();
                let mut rest = template.as_str();
                while let Some(start) = rest.find("${") {
                    out.push_str(&rest[..start]);
                    let after = &rest[start + 2..];
                    let end = after.find('}').ok_or_else(|| ApplyError::Unresolved {
                        value: template.clone(),
                        name: "an unclosed ${".into(),
                    })?;
                    out.push_str(&self.lookup(&after[..end], value)?);
                    rest = &after[end + 1..];
                }
                out.push_str(rest);
                Ok(out)
            }
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

/// The tag that marks a resource as this stack's.
pub(crate) const STACK_TAG: &str = "portcullis:stack";

/// Whether a resource carrying `found` tags belongs to the stack tagged `wanted`.
pub(crate) fn is_ours<'a>(
    wanted: &HashMap<String, String>,
    mut found: impl Iterator<Item = (&'a str, &'a str)>,
) -> bool {
    let stack = wanted.get(STACK_TAG).map(String::as_str);
    stack.is_some() && found.any(|(k, v)| k == STACK_TAG && Some(v) == stack)
}

/// The error for a same-named resource that is not this stack's.
pub(crate) fn not_ours(
    kind: &'static str,
    name: &str,
    wanted: &HashMap<String, String>,
) -> ApplyError {
    ApplyError::NotOurs {
        kind,
        name: name.to_owned(),
        stack: wanted.get(STACK_TAG).cloned().unwrap_or_default(),
    }
}

/// Whether the pool `pool_id` is this stack's: its tags say so, or (untagged: made before pools were
/// tagged, or by an emulator without tags) it has no Hosted UI domain or the plan's.
async fn pool_is_ours(
    aws: &Aws,
    cognito: &crate::CognitoPool,
    pool_id: &str,
    tags: &HashMap<String, String>,
) -> Result<bool, ApplyError> {
    let (found, domain) = aws.cognito.pool_marks(pool_id).await?;
    if !found.is_empty() {
        return Ok(is_ours(
            tags,
            found.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ));
    }
    Ok(domain.is_none_or(|d| d == cognito.domain))
}

fn tag_map(plan: &Plan) -> HashMap<String, String> {
    plan.tags
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Creates or updates everything in `plan` in `account`, forwarding to `backend`. `progress` hears
/// each change and wait as it happens (so a caller knows what exists when a later step fails).
pub async fn apply(
    plan: &Plan,
    aws: &Aws,
    account: &Account,
    backend: Backend<'_>,
    mut progress: impl FnMut(Event<'_>),
) -> Result<Deployed, ApplyError> {
    run(plan, aws, account, backend, false, &mut progress).await
}

/// What [`apply`] would do, read from the live account and changing nothing: each resource is
/// `Created`, `Updated` or `Unchanged` as `apply` would make it (an absent parent makes its
/// children `Created`). Cognito's app client counts as unchanged when it exists.
pub async fn dry_run(
    plan: &Plan,
    aws: &Aws,
    account: &Account,
    backend: Backend<'_>,
    mut progress: impl FnMut(Event<'_>),
) -> Result<Vec<Change>, ApplyError> {
    Ok(run(plan, aws, account, backend, true, &mut progress)
        .await?
        .changes)
}

async fn run(
    plan: &Plan,
    aws: &Aws,
    account: &Account,
    backend: Backend<'_>,
    dry: bool,
    progress: &mut dyn FnMut(Event<'_>),
) -> Result<Deployed, ApplyError> {
    match (plan.runtime, backend) {
        (Runtime::Lambda, Backend::Lambda(_)) | (Runtime::Standalone, Backend::Http(_)) => {}
        (Runtime::Lambda, Backend::Http(_)) => {
            return Err(ApplyError::Setup(
                "the plan is for the Lambda runtime but a backend URL was given".into(),
            ));
        }
        (Runtime::Standalone, Backend::Lambda(_)) => {
            return Err(ApplyError::Setup(
                "the plan is for the standalone runtime: it needs the server's base URL, not a Lambda package".into(),
            ));
        }
    }
    let mut record = Record {
        changes: Vec::new(),
        waits: 0,
        progress,
    };
    let tags = tag_map(plan);
    let mut resolved = Resolved::new(plan, &aws.region, account);

    // A same-named pool of someone else's stops the deploy before anything is made.
    if let Some(cognito) = &plan.cognito
        && let Some(pool_id) = aws.cognito.find_user_pool(&cognito.pool_name).await?
        && !pool_is_ours(aws, cognito, &pool_id, &tags).await?
    {
        return Err(not_ours("user pool", &cognito.pool_name, &tags));
    }
    let (action, table_creating) = dynamodb::ensure_table(aws, &plan.table, &tags, dry).await?;
    record.note("table", &plan.table.name, action);

    let pool = match &plan.cognito {
        Some(cognito) if dry => {
            let admin = &aws.cognito;
            let (pool_id, client_id) = match admin.find_user_pool(&cognito.pool_name).await? {
                Some(pool_id) => {
                    record.note("user pool", &cognito.pool_name, Action::Unchanged);
                    let client = admin
                        .find_app_client(&pool_id, &cognito.client_name)
                        .await?;
                    let action = if client.is_some() {
                        Action::Unchanged
                    } else {
                        Action::Created
                    };
                    record.note("app client", &cognito.client_name, action);
                    let owner = admin.domain_owner(&cognito.domain).await?;
                    let action = if owner.as_deref() == Some(pool_id.as_str()) {
                        Action::Unchanged
                    } else {
                        Action::Created
                    };
                    record.note("domain", &cognito.domain, action);
                    (pool_id, client.unwrap_or_default())
                }
                None => {
                    record.note("user pool", &cognito.pool_name, Action::Created);
                    record.note("app client", &cognito.client_name, Action::Created);
                    record.note("domain", &cognito.domain, Action::Created);
                    (String::new(), String::new())
                }
            };
            resolved.set(ids::USER_POOL, &pool_id);
            resolved.set(ids::USER_POOL_CLIENT, &client_id);
            Some((pool_id, client_id))
        }
        Some(cognito) => {
            let admin = &aws.cognito;
            let (pool_id, done) = admin
                .ensure_user_pool_tagged(&cognito.pool_name, &tags)
                .await?;
            record.note("user pool", &cognito.pool_name, done.into());
            let callbacks: Vec<&str> = cognito.callback_urls.iter().map(String::as_str).collect();
            let (client_id, done) = admin
                .ensure_app_client(&pool_id, &cognito.client_name, &callbacks)
                .await?;
            record.note("app client", &cognito.client_name, done.into());
            let done = admin.ensure_domain(&pool_id, &cognito.domain).await?;
            record.note("domain", &cognito.domain, done.into());
            resolved.set(ids::USER_POOL, &pool_id);
            resolved.set(ids::USER_POOL_CLIENT, &client_id);
            Some((pool_id, client_id))
        }
        None => None,
    };

    let function_arn = match (&plan.function, backend) {
        (Some(function), Backend::Lambda(code)) => {
            // Every resource of the policy resolves (an unresolved name is an error, not a Null).
            for statement in &function.role.statements {
                resolved.text(&statement.resource)?;
            }
            let policy = function.role.policy(|v| {
                resolved
                    .text(v)
                    .map(serde_json::Value::String)
                    .unwrap_or(serde_json::Value::Null)
            });
            let (role_arn, action) =
                iam::ensure_role(aws, &function.role, &policy, &tags, dry).await?;
            record.note("role", &function.role.name, action);
            let action = logs::ensure_log_group(aws, &function.log_group, &tags, dry).await?;
            record.note("log group", &function.log_group.name, action);
            let environment = function
                .environment
                .iter()
                .map(|(k, v)| Ok((k.clone(), resolved.text(v)?)))
                .collect::<Result<HashMap<String, String>, ApplyError>>()?;
            let deployment = lambda::Deployment {
                role_arn: &role_arn,
                code,
                environment,
                tags: &tags,
            };
            Some(lambda::ensure_function(aws, function, deployment, &mut record, dry).await?)
        }
        _ => None,
    };

    let (api, api_action) = apigw::ensure_api(aws, plan, &tags, dry).await?;
    record.note("http api", &plan.name, api_action);
    // A dry run's API that does not exist yet has no id: nothing under it can be read.
    let api_exists = !api.id.is_empty();
    resolved.set(ids::HTTP_API, &api.id);
    let issuer = resolved.text(&plan.authorizer.issuer)?;
    let audiences = plan
        .authorizer
        .audiences
        .iter()
        .map(|a| resolved.text(a))
        .collect::<Result<Vec<String>, ApplyError>>()?;
    // The API's routes and integrations, listed once: compared with the plan's.
    let existing_routes = if api_exists {
        apigw::routes(aws, &api.id).await?
    } else {
        Vec::new()
    };
    let (authorizer_id, action) = apigw::ensure_authorizer(
        aws,
        &api.id,
        &existing_routes,
        &plan.authorizer,
        (&issuer, &audiences),
        api_action == Action::Created,
        dry,
    )
    .await?;
    record.note("authorizer", &plan.authorizer.name, action);
    let existing_integrations = if api_exists {
        apigw::integrations(aws, &api.id).await?
    } else {
        Vec::new()
    };
    // One integration per distinct set of request parameters (the standalone runtime's routes may
    // map parameters of their own); the Lambda runtime has exactly one.
    let mut integrations: Vec<(BTreeMap<String, String>, String)> = Vec::new();
    for route in &plan.routes {
        let parameters = crate::http_request_parameters(route);
        let known = integrations.iter().find(|(p, _)| *p == parameters);
        let integration_id = match (known, &function_arn, backend) {
            (Some((_, id)), _, _) => id.clone(),
            (None, Some(arn), _) => {
                let (id, action) = apigw::ensure_integration(
                    aws,
                    &api.id,
                    &existing_integrations,
                    (apigw::Integration::Lambda(arn), &plan.integration),
                    dry,
                )
                .await?;
                record.note("integration", "lambda proxy (payload 2.0)", action);
                integrations.push((parameters, id.clone()));
                id
            }
            (None, None, Backend::Http(url)) => {
                let (id, action) = apigw::ensure_integration(
                    aws,
                    &api.id,
                    &existing_integrations,
                    (
                        apigw::Integration::Http(url, &parameters),
                        &plan.integration,
                    ),
                    dry,
                )
                .await?;
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
                return Err(ApplyError::Setup(
                    "the plan has no Lambda function to integrate".into(),
                ));
            }
        };
        let found = existing_routes
            .iter()
            .find(|r| r.route_key() == Some(route.key.as_str()));
        let action = apigw::ensure_route(
            aws,
            &api.id,
            route,
            found,
            &authorizer_id,
            &integration_id,
            dry,
        )
        .await?;
        record.note("route", &route.key, action);
    }
    // An integration no route targets any more (its mappings changed) is deleted.
    if let Backend::Http(url) = backend {
        let used: Vec<&str> = integrations.iter().map(|(_, id)| id.as_str()).collect();
        for stale in existing_integrations.iter().filter(|i| {
            i.integration_uri() == Some(url)
                && i.integration_id().is_some_and(|id| !used.contains(&id))
        }) {
            let id = error::required(
                stale.integration_id(),
                "GetIntegrations",
                &api.id,
                "an integration id",
            )?;
            if !dry {
                apigw::delete_integration(aws, &api.id, &id).await?;
            }
            record.note(
                "integration",
                &format!("unused http proxy {id}"),
                Action::Deleted,
            );
        }
    }
    let action = if api_exists {
        apigw::ensure_stage(aws, &api.id, &plan.stage, dry).await?
    } else {
        Action::Created
    };
    record.note("stage", plan.stage.name, action);
    if let (Some(arn), Some(function)) = (&function_arn, &plan.function) {
        let action = if arn.is_empty() || !api_exists {
            Action::Created
        } else {
            let source = resolved.text(&function.permission.source_arn)?;
            lambda::ensure_permission(aws, function, &source, &mut record, dry).await?
        };
        record.note("permission", &function.name, action);
    }
    if table_creating && !dry {
        dynamodb::wait_active(aws, &plan.table, &mut record, retry::SETTLE).await?;
    }
    Ok(Deployed {
        waits: record.waits,
        changes: record.changes,
        endpoint: api.endpoint,
        cognito: pool,
    })
}

/// Deletes what [`apply`] made for `plan`, newest first. Absent resources are reported, not errors.
pub async fn remove(
    plan: &Plan,
    aws: &Aws,
    mut progress: impl FnMut(Event<'_>),
) -> Result<Vec<Change>, ApplyError> {
    let mut record = Record {
        changes: Vec::new(),
        waits: 0,
        progress: &mut progress,
    };
    let tags = tag_map(plan);
    record.note("http api", &plan.name, apigw::delete_api(aws, plan).await?);
    if let Some(function) = &plan.function {
        let action = lambda::delete_function(aws, function, &tags, &mut record).await?;
        record.note("function", &function.name, action);
        let action = logs::delete_log_group(aws, &function.log_group, &tags).await?;
        record.note("log group", &function.log_group.name, action);
        let action = iam::delete_role(aws, &function.role, &tags).await?;
        record.note("role", &function.role.name, action);
    }
    let action = dynamodb::delete_table(aws, &plan.table, &tags).await?;
    record.note("table", &plan.table.name, action);
    if let Some(cognito) = &plan.cognito {
        let admin = &aws.cognito;
        match admin.find_user_pool(&cognito.pool_name).await? {
            Some(pool_id) if !pool_is_ours(aws, cognito, &pool_id, &tags).await? => {
                record.note("user pool", &cognito.pool_name, Action::Foreign);
            }
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

/// A deployment as it stands in the account (what `portcullis info` shows), read without changing
/// anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// The API's id and endpoint.
    pub api: (String, String),
    /// The JWT authorizer's issuer and audiences, when it exists.
    pub authorizer: Option<(String, Vec<String>)>,
    /// Each route: key, authorization type, scopes.
    pub routes: Vec<(String, String, Vec<String>)>,
    /// The function, when the plan has one and it exists.
    pub function: Option<LiveFunction>,
    /// The table's status, when it exists.
    pub table: Option<String>,
    /// The tutorial's pool and app client, when the plan makes them and they exist.
    pub cognito: Option<(String, String)>,
}

/// The function as Lambda reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFunction {
    /// `Active`, `Pending`, `Inactive`, `Failed`.
    pub state: String,
    /// `Successful`, `InProgress`, `Failed`.
    pub last_update_status: String,
    /// When it last changed (ISO 8601).
    pub last_modified: String,
    /// Runtime and architecture.
    pub runtime: String,
    /// Architecture.
    pub arch: String,
    /// Memory in MB and timeout in seconds.
    pub memory_mb: i32,
    /// Timeout in seconds.
    pub timeout_s: i32,
}

/// Reads the deployment of `plan`; `None` when its API does not exist.
pub async fn describe(plan: &Plan, aws: &Aws) -> Result<Option<Live>, ApplyError> {
    let Some(api) = apigw::find_api(aws, plan).await? else {
        return Ok(None);
    };
    let id = error::required(api.api_id(), "GetApis", &plan.name, "an api id")?;
    let endpoint = error::required(api.api_endpoint(), "GetApis", &plan.name, "an api endpoint")?;
    let routes = apigw::routes(aws, &id).await?;
    let authorizer = apigw::find_authorizer(aws, &id, &routes, &plan.authorizer.name, false)
        .await?
        .and_then(|(_, jwt)| jwt)
        .map(|jwt| {
            (
                jwt.issuer().unwrap_or_default().to_owned(),
                jwt.audience().to_vec(),
            )
        });
    let mut listed: Vec<(String, String, Vec<String>)> = routes
        .iter()
        .map(|r| {
            (
                r.route_key().unwrap_or_default().to_owned(),
                r.authorization_type()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_else(|| "NONE".into()),
                r.authorization_scopes().to_vec(),
            )
        })
        .collect();
    listed.sort();
    let function = match &plan.function {
        Some(function) => lambda::describe_function(aws, &function.name).await?,
        None => None,
    };
    let table = dynamodb::table_status(aws, &plan.table).await?;
    let cognito = match &plan.cognito {
        Some(cognito) => match aws.cognito.find_user_pool(&cognito.pool_name).await? {
            Some(pool) => aws
                .cognito
                .find_app_client(&pool, &cognito.client_name)
                .await?
                .map(|client| (pool, client)),
            None => None,
        },
        None => None,
    };
    Ok(Some(Live {
        api: (id, endpoint),
        authorizer,
        routes: listed,
        function,
        table,
        cognito,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(partition: &str) -> Account {
        Account::from_caller_arn(
            &format!("arn:{partition}:sts::123456789012:assumed-role/deployer/me"),
            "123456789012",
        )
        .expect("account")
    }

    #[test]
    fn placeholders_resolve_to_the_account_partition_and_resources() {
        let mut resolved = Resolved {
            region: "cn-north-1".into(),
            account: account("aws-cn"),
            refs: BTreeMap::from([(ids::TABLE, "portcullis-dev-profiles".to_owned())]),
        };
        resolved.set(ids::USER_POOL, "cn-north-1_Abc");
        assert_eq!(
            resolved
                .text(&Value::Sub(
                    "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${ProfilesTable}".into()
                ))
                .expect("resolves"),
            "arn:aws-cn:dynamodb:cn-north-1:123456789012:table/portcullis-dev-profiles"
        );
        assert_eq!(
            resolved
                .text(&Value::Sub(crate::CREATED_POOL_ISSUER.into()))
                .expect("resolves"),
            "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_Abc"
        );
        let unknown = resolved
            .text(&Value::Ref(ids::HTTP_API))
            .expect_err("no API yet");
        assert!(unknown.to_string().contains("HttpApi"), "{unknown}");
        let unclosed = resolved.text(&Value::Sub("arn:${AWS::Partition".into()));
        assert!(unclosed.is_err());
    }

    #[test]
    fn the_partition_comes_from_the_caller_and_unknown_ones_are_refused() {
        assert_eq!(account("aws").url_suffix, "amazonaws.com");
        assert_eq!(account("aws-us-gov").partition, "aws-us-gov");
        assert_eq!(account("aws-cn").url_suffix, "amazonaws.com.cn");
        let refused =
            Account::from_caller_arn("arn:aws-mars:sts::123456789012:user/x", "123456789012")
                .expect_err("unknown partition");
        assert!(refused.to_string().contains("\"aws-mars\""), "{refused}");
        assert!(Account::from_caller_arn("arn:aws:sts::1:user/x", "1").is_err());
    }
}
