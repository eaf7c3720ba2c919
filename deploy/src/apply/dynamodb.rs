//! The profiles table (key from the plan).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb as dynamodb;

use super::error::{ApplyError, call};
use super::{Action, Aws, Record, Wait};
use crate::Table;

/// The table: created (on-demand billing, tagged) or left alone. `true` with `Created` when AWS
/// still has it `CREATING` (see [`wait_active`]).
pub(crate) async fn ensure_table(
    aws: &Aws,
    table: &Table,
    tags: &HashMap<String, String>,
    dry: bool,
) -> Result<(Action, bool), ApplyError> {
    use dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TableStatus, Tag,
    };
    let name = table.name.as_str();
    match aws.dynamodb.describe_table().table_name(name).send().await {
        Ok(found) => {
            if !table_is_ours(aws, name, found.table(), tags).await? {
                return Err(super::not_ours("table", name, tags));
            }
            let creating =
                found.table().and_then(|t| t.table_status()) == Some(&TableStatus::Creating);
            return Ok((Action::Unchanged, creating));
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) => {}
        Err(e) => return Err(call("DescribeTable", name)(e)),
    }
    if dry {
        return Ok((Action::Created, false));
    }
    let bad = call::<dynamodb::error::BuildError>("CreateTable", name);
    let attribute = AttributeDefinition::builder()
        .attribute_name(table.key)
        .attribute_type(ScalarAttributeType::from(table.key_type))
        .build();
    let key = KeySchemaElement::builder()
        .attribute_name(table.key)
        .key_type(KeyType::Hash)
        .build();
    let (attribute, key) = match (attribute, key) {
        (Ok(a), Ok(k)) => (a, k),
        (Err(e), _) | (_, Err(e)) => return Err(bad(e)),
    };
    let mut request = aws
        .dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(table.billing_mode))
        .attribute_definitions(attribute)
        .key_schema(key);
    for (k, v) in tags {
        let tag = Tag::builder()
            .key(k)
            .value(v)
            .build()
            .map_err(call("CreateTable", name))?;
        request = request.tags(tag);
    }
    let created = request.send().await.map_err(call("CreateTable", name))?;
    let creating =
        created.table_description().and_then(|t| t.table_status()) != Some(&TableStatus::Active);
    Ok((Action::Created, creating))
}

/// Waits (SDK waiter `TableExists`) until the table is `ACTIVE`.
pub(crate) async fn wait_active(
    aws: &Aws,
    table: &Table,
    record: &mut Record<'_>,
    bound: Duration,
) -> Result<(), ApplyError> {
    use dynamodb::client::Waiters;
    record.wait(Wait::settling(
        "table",
        &table.name,
        "CREATING until ACTIVE",
        bound,
    ));
    aws.dynamodb
        .wait_until_table_exists()
        .table_name(&table.name)
        .wait(bound)
        .await
        .map_err(call("DescribeTable (waiting for ACTIVE)", &table.name))?;
    Ok(())
}

/// Whether the described table carries this stack's tag (DynamoDB lists tags by ARN).
async fn table_is_ours(
    aws: &Aws,
    name: &str,
    table: Option<&dynamodb::types::TableDescription>,
    tags: &HashMap<String, String>,
) -> Result<bool, ApplyError> {
    let arn = super::error::required(
        table.and_then(|t| t.table_arn()),
        "DescribeTable",
        name,
        "a table ARN",
    )?;
    let listed = aws
        .dynamodb
        .list_tags_of_resource()
        .resource_arn(&arn)
        .send()
        .await
        .map_err(call("ListTagsOfResource", name))?;
    Ok(super::is_ours(
        tags,
        listed.tags().iter().map(|t| (t.key(), t.value())),
    ))
}

/// Deletes the table, when it is this stack's.
pub(crate) async fn delete_table(
    aws: &Aws,
    table: &Table,
    tags: &HashMap<String, String>,
) -> Result<Action, ApplyError> {
    match aws
        .dynamodb
        .describe_table()
        .table_name(&table.name)
        .send()
        .await
    {
        Ok(found) => {
            if !table_is_ours(aws, &table.name, found.table(), tags).await? {
                return Ok(Action::Foreign);
            }
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(Action::Absent);
        }
        Err(e) => return Err(call("DescribeTable", &table.name)(e)),
    }
    let result = aws
        .dynamodb
        .delete_table()
        .table_name(&table.name)
        .send()
        .await;
    super::error::deletion(
        result,
        |e| {
            e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception())
        },
        "DeleteTable",
        &table.name,
    )
}

/// The table's status (`ACTIVE`, `CREATING`, …); `None` when it does not exist.
pub(crate) async fn table_status(aws: &Aws, table: &Table) -> Result<Option<String>, ApplyError> {
    match aws
        .dynamodb
        .describe_table()
        .table_name(&table.name)
        .send()
        .await
    {
        Ok(found) => Ok(Some(
            found
                .table()
                .and_then(|t| t.table_status())
                .map_or("unknown", |s| s.as_str())
                .to_owned(),
        )),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(call("DescribeTable", &table.name)(e)),
    }
}
