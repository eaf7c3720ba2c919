//! The function's log group (retention from the plan).

use std::collections::HashMap;

use super::error::{ApplyError, call};
use super::{Action, Aws};
use crate::LogGroup;

/// The log group with the plan's retention: created, its retention set, or left alone.
pub(crate) async fn ensure_log_group(
    aws: &Aws,
    group: &LogGroup,
    tags: &HashMap<String, String>,
) -> Result<Action, ApplyError> {
    let name = group.name.as_str();
    let mut pages = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .into_paginator()
        .send();
    let mut retention = None;
    let mut found = false;
    while let Some(page) = pages.next().await {
        let page = page.map_err(call("DescribeLogGroups", name))?;
        if let Some(existing) = page
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name))
        {
            found = true;
            retention = existing.retention_in_days();
            break;
        }
    }
    let action = match (found, retention) {
        (true, Some(days)) if days == group.retention_days => return Ok(Action::Unchanged),
        (true, _) => Action::Updated,
        (false, _) => {
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
    aws.logs
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(group.retention_days)
        .send()
        .await
        .map_err(call("PutRetentionPolicy", name))?;
    Ok(action)
}

/// Deletes the log group.
pub(crate) async fn delete_log_group(aws: &Aws, group: &LogGroup) -> Result<Action, ApplyError> {
    match aws
        .logs
        .delete_log_group()
        .log_group_name(&group.name)
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
        Err(e) => Err(call("DeleteLogGroup", &group.name)(e)),
    }
}
