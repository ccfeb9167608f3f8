//! `capacity show`'s picture: per host a line naming it (type, zone, tasks, the ports ECS
//! reports reserved, and DRAINING / DISCONNECTED marks), a CPU bar and a memory bar (used of
//! registered), then the totals and the cluster's largest free slot. Every line fits the width;
//! colour only when the style allows, plain ASCII bars (`#` used, `.` free) otherwise.

use std::fmt::Write as _;

use autopilot_core::capacity::{ClusterCapacity, HostCapacity, Record};

use crate::output::{end_truncate, middle_truncate, width_of, Style, MIN_WIDTH};

const GREEN: &str = "32";
const YELLOW: &str = "33";
const RED: &str = "31";
const DIM: &str = "2";
const BOLD: &str = "1";

/// The ports ECS reserves on every host by default (SSH, the Docker daemon, the container
/// agent's introspection and proxy ports): not worth a column, so not listed.
const AGENT_PORTS: [&str; 6] = ["22", "2375", "2376", "51678", "51679", "51680"];

/// The ports in use on a host besides [`AGENT_PORTS`]: ECS reports the reserved ports in its
/// `remainingResources` PORTS and PORTS_UDP (the ports taken, despite the name); every other
/// port is free.
fn reserved_ports(records: &[Record], arn: &str) -> Vec<String> {
    records
        .iter()
        .find_map(|r| match r {
            Record::Instance(i) if i.instance.arn == arn => Some(
                i.instance
                    .remaining
                    .ports
                    .iter()
                    .filter(|p| !AGENT_PORTS.contains(&p.as_str()))
                    .cloned()
                    .chain(
                        i.instance
                            .remaining
                            .ports_udp
                            .iter()
                            .map(|p| format!("{p}/udp")),
                    )
                    .collect(),
            ),
            _ => None,
        })
        .unwrap_or_default()
}

/// How a host is marked: `None` for a schedulable one.
fn mark(h: &HostCapacity) -> Option<(String, &'static str)> {
    match (h.status.as_str(), h.agent_connected) {
        ("ACTIVE", Some(true)) => None,
        ("ACTIVE", _) => Some(("DISCONNECTED".into(), RED)),
        ("DRAINING", _) => Some(("DRAINING".into(), YELLOW)),
        (other, _) => Some((other.to_string(), RED)),
    }
}

/// Used and registered of one resource, when the host reports both.
fn used(registered: Option<i64>, remaining: Option<i64>) -> Option<(i64, i64)> {
    let reg = registered?;
    Some(((reg - remaining.unwrap_or(0)).clamp(0, reg.max(0)), reg))
}

fn percent(used: i64, reg: i64) -> i64 {
    if reg <= 0 {
        0
    } else {
        (used * 100 + reg / 2) / reg
    }
}

/// One bar of `width` cells, `used` of `reg` filled.
fn bar(style: &Style, used: i64, reg: i64, width: usize, schedulable: bool) -> String {
    let filled = if reg <= 0 {
        0
    } else {
        ((used as f64 / reg as f64) * width as f64).round() as usize
    }
    .min(width);
    let (full, empty) = if style.color {
        ('█', '░')
    } else {
        ('#', '.')
    };
    let a: String = std::iter::repeat_n(full, filled).collect();
    let b: String = std::iter::repeat_n(empty, width - filled).collect();
    let pct = percent(used, reg);
    let colour = match (schedulable, pct) {
        (false, _) => DIM,
        (_, 0..=69) => GREEN,
        (_, 70..=89) => YELLOW,
        _ => RED,
    };
    format!("{}{}", style.paint(&a, colour), style.paint(&b, DIM))
}

