//! The [`CapacityStore`] over DynamoDB.
//!
//! Live reads are Queries of the sparse live index ([`schema::LIVE_INDEX`]: `begins_with(live_sk,
//! "instance#")` for hosts, `task#` for tasks, `live_sk = "task#GROUP"` for one group's tasks);
//! reads of everything are Queries of the table's key range (`begins_with(sk, …)`); one request
//! per page either way, each asking for its ConsumedCapacity. The registry is the partition
//! `#clusters`.
//!
//! Why an index and not a filter: "a Query consumes the same amount of read capacity, regardless
//! of whether a filter expression is present" (DynamoDB Developer Guide, Filter expressions for
//! Query): with live and dead items in one key range, every live read paid for every tombstone
//! and STOPPED task. A sparse index holds only the items that have its key attribute, and the
//! key is SET / REMOVEd by the same conditional UpdateItem that fences the item, so the index is
//! the live view of the fenced items. Its reads are eventually consistent ("Queries on global
//! secondary indexes support eventual consistency only"; changes propagate "within a fraction of
//! a second" under normal conditions): see docs/capacity.md, "Reads", for what that means to a
//! question asked right after an event.
//!
//! Each [`WriteCondition`] becomes a ConditionExpression on one UpdateItem, and
//! `ReturnValuesOnConditionCheckFailure = ALL_OLD` hands back the stored item when the condition
//! fails, so a refused write is classified (duplicate / stale / conflict) without a second request.
//!
//! Writes are UpdateItem, not PutItem, so that one field can survive a write that does not carry
//! it: the update SETs every attribute the record has and REMOVEs every absent optional one
//! except `registered_at` (events carry no registration time; only Describe does). The result is
//! the same item PutItem would leave, plus the stored `registered_at` — what
//! [`autopilot_core::capacity::keep_registered_at`] does in the in-memory store.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure,
};
use aws_sdk_dynamodb::Client;

use autopilot_core::arn::cluster_name;
use autopilot_core::capacity::{
    ClusterEntry, Outcome, Record, RecordKey, WriteCondition, CLUSTER_PREFIX, INSTANCE_PREFIX,
    REGISTRY_PARTITION,
};
use autopilot_core::model::InstanceStatus;
use autopilot_core::ports::capacity_store::{
    schema, CapacityStore, ItemFilter, ItemKind, ItemQuery, Page, StoreError,
};

use super::all_items;
use super::conditions::{condition_parts, conditional_outcome, ConditionParts};
use super::item::{
    cluster_entry_from, cluster_item, n, payload_attributes, s, update_of, update_parts,
    RecordItem, UpdateParts, CLUSTER_ATTRIBUTES,
};
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
            .global_secondary_indexes(table::live_index().map_err(invalid("CreateTable"))?)
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

impl DynamoCapacityStore {
    /// One UpdateItem of `key` that applies `update` only when `condition` holds; when it does
    /// not, the stored item comes back with the refusal (no second read).
    async fn update_if(
        &self,
        key: &RecordKey,
        mut update: UpdateParts,
        condition: WriteCondition,
    ) -> Result<Outcome, StoreError> {
        let c = condition_parts(condition);
        update.names.extend(c.names.unwrap_or_default());
        update.values.extend(c.values.unwrap_or_default());
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(cluster_name(&key.cluster_arn)))
            .key(schema::SORT_KEY, s(&key.sort_key))
            .update_expression(update.expression)
            .condition_expression(c.expression)
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values(Some(update.values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        conditional_outcome("UpdateItem", condition, result, |e| match e {
            UpdateItemError::ConditionalCheckFailedException(c) => Some(c.item()),
            _ => None,
        })
    }
}

impl CapacityStore for DynamoCapacityStore {
    async fn write(
        &self,
        record: &Record,
        condition: WriteCondition,
    ) -> Result<Outcome, StoreError> {
        self.update_if(&record.key(), update_parts(record), condition)
            .await
    }

