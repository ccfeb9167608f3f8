//! The capacity store over DynamoDB.
//!
//! Each [`WriteCondition`] becomes a ConditionExpression on one PutItem / DeleteItem, and
//! `ReturnValuesOnConditionCheckFailure = ALL_OLD` hands back the stored item when the condition
//! fails, so a refused write is classified (duplicate / stale / conflict) without a second request.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use autopilot_core::capacity::{
    outcome, InstanceRecord, Outcome, Record, RecordKey, StoredVersion, TaskRecord, WriteCondition,
    INSTANCE_PREFIX, TASK_PREFIX,
};
use autopilot_core::model::{Attribute, ContainerInstance, InstanceStatus, Resources};
use autopilot_core::store::{cluster_partition, schema, CapacityStore, StoreError};

type Item = HashMap<String, AttributeValue>;

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
        let backend = |operation: &'static str| {
            move |e: String| StoreError::Backend {
                operation,
                message: e,
            }
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| e.to_string())
        };
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| e.to_string())
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::from(schema::BILLING_MODE))
            .key_schema(key(schema::PARTITION_KEY, KeyType::Hash).map_err(backend("CreateTable"))?)
            .key_schema(key(schema::SORT_KEY, KeyType::Range).map_err(backend("CreateTable"))?)
            .attribute_definitions(attr(schema::PARTITION_KEY).map_err(backend("CreateTable"))?)
            .attribute_definitions(attr(schema::SORT_KEY).map_err(backend("CreateTable"))?)
            .send()
            .await
            .map_err(|e| backend("CreateTable")(DisplayErrorContext(&e).to_string()))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(schema::TTL_ATTRIBUTE)
                    .build()
                    .map_err(|e| backend("UpdateTimeToLive")(e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| backend("UpdateTimeToLive")(DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}

/// The ConditionExpression of a [`WriteCondition`], with its attribute names (`#v` = the version
/// attribute) and values — the same rule as [`outcome`], in DynamoDB's words.
struct ConditionParts {
    expression: String,
    names: Option<HashMap<String, String>>,
    values: Option<HashMap<String, AttributeValue>>,
}

fn condition_parts(condition: WriteCondition) -> ConditionParts {
    let absent = format!("attribute_not_exists({})", schema::PARTITION_KEY);
    let (expression, value) = match condition {
        WriteCondition::NewerThanStored(v) => (
            format!("{absent} OR attribute_not_exists(#v) OR #v < :v"),
            Some(v),
        ),
        WriteCondition::AtLeastStored(v) => (
            format!("{absent} OR attribute_not_exists(#v) OR #v <= :v"),
            Some(v),
        ),
        WriteCondition::Unchanged(None) => (absent, None),
        WriteCondition::Unchanged(Some(None)) => (
            format!(
                "attribute_exists({}) AND attribute_not_exists(#v)",
                schema::PARTITION_KEY
            ),
            None,
        ),
        WriteCondition::Unchanged(Some(Some(v))) => ("#v = :v".to_string(), Some(v)),
    };
    let uses_version = expression.contains("#v");
    ConditionParts {
        expression,
        names: uses_version
            .then(|| HashMap::from([("#v".to_string(), schema::VERSION_ATTRIBUTE.to_string())])),
        values: value.map(|v| HashMap::from([(":v".to_string(), n(v))])),
    }
}

/// Turns a conditional request's result into an [`Outcome`]: success = applied; a failed
/// condition is classified from the stored item DynamoDB returned (`old_item` extracts it from
/// the operation's ConditionalCheckFailed error, `None` for any other error).
fn conditional_outcome<O, E>(
    operation: &'static str,
    condition: WriteCondition,
    result: Result<O, SdkError<E>>,
    old_item: impl Fn(&E) -> Option<Option<&Item>>,
) -> Result<Outcome, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(Outcome::Applied),
        Err(SdkError::ServiceError(e)) if old_item(e.err()).is_some() => {
            Ok(refused(condition, old_item(e.err()).flatten()))
        }
        Err(e) => Err(store_err(operation, e)),
    }
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

/// Classifies a refused write from the stored item DynamoDB returned.
fn refused(condition: WriteCondition, old: Option<&Item>) -> Outcome {
    let stored: StoredVersion =
        old.map(|item| item.get(schema::VERSION_ATTRIBUTE).and_then(as_i64));
    match outcome(condition, stored) {
        // The condition failed, so the rule cannot say Applied; if it does, the item changed
        // between the check and our read of it (or the backend returned no item): a conflict.
        Outcome::Applied => Outcome::Conflict,
        other => other,
    }
}

fn store_err<E>(operation: &'static str, e: SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    StoreError::Backend {
        operation,
        message: DisplayErrorContext(&e).to_string(),
    }
}

