//! The shape of a job submission: every key it may have, one table that both the strict check
//! ([`check_keys`]) and the published JSON Schema ([`json_schema`], `docs/submission.schema.json`)
//! are made from, so the two cannot drift.
//!
//! | key | what happens |
//! |---|---|
//! | a key of [`SUBMISSION`] (RunTask's own names, or the queue's) | carried: stored with the job, sent to RunTask |
//! | a key of [`REFUSED`] (a RunTask field the dispatcher owns or cannot honour) | refused, with the reason |
//! | any other key (`prority`) | refused, naming its JSON path (`job.prority`) and the nearest known key |
//!
//! Nested objects (`overrides`, `placementConstraints[]`, `tags[]`, ...) are checked the same way.

use serde_json::{json, Map, Value};

/// What a key holds.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    String(&'static str),
    Integer(&'static str),
    Boolean(&'static str),
    /// An object with exactly these keys.
    Object(&'static str, &'static [(&'static str, Shape)]),
    /// A list of objects with exactly these keys.
    ListOf(&'static str, &'static [(&'static str, Shape)]),
    /// A list of strings.
    Strings(&'static str),
}

use Shape::{Boolean, Integer, ListOf, Object, String as Str, Strings};

const KEY_VALUE: &[(&str, Shape)] = &[("name", Str("")), ("value", Str(""))];

const CONTAINER_OVERRIDE: &[(&str, Shape)] = &[
    (
        "name",
        Str("A container of the task definition (checked at submit)."),
    ),
    ("command", Strings("")),
    ("environment", ListOf("", KEY_VALUE)),
    ("cpu", Integer("")),
    ("memory", Integer("")),
    ("memoryReservation", Integer("")),
];

const OVERRIDES: &[(&str, Shape)] = &[
    (
        "containerOverrides",
        ListOf("Per-container overrides.", CONTAINER_OVERRIDE),
    ),
    (
        "cpu",
        Str("Task-level CPU units, replaces the task definition's."),
    ),
    (
        "memory",
        Str("Task-level memory (MiB), replaces the task definition's."),
    ),
    ("taskRoleArn", Str("")),
    ("executionRoleArn", Str("")),
];

const AWSVPC: &[(&str, Shape)] = &[
    ("subnets", Strings("")),
    ("securityGroups", Strings("")),
    ("assignPublicIp", Str("ENABLED or DISABLED.")),
];

/// Every key a submission may have.
pub const SUBMISSION: &[(&str, Shape)] = &[
    (
        "jobId",
        Str("1-52 letters, digits, '-', '_'; the same id twice is one job. Default: derived from the request id (or message id) that a retry keeps."),
    ),
    ("cluster", Str("Required. Cluster name or ARN.")),
    ("taskDefinition", Str("Required. family, family:revision or ARN.")),
    ("priority", Integer("Higher first; default 0.")),
    ("maxWaitSeconds", Integer("Expire the job if it waits longer (from when it last became QUEUED).")),
    ("maxAttempts", Integer("1-10, default 1: runs that fail because of the job.")),
    ("scheduleName", Str("A periodic job's schedule (1-36 letters, digits, '-', '_').")),
    ("scheduledTime", Str("The tick, ISO 8601 UTC (EventBridge Scheduler's <aws.scheduler.scheduled-time>).")),
    ("overlap", Str("skip (default) or allow: a tick while the previous run is not finished.")),
    (
        "schedulePeriodSeconds",
        Integer("60 to 31622400: the schedule's period. When no tick arrived for a period and a grace (a tenth of it, at least 5 minutes), the sweep creates the missed tick's run, once per gap."),
    ),
    ("count", Integer("RunTask's count: only 1 (one task per job).")),
    (
        "expectedSeconds",
        Integer("1 to 1209600: how long one run is expected to take. Orders work (backfill around reservations); never stops a task. Default: learned from the task definition family's finished runs, else 600."),
    ),
    (
        "timeoutSeconds",
        Integer("60 to 1209600: a run still going this long after it started is stopped, and its attempt fails with that reason."),
    ),
    ("overrides", Object("RunTask's TaskOverride.", OVERRIDES)),
    (
        "placementConstraints",
        ListOf(
            "At most 9 (the dispatcher adds the host pin).",
            &[("type", Str("memberOf or distinctInstance.")), ("expression", Str(""))],
        ),
    ),
    (
        "placementStrategy",
        ListOf(
            "At most 5.",
            &[("type", Str("binpack, spread or random.")), ("field", Str(""))],
        ),
    ),
    (
        "capacityProviderStrategy",
        ListOf(
            "",
            &[
                ("capacityProvider", Str("")),
                ("weight", Integer("")),
                ("base", Integer("")),
            ],
        ),
    ),
    ("launchType", Str("EC2 or EXTERNAL.")),
    ("group", Str("The task group (family:NAME by default).")),
    ("tags", ListOf("", &[("key", Str("")), ("value", Str(""))])),
    (
        "networkConfiguration",
        Object(
            "awsvpc tasks.",
            &[("awsvpcConfiguration", Object("", AWSVPC))],
        ),
    ),
    ("enableExecuteCommand", Boolean("")),
    ("propagateTags", Str("TASK_DEFINITION or NONE.")),
    ("enableECSManagedTags", Boolean("")),
    ("referenceId", Str("")),
];

/// RunTask fields a submission may not carry, and why.
pub const REFUSED: &[(&str, &str)] = &[
    (
        "startedBy",
        "the dispatcher sets startedBy (ecs-autopilot/JOB/N) to find the tasks it started",
    ),
    (
        "clientToken",
        "the dispatcher sets clientToken (JOB/N) so that a retried RunTask starts nothing twice",
    ),
    (
        "platformVersion",
        "Fargate only: the dispatcher places tasks on EC2 container instances",
    ),
    (
        "volumeConfigurations",
        "EBS volumes configured at launch are not supported by task-dispatcher",
    ),
];

fn describe(s: &Shape) -> &'static str {
    match s {
        Str(d) | Integer(d) | Boolean(d) | Object(d, _) | ListOf(d, _) | Strings(d) => d,
    }
}

/// Edit distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

fn check_object(
    obj: &Map<String, Value>,
    keys: &[(&str, Shape)],
    path: &str,
    top: bool,
) -> Result<(), String> {
    for (k, v) in obj {
        let here = format!("{path}.{k}");
        if top {
            if let Some((_, why)) = REFUSED.iter().find(|(r, _)| r == k) {
                return Err(format!("`{here}` is not accepted: {why}"));
            }
        }
        let Some((_, shape)) = keys.iter().find(|(name, _)| name == k) else {
            let near = keys
                .iter()
                .map(|(name, _)| {
                    (
                        distance(&k.to_ascii_lowercase(), &name.to_ascii_lowercase()),
                        name,
                    )
                })
                .min()
                .filter(|(d, _)| *d <= 2)
                .map(|(_, name)| format!(" (did you mean `{path}.{name}`?)"))
                .unwrap_or_default();
            return Err(format!("unknown key `{here}`{near}"));
        };
        check_value(v, shape, &here)?;
    }
    Ok(())
}

fn check_value(v: &Value, shape: &Shape, path: &str) -> Result<(), String> {
    match (shape, v) {
        (_, Value::Null) => Ok(()),
        (Object(_, keys), Value::Object(o)) => check_object(o, keys, path, false),
        (ListOf(_, keys), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let here = format!("{path}[{i}]");
                match item {
                    Value::Object(o) => check_object(o, keys, &here, false)?,
                    _ => return Err(format!("`{here}` must be an object")),
                }
            }
            Ok(())
        }
        (Object(..), _) => Err(format!("`{path}` must be an object")),
        (Strings(_), Value::Array(_)) => Ok(()),
        (ListOf(..) | Strings(_), _) => Err(format!("`{path}` must be a list")),
        // Scalars: their types are checked when the submission is read (with the same path).
        (Str(_) | Integer(_) | Boolean(_), _) => Ok(()),
    }
}

/// Refuses a key the submission does not know (naming its path under `root`, e.g.
/// `job.prority`) or a RunTask field the dispatcher does not carry ([`REFUSED`]).
pub fn check_keys(submission: &Value, root: &str) -> Result<(), String> {
    match submission {
        Value::Object(o) => check_object(o, SUBMISSION, root, true),
        // Not an object: reading it says so.
        _ => Ok(()),
    }
}

fn schema_of(shape: &Shape) -> Value {
    let with_description = |mut v: Value| {
        let d = describe(shape);
        if !d.is_empty() {
            v["description"] = json!(d);
        }
        v
    };
    match shape {
        Str(_) => with_description(json!({"type": "string"})),
        Integer(_) => with_description(json!({"type": "integer"})),
        Boolean(_) => with_description(json!({"type": "boolean"})),
        Strings(_) => with_description(json!({"type": "array", "items": {"type": "string"}})),
        Object(_, keys) => with_description(object_schema(keys)),
        ListOf(_, keys) => with_description(json!({"type": "array", "items": object_schema(keys)})),
    }
}

fn object_schema(keys: &[(&str, Shape)]) -> Value {
    let properties: Map<String, Value> = keys
        .iter()
        .map(|(k, s)| (k.to_string(), schema_of(s)))
        .collect();
    json!({"type": "object", "additionalProperties": false, "properties": properties})
}

/// The JSON Schema (draft 2020-12) of a submission's `job`, made from [`SUBMISSION`].
pub fn json_schema() -> Value {
    let mut schema = object_schema(SUBMISSION);
    schema["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    schema["title"] = json!("ecs-autopilot task-dispatcher job submission");
    schema["description"] = json!(
        "The `job` of {\"action\": \"submit\", \"job\": {...}}: a RunTask request in RunTask's own \
         field names plus the queue's. Generated from autopilot_core::submission::SUBMISSION; \
         refused RunTask fields: startedBy, clientToken, platformVersion, volumeConfigurations."
    );
    schema["required"] = json!(["cluster", "taskDefinition"]);
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_refused_keys_name_their_path() {
        let cases = [
            (
                json!({"cluster": "c", "taskDefinition": "t", "prority": 5}),
                Some("`job.prority` (did you mean `job.priority`?)"),
            ),
            (
                json!({"cluster": "c", "taskDefinition": "t", "startedBy": "me"}),
                Some("`job.startedBy` is not accepted"),
            ),
            (
                json!({"cluster": "c", "taskDefinition": "t", "overrides": {"containerOverrides": [{"name": "a", "comand": []}]}}),
                Some("`job.overrides.containerOverrides[0].comand`"),
            ),
            (
                json!({"cluster": "c", "taskDefinition": "t", "tags": [{"key": "a", "value": "b", "x": 1}]}),
                Some("`job.tags[0].x`"),
            ),
            (
                json!({"cluster": "c", "taskDefinition": "t", "overrides": []}),
                Some("`job.overrides` must be an object"),
            ),
            (
                json!({"cluster": "c", "taskDefinition": "t", "priority": 5, "enableExecuteCommand": true,
                    "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["s"]}}}),
                None,
            ),
        ];
        for (v, want) in cases {
            let got = check_keys(&v, "job");
            match want {
                None => assert!(got.is_ok(), "{v}: {got:?}"),
                Some(needle) => {
                    let e = got.expect_err("refused");
                    assert!(e.contains(needle), "{v}: {e}");
                }
            }
        }
    }

    #[test]
    fn the_published_schema_is_the_generated_one() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/submission.schema.json"
        );
        let generated = json_schema();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            let text = serde_json::to_string_pretty(&generated).expect("schema") + "\n";
            std::fs::write(path, text).expect("write docs/submission.schema.json");
        }
        let published: Value = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        assert_eq!(
            published, generated,
            "docs/submission.schema.json is stale: UPDATE_SCHEMA=1 cargo test -p autopilot-core submission"
        );
    }
}
