//! The Lambda function and the HTTP API's permission to invoke it. Lambda is eventually consistent:
//! a new role is not assumable for seconds, a new function is `Pending`, an updated one
//! `InProgress`, and an update while another runs is refused with `ResourceConflictException`.
//! Each of these is waited for (the SDK's waiters) or retried with backoff, within a bound.

use std::collections::HashMap;

use aws_sdk_lambda as lambda;
use base64::Engine;
use lambda::client::Waiters;
use lambda::error::{ProvideErrorMetadata, SdkError};
use lambda::primitives::Blob;
use lambda::types::{
    Architecture, Environment, FunctionCode, LastUpdateStatus, LoggingConfig,
    Runtime as LambdaRuntime, State,
};

use super::error::{ApplyError, call, required};
use super::retry::{ROLE_PROPAGATION, SETTLE, UPDATE_CONFLICT, retrying};
use super::{Action, Aws, Record, Wait};
use crate::Function;

/// What the function needs that only exists at apply time.
pub(crate) struct Deployment<'a> {
    pub(crate) role_arn: &'a str,
    pub(crate) code: &'a [u8],
    pub(crate) environment: HashMap<String, String>,
    pub(crate) tags: &'a HashMap<String, String>,
}

fn architecture(function: &Function) -> Architecture {
    match function.arch {
        crate::Arch::X86_64 => Architecture::X8664,
        crate::Arch::Arm64 => Architecture::Arm64,
    }
}

/// Base64 SHA-256 of `code`, as Lambda reports `CodeSha256`.
pub fn code_sha256(code: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, code))
}

/// Why a Lambda error means "try again shortly", if it does.
fn conflict<E: ProvideErrorMetadata>(
    error: &SdkError<E, lambda::config::http::HttpResponse>,
) -> Option<&'static str> {
    (error.code() == Some("ResourceConflictException"))
        .then_some("another update of the function is in progress")
}

fn role_not_ready<E: ProvideErrorMetadata>(
    error: &SdkError<E, lambda::config::http::HttpResponse>,
) -> Option<&'static str> {
    (error.code() == Some("InvalidParameterValueException")
        && error
            .message()
            .is_some_and(|m| m.contains("cannot be assumed by Lambda")))
    .then_some("the new role is not yet assumable by Lambda (IAM propagates in seconds)")
}

/// Waits until the function is `Active` (after create) when `state` says it is not.
async fn settle_state(
    aws: &Aws,
    name: &str,
    state: Option<&State>,
    record: &mut Record<'_>,
) -> Result<(), ApplyError> {
    // Only Pending settles by itself; an Inactive (idle) function is woken by the update that
    // follows, and the waiter would poll it until the bound.
    if state != Some(&State::Pending) {
        return Ok(());
    }
    record.wait(Wait::settling(
        "function",
        name,
        "Pending until Active",
        SETTLE,
    ));
    aws.lambda
        .wait_until_function_active_v2()
        .function_name(name)
        .wait(SETTLE)
        .await
        .map_err(call("GetFunction (waiting for Active)", name))?;
    Ok(())
}

/// Waits until the last update is done when `status` says it is `InProgress`.
async fn settle_update(
    aws: &Aws,
    name: &str,
    status: Option<&LastUpdateStatus>,
    record: &mut Record<'_>,
) -> Result<(), ApplyError> {
    if status != Some(&LastUpdateStatus::InProgress) {
        return Ok(());
    }
    record.wait(Wait::settling(
        "function",
        name,
        "update InProgress until Successful",
        SETTLE,
    ));
    aws.lambda
        .wait_until_function_updated_v2()
        .function_name(name)
        .wait(SETTLE)
        .await
        .map_err(call("GetFunction (waiting for the update)", name))?;
    Ok(())
}

