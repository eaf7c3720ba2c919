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
mod describe;
mod dynamodb;
mod error;
mod iam;
mod lambda;
mod logs;
mod progress;
mod resolve;
mod retry;

use std::collections::{BTreeMap, HashMap};

/// The SDK crates the clients are built from (their types, for callers of [`Aws`]'s clients).
pub mod sdk {
    pub use aws_sdk_apigatewayv2 as apigatewayv2;
    pub use aws_sdk_cloudwatchlogs as cloudwatchlogs;
    pub use aws_sdk_dynamodb as dynamodb;
}
pub use clients::{Account, Aws, Connection, MAX_ATTEMPTS};
pub use describe::{Live, LiveFunction, describe};
pub use error::ApplyError;
pub use lambda::code_sha256;
pub(crate) use progress::Record;
pub use progress::{Action, Change, Event, Wait};
pub use resolve::Resolved;

use crate::{Plan, Runtime, ids};
use aws_sdk_apigatewayv2::types::{Integration as ApiIntegration, Route as ApiRoute};

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

/// What the HTTP API forwards requests to.
#[derive(Debug, Clone, Copy)]
pub enum Backend<'a> {
    /// The plan's Lambda function, with this deployment package (`bootstrap.zip`).
    Lambda(&'a [u8]),
    /// A standalone `portcullis-server` at this base URL (HTTP proxy; the request path is passed on).
    Http(&'a str),
}

pub(crate) use crate::STACK_TAG;

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

    let pool = cognito_pool(plan, aws, &tags, dry, &mut record, &mut resolved).await?;

    let function_arn = function(plan, aws, backend, &tags, dry, &mut record, &resolved).await?;

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
    routes_and_integrations(
        plan,
        aws,
        (&api.id, &existing_routes, &existing_integrations),
        (&authorizer_id, function_arn.as_deref()),
        backend,
        dry,
        &mut record,
    )
    .await?;
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

/// The tutorial's Cognito pool, app client and domain, made or (dry) looked up: their ids.
async fn cognito_pool(
    plan: &Plan,
    aws: &Aws,
    tags: &HashMap<String, String>,
    dry: bool,
    record: &mut Record<'_>,
    resolved: &mut Resolved,
) -> Result<Option<(String, String)>, ApplyError> {
    Ok(match &plan.cognito {
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
                .ensure_user_pool_tagged(&cognito.pool_name, tags)
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
    })
}

/// The function with its role and log group, for the Lambda runtime: its ARN.
async fn function(
    plan: &Plan,
    aws: &Aws,
    backend: Backend<'_>,
    tags: &HashMap<String, String>,
    dry: bool,
    record: &mut Record<'_>,
    resolved: &Resolved,
) -> Result<Option<String>, ApplyError> {
    Ok(match (&plan.function, backend) {
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
                iam::ensure_role(aws, &function.role, &policy, tags, dry).await?;
            record.note("role", &function.role.name, action);
            let action = logs::ensure_log_group(aws, &function.log_group, tags, dry).await?;
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
                tags,
            };
            Some(lambda::ensure_function(aws, function, deployment, record, dry).await?)
        }
        _ => None,
    })
}

/// Each planned route with its integration (one per distinct set of request parameters; the
/// Lambda runtime has exactly one), then the HTTP proxy integrations no route targets any more.
async fn routes_and_integrations(
    plan: &Plan,
    aws: &Aws,
    (api_id, existing_routes, existing_integrations): (&str, &[ApiRoute], &[ApiIntegration]),
    (authorizer_id, function_arn): (&str, Option<&str>),
    backend: Backend<'_>,
    dry: bool,
    record: &mut Record<'_>,
) -> Result<(), ApplyError> {
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
                    api_id,
                    existing_integrations,
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
                    api_id,
                    existing_integrations,
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
            api_id,
            route,
            found,
            authorizer_id,
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
                api_id,
                "an integration id",
            )?;
            if !dry {
                apigw::delete_integration(aws, api_id, &id).await?;
            }
            record.note(
                "integration",
                &format!("unused http proxy {id}"),
                Action::Deleted,
            );
        }
    }
    Ok(())
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
