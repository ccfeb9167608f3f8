//! Record <-> item mapping: the one place record fields meet attribute names, and the
//! UpdateExpression that makes a stored item what a record says.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use autopilot_core::arn::cluster_name;
use autopilot_core::capacity::{
    fence_of, live_index_key, ClusterEntry, ClusterStatus, InstanceRecord, Record, TaskRecord,
    CLUSTER_PREFIX, INSTANCE_PREFIX, REGISTRY_PARTITION, TASK_PREFIX,
};
use autopilot_core::model::{Attribute, ContainerInstance, InstanceStatus, Resources, Task};
use autopilot_core::ports::capacity_store::{schema, StoreError};

/// A DynamoDB item as the SDK has it.
pub(super) type Item = HashMap<String, AttributeValue>;

/// A number attribute.
pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A string attribute.
pub(super) fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

/// Every non-key attribute a host item can have ([`RecordItem::from`] writes no other; a test
/// keeps the two in step).
pub const INSTANCE_ATTRIBUTES: &[&str] = &[
    "kind",
    "cluster_arn",
    "arn",
    "ec2_instance_id",
    "status",
    "agent_connected",
    "agent_version",
    COMPACT_ATTRIBUTES,
    LEGACY_ATTRIBUTES,
    "registered_cpu",
    "registered_memory",
    "registered_ports",
    "registered_ports_udp",
    "remaining_cpu",
    "remaining_memory",
    "remaining_ports",
    "remaining_ports_udp",
    "registered_gpus",
    "remaining_gpus",
    "capacity_provider_name",
    "running_tasks_count",
    "pending_tasks_count",
    schema::VERSION_ATTRIBUTE,
    "registered_at",
    "updated_at",
    "tombstone",
    schema::TTL_ATTRIBUTE,
    schema::LIVE_SORT_KEY,
];

/// A host's ECS attributes, compactly: one string (see [`encode_attributes`]).
pub const COMPACT_ATTRIBUTES: &str = "attrs";
/// A host's ECS attributes as a map (name → value or NULL): items written before the compact
/// form, and attribute lists the compact form cannot hold. Read either way; a write REMOVEs the
/// one it does not SET.
pub const LEGACY_ATTRIBUTES: &str = "attributes";

/// What a tombstone keeps of an item ([`autopilot_core::capacity::fence_of`]): the sweep's
/// in-place tombstone REMOVEs every other attribute of [`INSTANCE_ATTRIBUTES`] /
/// [`TASK_ATTRIBUTES`], the live index key included.
pub const FENCE_ATTRIBUTES: &[&str] = &[
    "kind",
    "cluster_arn",
    "arn",
    "status",
    "last_status",
    schema::VERSION_ATTRIBUTE,
    "tombstone",
    schema::TTL_ATTRIBUTE,
];

/// Every non-key attribute a task item can have.
pub const TASK_ATTRIBUTES: &[&str] = &[
    "kind",
    "cluster_arn",
    "arn",
    "container_instance_arn",
    "group",
    "started_by",
    "last_status",
    "desired_status",
    "cpu",
    "memory",
    "launch_type",
    schema::VERSION_ATTRIBUTE,
    "updated_at",
    "tombstone",
    schema::TTL_ATTRIBUTE,
    schema::LIVE_SORT_KEY,
];

/// Every non-key attribute a cluster registry item can have.
pub const CLUSTER_ATTRIBUTES: &[&str] = &[
    "kind",
    "name",
    "cluster_arn",
    "status",
    "reason",
    "since",
    "retired_hosts",
    "retired_tasks",
    schema::TTL_ATTRIBUTE,
];

/// Attributes a write keeps when its record lacks them (a thin event without `registeredAt`).
pub const KEPT_WHEN_ABSENT: &[&str] = &["registered_at"];

/// An UpdateExpression with its placeholders (`#aN` names, `:uN` values).
pub(super) struct UpdateParts {
    pub(super) expression: String,
    pub(super) names: HashMap<String, String>,
    pub(super) values: HashMap<String, AttributeValue>,
}