/// The function with this code and configuration: created, updated (code, then configuration,
/// each waited for), or left alone; noted as soon as it exists (so an interrupted wait still
/// names it). Answers its ARN (empty for one a dry run would create).
pub(crate) async fn ensure_function(
    aws: &Aws,
    function: &Function,
    deployment: Deployment<'_>,
    record: &mut Record<'_>,
    dry: bool,
) -> Result<String, ApplyError> {
    let name = function.name.as_str();
    // Where the function logs: the plan's group (Lambda's default has the same name; stating it
    // keeps the SDK and the CloudFormation export alike).
    let logging = LoggingConfig::builder()
        .log_group(&function.log_group.name)
        .build();
    let arch = architecture(function);
    let sha = code_sha256(deployment.code);
    let environment = Environment::builder()
        .set_variables(Some(deployment.environment.clone()))
        .build();
    let found = match aws.lambda.get_function().function_name(name).send().await {
        Ok(found) => found,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            if dry {
                record.note("function", name, Action::Created);
                return Ok(String::new());
            }
            return create_function(
                aws,
                function,
                &deployment,
                record,
                (arch, environment, logging),
            )
            .await;
        }
        Err(e) => return Err(call("GetFunction", name)(e)),
    };
    if !function_is_ours(found.tags(), deployment.tags) {
        return Err(super::not_ours("function", name, deployment.tags));
    }
    let config = found.configuration().ok_or_else(|| ApplyError::Missing {
        operation: "GetFunction",
        resource: name.to_owned(),
        field: "the configuration",
    })?;
    let arn = required(config.function_arn(), "GetFunction", name, "a function ARN")?;
    let new_code =
        config.code_sha256() != Some(sha.as_str()) || config.architectures() != [arch.clone()];
    let same_config = config.environment().and_then(|e| e.variables())
        == Some(&deployment.environment)
        && config.memory_size() == Some(function.memory_mb as i32)
        && config.timeout() == Some(function.timeout_s as i32)
        && config.role() == Some(deployment.role_arn)
        && config.runtime().map(|r| r.as_str()) == Some(function.runtime)
        && config.handler() == Some(function.handler);
    let action = if new_code || !same_config {
        Action::Updated
    } else {
        Action::Unchanged
    };
    record.note("function", name, action);
    if dry || action == Action::Unchanged {
        return Ok(arn);
    }
    // A function left Pending or InProgress (by an interrupted deploy, or a teammate) first settles.
    settle_state(aws, name, config.state(), record).await?;
    settle_update(aws, name, config.last_update_status(), record).await?;
    if new_code {
        let updated = retrying(
            record,
            ("function", name),
            "UpdateFunctionCode",
            UPDATE_CONFLICT,
            || {
                aws.lambda
                    .update_function_code()
                    .function_name(name)
                    .zip_file(Blob::new(deployment.code))
                    .architectures(arch.clone())
                    .send()
            },
            conflict,
        )
        .await?;
        settle_update(aws, name, updated.last_update_status(), record).await?;
    }
    if !same_config {
        let updated = retrying(
            record,
            ("function", name),
            "UpdateFunctionConfiguration",
            UPDATE_CONFLICT,
            || {
                aws.lambda
                    .update_function_configuration()
                    .function_name(name)
                    .role(deployment.role_arn)
                    .runtime(LambdaRuntime::from(function.runtime))
                    .handler(function.handler)
                    .memory_size(function.memory_mb as i32)
                    .timeout(function.timeout_s as i32)
                    .environment(environment.clone())
                    .logging_config(logging.clone())
                    .send()
            },
            |e| role_not_ready(e).or_else(|| conflict(e)),
        )
        .await?;
        settle_update(aws, name, updated.last_update_status(), record).await?;
    }
    Ok(arn)
}

/// Creates the function (retried while its new role is not yet usable, as Lambda answers for
/// seconds after CreateRole) and waits until it is Active: its ARN.
async fn create_function(
    aws: &Aws,
    function: &Function,
    deployment: &Deployment<'_>,
    record: &mut Record<'_>,
    (arch, environment, logging): (Architecture, Environment, LoggingConfig),
) -> Result<String, ApplyError> {
    let name = function.name.as_str();
    let created = retrying(
        record,
        ("function", name),
        "CreateFunction",
        ROLE_PROPAGATION,
        || {
            aws.lambda
                .create_function()
                .function_name(name)
                .runtime(LambdaRuntime::from(function.runtime))
                .handler(function.handler)
                .role(deployment.role_arn)
                .architectures(arch.clone())
                .memory_size(function.memory_mb as i32)
                .timeout(function.timeout_s as i32)
                .code(
                    FunctionCode::builder()
                        .zip_file(Blob::new(deployment.code))
                        .build(),
                )
                .environment(environment.clone())
                .logging_config(logging.clone())
                .set_tags(Some(deployment.tags.clone()))
                .send()
        },
        // A 409 here is "Function already exist" (a concurrent deploy): not a wait.
        role_not_ready,
    )
    .await?;
    let arn = required(
        created.function_arn(),
        "CreateFunction",
        name,
        "a function ARN",
    )?;
    record.note("function", name, Action::Created);
    settle_state(aws, name, created.state(), record).await?;
    Ok(arn)
}

