//! The [`JobStore`] over DynamoDB: one item per job (`jobId`), its cluster for the `by-cluster`
//! index, its `state` and `revision` as attributes and the whole job as JSON in `job`.
//!
//! Conditions: create = `attribute_not_exists(jobId)`; replace = `revision = :expected`
//! (ConditionalCheckFailedException → `Created::Exists` / `Replaced::Conflict`, with the stored
//! item returned by `ReturnValuesOnConditionCheckFailure = ALL_OLD`, so no second read).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use autopilot_core::arn::cluster_name;
use autopilot_core::job::Job;
use autopilot_core::ports::job_store::{
    schema, ControlItem, Created, JobStore, JobStoreError, Replaced,
};

use super::all_items;
use super::item::Item;
use crate::error::AwsError;

#[derive(Clone, Debug)]
pub struct DynamoJobStore {
    client: Client,
    table: String,
}

fn backend<E, R>(operation: &'static str, e: &SdkError<E, R>) -> JobStoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let classified = AwsError::classify(e);
    let retryable = match &classified {
        AwsError::Throttled { .. } | AwsError::Other(_) => true,
        AwsError::Service { code, .. } => !matches!(
            code.as_deref(),
            Some(
                "AccessDeniedException"
                    | "ResourceNotFoundException"
                    | "ValidationException"
                    | "ConditionalCheckFailedException"
            )
        ),
    };
    JobStoreError::Backend {
        operation,
        message: classified.into_message_noting_throttling(),
        retryable,
    }
}

fn build_err(
    operation: &'static str,
) -> impl Fn(aws_sdk_dynamodb::error::BuildError) -> JobStoreError {
    move |e| JobStoreError::Backend {
        operation,
        message: e.to_string(),
        retryable: false,
    }
}

/// The item for a job.
pub fn job_item(job: &Job) -> Result<Item, JobStoreError> {
    let body = serde_json::to_string(job).map_err(|e| JobStoreError::Corrupt {
        job_id: job.job_id.clone(),
        message: e.to_string(),
    })?;
    let mut item: Item = HashMap::new();
    item.insert(
        schema::PARTITION_KEY.into(),
        AttributeValue::S(job.job_id.clone()),
    );
    item.insert(
        schema::CLUSTER_ATTRIBUTE.into(),
        AttributeValue::S(cluster_name(&job.spec.cluster).to_string()),
    );
    item.insert(
        schema::STATE_ATTRIBUTE.into(),
        AttributeValue::S(job.state.as_str().to_string()),
    );
    item.insert(
        schema::REVISION_ATTRIBUTE.into(),
        AttributeValue::N(job.revision.to_string()),
    );
    item.insert(schema::BODY_ATTRIBUTE.into(), AttributeValue::S(body));
    if !job.state.is_terminal() {
        // The live index's keys: present only while the job is live (a sparse index).
        item.insert(
            schema::LIVE_CLUSTER_ATTRIBUTE.into(),
            AttributeValue::S(cluster_name(&job.spec.cluster).to_string()),
        );
        item.insert(
            schema::QUEUE_KEY_ATTRIBUTE.into(),
            AttributeValue::S(job.queue_key()),
        );
    }
    if job.state.is_terminal() {
        item.insert(
            schema::TTL_ATTRIBUTE.into(),
            AttributeValue::N((job.updated_at + schema::TERMINAL_RETENTION_SECONDS).to_string()),
        );
    }
    Ok(item)
}

/// The job an item holds.
pub fn job_from_item(item: &Item) -> Result<Job, JobStoreError> {
    let id = item
        .get(schema::PARTITION_KEY)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    let body = item
        .get(schema::BODY_ATTRIBUTE)
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| JobStoreError::Corrupt {
            job_id: id.clone(),
            message: format!("no `{}` attribute", schema::BODY_ATTRIBUTE),
        })?;
    serde_json::from_str(body).map_err(|e| JobStoreError::Corrupt {
        job_id: id,
        message: e.to_string(),
    })
}