    async fn tombstone(
        &self,
        key: &RecordKey,
        seen: Option<i64>,
        expires_at: i64,
    ) -> Result<Outcome, StoreError> {
        let mut u = UpdateParts {
            expression: "SET #tomb = :tomb, #exp = :exp".to_string(),
            names: HashMap::from([
                ("#tomb".into(), "tombstone".into()),
                ("#exp".into(), schema::TTL_ATTRIBUTE.into()),
            ]),
            values: HashMap::from([
                (":tomb".into(), AttributeValue::Bool(true)),
                (":exp".into(), n(expires_at)),
            ]),
        };
        let host = key.sort_key.starts_with(INSTANCE_PREFIX);
        if host {
            u.names.insert("#status".into(), "status".into());
            u.values
                .insert(":inactive".into(), s(InstanceStatus::Inactive.as_str()));
            u.expression.push_str(", #status = :inactive");
        }
        // Only the fence stays (autopilot_core::capacity::fence_of); removing `live_sk` takes
        // the item out of the live index ("If you remove the index key attribute from an item,
        // DynamoDB removes the item from the index", Sparse indexes).
        let removed: Vec<String> = payload_attributes(host)
            .into_iter()
            .enumerate()
            .map(|(i, name)| {
                u.names.insert(format!("#p{i}"), name.to_string());
                format!("#p{i}")
            })
            .collect();
        u.expression
            .push_str(&format!(" REMOVE {}", removed.join(", ")));
        self.update_if(key, u, WriteCondition::Unchanged(Some(seen)))
            .await
    }

    async fn page(&self, query: &ItemQuery<'_>, start: Option<&str>) -> Result<Page, StoreError> {
        let pk = cluster_name(query.cluster);
        let mut names = HashMap::from([("#pk".to_string(), schema::PARTITION_KEY.to_string())]);
        let mut values = HashMap::from([(":pk".to_string(), s(pk))]);
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        match query.filter {
            ItemFilter::Live { now } => {
                // The live index: only live items are read (and billed).
                names.insert("#lsk".into(), schema::LIVE_SORT_KEY.into());
                let key_condition = match (query.kind, query.group) {
                    (ItemKind::Tasks, Some(group)) => {
                        values.insert(":lsk".into(), s(&format!("{}{group}", query.kind.prefix())));
                        "#pk = :pk AND #lsk = :lsk"
                    }
                    _ => {
                        values.insert(":lsk".into(), s(query.kind.prefix()));
                        "#pk = :pk AND begins_with(#lsk, :lsk)"
                    }
                };
                // The index holds live items only; the filter still drops anything past its TTL
                // (live items carry none) at no read cost — one rule with the in-memory store.
                let filter = live_filter(query.kind, now);
                names.extend(filter.names.unwrap_or_default());
                values.extend(filter.values.unwrap_or_default());
                request = request
                    .index_name(schema::LIVE_INDEX)
                    .key_condition_expression(key_condition)
                    .filter_expression(filter.expression);
                if let Some((live_sk, sk)) = start.and_then(|c| c.rsplit_once('\n')) {
                    request = request
                        .exclusive_start_key(schema::PARTITION_KEY, s(pk))
                        .exclusive_start_key(schema::SORT_KEY, s(sk))
                        .exclusive_start_key(schema::LIVE_SORT_KEY, s(live_sk));
                }
            }
            ItemFilter::All => {
                names.insert("#sk".into(), schema::SORT_KEY.into());
                values.insert(":prefix".into(), s(query.kind.prefix()));
                request =
                    request.key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)");
                if let Some(after) = start {
                    request = request
                        .exclusive_start_key(schema::PARTITION_KEY, s(pk))
                        .exclusive_start_key(schema::SORT_KEY, s(after));
                }
            }
        }
        let QueryOutput {
            items,
            last_evaluated_key,
            scanned_count,
            consumed_capacity,
            ..
        } = request
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map_err(|e| store_err("Query", &e))?;
        // Each raw item is dropped as soon as it is a record: one page in memory, once.
        let mut records = Vec::new();
        for item in items.unwrap_or_default() {
            let record = Record::try_from(RecordItem(item))?;
            if query.in_group(&record) {
                records.push(record);
            }
        }
        let key_s = |name: &str| {
            last_evaluated_key
                .as_ref()
                .and_then(|k| k.get(name))
                .and_then(|v| v.as_s().ok())
                .cloned()
        };
        let next = match query.filter {
            ItemFilter::Live { .. } => key_s(schema::LIVE_SORT_KEY)
                .zip(key_s(schema::SORT_KEY))
                .map(|(live_sk, sk)| format!("{live_sk}\n{sk}")),
            ItemFilter::All => key_s(schema::SORT_KEY),
        };
        Ok(Page {
            records,
            next,
            scanned: usize::try_from(scanned_count).unwrap_or(0),
            read_units: consumed_capacity
                .and_then(|c| c.capacity_units)
                .unwrap_or(0.0),
        })
    }