/// The source ARN the function's resource policy grants `statement_id`, if it has the statement.
async fn granted_source(
    aws: &Aws,
    name: &str,
    statement_id: &str,
) -> Result<Option<Option<String>>, ApplyError> {
    let policy = match aws.lambda.get_policy().function_name(name).send().await {
        Ok(policy) => policy,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(call("GetPolicy", name)(e)),
    };
    let document: serde_json::Value = policy
        .policy()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    let statements = document["Statement"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(statements
        .iter()
        .find(|s| s["Sid"] == statement_id)
        .map(|s| {
            s["Condition"]["ArnLike"]["AWS:SourceArn"]
                .as_str()
                .map(str::to_owned)
        }))
}

/// The permission letting the API (`source_arn`) invoke the function: added, replaced when it
/// names another source, or left alone.
pub(crate) async fn ensure_permission(
    aws: &Aws,
    function: &Function,
    source_arn: &str,
    record: &mut Record<'_>,
    dry: bool,
) -> Result<Action, ApplyError> {
    let name = function.name.as_str();
    let permission = &function.permission;
    let action = match granted_source(aws, name, permission.statement_id).await? {
        Some(Some(granted)) if granted == source_arn => return Ok(Action::Unchanged),
        // moto and older policies may not echo the condition: the statement id is the grant.
        Some(None) => return Ok(Action::Unchanged),
        Some(Some(_)) if dry => return Ok(Action::Updated),
        None if dry => return Ok(Action::Created),
        Some(Some(_)) => {
            retrying(
                record,
                ("permission", name),
                "RemovePermission",
                UPDATE_CONFLICT,
                || {
                    aws.lambda
                        .remove_permission()
                        .function_name(name)
                        .statement_id(permission.statement_id)
                        .send()
                },
                conflict,
            )
            .await?;
            Action::Updated
        }
        None => Action::Created,
    };
    retrying(
        record,
        ("permission", name),
        "AddPermission",
        UPDATE_CONFLICT,
        || async {
            let added = aws
                .lambda
                .add_permission()
                .function_name(name)
                .statement_id(permission.statement_id)
                .action(permission.action)
                .principal(permission.principal)
                .source_arn(source_arn)
                .send()
                .await;
            match added {
                Ok(_) => Ok(()),
                // The statement exists: a concurrent deploy added it.
                Err(e)
                    if e.code() == Some("ResourceConflictException")
                        && e.message().is_some_and(|m| m.contains("already exists")) =>
                {
                    Ok(())
                }
                Err(e) => Err(e),
            }
        },
        conflict,
    )
    .await?;
    Ok(action)
}

fn function_is_ours(
    found: Option<&HashMap<String, String>>,
    tags: &HashMap<String, String>,
) -> bool {
    super::is_ours(
        tags,
        found
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

/// Deletes the function (its permission goes with it), when it is this stack's.
pub(crate) async fn delete_function(
    aws: &Aws,
    function: &Function,
    tags: &HashMap<String, String>,
    record: &mut Record<'_>,
) -> Result<Action, ApplyError> {
    let name = function.name.as_str();
    match aws.lambda.get_function().function_name(name).send().await {
        Ok(found) if function_is_ours(found.tags(), tags) => {}
        Ok(_) => return Ok(Action::Foreign),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(Action::Absent);
        }
        Err(e) => return Err(call("GetFunction", name)(e)),
    }
    let deleted = retrying(
        record,
        ("function", name),
        "DeleteFunction",
        UPDATE_CONFLICT,
        || async {
            match aws
                .lambda
                .delete_function()
                .function_name(name)
                .send()
                .await
            {
                Ok(_) => Ok(Action::Deleted),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
                {
                    Ok(Action::Absent)
                }
                Err(e) => Err(e),
            }
        },
        conflict,
    )
    .await?;
    Ok(deleted)
}

/// The function's state as Lambda reports it; `None` when it does not exist.
pub(crate) async fn describe_function(
    aws: &Aws,
    name: &str,
) -> Result<Option<super::LiveFunction>, ApplyError> {
    let found = match aws.lambda.get_function().function_name(name).send().await {
        Ok(found) => found,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(call("GetFunction", name)(e)),
    };
    let Some(config) = found.configuration() else {
        return Ok(None);
    };
    let text = |value: Option<&str>| value.unwrap_or("unknown").to_owned();
    Ok(Some(super::LiveFunction {
        state: text(config.state().map(|s| s.as_str())),
        last_update_status: text(config.last_update_status().map(|s| s.as_str())),
        last_modified: text(config.last_modified()),
        runtime: text(config.runtime().map(|r| r.as_str())),
        arch: config
            .architectures()
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(","),
        memory_mb: config.memory_size().unwrap_or_default(),
        timeout_s: config.timeout().unwrap_or_default(),
    }))
}