impl DynamoJobStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoJobStore {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Every job of `index` whose `attribute` is the cluster's name (all pages).
    async fn cluster_index(
        &self,
        index: &str,
        attribute: &str,
        cluster: &str,
    ) -> Result<Vec<Job>, JobStoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#c = :c")
            .expression_attribute_names("#c", attribute)
            .expression_attribute_values(
                ":c",
                AttributeValue::S(cluster_name(cluster).to_string()),
            );
        let items = all_items(query).await.map_err(|e| backend("Query", &e))?;
        items.iter().map(job_from_item).collect()
    }

    /// One item by its partition key (a job id or a control item's key), read consistently.
    async fn item(
        &self,
        key: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, JobStoreError> {
        let resp = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, AttributeValue::S(key.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", &e))?;
        Ok(resp.item)
    }

    /// Creates the table from [`schema`] (tests, the demo; production uses the template).
    pub async fn create_table(&self) -> Result<(), JobStoreError> {
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(build_err("CreateTable"))
        };
        let def = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_err("CreateTable"))
        };
        let index = |name: &str, keys: Vec<KeySchemaElement>| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .set_key_schema(Some(keys))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(build_err("CreateTable"))
        };
        let all = index(
            schema::CLUSTER_INDEX,
            vec![key(schema::CLUSTER_ATTRIBUTE, KeyType::Hash)?],
        )?;
        let live = index(
            schema::LIVE_INDEX,
            vec![
                key(schema::LIVE_CLUSTER_ATTRIBUTE, KeyType::Hash)?,
                key(schema::QUEUE_KEY_ATTRIBUTE, KeyType::Range)?,
            ],
        )?;
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::from(schema::BILLING_MODE))
            .key_schema(key(schema::PARTITION_KEY, KeyType::Hash)?)
            .attribute_definitions(def(schema::PARTITION_KEY)?)
            .attribute_definitions(def(schema::CLUSTER_ATTRIBUTE)?)
            .attribute_definitions(def(schema::LIVE_CLUSTER_ATTRIBUTE)?)
            .attribute_definitions(def(schema::QUEUE_KEY_ATTRIBUTE)?)
            .global_secondary_indexes(all)
            .global_secondary_indexes(live)
            .send()
            .await
            .map_err(|e| backend("CreateTable", &e))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(schema::TTL_ATTRIBUTE)
                    .build()
                    .map_err(build_err("UpdateTimeToLive"))?,
            )
            .send()
            .await
            .map_err(|e| backend("UpdateTimeToLive", &e))?;
        Ok(())
    }
}

