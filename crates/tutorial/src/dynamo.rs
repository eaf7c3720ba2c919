//! Profiles in a DynamoDB table (feature `dynamodb`): item `{sub: S, body: S (JSON), version: N}`.
//! Every write is one conditional `UpdateItem`, so the version check and the write are atomic.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ScalarAttributeType,
};
use serde_json::{Map, Value};

use crate::store::{Precondition, ProfileStore, StoreError, StoreFuture, StoredProfile};

/// A DynamoDB table of profiles keyed by `sub`.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn backend(operation: &str, table: &str, error: impl std::error::Error) -> StoreError {
    StoreError::Backend(format!(
        "DynamoDB {operation} on table {table}: {}",
        DisplayErrorContext(error)
    ))
}

impl DynamoStore {
    /// A store over `table` with `client`.
    pub fn new(client: Client, table: &str) -> DynamoStore {
        DynamoStore {
            client,
            table: table.to_owned(),
        }
    }

    /// A client from the environment (credentials chain, `AWS_REGION`), with optional region and
    /// endpoint overrides.
    pub async fn from_env(
        table: &str,
        region: Option<&str>,
        endpoint_url: Option<&str>,
    ) -> DynamoStore {
        let mut loader = aws_config::from_env();
        if let Some(region) = region {
            loader = loader.region(aws_config::Region::new(region.to_owned()));
        }
        if let Some(url) = endpoint_url {
            loader = loader.endpoint_url(url);
        }
        DynamoStore::new(Client::new(&loader.load().await), table)
    }

    /// Creates the table (on-demand capacity) unless it exists. For development and tests; deployed
    /// tables come from the deployment plan.
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("sub")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| backend("CreateTable", &self.table, e))?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("sub")
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(|e| backend("CreateTable", &self.table, e))?,
            )
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(backend("CreateTable", &self.table, e)),
        }
    }
}

fn decode(item: &HashMap<String, AttributeValue>) -> Result<StoredProfile, StoreError> {
    let body = item.get("body").and_then(|v| v.as_s().ok());
    let version = item
        .get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok());
    match (body, version) {
        (Some(body), Some(version)) => crate::store::decode(body, version),
        _ => Err(StoreError::Backend(
            "a stored profile item lacks a JSON body or a version".into(),
        )),
    }
}

impl ProfileStore for DynamoStore {
    fn get<'a>(&'a self, sub: &'a str) -> StoreFuture<'a, Option<StoredProfile>> {
        Box::pin(async move {
            let answer = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("sub", AttributeValue::S(sub.to_owned()))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| backend("GetItem", &self.table, e))?;
            answer.item().map(decode).transpose()
        })
    }

    fn put<'a>(
        &'a self,
        sub: &'a str,
        body: Map<String, Value>,
        precondition: Precondition,
    ) -> StoreFuture<'a, StoredProfile> {
        Box::pin(async move {
            let mut request = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("sub", AttributeValue::S(sub.to_owned()))
                .update_expression(
                    "SET #body = :body, #version = if_not_exists(#version, :zero) + :one",
                )
                .expression_attribute_names("#body", "body")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(
                    ":body",
                    AttributeValue::S(Value::Object(body).to_string()),
                )
                .expression_attribute_values(":zero", AttributeValue::N("0".into()))
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .return_values(ReturnValue::AllNew);
            request = match precondition {
                Precondition::None => request,
                Precondition::Exists => request.condition_expression("attribute_exists(#version)"),
                Precondition::Version(v) => request
                    .condition_expression("#version = :expected")
                    .expression_attribute_values(":expected", AttributeValue::N(v.to_string())),
            };
            match request.send().await {
                Ok(answer) => decode(answer.attributes().ok_or_else(|| {
                    StoreError::Backend("UpdateItem returned no attributes".into())
                })?),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
                {
                    let current = self.get(sub).await?.map(|p| p.version);
                    Err(StoreError::Conflict { current })
                }
                Err(e) => Err(backend("UpdateItem", &self.table, e)),
            }
        })
    }
}
