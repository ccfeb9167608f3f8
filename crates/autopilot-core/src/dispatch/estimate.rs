//! Run-time estimates learned from a task definition family's finished runs, pure
//! (docs/task-dispatcher.md, run-time estimates).
//!
//! A job's estimate orders work (backfill around reservations, aging) and never stops a task.
//! It is, in this order: the submission's `expectedSeconds`; else the family's learned estimate
//! when the job was submitted ([`FamilyRuns::estimate`], copied into the job so a wake-up reads
//! nothing more); else [`crate::job::DEFAULT_EXPECTED_SECONDS`].
//!
//! Per family, one control item (`estimate#FAMILY` in the jobs table) keeps the lengths of its
//! last [`KEPT_RUNS`] **succeeded** runs (from the run's start to the success being recorded).
//! Failed runs are left out: a crash at start-up would teach a length no real run has, and a
//! timed-out run says only that it was stopped.
//!
//! | runs kept | estimate |
//! |---|---|
//! | none | none (the default applies) |
//! | 1 to 20 | the [`PERCENTILE`]th percentile, nearest rank: with 1–9 runs, the longest |
//! | a 21st arrives | the oldest is dropped |

use serde::{Deserialize, Serialize};

/// Succeeded runs kept per family.
pub const KEPT_RUNS: usize = 20;
/// The percentile of the kept runs that is the estimate: high, so a backfilled job rarely
/// overruns the start it was let in before.
pub const PERCENTILE: usize = 90;

/// The control item key of a family's runs.
pub fn estimate_key(family: &str) -> String {
    format!("estimate#{family}")
}

/// The family of a task definition as a job names it: `family`, `family:revision`, or its ARN
/// (`arn:…:task-definition/family:revision`).
pub fn family_of(task_definition: &str) -> &str {
    let name = task_definition
        .rsplit_once(":task-definition/")
        .map_or(task_definition, |(_, rest)| rest);
    name.split_once(':').map_or(name, |(family, _)| family)
}

/// A family's last succeeded runs (seconds, oldest first), as its control item keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FamilyRuns {
    pub family: String,
    #[serde(default)]
    pub runs: Vec<i64>,
}

impl FamilyRuns {
    /// Adds a succeeded run's length, dropping the oldest past [`KEPT_RUNS`].
    pub fn record(&mut self, seconds: i64) {
        self.runs.push(seconds.max(1));
        if self.runs.len() > KEPT_RUNS {
            let drop = self.runs.len() - KEPT_RUNS;
            self.runs.drain(..drop);
        }
    }

    /// The [`PERCENTILE`]th percentile of the kept runs (nearest rank), `None` without runs.
    pub fn estimate(&self) -> Option<i64> {
        let mut sorted = self.runs.clone();
        sorted.sort_unstable();
        let n = sorted.len();
        if n == 0 {
            return None;
        }
        let rank = (PERCENTILE * n).div_ceil(100).clamp(1, n);
        sorted.get(rank - 1).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        let runs = |r: &[i64]| FamilyRuns {
            family: "f".into(),
            runs: r.to_vec(),
        };
        assert_eq!(runs(&[]).estimate(), None, "none: the default applies");
        assert_eq!(runs(&[300]).estimate(), Some(300));
        assert_eq!(
            runs(&[100, 900, 200]).estimate(),
            Some(900),
            "few runs: the longest"
        );
        let twenty: Vec<i64> = (1..=20).map(|i| i * 60).collect();
        assert_eq!(
            runs(&twenty).estimate(),
            Some(18 * 60),
            "the 90th percentile"
        );
        let mut f = runs(&twenty);
        f.record(5);
        assert_eq!(f.runs.len(), KEPT_RUNS, "bounded");
        assert_eq!(f.runs.first(), Some(&120), "the oldest dropped");
        assert_eq!(f.runs.last(), Some(&5));
    }

    #[test]
    fn families_from_every_way_a_job_names_its_task_definition() {
        for (td, family) in [
            ("report", "report"),
            ("report:7", "report"),
            (
                "arn:aws:ecs:us-east-1:123456789012:task-definition/report:7",
                "report",
            ),
        ] {
            assert_eq!(family_of(td), family, "{td}");
        }
    }
}