/// The picture (see the module docs).
pub fn capacity_picture(cap: &ClusterCapacity, records: &[Record], style: &Style) -> String {
    let width = style.width.max(MIN_WIDTH);
    let t = &cap.totals;
    let mut s = String::new();
    for line in wrap(
        &format!(
            "cluster {}: {} host(s), {} schedulable, {} running task(s)",
            cap.cluster, t.hosts, t.schedulable_hosts, t.running_tasks
        ),
        width,
    ) {
        let _ = writeln!(s, "{}", style.paint(&line, BOLD));
    }
    // The numbers column: as wide as the widest `used/registered unit`.
    let numbers = |u: Option<(i64, i64)>, unit: &str| match u {
        Some((used, reg)) => format!("{used}/{reg} {unit}"),
        None => "not reported".to_string(),
    };
    let number_width = cap
        .hosts
        .iter()
        .flat_map(|h| {
            [
                numbers(used(h.registered_cpu, h.remaining_cpu), "CPU"),
                numbers(used(h.registered_memory, h.remaining_memory), "MiB"),
            ]
        })
        .map(|n| width_of(&n))
        .max()
        .unwrap_or(0);
    // "  CPU " + bar + "  " + numbers + "  " + "100%"
    let bar_width = width
        .saturating_sub(6 + 2 + number_width + 2 + 4)
        .clamp(10, 60);
    for h in &cap.hosts {
        // The host line: its name and mark always (cut in the middle if need be), then what
        // fits of tasks, type, zone and reserved ports, in that order.
        let marked = mark(h);
        let mark_width = marked.as_ref().map_or(0, |(m, _)| width_of(m) + 2);
        let name = middle_truncate(
            h.ec2_instance_id
                .as_deref()
                .unwrap_or(&h.container_instance_arn),
            width.saturating_sub(mark_width),
        );
        let mut head = match &marked {
            Some((m, colour)) => format!("{name}  {}", style.paint(m, colour)),
            None => name.clone(),
        };
        let mut used_width = width_of(&name) + mark_width;
        let ports = reserved_ports(records, &h.container_instance_arn);
        for part in [
            Some(format!(
                "{} task(s)",
                h.running_tasks.map_or("-".into(), |n| n.to_string())
            )),
            h.instance_type.clone(),
            h.availability_zone.clone(),
            (!ports.is_empty()).then(|| format!("ports used {}", ports.join(","))),
        ]
        .into_iter()
        .flatten()
        {
            let room = width.saturating_sub(used_width + 2);
            let part = if part.starts_with("ports used") && room >= 20 {
                end_truncate(&part, room)
            } else {
                part
            };
            if width_of(&part) <= room {
                used_width += 2 + width_of(&part);
                head = format!("{head}  {part}");
            }
        }
        let _ = writeln!(s, "{head}");
        let schedulable = marked.is_none();
        for (label, u, unit) in [
            ("CPU", used(h.registered_cpu, h.remaining_cpu), "CPU"),
            ("MEM", used(h.registered_memory, h.remaining_memory), "MiB"),
        ] {
            match u {
                Some((used, reg)) => {
                    let _ = writeln!(
                        s,
                        "  {label} {}  {:>nw$}  {:>3}%",
                        bar(style, used, reg, bar_width, schedulable),
                        numbers(u, unit),
                        percent(used, reg),
                        nw = number_width
                    );
                }
                None => {
                    let _ = writeln!(s, "  {label} not reported");
                }
            }
        }
    }
    for line in wrap(
        &format!(
            "free on schedulable hosts: CPU {} of {} units, memory {} of {} MiB",
            t.remaining_cpu, t.registered_cpu, t.remaining_memory, t.registered_memory
        ),
        width,
    )
    .into_iter()
    .chain(wrap(&largest_free_slot(cap), width))
    {
        let _ = writeln!(s, "{line}");
    }
    s
}

/// `text` in lines of at most `width` characters, broken at spaces (continuation lines
/// indented by two); a word longer than a line is cut in the middle.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && width_of(&line) + 1 + width_of(word) > width {
            lines.push(std::mem::take(&mut line));
        }
        if line.is_empty() {
            let indent = if lines.is_empty() { 0 } else { 2 };
            line = format!(
                "{}{}",
                " ".repeat(indent),
                middle_truncate(word, width.saturating_sub(indent))
            );
        } else {
            line.push(' ');
            line.push_str(word);
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The most one task can get now: the schedulable host with the most free memory (then CPU).
pub fn largest_free_slot(cap: &ClusterCapacity) -> String {
    let best = cap
        .hosts
        .iter()
        .filter(|h| mark(h).is_none())
        .max_by_key(|h| {
            (
                h.remaining_memory.unwrap_or(0),
                h.remaining_cpu.unwrap_or(0),
            )
        });
    match best {
        Some(h) => format!(
            "largest free slot: {} CPU units and {} MiB on {}",
            h.remaining_cpu.unwrap_or(0),
            h.remaining_memory.unwrap_or(0),
            h.ec2_instance_id
                .as_deref()
                .unwrap_or(&h.container_instance_arn)
        ),
        None => "largest free slot: none (no ACTIVE host with a connected agent)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Format;
    use autopilot_core::capacity::cluster_capacity;

    fn style(width: usize, color: bool) -> Style {
        Style {
            format: Format::Table,
            color,
            width,
            now: 0,
        }
    }

    /// The fixture's four hosts (h2 DRAINING, h3 disconnected) at 80 and at 40 columns: every
    /// line fits, each host has both bars, the marks and the largest slot are there.
    #[test]
    fn the_picture_fits_and_marks_hosts() {
        let mut records = crate::commands::test_support::records();
        for r in records.iter_mut() {
            if let Record::Instance(i) = r {
                i.instance.registered.cpu = Some(2048);
                i.instance.registered.memory = Some(3900);
                i.instance.remaining.ports = vec!["22".into(), "2375".into(), "8080".into()];
            }
        }
        let cap = cluster_capacity("prod", &records);
        for width in [80, 40, 200] {
            let out = capacity_picture(&cap, &records, &style(width, false));
            assert!(
                out.lines().all(|l| width_of(l) <= width.max(MIN_WIDTH)),
                "{width}:\n{out}"
            );
            assert_eq!(out.matches("  CPU ").count(), 4, "{out}");
            assert_eq!(out.matches("  MEM ").count(), 4, "{out}");
            assert!(
                out.contains("DRAINING") && out.contains("DISCONNECTED"),
                "{out}"
            );
            assert!(out.contains("largest free slot: "), "{out}");
            assert!(!out.contains('\x1b'), "no colour when it is off");
        }
        let wide = capacity_picture(&cap, &records, &style(80, false));
        assert!(
            wide.contains("ports used 8080\n") && !wide.contains("2375"),
            "the agent's ports are not listed: {wide}"
        );
        let coloured = capacity_picture(&cap, &records, &style(80, true));
        assert!(coloured.contains("\x1b[") && coloured.contains('█'));
    }
}