/// SET every attribute of the record's item, REMOVE every absent optional attribute except
/// [`KEPT_WHEN_ABSENT`]: the item becomes what PutItem would write, keeping `registered_at`. The
/// live index key is one of those attributes: SET while the record is live, REMOVEd when it dies,
/// in the same conditional request as the version. A tombstone keeps nothing but its fence.
pub(super) fn update_parts(record: &Record) -> UpdateParts {
    let RecordItem(item) = RecordItem::from(record);
    let all = match record {
        Record::Instance(_) => INSTANCE_ATTRIBUTES,
        Record::Task(_) => TASK_ATTRIBUTES,
    };
    let kept = if record.is_tombstone() {
        &[][..]
    } else {
        KEPT_WHEN_ABSENT
    };
    update_of(item, all, kept)
}

/// The attributes the sweep's in-place tombstone REMOVEs from an item of this kind.
pub(super) fn payload_attributes(host: bool) -> Vec<&'static str> {
    let all = if host {
        INSTANCE_ATTRIBUTES
    } else {
        TASK_ATTRIBUTES
    };
    all.iter()
        .copied()
        .filter(|a| !FENCE_ATTRIBUTES.contains(a))
        .collect()
}

/// Prefixes most ECS agent attribute names start with, and the two-character tokens that stand
/// for them in [`encode_attributes`] (longest first: the first that matches is used).
const ATTRIBUTE_PREFIXES: &[(&str, &str)] = &[
    ("~d", "com.amazonaws.ecs.capability.docker-remote-api."),
    ("~l", "com.amazonaws.ecs.capability.logging-driver."),
    ("~c", "com.amazonaws.ecs.capability."),
    ("~e", "ecs.capability."),
    ("~s", "ecs."),
];

/// A host's attributes as one string: `name` or `name=value` per attribute, one per line, each
/// well-known prefix replaced by its token (`~d1.44` is
/// `com.amazonaws.ecs.capability.docker-remote-api.1.44`). A real agent registers forty-odd
/// attributes, most of them value-less capabilities under two long prefixes: as a map
/// (name, value, a byte of overhead each) they are most of a host item; as this string about a
/// quarter. `None` when a name or value could not be read back unambiguously (a name with `=`,
/// a line break or a leading `~`, a value with a line break — ECS's own attribute rules allow
/// none of these): such hosts keep the map.
pub fn encode_attributes(attributes: &[Attribute]) -> Option<String> {
    let mut out = String::new();
    for (i, a) in attributes.iter().enumerate() {
        if a.name.is_empty()
            || a.name.contains(['=', '\n'])
            || a.name.starts_with('~')
            || a.value.as_deref().is_some_and(|v| v.contains('\n'))
        {
            return None;
        }
        if i > 0 {
            out.push('\n');
        }
        match ATTRIBUTE_PREFIXES
            .iter()
            .find(|(_, prefix)| a.name.starts_with(prefix))
        {
            Some((token, prefix)) => {
                out.push_str(token);
                out.push_str(&a.name[prefix.len()..]);
            }
            None => out.push_str(&a.name),
        }
        if let Some(v) = &a.value {
            out.push('=');
            out.push_str(v);
        }
    }
    Some(out)
}

/// The attributes [`encode_attributes`] encoded.
pub fn decode_attributes(encoded: &str) -> Vec<Attribute> {
    if encoded.is_empty() {
        return Vec::new();
    }
    encoded
        .split('\n')
        .map(|line| {
            let (name, value) = match line.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (line, None),
            };
            let name = ATTRIBUTE_PREFIXES
                .iter()
                .find_map(|(token, prefix)| {
                    name.strip_prefix(token)
                        .map(|rest| format!("{prefix}{rest}"))
                })
                .unwrap_or_else(|| name.to_string());
            Attribute { name, value }
        })
        .collect()
}

