//! Everything the commands print: the text tables, the JSON documents and the one-line messages.
//! The commands decide; this module only formats.

use std::fmt::Write as _;

use autopilot_core::capacity::{ClusterCapacity, ClusterEntry, QueryHost, Record};
use autopilot_core::clock::format_unix;
use autopilot_core::daemon::ClusterReport;
use autopilot_core::model::InstanceStatus;
use ecs_cluster_query::placement::{Placement, TaskRequest};
use serde::Serialize;

use crate::output::{fitted_table, time_with_age, Style};

/// Why a gone cluster is gone, from its registry entry: `ECS reports it INACTIVE; the sweep
/// turned its 3 host(s) and 7 task(s) into tombstones at 2026-11-22T06:10:00Z`.
pub fn gone_detail(entry: &ClusterEntry) -> String {
    let why = match entry.reason.as_deref() {
        Some("MISSING") => "ECS does not know it (DescribeClusters: MISSING)".to_string(),
        Some(status) => format!("ECS reports it {status}"),
        None => "ECS no longer has it".to_string(),
    };
    format!(
        "{why}; the sweep turned its {} host(s) and {} task(s) into tombstones at {}",
        entry.retired_hosts,
        entry.retired_tasks,
        format_unix(entry.since)
    )
}

/// `capacity create-table`'s confirmation.
pub fn table_created(out: &mut String, table: &str) {
    let _ = writeln!(out, "created capacity table {table}");
}

/// `capacity show`: the picture (table output), one row per host and the totals (text), or
/// the same as JSON (unchanged fields).
pub fn capacity(out: &mut String, cap: &ClusterCapacity, records: &[Record], style: &Style) {
    if style.json() {
        push_json(out, cap);
    } else if style.table() {
        out.push_str(&crate::render_picture::capacity_picture(
            cap, records, style,
        ));
    } else {
        out.push_str(&render_capacity(cap));
    }
}

/// `capacity can-place`: the answer and the host of each placed task.
pub fn placement(
    out: &mut String,
    p: &Placement,
    count: usize,
    req: &TaskRequest,
    records: &[Record],
    style: &Style,
) {
    if style.json() {
        push_json(out, &CanPlaceJson::new(p, count, records));
    } else if style.table() {
        let mut text = render_placement(p, count, req, records);
        // The answer line, then the placed tasks as a table that fits.
        let first = text.lines().next().unwrap_or("").to_string();
        text = first;
        text.push('\n');
        if !p.placed.is_empty() {
            let rows = p
                .placed
                .iter()
                .enumerate()
                .map(|(i, arn)| {
                    vec![
                        (i + 1).to_string(),
                        ec2_id(records, arn).unwrap_or_else(|| "-".into()),
                        arn.clone(),
                    ]
                })
                .collect();
            text.push_str(&fitted_table(
                style,
                &["TASK", "HOST", "CONTAINER INSTANCE"],
                rows,
                &[2],
            ));
        }
        out.push_str(&text);
    } else {
        out.push_str(&render_placement(p, count, req, records));
    }
}

