//! The [`CapacityStore`] over DynamoDB.
//!
//! Each [`WriteCondition`] becomes a ConditionExpression on one UpdateItem / DeleteItem, and
//! `ReturnValuesOnConditionCheckFailure = ALL_OLD` hands back the stored item when the condition
//! fails, so a refused write is classified (duplicate / stale / conflict) without a second request.
//!
//! Writes are UpdateItem, not PutItem, so that one field can survive a write that does not carry
//! it: the update SETs every attribute the record has and REMOVEs every absent optional one
//! except `registered_at` (events carry no registration time; only Describe does). The result is
//! the same item PutItem would leave, plus the stored `registered_at` — what
//! [`autopilot_core::capacity::keep_registered_at`] does in the in-memory store.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use aws_sdk_dynamodb::Client;

use autopilot_core::arn::cluster_name;
use autopilot_core::capacity::{Outcome, Record, RecordKey, WriteCondition};
use autopilot_core::ports::capacity_store::{schema, CapacityStore, StoreError};

use super::conditions::{condition_parts, conditional_outcome};
use super::item::{s, update_parts, Item, RecordItem};
use super::schema as table;
use crate::error::AwsError;

#[derive(Clone, Debug)]
pub struct DynamoCapacityStore {
    client: Client,
    table: String,
}

impl DynamoCapacityStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoCapacityStore {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table from [`schema`] (tests, the demo, local set-ups; production uses the
    /// template) and enables its TTL.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let invalid = |operation: &'static str| {
            move |e: aws_sdk_dynamodb::error::BuildError| StoreError::Backend {
                operation,
                message: e.to_string(),
            }
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(table::billing_mode())
            .set_key_schema(Some(table::key_schema().map_err(invalid("CreateTable"))?))
            .set_attribute_definitions(Some(
                table::attribute_definitions().map_err(invalid("CreateTable"))?,
            ))
            .send()
            .await
            .map_err(|e| store_err("CreateTable", &e))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(table::time_to_live().map_err(invalid("UpdateTimeToLive"))?)
            .send()
            .await
            .map_err(|e| store_err("UpdateTimeToLive", &e))?;
        Ok(())
    }
}

/// [`StoreError`] has no throttling variant: throttling (after the SDK's retries) is a backend
/// error whose message says "throttled".
pub(super) fn store_err<E, R>(operation: &'static str, e: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Backend {
        operation,
        message: AwsError::classify(e).into_message_noting_throttling(),
    }
}

impl CapacityStore for DynamoCapacityStore {
    async fn write(
        &self,
        record: &Record,
        condition: WriteCondition,
    ) -> Result<Outcome, StoreError> {
        let c = condition_parts(condition);
        let mut u = update_parts(record);
        u.names.extend(c.names.unwrap_or_default());
        u.values.extend(c.values.unwrap_or_default());
        let key = record.key();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(cluster_name(&key.cluster_arn)))
            .key(schema::SORT_KEY, s(&key.sort_key))
            .update_expression(u.expression)
            .condition_expression(c.expression)
            .set_expression_attribute_names(Some(u.names))
            .set_expression_attribute_values(Some(u.values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        conditional_outcome("UpdateItem", condition, result, |e| match e {
            UpdateItemError::ConditionalCheckFailedException(c) => Some(c.item()),
            _ => None,
        })
    }

    async fn delete(
        &self,
        key: &RecordKey,
        condition: WriteCondition,
    ) -> Result<Outcome, StoreError> {
        let c = condition_parts(condition);
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(cluster_name(&key.cluster_arn)))
            .key(schema::SORT_KEY, s(&key.sort_key))
            .condition_expression(c.expression)
            .set_expression_attribute_names(c.names)
            .set_expression_attribute_values(c.values)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        conditional_outcome("DeleteItem", condition, result, |e| match e {
            DeleteItemError::ConditionalCheckFailedException(c) => Some(c.item()),
            _ => None,
        })
    }

    async fn cluster_records(&self, cluster: &str) -> Result<Vec<Record>, StoreError> {
        let items: Vec<Item> = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", schema::PARTITION_KEY)
            .expression_attribute_values(":pk", s(cluster_name(cluster)))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| store_err("Query", &e))?;
        items
            .into_iter()
            .map(|item| Record::try_from(RecordItem(item)))
            .collect()
    }
}