    async fn clusters(&self) -> Result<Vec<ClusterEntry>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", schema::PARTITION_KEY)
            .expression_attribute_names("#sk", schema::SORT_KEY)
            .expression_attribute_values(":pk", s(REGISTRY_PARTITION))
            .expression_attribute_values(":prefix", s(CLUSTER_PREFIX));
        let items = all_items(query).await.map_err(|e| store_err("Query", &e))?;
        items.iter().map(cluster_entry_from).collect()
    }

    async fn cluster_entry(&self, cluster: &str) -> Result<Option<ClusterEntry>, StoreError> {
        let resp = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk = :sk")
            .expression_attribute_names("#pk", schema::PARTITION_KEY)
            .expression_attribute_names("#sk", schema::SORT_KEY)
            .expression_attribute_values(":pk", s(REGISTRY_PARTITION))
            .expression_attribute_values(":sk", s(&registry_sort_key(cluster)))
            .send()
            .await
            .map_err(|e| store_err("Query", &e))?;
        resp.items().first().map(cluster_entry_from).transpose()
    }

    async fn register_cluster(&self, entry: &ClusterEntry) -> Result<bool, StoreError> {
        let result = self
            .registry_update(entry, Some(("#regpk", schema::PARTITION_KEY)))
            .condition_expression("attribute_not_exists(#regpk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
            {
                Ok(false)
            }
            Err(e) => Err(store_err("UpdateItem", &e)),
        }
    }

    async fn put_cluster(&self, entry: &ClusterEntry) -> Result<(), StoreError> {
        self.registry_update(entry, None)
            .send()
            .await
            .map_err(|e| store_err("UpdateItem", &e))?;
        Ok(())
    }
}

impl DynamoCapacityStore {
    /// The UpdateItem that writes a cluster's registry entry (its key and attributes), with one
    /// more attribute name for the caller's condition.
    fn registry_update(
        &self,
        entry: &ClusterEntry,
        condition_name: Option<(&str, &str)>,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let u = update_of(cluster_item(entry), CLUSTER_ATTRIBUTES, &[]);
        let mut names = u.names;
        if let Some((placeholder, name)) = condition_name {
            names.insert(placeholder.into(), name.into());
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(REGISTRY_PARTITION))
            .key(schema::SORT_KEY, s(&registry_sort_key(&entry.name)))
            .update_expression(u.expression)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(u.values))
    }
}

/// A cluster's sort key in the registry partition.
fn registry_sort_key(cluster: &str) -> String {
    format!("{CLUSTER_PREFIX}{}", cluster_name(cluster))
}

/// The FilterExpression of [`ItemFilter::Live`]: the same rule as
/// [`autopilot_core::capacity::is_live`], in DynamoDB's words. Expired items are filtered because
/// DynamoDB deletes them lazily ("items that have expired, but haven't yet been deleted by TTL,
/// still appear in reads", Working with expired items); the filter saves what a read returns, not
/// what it costs ("a Query consumes the same amount of read capacity, regardless of whether a
/// filter expression is present", Filter expressions for the Query operation).
pub(super) fn live_filter(kind: ItemKind, now: i64) -> ConditionParts {
    let mut expression = "(attribute_not_exists(#tomb) OR #tomb = :false) \
                          AND (attribute_not_exists(#exp) OR #exp > :now)"
        .to_string();
    let mut names = HashMap::from([
        ("#tomb".to_string(), "tombstone".to_string()),
        ("#exp".to_string(), schema::TTL_ATTRIBUTE.to_string()),
    ]);
    let mut values = HashMap::from([
        (":false".to_string(), AttributeValue::Bool(false)),
        (":now".to_string(), n(now)),
    ]);
    if kind == ItemKind::Tasks {
        expression.push_str(" AND (attribute_not_exists(#last) OR #last <> :stopped)");
        names.insert("#last".into(), "last_status".into());
        values.insert(":stopped".into(), s("STOPPED"));
    }
    ConditionParts {
        expression,
        names: Some(names),
        values: Some(values),
    }
}
