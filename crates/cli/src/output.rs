//! How the answer is printed: the format (`--output`), whether to colour it and how wide the
//! terminal is, and the small pieces the table renderers share (middle truncation of ARNs,
//! RFC 3339 times, relative ages, width-aware tables).

use std::io::IsTerminal;

use autopilot_core::clock::format_unix;
use clap::ValueEnum;
use comfy_table::{presets, Cell, ContentArrangement, Table};

/// `--output`: like the aws CLI's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// The documented JSON documents (stable: fields are only ever added).
    Json,
    /// Width-aware tables and pictures for people (the default when stdout is a terminal).
    Table,
    /// Plain lines with full values, no colour, no truncation (the default otherwise: pipes,
    /// scripts, files).
    #[default]
    Text,
}

/// The resolved output settings every renderer gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub format: Format,
    /// ANSI colour in table output.
    pub color: bool,
    /// Columns available to a line (table output).
    pub width: usize,
    /// Unix seconds the relative ages are measured from.
    pub now: i64,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            format: Format::Text,
            color: false,
            width: DEFAULT_WIDTH,
            now: 0,
        }
    }
}

/// The width assumed when neither the terminal nor `COLUMNS` says.
pub const DEFAULT_WIDTH: usize = 80;
/// Narrower than this, tables are laid out at this width anyway (and may wrap).
pub const MIN_WIDTH: usize = 40;

impl Style {
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    pub fn table(&self) -> bool {
        self.format == Format::Table
    }

    /// The style for this process: `--output` (else `AWS_DEFAULT_OUTPUT` when it names one of
    /// ours, as the aws CLI reads it; else table on a terminal, text otherwise), colour only on
    /// a terminal without `--no-color` / `NO_COLOR` (no-color.org) and not `TERM=dumb`, width
    /// from the terminal, else `COLUMNS`, else 80.
    pub fn detect(output: Option<Format>, no_color: bool, now: i64) -> Style {
        let stdout_tty = std::io::stdout().is_terminal();
        let format = output
            .or_else(|| {
                std::env::var("AWS_DEFAULT_OUTPUT")
                    .ok()
                    .and_then(|v| Format::from_str(v.trim(), true).ok())
            })
            .unwrap_or(if stdout_tty {
                Format::Table
            } else {
                Format::Text
            });
        let env_no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        let width = terminal_size::terminal_size_of(std::io::stdout())
            .map(|(w, _)| usize::from(w.0))
            .or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok())
            .filter(|w| *w > 0)
            .unwrap_or(DEFAULT_WIDTH);
        Style {
            format,
            color: stdout_tty && !no_color && !env_no_color && !dumb,
            width,
            now,
        }
    }

    /// Wraps `text` in an ANSI SGR colour when colour is on.
    pub fn paint(&self, text: &str, sgr: &str) -> String {
        if self.color && !text.is_empty() {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// Visible width of a plain string (characters; the renderers use no wide characters).
pub fn width_of(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to `max` characters by replacing its middle with `…`: both ends of an ARN say what
/// it is (the service and account at the start, the name at the end).
pub fn middle_truncate(s: &str, max: usize) -> String {
    let len = width_of(s);
    if len <= max {
        return s.to_string();
    }
    if max <= 1 {
        return "…".chars().take(max).collect();
    }
    let keep = max - 1;
    let head = keep / 2;
    let tail = keep - head;
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(len - tail).collect();
    format!("{start}…{end}")
}

/// `s` cut to `max` characters at the end (`…` last).
pub fn end_truncate(s: &str, max: usize) -> String {
    if width_of(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// How long ago `then` was, from `now`: `just now`, `42s ago`, `4m ago`, `3h ago`, `2d ago`
/// (`in 5m` for a time ahead).
pub fn age(now: i64, then: i64) -> String {
    let d = now - then;
    let (n, ahead) = (d.unsigned_abs(), d < 0);
    let amount = match n {
        0..=4 => return "just now".to_string(),
        5..=59 => format!("{n}s"),
        60..=3_599 => format!("{}m", n / 60),
        3_600..=86_399 => format!("{}h", n / 3_600),
        _ => format!("{}d", n / 86_400),
    };
    if ahead {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// A time for table output: RFC 3339 and its age, `2026-11-22T06:00:00Z (4m ago)`.
pub fn time_with_age(style: &Style, secs: i64) -> String {
    format!("{} ({})", format_unix(secs), age(style.now, secs))
}

/// A table that fits `style.width`: the columns in `shrink` (long ARNs and ids) are cut in the
/// middle, widest first, until every line fits; the others keep their content.
pub fn fitted_table(
    style: &Style,
    headers: &[&str],
    mut rows: Vec<Vec<String>>,
    shrink: &[usize],
) -> String {
    let width = style.width.max(MIN_WIDTH);
    let columns = headers.len();
    // comfy-table's NOTHING preset: one space of padding either side of each column.
    let widest = |rows: &[Vec<String>], c: usize| {
        rows.iter()
            .map(|r| r.get(c).map_or(0, |s| width_of(s)))
            .chain(std::iter::once(width_of(headers[c])))
            .max()
            .unwrap_or(0)
    };
    let total = |rows: &[Vec<String>]| (0..columns).map(|c| widest(rows, c) + 2).sum::<usize>();
    while total(&rows) > width {
        let Some(&c) = shrink
            .iter()
            .filter(|&&c| widest(&rows, c) > 12)
            .max_by_key(|&&c| widest(&rows, c))
        else {
            break;
        };
        let over = total(&rows) - width;
        let target = widest(&rows, c).saturating_sub(over).max(12);
        for r in rows.iter_mut() {
            if let Some(cell) = r.get_mut(c) {
                *cell = middle_truncate(cell, target);
            }
        }
    }
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(u16::try_from(width).unwrap_or(u16::MAX))
        .set_header(headers.iter().map(Cell::new));
    for r in rows {
        table.add_row(r);
    }
    let mut s = table
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_are_cut_in_the_middle_and_times_are_utc_with_ages() {
        let arn = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/0123456789abcdef";
        let cut = middle_truncate(arn, 30);
        assert_eq!(width_of(&cut), 30);
        assert!(cut.starts_with("arn:aws:ecs:us") && cut.ends_with("456789abcdef"));
        assert_eq!(middle_truncate("short", 30), "short");
        assert_eq!(format_unix(1_795_327_200), "2026-11-22T06:00:00Z");
        for (d, want) in [
            (0, "just now"),
            (42, "42s ago"),
            (240, "4m ago"),
            (3 * 3600 + 5, "3h ago"),
            (2 * 86_400, "2d ago"),
            (-300, "in 5m"),
        ] {
            assert_eq!(age(1_000_000, 1_000_000 - d), want, "{d}");
        }
    }

    #[test]
    fn a_table_of_long_arns_fits_the_width() {
        let style = Style {
            format: Format::Table,
            width: 80,
            ..Style::default()
        };
        let rows: Vec<Vec<String>> = (0..3)
            .map(|i| {
                vec![
                    format!("job-{i}"),
                    format!(
                        "arn:aws:ecs:us-east-1:123456789012:task/very-long-cluster-name/{i:032}"
                    ),
                    "RUNNING".to_string(),
                ]
            })
            .collect();
        let out = fitted_table(&style, &["JOB", "TASK", "STATE"], rows, &[1]);
        assert!(out.lines().all(|l| width_of(l) <= 80), "{out}");
        assert!(out.contains('…') && out.contains("RUNNING"), "{out}");
        assert_eq!(out.lines().count(), 4, "header and one line per row: {out}");
    }
}