/// The update that makes a stored item `item` (keys ignored): SET what it has, REMOVE the rest of
/// `all` but `kept`.
pub(super) fn update_of(mut item: Item, all: &[&str], kept: &[&str]) -> UpdateParts {
    item.remove(schema::PARTITION_KEY);
    item.remove(schema::SORT_KEY);
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let mut set = Vec::new();
    let mut remove = Vec::new();
    // Sorted, so the same record always gives the same request.
    let mut present: Vec<(String, AttributeValue)> = item.into_iter().collect();
    present.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (name, value)) in present.iter().enumerate() {
        names.insert(format!("#a{i}"), name.clone());
        values.insert(format!(":u{i}"), value.clone());
        set.push(format!("#a{i} = :u{i}"));
    }
    for (i, name) in all
        .iter()
        .filter(|n| !present.iter().any(|(p, _)| p == *n) && !kept.contains(n))
        .enumerate()
    {
        names.insert(format!("#r{i}"), name.to_string());
        remove.push(format!("#r{i}"));
    }
    let mut expression = format!("SET {}", set.join(", "));
    if !remove.is_empty() {
        expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    UpdateParts {
        expression,
        names,
        values,
    }
}

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

/// A capacity-table item: [`From`] a record it is the item a write stores; [`TryFrom`] it, the
/// record a read returns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordItem(pub Item);

impl From<RecordItem> for Item {
    fn from(item: RecordItem) -> Self {
        item.0
    }
}

/// The item [`RecordItem::from`] gives.
pub fn to_item(record: &Record) -> Item {
    RecordItem::from(record).into()
}

/// The record [`Record::try_from`] a [`RecordItem`] gives, from a borrowed item.
pub fn from_item(item: &Item) -> Result<Record, StoreError> {
    record_from(item)
}

impl TryFrom<RecordItem> for Record {
    type Error = StoreError;

    fn try_from(item: RecordItem) -> Result<Self, Self::Error> {
        record_from(&item.0)
    }
}

impl From<&Record> for RecordItem {
    fn from(record: &Record) -> Self {
        RecordItem(item_from(record))
    }
}

fn item_from(record: &Record) -> Item {
    // A tombstone stores its fence only, whatever else the record carries.
    let fenced;
    let record = if record.is_tombstone() {
        fenced = fence_of(record);
        &fenced
    } else {
        record
    };
    let key = record.key();
    let mut item = Item::new();
    item.insert(
        schema::PARTITION_KEY.into(),
        s(cluster_name(&key.cluster_arn)),
    );
    item.insert(schema::SORT_KEY.into(), s(&key.sort_key));
    if let Some(live) = live_index_key(record) {
        item.insert(schema::LIVE_SORT_KEY.into(), s(&live));
    }
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
            match encode_attributes(&ci.attributes) {
                // A tombstone has none: nothing to store.
                _ if r.tombstone => {}
                Some(compact) => {
                    item.insert(COMPACT_ATTRIBUTES.into(), s(&compact));
                }
                None => {
                    item.insert(
                        LEGACY_ATTRIBUTES.into(),
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
                }
            }
            for (prefix, res) in [("registered", &ci.registered), ("remaining", &ci.remaining)] {
                if r.tombstone {
                    break;
                }
                put_opt_n(&mut item, &format!("{prefix}_cpu"), res.cpu);
                put_opt_n(&mut item, &format!("{prefix}_memory"), res.memory);
                item.insert(format!("{prefix}_ports"), string_list(&res.ports));
                item.insert(format!("{prefix}_ports_udp"), string_list(&res.ports_udp));
                put_opt_n(&mut item, &format!("{prefix}_gpus"), res.gpus);
            }
            if let Some(p) = &ci.capacity_provider_name {
                item.insert(
                    "capacity_provider_name".into(),
                    AttributeValue::S(p.clone()),
                );
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
            item.insert("arn".into(), s(&t.task.arn));
            put_opt_s(
                &mut item,
                "container_instance_arn",
                &t.task.container_instance_arn,
            );
            put_opt_s(&mut item, "group", &t.task.group);
            put_opt_s(&mut item, "started_by", &t.task.started_by);
            put_opt_s(&mut item, "last_status", &t.task.last_status);
            put_opt_s(&mut item, "desired_status", &t.task.desired_status);
            put_opt_n(&mut item, "cpu", t.task.cpu);
            put_opt_n(&mut item, "memory", t.task.memory);
            put_opt_s(&mut item, "launch_type", &t.task.launch_type);
            put_opt_n(&mut item, schema::VERSION_ATTRIBUTE, t.task.version);
            put_opt_s(&mut item, "updated_at", &t.updated_at);
            if t.tombstone {
                item.insert("tombstone".into(), AttributeValue::Bool(true));
            }
            put_opt_n(&mut item, schema::TTL_ATTRIBUTE, t.expires_at);
        }
    }
    item
}

