//! Periodic jobs, pure: what one tick of a schedule does (README "task-dispatcher", periodic
//! jobs).
//!
//! A schedule (EventBridge Scheduler, cron with a time zone) submits a job with `scheduleName`
//! and its tick (`scheduledTime`). Every delivery of one tick names the same job
//! ([`crate::job::schedule_job_id`]): a repeated delivery is a duplicate and writes nothing. Per
//! schedule, one control item (`schedule#NAME`) keeps the last run: its job id, tick and when it
//! was submitted.
//!
//! | last run of the schedule                                  | this tick                      |
//! |-----------------------------------------------------------|--------------------------------|
//! | none                                                      | run                            |
//! | this very tick (a crash between the two writes)           | run (the job is created)       |
//! | submitted at or after this tick was due (a late delivery  | covered: SKIPPED record        |
//! | of a tick missed during an outage; the run catches up)    |                                |
//! | QUEUED / STARTING / RUNNING, overlap `skip` (default)     | skipped: SKIPPED record        |
//! | QUEUED / STARTING / RUNNING, overlap `allow`              | run                            |
//! | finished (any terminal state) or gone (TTL)               | run                            |
//!
//! So ticks missed during an outage, delivered late by the Scheduler's retries, start one run,
//! not one per missed tick: the first delivered starts it, the others were due before it was
//! submitted and are covered.

use serde::{Deserialize, Serialize};

use crate::job::{Job, Overlap};

/// A schedule's last run, as the control item keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastRun {
    pub job_id: String,
    /// Its tick (Unix seconds).
    pub tick: i64,
    /// When it was submitted (Unix seconds).
    pub submitted_at: i64,
}

/// A schedule's control item (`schedule#NAME` in the jobs table), written conditionally on its
/// revision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleControl {
    #[serde(default)]
    pub schedule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<LastRun>,
}

/// What the tick does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "decision", content = "reason")]
pub enum Tick {
    Run,
    /// A SKIPPED record with this reason.
    Skip(String),
}

/// Decides one tick (see the table above). `previous` is the last run's job, when it still
/// exists.
pub fn decide_tick(
    schedule: &str,
    tick: i64,
    last: Option<&LastRun>,
    previous: Option<&Job>,
    overlap: Overlap,
) -> Tick {
    let Some(last) = last else {
        return Tick::Run;
    };
    if last.tick == tick {
        return Tick::Run;
    }
    if last.submitted_at >= tick {
        return Tick::Skip(format!(
            "covered: run {} of schedule {schedule} was submitted at {}, after this tick was due \
             at {} (a late delivery: one run catches up, not one per missed tick)",
            last.job_id,
            crate::clock::format_unix(last.submitted_at),
            crate::clock::format_unix(tick)
        ));
    }
    match previous {
        Some(p) if !p.state.is_terminal() && overlap == Overlap::Skip => Tick::Skip(format!(
            "overlap: the previous run {} of schedule {schedule} is still {} (overlap policy skip)",
            p.job_id, p.state
        )),
        _ => Tick::Run,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobNeeds, JobState, Submission};

    fn job(state: JobState) -> Job {
        let mut j = Submission::default().into_job("nightly-prev".into(), JobNeeds::default(), 0);
        j.state = state;
        j
    }

    fn last(tick: i64, submitted_at: i64) -> LastRun {
        LastRun {
            job_id: "nightly-prev".into(),
            tick,
            submitted_at,
        }
    }

    #[test]
    fn the_table() {
        let day = 86_400;
        let l = last(0, 5);
        // (case, last run, its job, overlap, runs)
        type Case<'a> = (&'a str, Option<&'a LastRun>, Option<Job>, Overlap, bool);
        let cases: Vec<Case> = vec![
            ("first ever", None, None, Overlap::Skip, true),
            ("same tick again", Some(&l), None, Overlap::Skip, true),
            (
                "previous running, skip",
                Some(&l),
                Some(job(JobState::Running)),
                Overlap::Skip,
                false,
            ),
            (
                "previous queued, skip",
                Some(&l),
                Some(job(JobState::Queued)),
                Overlap::Skip,
                false,
            ),
            (
                "previous running, allow",
                Some(&l),
                Some(job(JobState::Running)),
                Overlap::Allow,
                true,
            ),
            (
                "previous succeeded",
                Some(&l),
                Some(job(JobState::Succeeded)),
                Overlap::Skip,
                true,
            ),
            ("previous gone", Some(&l), None, Overlap::Skip, true),
        ];
        for (name, last, prev, overlap, runs) in cases {
            let tick = if name == "same tick again" { 0 } else { day };
            let t = decide_tick("nightly", tick, last, prev.as_ref(), overlap);
            assert_eq!(t == Tick::Run, runs, "{name}: {t:?}");
        }
    }

    #[test]
    fn ticks_missed_in_an_outage_start_one_run() {
        // Ticks at 0, 60, 120 missed; the outage ends at 1000: the first delivery runs, the
        // others (due before 1000) are covered, even after the run finished.
        let first = decide_tick("s", 0, None, None, Overlap::Skip);
        assert_eq!(first, Tick::Run);
        let after = last(0, 1000);
        for tick in [60, 120] {
            match decide_tick(
                "s",
                tick,
                Some(&after),
                Some(&job(JobState::Succeeded)),
                Overlap::Skip,
            ) {
                Tick::Skip(r) => assert!(r.starts_with("covered"), "{r}"),
                Tick::Run => panic!("tick {tick} ran again"),
            }
        }
        // The next regular tick runs.
        assert_eq!(
            decide_tick(
                "s",
                1020,
                Some(&after),
                Some(&job(JobState::Succeeded)),
                Overlap::Skip
            ),
            Tick::Run
        );
    }
}