/// `capacity filter`: the matching hosts.
pub fn filter(
    out: &mut String,
    expression: &str,
    all_statuses: bool,
    matching: &[QueryHost<'_>],
    style: &Style,
) {
    if style.json() {
        #[derive(Serialize)]
        struct FilterJson<'a> {
            expression: &'a str,
            /// `schedulable` (default) or `all`.
            hosts: &'a str,
            instances: Vec<&'a str>,
            ec2_instance_ids: Vec<Option<&'a str>>,
        }
        push_json(
            out,
            &FilterJson {
                expression,
                hosts: if all_statuses { "all" } else { "schedulable" },
                instances: matching
                    .iter()
                    .map(|q| q.record.instance.arn.as_str())
                    .collect(),
                ec2_instance_ids: matching
                    .iter()
                    .map(|q| q.record.instance.ec2_instance_id.as_deref())
                    .collect(),
            },
        );
    } else {
        let status = |q: &QueryHost<'_>| {
            let ci = &q.record.instance;
            if ci.status == InstanceStatus::Active && ci.agent_connected != Some(true) {
                "ACTIVE (agent disconnected)".to_string()
            } else {
                ci.status.to_string()
            }
        };
        let _ = writeln!(
            out,
            "{}{} host(s) match {expression}",
            matching.len(),
            if all_statuses { "" } else { " schedulable" }
        );
        if style.table() {
            if !matching.is_empty() {
                let rows = matching
                    .iter()
                    .map(|q| {
                        let ci = &q.record.instance;
                        vec![ci.display_name().to_string(), status(q), ci.arn.clone()]
                    })
                    .collect();
                out.push_str(&fitted_table(
                    style,
                    &["HOST", "STATUS", "CONTAINER INSTANCE"],
                    rows,
                    &[2],
                ));
            }
            return;
        }
        for q in matching {
            let ci = &q.record.instance;
            let _ = writeln!(out, "  {}  {}  {}", ci.display_name(), status(q), ci.arn);
        }
    }
}

/// `daemon reconcile`: the decision for each daemon service.
pub fn daemon_report(out: &mut String, report: &ClusterReport, style: &Style) {
    if style.json() {
        push_json(out, report);
    } else if style.table() {
        let _ = writeln!(out, "cluster {}", report.cluster);
        if report.services.is_empty() {
            out.push_str(
                &render_daemon_report(report)
                    .lines()
                    .skip(1)
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
            out.push('\n');
            return;
        }
        let rows = report
            .services
            .iter()
            .map(|d| {
                let excluded = [
                    ("draining", d.excluded.draining.len()),
                    ("not active", d.excluded.not_active.len()),
                    ("out of scope", d.excluded.out_of_scope.len()),
                    ("missing attribute", d.excluded.missing_attribute.len()),
                    ("constraint", d.excluded.constraint.len()),
                    ("no room", d.excluded.no_room.len()),
                ]
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(why, n)| format!("{n} {why}"))
                .collect::<Vec<_>>()
                .join(", ");
                vec![
                    d.service.clone(),
                    format!("{:?}", d.action).to_lowercase(),
                    format!("{} -> {}", opt(d.previous_desired), opt(d.new_desired)),
                    opt(d.eligible),
                    if excluded.is_empty() {
                        "-".into()
                    } else {
                        excluded
                    },
                    d.reason.clone().unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str(&fitted_table(
            style,
            &[
                "SERVICE",
                "ACTION",
                "DESIRED",
                "ELIGIBLE",
                "EXCLUDED HOSTS",
                "REASON",
            ],
            rows,
            &[0],
        ));
    } else {
        out.push_str(&render_daemon_report(report));
    }
}

#[derive(Debug, Serialize)]
pub struct CanPlaceJson {
    pub fits: bool,
    pub requested: usize,
    pub placed: usize,
    /// Container instance ARN of each placed task, in placement order.
    pub instances: Vec<String>,
    /// EC2 ids of the same hosts.
    pub ec2_instance_ids: Vec<Option<String>>,
    pub reason: Option<String>,
}

impl CanPlaceJson {
    fn new(p: &Placement, count: usize, records: &[Record]) -> Self {
        CanPlaceJson {
            fits: p.unplaced == 0,
            requested: count,
            placed: p.placed.len(),
            instances: p.placed.clone(),
            ec2_instance_ids: p.placed.iter().map(|arn| ec2_id(records, arn)).collect(),
            reason: p.reason.clone(),
        }
    }
}

fn ec2_id(records: &[Record], arn: &str) -> Option<String> {
    records.iter().find_map(|r| match r {
        Record::Instance(i) if i.instance.arn == arn => i.instance.ec2_instance_id.clone(),
        _ => None,
    })
}

fn push_json<T: Serialize>(out: &mut String, value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => {
            out.push_str(&s);
            out.push('\n');
        }
        Err(e) => {
            let _ = writeln!(out, "{{\"error\": \"could not serialise output: {e}\"}}");
        }
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "-".into())
}

pub fn render_capacity(cap: &ClusterCapacity) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "cluster {}: {} host(s)", cap.cluster, cap.hosts.len());
    let _ = writeln!(
        s,
        "{:<21} {:<9} {:<5} {:>13} {:>15} {:>5}  {:<12} AZ",
        "INSTANCE", "STATUS", "AGENT", "CPU free/tot", "MEM MiB free/tot", "TASKS", "TYPE"
    );
    for h in &cap.hosts {
        let _ = writeln!(
            s,
            "{:<21} {:<9} {:<5} {:>13} {:>15} {:>5}  {:<12} {}",
            h.ec2_instance_id.as_deref().unwrap_or("-"),
            h.status,
            match h.agent_connected {
                Some(true) => "up",
                Some(false) => "down",
                None => "-",
            },
            format!("{}/{}", opt(h.remaining_cpu), opt(h.registered_cpu)),
            format!("{}/{}", opt(h.remaining_memory), opt(h.registered_memory)),
            opt(h.running_tasks),
            h.instance_type.as_deref().unwrap_or("-"),
            h.availability_zone.as_deref().unwrap_or("-"),
        );
    }
    let t = &cap.totals;
    let _ = writeln!(
        s,
        "totals: {} host(s), {} schedulable (ACTIVE, agent up); free on schedulable hosts: CPU {} of {}, memory {} of {} MiB; {} running task(s)",
        t.hosts, t.schedulable_hosts, t.remaining_cpu, t.registered_cpu, t.remaining_memory, t.registered_memory, t.running_tasks
    );
    s
}