/// The registry item of a cluster entry.
pub(super) fn cluster_item(entry: &ClusterEntry) -> Item {
    let mut item = Item::new();
    item.insert(schema::PARTITION_KEY.into(), s(REGISTRY_PARTITION));
    item.insert(
        schema::SORT_KEY.into(),
        s(&format!("{CLUSTER_PREFIX}{}", entry.name)),
    );
    item.insert("kind".into(), s("cluster"));
    item.insert("name".into(), s(&entry.name));
    put_opt_s(&mut item, "cluster_arn", &entry.cluster_arn);
    item.insert(
        "status".into(),
        s(match entry.status {
            ClusterStatus::Active => "ACTIVE",
            ClusterStatus::Gone => "GONE",
        }),
    );
    put_opt_s(&mut item, "reason", &entry.reason);
    item.insert("since".into(), n(entry.since));
    for (name, v) in [
        ("retired_hosts", entry.retired_hosts),
        ("retired_tasks", entry.retired_tasks),
    ] {
        item.insert(name.into(), n(i64::try_from(v).unwrap_or(i64::MAX)));
    }
    put_opt_n(&mut item, schema::TTL_ATTRIBUTE, entry.expires_at);
    item
}

/// The cluster entry of a registry item.
pub(super) fn cluster_entry_from(item: &Item) -> Result<ClusterEntry, StoreError> {
    let sk = get_s(item, schema::SORT_KEY).unwrap_or_default();
    let corrupt = |message: &str| StoreError::Corrupt {
        key: format!("{REGISTRY_PARTITION} {sk}"),
        message: message.to_string(),
    };
    let name = sk
        .strip_prefix(CLUSTER_PREFIX)
        .ok_or_else(|| corrupt("sort key is not cluster#NAME"))?
        .to_string();
    let status = match get_s(item, "status").as_deref() {
        Some("ACTIVE") => ClusterStatus::Active,
        Some("GONE") => ClusterStatus::Gone,
        other => return Err(corrupt(&format!("status {other:?}"))),
    };
    let count = |name: &str| {
        get_n(item, name)
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0)
    };
    Ok(ClusterEntry {
        name,
        cluster_arn: get_s(item, "cluster_arn"),
        status,
        reason: get_s(item, "reason"),
        since: get_n(item, "since").unwrap_or(0),
        retired_hosts: count("retired_hosts"),
        retired_tasks: count("retired_tasks"),
        expires_at: get_n(item, schema::TTL_ATTRIBUTE),
    })
}

pub(super) fn as_i64(v: &AttributeValue) -> Option<i64> {
    v.as_n().ok().and_then(|x| x.parse().ok())
}

fn get_s(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(as_i64)
}

fn get_bool(item: &Item, name: &str) -> bool {
    item.get(name)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(false)
}

fn get_list(item: &Item, name: &str) -> Vec<String> {
    item.get(name)
        .and_then(|v| v.as_l().ok())
        .map(|l| l.iter().filter_map(|x| x.as_s().ok().cloned()).collect())
        .unwrap_or_default()
}

