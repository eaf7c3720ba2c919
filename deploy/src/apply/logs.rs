//! The function's log group (retention from the plan).

use std::collections::HashMap;

use aws_sdk_cloudwatchlogs as logs;

use super::error::{ApplyError, call};
use super::{Action, Aws};
use crate::LogGroup;

/// The group named exactly `name` (the prefix search also finds longer names).
async fn find(aws: &Aws, name: &str) -> Result<Option<logs::types::LogGroup>, ApplyError> {
    let mut pages = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(call("DescribeLogGroups", name))?;
        if let Some(found) = page
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name))
        {
            return Ok(Some(found.clone()));
        }
    }
    Ok(None)
}

/// Whether `group` carries this stack's tag.
async fn is_ours(
    aws: &Aws,
    group: &logs::types::LogGroup,
    tags: &HashMap<String, String>,
) -> Result<bool, ApplyError> {
    let name = group.log_group_name().unwrap_or_default();
    // Tags are listed by the group's ARN without the `:*` that `arn` ends with.
    let arn = group
        .log_group_arn()
        .map(str::to_owned)
        .or_else(|| group.arn().map(|a| a.trim_end_matches(":*").to_owned()));
    let arn = super::error::required(arn.as_deref(), "DescribeLogGroups", name, "a log group ARN")?;
    let listed = aws
        .logs
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .map_err(call("ListTagsForResource", name))?;
    Ok(super::is_ours(
        tags,
        listed
            .tags()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    ))
}

/// The log group with the plan's retention: created, its retention set, or left alone.
pub(crate) async fn ensure_log_group(
    aws: &Aws,
    group: &LogGroup,
    tags: &HashMap<String, String>,
    dry: bool,
) -> Result<Action, ApplyError> {
    let name = group.name.as_str();
    let action = match find(aws, name).await? {
        Some(found) => {
            if !is_ours(aws, &found, tags).await? {
                return Err(super::not_ours("log group", name, tags));
            }
            if found.retention_in_days() == Some(group.retention_days) {
                return Ok(Action::Unchanged);
            }
            Action::Updated
        }
        None if dry => Action::Created,
        None => {
            aws.logs
                .create_log_group()
                .log_group_name(name)
                .set_tags(Some(tags.clone()))
                .send()
                .await
                .map_err(call("CreateLogGroup", name))?;
            Action::Created
        }
    };
    if dry {
        return Ok(action);
    }
    aws.logs
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(group.retention_days)
        .send()
        .await
        .map_err(call("PutRetentionPolicy", name))?;
    Ok(action)
}

/// Deletes the log group, when it is this stack's.
pub(crate) async fn delete_log_group(
    aws: &Aws,
    group: &LogGroup,
    tags: &HashMap<String, String>,
) -> Result<Action, ApplyError> {
    match find(aws, &group.name).await? {
        None => return Ok(Action::Absent),
        Some(found) if !is_ours(aws, &found, tags).await? => return Ok(Action::Foreign),
        Some(_) => {}
    }
    let result = aws
        .logs
        .delete_log_group()
        .log_group_name(&group.name)
        .send()
        .await;
    super::error::deletion(
        result,
        |e| {
            e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception())
        },
        "DeleteLogGroup",
        &group.name,
    )
}