pub fn render_placement(
    p: &Placement,
    count: usize,
    req: &TaskRequest,
    records: &[Record],
) -> String {
    let mut s = String::new();
    let what = format!("{count} task(s) of {} CPU / {} MiB", req.cpu, req.memory);
    if p.unplaced == 0 {
        let _ = writeln!(s, "fits: {what}");
    } else {
        let _ = writeln!(
            s,
            "does not fit: {what}: {} of {count} placed; {}",
            p.placed.len(),
            p.reason.as_deref().unwrap_or("no host fits")
        );
    }
    for (i, arn) in p.placed.iter().enumerate() {
        let _ = writeln!(
            s,
            "  task {}: {}  {}",
            i + 1,
            ec2_id(records, arn).unwrap_or_else(|| "-".into()),
            arn
        );
    }
    s
}

pub fn render_daemon_report(r: &ClusterReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "cluster {}", r.cluster);
    if r.services.is_empty() {
        let _ = writeln!(
            s,
            "  no daemon services (tag ecs-autopilot:daemon=true or set DAEMON_SERVICES)"
        );
    }
    for d in &r.services {
        let _ = writeln!(
            s,
            "  {:<20} {:<9} {} -> {}  eligible={}{}",
            d.service,
            format!("{:?}", d.action).to_lowercase(),
            opt(d.previous_desired),
            opt(d.new_desired),
            opt(d.eligible),
            d.reason
                .as_deref()
                .map(|r| format!("  ({r})"))
                .unwrap_or_default()
        );
        for (why, hosts) in [
            ("draining", &d.excluded.draining),
            ("not active", &d.excluded.not_active),
            ("out of scope", &d.excluded.out_of_scope),
            ("missing attribute", &d.excluded.missing_attribute),
            ("constraint", &d.excluded.constraint),
            ("no room", &d.excluded.no_room),
        ] {
            if !hosts.is_empty() {
                let _ = writeln!(s, "      excluded ({why}): {}", hosts.join(" "));
            }
        }
    }
    s
}

// --- jobs -------------------------------------------------------------------------------------