impl JobStore for DynamoJobStore {
    async fn create(&self, job: &Job) -> Result<Created, JobStoreError> {
        let resp = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(job_item(job)?))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", schema::PARTITION_KEY)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match resp {
            Ok(_) => Ok(Created::Created),
            Err(e) => {
                if let Some(item) = e
                    .as_service_error()
                    .filter(|se| se.is_conditional_check_failed_exception())
                    .and_then(|se| match se {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c.item().cloned(),
                        _ => None,
                    })
                {
                    return Ok(Created::Exists(Box::new(job_from_item(&item)?)));
                }
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception())
                {
                    // No item returned (older backends): read it.
                    return match self.get(&job.job_id).await? {
                        Some(j) => Ok(Created::Exists(Box::new(j))),
                        None => Err(backend("PutItem", &e)),
                    };
                }
                Err(backend("PutItem", &e))
            }
        }
    }

    async fn get(&self, job_id: &str) -> Result<Option<Job>, JobStoreError> {
        self.item(job_id)
            .await?
            .as_ref()
            .map(job_from_item)
            .transpose()
    }

    async fn replace(&self, job: &Job, expected_revision: u64) -> Result<Replaced, JobStoreError> {
        let resp = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(job_item(job)?))
            .condition_expression("#rev = :expected")
            .expression_attribute_names("#rev", schema::REVISION_ATTRIBUTE)
            .expression_attribute_values(
                ":expected",
                AttributeValue::N(expected_revision.to_string()),
            )
            .send()
            .await;
        replaced(resp)
    }

    async fn cluster_jobs(&self, cluster: &str) -> Result<Vec<Job>, JobStoreError> {
        self.cluster_index(schema::CLUSTER_INDEX, schema::CLUSTER_ATTRIBUTE, cluster)
            .await
    }

    async fn live_jobs(&self, cluster: &str) -> Result<Vec<Job>, JobStoreError> {
        self.cluster_index(schema::LIVE_INDEX, schema::LIVE_CLUSTER_ATTRIBUTE, cluster)
            .await
    }

    async fn get_control(&self, key: &str) -> Result<Option<ControlItem>, JobStoreError> {
        self.item(key)
            .await?
            .as_ref()
            .map(|item| control_from_item(key, item))
            .transpose()
    }

    async fn put_control(
        &self,
        item: &ControlItem,
        expected_revision: Option<u64>,
    ) -> Result<Replaced, JobStoreError> {
        let mut attrs: Item = HashMap::new();
        attrs.insert(
            schema::PARTITION_KEY.into(),
            AttributeValue::S(item.key.clone()),
        );
        attrs.insert(
            schema::REVISION_ATTRIBUTE.into(),
            AttributeValue::N(item.revision.to_string()),
        );
        attrs.insert(
            schema::CONTROL_ATTRIBUTE.into(),
            AttributeValue::S(item.body.to_string()),
        );
        if let Some(partition) = &item.listed_under {
            attrs.insert(
                schema::LIVE_CLUSTER_ATTRIBUTE.into(),
                AttributeValue::S(partition.clone()),
            );
            attrs.insert(
                schema::QUEUE_KEY_ATTRIBUTE.into(),
                AttributeValue::S(item.key.clone()),
            );
        }
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attrs));
        let req = match expected_revision {
            None => req
                .condition_expression("attribute_not_exists(#id)")
                .expression_attribute_names("#id", schema::PARTITION_KEY),
            Some(rev) => req
                .condition_expression("#rev = :expected")
                .expression_attribute_names("#rev", schema::REVISION_ATTRIBUTE)
                .expression_attribute_values(":expected", AttributeValue::N(rev.to_string())),
        };
        replaced(req.send().await)
    }

    async fn listed_controls(&self, partition: &str) -> Result<Vec<ControlItem>, JobStoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(schema::LIVE_INDEX)
            .key_condition_expression("#c = :c")
            .expression_attribute_names("#c", schema::LIVE_CLUSTER_ATTRIBUTE)
            .expression_attribute_values(":c", AttributeValue::S(partition.to_string()));
        let items = all_items(query).await.map_err(|e| backend("Query", &e))?;
        items
            .iter()
            .map(|item| {
                let key = item
                    .get(schema::PARTITION_KEY)
                    .and_then(|v| v.as_s().ok())
                    .map_or("", String::as_str);
                control_from_item(key, item)
            })
            .collect()
    }
}

/// A conditional PutItem's answer: written, or another writer's revision (`Conflict`).
fn replaced<T, R: std::fmt::Debug>(
    resp: Result<T, SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError, R>>,
) -> Result<Replaced, JobStoreError> {
    match resp {
        Ok(_) => Ok(Replaced::Written),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
        {
            Ok(Replaced::Conflict)
        }
        Err(e) => Err(backend("PutItem", &e)),
    }
}

/// The control item an item holds.
fn control_from_item(key: &str, item: &Item) -> Result<ControlItem, JobStoreError> {
    let corrupt = |message: String| JobStoreError::Corrupt {
        job_id: key.to_string(),
        message,
    };
    let body = item
        .get(schema::CONTROL_ATTRIBUTE)
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| corrupt(format!("no `{}` attribute", schema::CONTROL_ATTRIBUTE)))?;
    let revision = item
        .get(schema::REVISION_ATTRIBUTE)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| corrupt(format!("no `{}` number", schema::REVISION_ATTRIBUTE)))?;
    let listed_under = item
        .get(schema::LIVE_CLUSTER_ATTRIBUTE)
        .and_then(|v| v.as_s().ok())
        .cloned();
    Ok(ControlItem {
        key: key.to_string(),
        body: serde_json::from_str(body).map_err(|e| corrupt(e.to_string()))?,
        revision,
        listed_under,
    })
}