impl CapacityStore for DynamoCapacityStore {
    async fn write(
        &self,
        record: &Record,
        condition: WriteCondition,
    ) -> Result<Outcome, StoreError> {
        let c = condition_parts(condition);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)))
            .condition_expression(c.expression)
            .set_expression_attribute_names(c.names)
            .set_expression_attribute_values(c.values)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        conditional_outcome("PutItem", condition, result, |e| match e {
            PutItemError::ConditionalCheckFailedException(c) => Some(c.item()),
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
            .key(
                schema::PARTITION_KEY,
                s(cluster_partition(&key.cluster_arn)),
            )
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
            .expression_attribute_values(":pk", s(cluster_partition(cluster)))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| store_err("Query", e))?;
        items.iter().map(from_item).collect()
    }
}

// ---- item mapping: the one place record fields meet attribute names ----

fn put_opt_s(item: &mut Item, name: &str, v: &Option<String>) {
    if let Some(v) = v {
        item.insert(name.into(), s(v));
    }
}

fn put_opt_n(item: &mut Item, name: &str, v: Option<i64>) {
    if let Some(v) = v {
        item.insert(name.into(), n(v));
    }
}

fn string_list(v: &[String]) -> AttributeValue {
    // Lists, not string sets: DynamoDB refuses empty sets, and PORTS_UDP is usually empty.
    AttributeValue::L(v.iter().map(|x| s(x)).collect())
}

pub fn to_item(record: &Record) -> Item {
    let key = record.key();
    let mut item = Item::new();
    item.insert(
        schema::PARTITION_KEY.into(),
        s(cluster_partition(&key.cluster_arn)),
    );
    item.insert(schema::SORT_KEY.into(), s(&key.sort_key));
    match record {
        Record::Instance(r) => {
            let ci = &r.instance;
            item.insert("kind".into(), s("instance"));
            item.insert("cluster_arn".into(), s(&r.cluster_arn));
            item.insert("arn".into(), s(&ci.arn));
            put_opt_s(&mut item, "ec2_instance_id", &ci.ec2_instance_id);
            item.insert("status".into(), s(ci.status.as_str()));
            if let Some(c) = ci.agent_connected {
                item.insert("agent_connected".into(), AttributeValue::Bool(c));
            }
            put_opt_s(&mut item, "agent_version", &ci.agent_version);
            item.insert(
                "attributes".into(),
                AttributeValue::M(
                    ci.attributes
                        .iter()
                        .map(|a| {
                            let v = match &a.value {
                                Some(v) => s(v),
                                None => AttributeValue::Null(true),
                            };
                            (a.name.clone(), v)
                        })
                        .collect(),
                ),
            );
            for (prefix, res) in [("registered", &ci.registered), ("remaining", &ci.remaining)] {
                put_opt_n(&mut item, &format!("{prefix}_cpu"), res.cpu);
                put_opt_n(&mut item, &format!("{prefix}_memory"), res.memory);
                item.insert(format!("{prefix}_ports"), string_list(&res.ports));
                item.insert(format!("{prefix}_ports_udp"), string_list(&res.ports_udp));
            }
            put_opt_n(&mut item, "running_tasks_count", ci.running_tasks_count);
            put_opt_n(&mut item, "pending_tasks_count", ci.pending_tasks_count);
            put_opt_n(&mut item, schema::VERSION_ATTRIBUTE, ci.version);
            put_opt_n(&mut item, "registered_at", ci.registered_at);
            put_opt_s(&mut item, "updated_at", &r.updated_at);
            if r.tombstone {
                item.insert("tombstone".into(), AttributeValue::Bool(true));
            }
            put_opt_n(&mut item, schema::TTL_ATTRIBUTE, r.expires_at);
        }
        Record::Task(t) => {
            item.insert("kind".into(), s("task"));
            item.insert("cluster_arn".into(), s(&t.cluster_arn));
            item.insert("arn".into(), s(&t.task_arn));
            put_opt_s(
                &mut item,
                "container_instance_arn",
                &t.container_instance_arn,
            );
            put_opt_s(&mut item, "group", &t.group);
            put_opt_s(&mut item, "started_by", &t.started_by);
            put_opt_s(&mut item, "last_status", &t.last_status);
            put_opt_s(&mut item, "desired_status", &t.desired_status);
            put_opt_n(&mut item, "cpu", t.cpu);
            put_opt_n(&mut item, "memory", t.memory);
            put_opt_s(&mut item, "launch_type", &t.launch_type);
            put_opt_n(&mut item, schema::VERSION_ATTRIBUTE, t.version);
            put_opt_s(&mut item, "updated_at", &t.updated_at);
            put_opt_n(&mut item, schema::TTL_ATTRIBUTE, t.expires_at);
        }
    }
    item
}