/// `jobs submit`: the stored job (JSON), or one line.
pub fn submitted(out: &mut String, result: &autopilot_core::dispatch::SubmitResult, style: &Style) {
    if style.json() {
        push_json(out, result);
        return;
    }
    let j = &result.job;
    let _ = writeln!(
        out,
        "{} job {} ({}, priority {}, cluster {}){}",
        if result.duplicate {
            "existing"
        } else {
            "queued"
        },
        j.job_id,
        j.state,
        j.priority,
        j.spec.cluster,
        if result.duplicate {
            ": a job with this id exists; nothing written"
        } else {
            ""
        }
    );
}

/// `jobs list`: one row per job in queue order (a table that fits, with ages; or tab-separated
/// text with full values and RFC 3339 times), or the jobs as JSON.
pub fn jobs(out: &mut String, jobs: &[&autopilot_core::job::Job], style: &Style) {
    if style.json() {
        push_json(out, &jobs);
        return;
    }
    let task = |j: &autopilot_core::job::Job| {
        j.task_arn
            .as_deref()
            .and_then(|t| t.rsplit('/').next())
            .unwrap_or("-")
            .to_string()
    };
    if style.table() {
        let rows = jobs
            .iter()
            .map(|j| {
                vec![
                    j.job_id.clone(),
                    j.priority.to_string(),
                    j.state.as_str().to_string(),
                    format!("{}/{}", j.attempts, j.max_attempts),
                    crate::output::age(style.now, j.submitted_at),
                    task(j),
                    j.reason.clone().unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str(&fitted_table(
            style,
            &[
                "JOB",
                "PRIORITY",
                "STATE",
                "ATTEMPTS",
                "SUBMITTED",
                "TASK",
                "REASON",
            ],
            rows,
            &[0, 5],
        ));
        return;
    }
    let _ = writeln!(
        out,
        "JOB\tPRIORITY\tSTATE\tATTEMPTS\tSUBMITTED\tTASK\tREASON"
    );
    for j in jobs {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}/{}\t{}\t{}\t{}",
            j.job_id,
            j.priority,
            j.state.as_str(),
            j.attempts,
            j.max_attempts,
            format_unix(j.submitted_at),
            task(j),
            j.reason.as_deref().unwrap_or("")
        );
    }
}

/// `jobs show` / `jobs cancel`: one job with its history.
pub fn job(out: &mut String, j: &autopilot_core::job::Job, style: &Style) {
    if style.json() {
        push_json(out, j);
        return;
    }
    // Times in RFC 3339 (UTC); table output adds how long ago.
    let when = |t: i64| {
        if style.table() {
            time_with_age(style, t)
        } else {
            format_unix(t)
        }
    };
    let _ = writeln!(out, "job {} ({})", j.job_id, j.spec.task_definition);
    let _ = writeln!(out, "  cluster:   {}", j.spec.cluster);
    let _ = writeln!(out, "  state:     {}", j.state);
    let _ = writeln!(out, "  priority:  {}", j.priority);
    let _ = writeln!(out, "  attempts:  {} of {}", j.attempts, j.max_attempts);
    let _ = writeln!(out, "  submitted: {}", when(j.submitted_at));
    let _ = writeln!(out, "  updated:   {}", when(j.updated_at));
    let _ = writeln!(out, "  task:      {}", opt(j.task_arn.as_deref()));
    let _ = writeln!(out, "  reason:    {}", opt(j.reason.as_deref()));
    if !j.exit_codes.is_empty() {
        let _ = writeln!(out, "  exit codes: {}", j.exit_codes.join(", "));
    }
    let _ = writeln!(out, "  history:");
    for t in &j.history {
        let _ = writeln!(
            out,
            "    {} {} → {}: {}",
            when(t.at),
            t.from.map(|f| f.as_str()).unwrap_or("-"),
            t.to,
            t.reason
        );
    }
}

/// When a waiting job is expected to start, or why that is unknown (`jobs explain`).
pub fn expected_start(r: &autopilot_core::dispatch::JobRecord, now: i64) -> Option<String> {
    use autopilot_core::dispatch::JobAction;
    if !matches!(r.action, JobAction::Waiting) {
        return None;
    }
    let host = r.ec2_instance_id.as_deref().unwrap_or("its host");
    Some(match (r.expected_start, r.reserves, r.never_fits) {
        (_, _, true) => "start unknown: no host can hold it".to_string(),
        (Some(t), true, _) if t <= now => format!("starts now on {host} (held for it)"),
        (Some(t), true, _) => format!(
            "starts in ~{} min on {host} (held for it, from the expected ends of what runs there)",
            (t - now + 59) / 60
        ),
        (None, true, _) => format!(
            "start unknown: it holds {host}, where a task without an expected end (not a job's) \
             must end first"
        ),
        _ => "start unknown: it holds no host (it starts when room frees and no job ahead \
              takes it)"
            .to_string(),
    })
}

/// `jobs explain`: the next dispatch, one row per queued job.
pub fn explain(
    out: &mut String,
    records: &[autopilot_core::dispatch::JobRecord],
    now: i64,
    style: &Style,
) {
    if style.json() {
        push_json(out, &records);
        return;
    }
    let mut rows = Vec::new();
    for r in records {
        let next = match r.action {
            autopilot_core::dispatch::JobAction::WouldStart => "start",
            autopilot_core::dispatch::JobAction::Expired => "expire",
            autopilot_core::dispatch::JobAction::Backoff => "backoff",
            _ if r.reserves => "reserve",
            _ => "wait",
        };
        rows.push(vec![
            r.job_id.clone(),
            r.priority.to_string(),
            next.to_string(),
            opt(r.ec2_instance_id.as_deref()),
            match (r.hosts_short, r.never_fits) {
                (_, true) => "never".to_string(),
                (Some(n), _) => n.to_string(),
                (None, _) => "-".to_string(),
            },
            match expected_start(r, now) {
                Some(when) => format!("{}; {when}", r.reason.as_deref().unwrap_or("")),
                None => r.reason.as_deref().unwrap_or("").to_string(),
            },
        ]);
    }
    let headers = ["JOB", "PRIORITY", "NEXT", "HOST", "HOSTS SHORT", "WHY"];
    if style.table() {
        out.push_str(&fitted_table(style, &headers, rows, &[0]));
        return;
    }
    let _ = writeln!(out, "{}", headers.join("\t"));
    for row in rows {
        let _ = writeln!(out, "{}", row.join("\t"));
    }
}

#[cfg(test)]
mod tests {
    use autopilot_core::dispatch::{JobAction, JobRecord};

    use super::expected_start;

    fn waiting(reserves: bool, start: Option<i64>) -> JobRecord {
        JobRecord {
            cluster: "batch".into(),
            job_id: "j".into(),
            priority: 1,
            action: JobAction::Waiting,
            host: None,
            ec2_instance_id: Some("i-0ab".into()),
            task_arn: None,
            reason: None,
            blocked_by: None,
            reserves,
            never_fits: false,
            waited_seconds: 0,
            hosts_short: None,
            queue_depth: 1,
            expected_start: start,
            reservation: None,
        }
    }

    /// `jobs explain`'s expected start (issue 25): when it holds a host with a known start, in
    /// minutes rounded up; otherwise why it is unknown; nothing for a job that starts now.
    #[test]
    fn each_waiting_job_says_when_it_is_expected_to_start_or_why_not() {
        let now = 1_000;
        let says = |r: &JobRecord| expected_start(r, now).unwrap_or_default();
        assert!(says(&waiting(true, Some(now + 200))).starts_with("starts in ~4 min on i-0ab"));
        assert!(says(&waiting(true, Some(now))).starts_with("starts now on i-0ab"));
        assert!(says(&waiting(true, None)).contains("without an expected end"));
        assert!(says(&waiting(false, None)).contains("holds no host"));
        let mut never = waiting(false, None);
        never.never_fits = true;
        assert!(says(&never).contains("no host can hold it"));
        let mut starts = waiting(false, None);
        starts.action = JobAction::WouldStart;
        assert_eq!(expected_start(&starts, now), None);
    }
}