fn record_from(item: &Item) -> Result<Record, StoreError> {
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
        ci.attributes = match get_s(item, COMPACT_ATTRIBUTES) {
            Some(compact) => decode_attributes(&compact),
            None => {
                let attrs: BTreeMap<String, Option<String>> = item
                    .get(LEGACY_ATTRIBUTES)
                    .and_then(|v| v.as_m().ok())
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_s().ok().cloned()))
                            .collect()
                    })
                    .unwrap_or_default();
                attrs
                    .into_iter()
                    .map(|(name, value)| Attribute { name, value })
                    .collect()
            }
        };
        let res = |prefix: &str| Resources {
            cpu: get_n(item, &format!("{prefix}_cpu")),
            memory: get_n(item, &format!("{prefix}_memory")),
            ports: get_list(item, &format!("{prefix}_ports")),
            ports_udp: get_list(item, &format!("{prefix}_ports_udp")),
            gpus: get_n(item, &format!("{prefix}_gpus")),
        };
        ci.capacity_provider_name = get_s(item, "capacity_provider_name");
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
            tombstone: get_bool(item, "tombstone"),
            expires_at: get_n(item, schema::TTL_ATTRIBUTE),
        }))
    } else if let Some(arn) = sk.strip_prefix(TASK_PREFIX) {
        Ok(Record::Task(TaskRecord {
            cluster_arn,
            task: Task {
                arn: arn.to_string(),
                cluster_arn: None,
                container_instance_arn: get_s(item, "container_instance_arn"),
                group: get_s(item, "group"),
                started_by: get_s(item, "started_by"),
                last_status: get_s(item, "last_status"),
                desired_status: get_s(item, "desired_status"),
                cpu: get_n(item, "cpu"),
                memory: get_n(item, "memory"),
                launch_type: get_s(item, "launch_type"),
                version: get_n(item, schema::VERSION_ATTRIBUTE),
            },
            updated_at: get_s(item, "updated_at"),
            tombstone: get_bool(item, "tombstone"),
            expires_at: get_n(item, schema::TTL_ATTRIBUTE),
        }))
    } else {
        Err(corrupt("sort key is neither instance# nor task#"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The attributes an update REMOVEs (their `#r…` name placeholders).
    fn removed_names(u: &UpdateParts) -> Vec<&String> {
        u.names
            .iter()
            .filter(|(k, _)| k.starts_with("#r"))
            .map(|(_, v)| v)
            .collect()
    }
    use autopilot_core::capacity::instance_to_record;

    const CLUSTER: &str = "arn:aws:ecs:us-east-1:1:cluster/prod";

    fn full_instance() -> Record {
        let mut ci = ContainerInstance::new(
            "arn:aws:ecs:us-east-1:1:container-instance/prod/a",
            InstanceStatus::Inactive,
        );
        ci.ec2_instance_id = Some("i-1".into());
        ci.agent_connected = Some(true);
        ci.agent_version = Some("1.80.0".into());
        ci.attributes = vec![Attribute {
            name: "ecs.instance-type".into(),
            value: Some("t3.large".into()),
        }];
        ci.registered = Resources {
            cpu: Some(2048),
            memory: Some(7680),
            ports: vec!["22".into()],
            ports_udp: vec![],
            gpus: Some(1),
        };
        ci.remaining = ci.registered.clone();
        ci.capacity_provider_name = Some("cp-spot".into());
        ci.running_tasks_count = Some(1);
        ci.pending_tasks_count = Some(0);
        ci.version = Some(7);
        ci.registered_at = Some(1_700_000_000);
        let mut r = instance_to_record(CLUSTER, ci, Some("2026-01-01T00:00:00Z".into()), 1);
        if let Record::Instance(i) = &mut r {
            assert!(i.tombstone && i.expires_at.is_some());
        }
        r
    }

    fn full_task() -> Record {
        Record::Task(TaskRecord {
            cluster_arn: CLUSTER.into(),
            task: Task {
                arn: "arn:aws:ecs:us-east-1:1:task/prod/t".into(),
                cluster_arn: None,
                container_instance_arn: Some(
                    "arn:aws:ecs:us-east-1:1:container-instance/prod/a".into(),
                ),
                group: Some("service:web".into()),
                started_by: Some("ecs-svc/1".into()),
                last_status: Some("RUNNING".into()),
                desired_status: Some("RUNNING".into()),
                cpu: Some(256),
                memory: Some(512),
                launch_type: Some("EC2".into()),
                version: Some(3),
            },
            updated_at: Some("2026-01-01T00:00:00Z".into()),
            tombstone: true,
            expires_at: Some(5),
        })
    }

    fn names(item: &Item) -> Vec<String> {
        let mut v: Vec<String> = item
            .keys()
            .filter(|k| *k != schema::PARTITION_KEY && *k != schema::SORT_KEY)
            .cloned()
            .collect();
        v.sort();
        v
    }

    fn sorted(list: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    /// The live host: every attribute but the legacy map.
    fn live_instance() -> Record {
        let mut r = full_instance();
        if let Record::Instance(i) = &mut r {
            i.instance.status = InstanceStatus::Active;
            i.instance.ec2_instance_id = Some("i-1".into());
            i.instance.agent_connected = Some(true);
            i.instance.agent_version = Some("1.80.0".into());
            i.instance.attributes = vec![Attribute {
                name: "ecs.instance-type".into(),
                value: Some("t3.large".into()),
            }];
            i.instance.registered = Resources {
                cpu: Some(2048),
                memory: Some(7680),
                ports: vec!["22".into()],
                ports_udp: vec![],
                gpus: Some(1),
            };
            i.instance.remaining = i.instance.registered.clone();
            i.instance.capacity_provider_name = Some("cp-spot".into());
            i.instance.running_tasks_count = Some(1);
            i.instance.pending_tasks_count = Some(0);
            i.instance.registered_at = Some(1_700_000_000);
            i.updated_at = Some("2026-01-01T00:00:00Z".into());
            i.tombstone = false;
            i.expires_at = None;
        }
        r
    }

    #[test]
    fn the_attribute_lists_name_every_attribute_an_item_can_have() {
        let host: Vec<&str> = INSTANCE_ATTRIBUTES
            .iter()
            .copied()
            .filter(|a| *a != LEGACY_ATTRIBUTES && *a != "tombstone" && *a != "expires_at")
            .collect();
        assert_eq!(names(&to_item(&live_instance())), sorted(&host));
        let mut live_task = full_task();
        if let Record::Task(t) = &mut live_task {
            t.tombstone = false;
        }
        let task: Vec<&str> = TASK_ATTRIBUTES
            .iter()
            .copied()
            .filter(|a| *a != "tombstone")
            .collect();
        assert_eq!(names(&to_item(&live_task)), sorted(&task));
        // An attribute the compact form cannot hold: the map.
        let mut odd = live_instance();
        if let Record::Instance(i) = &mut odd {
            i.instance.attributes.insert(
                0,
                Attribute {
                    name: "a=b".into(),
                    value: None,
                },
            );
        }
        let item = to_item(&odd);
        assert!(item.contains_key(LEGACY_ATTRIBUTES) && !item.contains_key(COMPACT_ATTRIBUTES));
        assert_eq!(from_item(&item).expect("readable"), odd);
    }

    #[test]
    fn a_tombstone_item_is_its_fence_and_leaves_the_live_index() {
        // full_instance and full_task are tombstones: only the fence is stored.
        for r in [full_instance(), full_task()] {
            let item = to_item(&r);
            for name in names(&item) {
                assert!(
                    FENCE_ATTRIBUTES.contains(&name.as_str()),
                    "{name} in {item:?}"
                );
            }
            assert!(!item.contains_key(schema::LIVE_SORT_KEY));
            let u = update_parts(&r);
            let removed = removed_names(&u);
            assert!(removed.iter().any(|n| *n == schema::LIVE_SORT_KEY));
            if matches!(r, Record::Instance(_)) {
                assert!(
                    removed.iter().any(|n| *n == "registered_at"),
                    "a tombstone keeps no registration time"
                );
            }
        }
        assert_eq!(
            to_item(&live_instance())
                .get(schema::LIVE_SORT_KEY)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str),
            Some("instance#arn:aws:ecs:us-east-1:1:container-instance/prod/a")
        );
    }

    /// An item's size by DynamoDB's rules ("DynamoDB item sizes and formats": names and string
    /// values in UTF-8 bytes, numbers ~1 byte per two significant digits + 1, Boolean and NULL 1,
    /// a List or Map 3 bytes + 1 per element + the elements, a Map element's name too).
    fn item_size(item: &Item) -> usize {
        fn value(v: &AttributeValue) -> usize {
            match v {
                AttributeValue::S(s) => s.len(),
                AttributeValue::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
                AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
                AttributeValue::L(l) => 3 + l.iter().map(|x| 1 + value(x)).sum::<usize>(),
                AttributeValue::M(m) => {
                    3 + m.iter().map(|(k, x)| 1 + k.len() + value(x)).sum::<usize>()
                }
                _ => 0,
            }
        }
        item.iter().map(|(k, v)| k.len() + value(v)).sum()
    }

    /// The attributes a real ECS agent registers (as scripts/scale.py gives its hosts).
    fn agent_attributes() -> Vec<Attribute> {
        let none = |name: String| Attribute { name, value: None };
        let mut v: Vec<Attribute> = (17..45)
            .map(|n| {
                none(format!(
                    "com.amazonaws.ecs.capability.docker-remote-api.1.{n}"
                ))
            })
            .collect();
        for d in [
            "awslogs",
            "fluentd",
            "gelf",
            "json-file",
            "journald",
            "none",
            "splunk",
            "syslog",
        ] {
            v.push(none(format!(
                "com.amazonaws.ecs.capability.logging-driver.{d}"
            )));
        }
        for c in [
            "com.amazonaws.ecs.capability.ecr-auth",
            "com.amazonaws.ecs.capability.task-iam-role",
            "com.amazonaws.ecs.capability.task-iam-role-network-host",
            "com.amazonaws.ecs.capability.privileged-container",
            "ecs.capability.execution-role-awslogs",
            "ecs.capability.execution-role-ecr-pull",
            "ecs.capability.task-eni",
            "ecs.capability.container-health-check",
            "ecs.capability.secrets.asm.environment-variables",
            "ecs.capability.efsAuth",
        ] {
            v.push(none(c.into()));
        }
        for (n, val) in [
            ("ecs.vpc-id", "vpc-0a1b2c3d4e5f67890"),
            ("ecs.subnet-id", "subnet-0123456789abcdef0"),
            ("ecs.cpu-architecture", "x86_64"),
            ("ecs.os-family", "LINUX"),
            ("ecs.instance-type", "t3.large"),
            ("ecs.availability-zone", "us-east-1a"),
            ("ecs.ami-id", "ami-0123456789abcdef0"),
            ("ecs.os-type", "linux"),
        ] {
            v.push(Attribute {
                name: n.into(),
                value: Some(val.into()),
            });
        }
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The sizes docs/capacity.md quotes (issue 22: "say the before/after item size").
    #[test]
    fn a_real_agents_host_item_is_less_than_half_its_map_form() {
        let mut host = live_instance();
        if let Record::Instance(i) = &mut host {
            i.instance.attributes = agent_attributes();
        }
        let compact = to_item(&host);
        let mut legacy = compact.clone();
        legacy.remove(COMPACT_ATTRIBUTES);
        legacy.remove(schema::LIVE_SORT_KEY);
        if let Record::Instance(i) = &host {
            legacy.insert(
                LEGACY_ATTRIBUTES.into(),
                AttributeValue::M(
                    i.instance
                        .attributes
                        .iter()
                        .map(|a| {
                            let v = a.value.as_deref().map_or(AttributeValue::Null(true), s);
                            (a.name.clone(), v)
                        })
                        .collect(),
                ),
            );
        }
        assert_eq!(from_item(&compact).expect("readable"), host);
        assert_eq!(from_item(&legacy).expect("old items read"), host);
        let (before, after) = (item_size(&legacy), item_size(&compact));
        assert_eq!((before, after), (3_111, 1_331), "before / after, bytes");
        let mut dead = host.clone();
        if let Record::Instance(i) = &mut dead {
            i.tombstone = true;
            i.instance.status = InstanceStatus::Inactive;
            i.expires_at = Some(1_800_000_000);
        }
        let fence = to_item(&autopilot_core::capacity::fence_of(&dead));
        assert_eq!(
            item_size(&fence),
            226,
            "a host tombstone, bytes (was {before})"
        );
    }

    #[test]
    fn attributes_round_trip_through_the_compact_form() {
        let attrs = agent_attributes();
        let encoded = encode_attributes(&attrs).expect("encodable");
        assert!(encoded.starts_with("~d1.17\n"), "{encoded}");
        assert_eq!(decode_attributes(&encoded), attrs);
        assert_eq!(
            decode_attributes(&encode_attributes(&[]).expect("empty")),
            vec![]
        );
        let odd = |name: &str, value: Option<&str>| {
            encode_attributes(&[Attribute {
                name: name.into(),
                value: value.map(str::to_string),
            }])
        };
        assert_eq!(odd("x", Some("a=b")).as_deref(), Some("x=a=b"));
        assert_eq!(
            decode_attributes("x=a=b")[0].value.as_deref(),
            Some("a=b"),
            "the first = splits"
        );
        assert_eq!(odd("x", Some("")).as_deref(), Some("x="));
        for (name, value) in [
            ("a=b", None),
            ("~x", None),
            ("a\nb", None),
            ("x", Some("1\n2")),
            ("", None),
        ] {
            assert_eq!(odd(name, value), None, "{name:?} {value:?}: kept as a map");
        }
    }

    #[test]
    fn items_round_trip() {
        let mut live_task = full_task();
        if let Record::Task(t) = &mut live_task {
            t.tombstone = false;
            t.expires_at = None;
        }
        // Tombstones come back as their fence.
        let cases = [
            (live_instance(), live_instance()),
            (live_task.clone(), live_task),
            (full_instance(), fence_of(&full_instance())),
            (full_task(), fence_of(&full_task())),
        ];
        for (r, want) in cases {
            assert_eq!(from_item(&to_item(&r)).expect("readable"), want);
            assert_eq!(
                Record::try_from(RecordItem::from(&r)).expect("readable"),
                want
            );
        }
    }

    #[test]
    fn cluster_entries_round_trip_and_name_every_attribute() {
        let gone = ClusterEntry {
            name: "prod".into(),
            cluster_arn: Some(CLUSTER.into()),
            status: ClusterStatus::Gone,
            reason: Some("INACTIVE".into()),
            since: 1_800_000_000,
            retired_hosts: 3,
            retired_tasks: 7,
            expires_at: Some(1_800_259_200),
        };
        let item = cluster_item(&gone);
        assert_eq!(names(&item), sorted(CLUSTER_ATTRIBUTES));
        assert_eq!(cluster_entry_from(&item).expect("readable"), gone);
        let active = ClusterEntry::active("prod", None, 5);
        assert_eq!(
            cluster_entry_from(&cluster_item(&active)).expect("readable"),
            active
        );
    }

    #[test]
    fn an_update_removes_absent_fields_but_keeps_registered_at() {
        // What an event gives: no EC2 id, no registration time.
        let ci = ContainerInstance::new(
            "arn:aws:ecs:us-east-1:1:container-instance/prod/a",
            InstanceStatus::Active,
        );
        let u = update_parts(&instance_to_record(CLUSTER, ci, None, 1));
        let removed = removed_names(&u);
        assert!(
            removed.iter().any(|n| *n == "ec2_instance_id"),
            "{removed:?}"
        );
        assert!(removed.iter().any(|n| *n == "tombstone"), "{removed:?}");
        assert!(
            !removed.iter().any(|n| *n == "registered_at"),
            "registered_at is never removed: {removed:?}"
        );
        assert!(u.expression.starts_with("SET ") && u.expression.contains(" REMOVE "));
        // Every placeholder used is defined, and vice versa.
        for k in u.names.keys().chain(u.values.keys()) {
            assert!(
                u.expression.contains(k.as_str()),
                "{k} unused in {}",
                u.expression
            );
        }
    }
}