fn as_i64(v: &AttributeValue) -> Option<i64> {
    v.as_n().ok().and_then(|x| x.parse().ok())
}

fn get_s(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(as_i64)
}

fn get_list(item: &Item, name: &str) -> Vec<String> {
    item.get(name)
        .and_then(|v| v.as_l().ok())
        .map(|l| l.iter().filter_map(|x| x.as_s().ok().cloned()).collect())
        .unwrap_or_default()
}

pub fn from_item(item: &Item) -> Result<Record, StoreError> {
    let sk = get_s(item, schema::SORT_KEY).unwrap_or_default();
    let corrupt = |message: &str| StoreError::Corrupt {
        key: sk.clone(),
        message: message.to_string(),
    };
    let cluster_arn = get_s(item, "cluster_arn")
        .or_else(|| get_s(item, schema::PARTITION_KEY))
        .ok_or_else(|| corrupt("no cluster"))?;
    if let Some(arn) = sk.strip_prefix(INSTANCE_PREFIX) {
        let mut ci = ContainerInstance::new(
            arn,
            InstanceStatus::from(get_s(item, "status").unwrap_or_default()),
        );
        ci.ec2_instance_id = get_s(item, "ec2_instance_id");
        ci.agent_connected = item
            .get("agent_connected")
            .and_then(|v| v.as_bool().ok())
            .copied();
        ci.agent_version = get_s(item, "agent_version");
        let attrs: BTreeMap<String, Option<String>> = item
            .get("attributes")
            .and_then(|v| v.as_m().ok())
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_s().ok().cloned()))
                    .collect()
            })
            .unwrap_or_default();
        ci.attributes = attrs
            .into_iter()
            .map(|(name, value)| Attribute { name, value })
            .collect();
        let res = |prefix: &str| Resources {
            cpu: get_n(item, &format!("{prefix}_cpu")),
            memory: get_n(item, &format!("{prefix}_memory")),
            ports: get_list(item, &format!("{prefix}_ports")),
            ports_udp: get_list(item, &format!("{prefix}_ports_udp")),
        };
        ci.registered = res("registered");
        ci.remaining = res("remaining");
        ci.running_tasks_count = get_n(item, "running_tasks_count");
        ci.pending_tasks_count = get_n(item, "pending_tasks_count");
        ci.version = get_n(item, schema::VERSION_ATTRIBUTE);
        ci.registered_at = get_n(item, "registered_at");
        Ok(Record::Instance(InstanceRecord {
            cluster_arn,
            instance: ci,
            updated_at: get_s(item, "updated_at"),
            tombstone: item
                .get("tombstone")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
            expires_at: get_n(item, schema::TTL_ATTRIBUTE),
        }))
    } else if let Some(arn) = sk.strip_prefix(TASK_PREFIX) {
        Ok(Record::Task(TaskRecord {
            cluster_arn,
            task_arn: arn.to_string(),
            container_instance_arn: get_s(item, "container_instance_arn"),
            group: get_s(item, "group"),
            started_by: get_s(item, "started_by"),
            last_status: get_s(item, "last_status"),
            desired_status: get_s(item, "desired_status"),
            cpu: get_n(item, "cpu"),
            memory: get_n(item, "memory"),
            launch_type: get_s(item, "launch_type"),
            version: get_n(item, schema::VERSION_ATTRIBUTE),
            updated_at: get_s(item, "updated_at"),
            expires_at: get_n(item, schema::TTL_ATTRIBUTE),
        }))
    } else {
        Err(corrupt("sort key is neither instance# nor task#"))
    }
}
