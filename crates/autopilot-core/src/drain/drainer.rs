//! The drainer: reads state through the ports, applies [`decide`], and acts. One invocation never
//! waits: when tasks remain it queues a delayed re-check and returns. Exactly once comes from Auto
//! Scaling (a second completion is a no-op we accept) plus a progress marker attribute on the host
//! ([`MARKER_ATTRIBUTE`]); docs/instance-drainer.md, "How it works", specifies it.

use std::collections::BTreeSet;

use thiserror::Error;

use super::config::DrainConfig;
use super::decide::{
    attempt_cap, decide, fit_to_hook, hook_in_scope, is_daemon_service, is_live, service_name,
    spot_step, CompleteReason, DrainDecision, SpotStep, SPOT_MARKER_ATTRIBUTE,
};
use super::recheck::{RecheckMessage, RECHECK_KIND};
use super::report::{DrainRecord, Outcome, Trigger};
use crate::events::{
    event_time_unix, ContainerInstanceStateChange, EventBridgeEvent, LifecycleActionDetail,
    SpotInterruptionDetail,
};
use crate::model::{ContainerInstance, InstanceStatus};
use crate::ports::ecs::{EcsError, EcsRead, EcsWrite};
use crate::ports::lifecycle::{AutoScalingError, LifecycleAction, LifecycleOutcome, LifecyclePort};
use crate::ports::queue::{QueueError, RecheckQueue};
use crate::retry::Retryable;

/// Container instance attribute holding the drain's progress (`TOKEN/ATTEMPT` or `TOKEN/done`).
/// ECS attribute names allow letters, digits, `-`, `_`, `/`, `\` and `.` (no `:`).
pub const MARKER_ATTRIBUTE: &str = "ecs-autopilot.drain";
/// StopTask reason for standalone tasks.
use crate::markers::DRAINER_STOP_REASON as STOP_REASON;

#[derive(Debug, Error)]
pub enum DrainError {
    #[error(transparent)]
    Ecs(#[from] EcsError),
    #[error(transparent)]
    AutoScaling(#[from] AutoScalingError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Every drain failure fails the invocation, whatever the call's own class: a drain in progress
/// exists only in its event or its re-check message, so acknowledging a failed one would stop the
/// heartbeats and let the hook's default result terminate the host with its tasks running.
/// Failing sends it on to the failure or dead-letter queue, whose alarm pages someone.
impl Retryable for DrainError {
    fn is_retryable(&self) -> bool {
        match self {
            DrainError::Ecs(_) | DrainError::AutoScaling(_) | DrainError::Queue(_) => true,
        }
    }
}

/// Holds the clients and the configuration: build one per process (Lambda init), share it by
/// reference.
pub struct Drainer<E, A, Q> {
    ecs: E,
    autoscaling: A,
    queue: Q,
    config: DrainConfig,
}

impl<E: EcsRead + EcsWrite, A: LifecyclePort, Q: RecheckQueue> Drainer<E, A, Q> {
    pub fn new(ecs: E, autoscaling: A, queue: Q, config: DrainConfig) -> Self {
        Drainer {
            ecs,
            autoscaling,
            queue,
            config,
        }
    }

    pub fn config(&self) -> &DrainConfig {
        &self.config
    }
    pub fn ecs(&self) -> &E {
        &self.ecs
    }
    pub fn autoscaling(&self) -> &A {
        &self.autoscaling
    }
    pub fn queue(&self) -> &Q {
        &self.queue
    }

    /// `EC2 Instance-terminate Lifecycle Action`, handled at `now` (Unix seconds).
    pub async fn on_lifecycle_action(
        &self,
        event: &EventBridgeEvent<LifecycleActionDetail>,
        now: i64,
    ) -> Result<DrainRecord, DrainError> {
        // The event's time is when the action started; a retried delivery is late, not new.
        let started_at = event_time_unix(event).map_or(now, |t| t.min(now));
        let action = event.detail.action();
        let mut rec = DrainRecord::for_action(Trigger::LifecycleAction, &action);
        if !hook_in_scope(&action.lifecycle_hook_name, &self.config.hook_names) {
            // Another system's hook (or ECS's own): completing it would end its wait early.
            rec.outcome = Outcome::NotOurHook;
            rec.reason = Some(format!(
                "lifecycle hook {} is not in LIFECYCLE_HOOK_NAMES ({}): not ours, nothing done",
                action.lifecycle_hook_name,
                self.config.hook_names.join(",")
            ));
            return Ok(rec);
        }
        let preferred = event.detail.metadata_cluster().unwrap_or_else(|w| {
            rec.warnings.push(w);
            None
        });
        let Some((cluster, ci)) = self
            .find_host(preferred, &action.ec2_instance_id, &mut rec.warnings)
            .await?
        else {
            rec.outcome = self.complete(&action).await?;
            rec.reason = Some("not_ecs_host".into());
            return Ok(rec);
        };
        rec.cluster = Some(cluster.clone());
        rec.container_instance = Some(ci.arn.clone());
        if marker(&ci)
            .is_some_and(|m| m.starts_with(&format!("{}/", action.lifecycle_action_token)))
        {
            // A duplicate delivery: the first one already queued the re-check or completed.
            rec.reason = Some(format!(
                "marker {MARKER_ATTRIBUTE}={} shows this action is handled",
                marker(&ci).unwrap_or_default()
            ));
            return Ok(rec);
        }
        if ci.status == InstanceStatus::Active {
            self.ecs
                .set_instance_status(&cluster, &ci.arn, InstanceStatus::Draining)
                .await?;
            rec.set_draining = true;
        }
        // The hook's timeouts bound this drain; without them the configuration stands.
        let hook = match self
            .autoscaling
            .hook_timeouts(&action.auto_scaling_group_name, &action.lifecycle_hook_name)
            .await
        {
            Ok(Some(h)) => Some(h),
            Ok(None) => {
                rec.warnings.push(format!(
                    "lifecycle hook {} of {} not found: MAX_DRAIN_SECONDS and \
                     RECHECK_INTERVAL_SECONDS apply unchanged",
                    action.lifecycle_hook_name, action.auto_scaling_group_name
                ));
                None
            }
            Err(e) => {
                rec.warnings.push(format!(
                    "{e}: MAX_DRAIN_SECONDS and RECHECK_INTERVAL_SECONDS apply unchanged"
                ));
                None
            }
        };
        let msg = RecheckMessage {
            kind: RECHECK_KIND.into(),
            cluster,
            container_instance_arn: ci.arn.clone(),
            lifecycle: action,
            started_at,
            attempt: 0,
            limits: Some(fit_to_hook(&self.config, hook)),
        };
        self.evaluate_and_act(&msg, now, rec).await
    }

    /// A re-check from the queue, handled at `now` (Unix seconds).
    pub async fn on_recheck(
        &self,
        msg: &RecheckMessage,
        now: i64,
    ) -> Result<DrainRecord, DrainError> {
        let mut rec = DrainRecord::for_action(Trigger::Recheck, &msg.lifecycle);
        rec.cluster = Some(msg.cluster.clone());
        rec.container_instance = Some(msg.container_instance_arn.clone());
        rec.attempt = Some(msg.attempt);
        rec.elapsed_seconds = Some(elapsed(msg.started_at, now));

        let ci = match self
            .ecs
            .describe_container_instance(&msg.cluster, &msg.container_instance_arn)
            .await
        {
            Ok(ci) => ci.filter(|ci| ci.status != InstanceStatus::Inactive),
            Err(EcsError::ClusterNotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let Some(ci) = ci else {
            // Deregistered: no tasks can run there any more.
            rec.outcome = self.complete(&msg.lifecycle).await?;
            rec.reason = Some("instance_gone".into());
            return Ok(rec);
        };
        if let Some(m) = marker(&ci) {
            if marker_supersedes(&m, &msg.lifecycle.lifecycle_action_token, msg.attempt) {
                rec.reason = Some(format!(
                    "marker {MARKER_ATTRIBUTE}={m}: this re-check ({}/{}) is a duplicate or stale",
                    msg.lifecycle.lifecycle_action_token, msg.attempt
                ));
                return Ok(rec);
            }
        }
        if self.autoscaling.heartbeat(&msg.lifecycle).await? == LifecycleOutcome::NoActiveAction {
            rec.outcome = Outcome::AlreadyCompleted;
            return Ok(rec);
        }
        if ci.status == InstanceStatus::Active {
            rec.warnings
                .push("host was ACTIVE again during the drain: set DRAINING again".into());
            self.ecs
                .set_instance_status(&msg.cluster, &ci.arn, InstanceStatus::Draining)
                .await?;
            rec.set_draining = true;
        }
        self.evaluate_and_act(msg, now, rec).await
    }

    /// `EC2 Spot Instance Interruption Warning`: DRAINING at once; two minutes leave no time to
    /// wait. For `stop` and `hibernate` the instance comes back as the same container instance:
    /// a host this warning set DRAINING gets a [`SPOT_MARKER_ATTRIBUTE`], and
    /// [`Self::on_instance_event`] sets it ACTIVE again once it is back.
    pub async fn on_spot_interruption(
        &self,
        event: &EventBridgeEvent<SpotInterruptionDetail>,
    ) -> Result<DrainRecord, DrainError> {
        let id = &event.detail.instance_id;
        let mut rec = DrainRecord::new(Trigger::SpotInterruption, id);
        let Some((cluster, ci)) = self.find_host(None, id, &mut rec.warnings).await? else {
            rec.outcome = Outcome::NotEcsHost;
            return Ok(rec);
        };
        let action = event
            .detail
            .instance_action
            .as_deref()
            .unwrap_or("terminate");
        if ci.status == InstanceStatus::Active {
            self.ecs
                .set_instance_status(&cluster, &ci.arn, InstanceStatus::Draining)
                .await?;
            rec.set_draining = true;
            if matches!(action, "stop" | "hibernate") {
                // Only a drain this warning started is undone later: a host DRAINING already
                // (a lifecycle drain, a person) is left as it is.
                let value = format!("{action}/{}", ci.version.unwrap_or(0));
                self.mark_attribute(&cluster, &ci.arn, SPOT_MARKER_ATTRIBUTE, &value, &mut rec)
                    .await;
            }
        }
        rec.reason = Some(format!("instance-action {action}"));
        rec.cluster = Some(cluster);
        rec.container_instance = Some(ci.arn);
        rec.outcome = Outcome::Draining;
        Ok(rec)
    }

    /// `ECS Container Instance State Change` (the template's rule sends only DRAINING hosts that
    /// carry the spot resume marker): the host's stop, then its return, per [`spot_step`]. Decided
    /// from the event alone; a host without the marker costs no call.
    pub async fn on_instance_event(
        &self,
        event: &EventBridgeEvent<ContainerInstanceStateChange>,
    ) -> Result<DrainRecord, DrainError> {
        let d = &event.detail;
        let ci = d.to_container_instance();
        let mut rec = DrainRecord::new(Trigger::InstanceEvent, ci.display_name());
        rec.cluster = Some(d.cluster_arn.clone());
        rec.container_instance = Some(ci.arn.clone());
        rec.outcome = Outcome::Skipped;
        if !self.config.clusters.includes(&d.cluster_arn) {
            rec.reason = Some(format!("cluster {} is not in CLUSTERS", d.cluster_arn));
            return Ok(rec);
        }
        let marker = ci
            .attribute(SPOT_MARKER_ATTRIBUTE)
            .and_then(|a| a.value.as_deref());
        match spot_step(marker, &ci.status, ci.agent_connected, ci.version) {
            SpotStep::Ignore(why) => rec.reason = Some(why),
            SpotStep::MarkStopped(version) => {
                let value = format!("stopped/{version}");
                self.ecs
                    .put_instance_attribute(&d.cluster_arn, &ci.arn, SPOT_MARKER_ATTRIBUTE, &value)
                    .await?;
                rec.outcome = Outcome::MarkedStopped;
                rec.reason = Some(format!(
                    "agent disconnected: {SPOT_MARKER_ATTRIBUTE}={value}"
                ));
            }
            SpotStep::Reactivate => {
                self.ecs
                    .set_instance_status(&d.cluster_arn, &ci.arn, InstanceStatus::Active)
                    .await?;
                // Best effort: a marker left behind makes the next event a cheap no-op (the host
                // is no longer DRAINING).
                if let Err(e) = self
                    .ecs
                    .delete_instance_attribute(&d.cluster_arn, &ci.arn, SPOT_MARKER_ATTRIBUTE)
                    .await
                {
                    rec.warnings
                        .push(format!("DeleteAttributes {SPOT_MARKER_ATTRIBUTE}: {e}"));
                }
                rec.outcome = Outcome::Reactivated;
                rec.reason = Some("back from a spot stop/hibernate: ACTIVE again".into());
            }
        }
        Ok(rec)
    }

    /// Clusters to search: the hook's metadata first; then (not found there, or no metadata)
    /// `CLUSTERS`, else every cluster.
    async fn find_host(
        &self,
        preferred: Option<String>,
        ec2_instance_id: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Option<(String, ContainerInstance)>, DrainError> {
        if let Some(cluster) = preferred {
            match self
                .search_cluster(&cluster, ec2_instance_id, warnings)
                .await?
            {
                Some(ci) => return Ok(Some((cluster, ci))),
                // A hook whose metadata names the wrong cluster must not let a host with tasks
                // terminate undrained: look where we would without metadata.
                None => warnings.push(format!(
                    "{ec2_instance_id} is no container instance of cluster {cluster} (from the \
                     hook's NotificationMetadata): searching {} instead",
                    self.config.clusters.describe()
                )),
            }
        }
        let clusters = self.config.clusters.resolve(&self.ecs).await?;
        for cluster in clusters {
            if let Some(ci) = self
                .search_cluster(&cluster, ec2_instance_id, warnings)
                .await?
            {
                return Ok(Some((cluster, ci)));
            }
        }
        Ok(None)
    }

    async fn search_cluster(
        &self,
        cluster: &str,
        ec2_instance_id: &str,
        warnings: &mut Vec<String>,
    ) -> Result<Option<ContainerInstance>, DrainError> {
        match self
            .ecs
            .find_container_instance(cluster, ec2_instance_id)
            .await
        {
            Ok(found) => Ok(found),
            Err(EcsError::ClusterNotFound { cluster }) => {
                warnings.push(format!("cluster {cluster} not found"));
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the host's tasks, decides, and completes or queues re-check `msg.attempt + 1`.
    async fn evaluate_and_act(
        &self,
        msg: &RecheckMessage,
        now: i64,
        mut rec: DrainRecord,
    ) -> Result<DrainRecord, DrainError> {
        let (cluster, ci_arn) = (&msg.cluster, &msg.container_instance_arn);
        let tasks = self.ecs.instance_tasks(cluster, ci_arn).await?;
        let names: BTreeSet<String> = tasks
            .iter()
            .filter(|t| is_live(t))
            .filter_map(|t| service_name(t).map(str::to_string))
            .collect();
        let daemons: BTreeSet<String> = if names.is_empty() {
            BTreeSet::new()
        } else {
            let names: Vec<String> = names.into_iter().collect();
            self.ecs
                .describe_services(cluster, &names)
                .await?
                .services
                .into_iter()
                .filter(is_daemon_service)
                .map(|s| s.name)
                .collect()
        };
        let elapsed = elapsed(msg.started_at, now);
        rec.elapsed_seconds = Some(elapsed);
        let token = &msg.lifecycle.lifecycle_action_token;
        let config = match msg.limits {
            Some(limits) => self.config.with_limits(limits),
            None => self.config.clone(),
        };
        let limits = msg
            .limits
            .unwrap_or_else(|| fit_to_hook(&self.config, None));
        let decision = if msg.attempt > attempt_cap(limits) {
            DrainDecision::Complete {
                reason: CompleteReason::AttemptCap,
                tasks: decide(&tasks, &daemons, elapsed, &config).tasks().clone(),
            }
        } else {
            decide(&tasks, &daemons, elapsed, &config)
        };
        match decision {
            DrainDecision::Complete { reason, tasks } => {
                rec.tasks = tasks;
                rec.reason = Some(
                    serde_json::to_value(reason)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                );
                rec.outcome = self.complete(&msg.lifecycle).await?;
                self.mark(cluster, ci_arn, &format!("{token}/done"), &mut rec)
                    .await;
            }
            DrainDecision::Wait {
                tasks,
                stop,
                delay_seconds,
            } => {
                rec.tasks = tasks;
                for arn in stop {
                    match self.ecs.stop_task(cluster, &arn, STOP_REASON).await {
                        Ok(()) => rec.stopped_tasks.push(arn),
                        // The next re-check tries again.
                        Err(e) => rec.warnings.push(format!("StopTask {arn}: {e}")),
                    }
                }
                let next = RecheckMessage {
                    attempt: msg.attempt + 1,
                    ..msg.clone()
                };
                // Queue first, mark second: if the marker write fails the queued re-check still
                // runs (a marker behind its attempt is not stale, see `marker_supersedes`), and a
                // duplicate delivery at worst queues a second chain that the first one's next
                // marker then stops.
                self.queue
                    .send_recheck(&next.to_body(), delay_seconds)
                    .await?;
                self.mark(
                    cluster,
                    ci_arn,
                    &format!("{token}/{}", next.attempt),
                    &mut rec,
                )
                .await;
                rec.outcome = Outcome::RecheckScheduled;
                rec.recheck_delay_seconds = Some(delay_seconds);
            }
        }
        Ok(rec)
    }

    async fn complete(&self, action: &LifecycleAction) -> Result<Outcome, DrainError> {
        Ok(match self.autoscaling.complete_continue(action).await? {
            LifecycleOutcome::Accepted => Outcome::Completed,
            LifecycleOutcome::NoActiveAction => Outcome::AlreadyCompleted,
        })
    }

    /// Best effort: a failed marker write costs a possible duplicate call later, not correctness.
    async fn mark(&self, cluster: &str, ci_arn: &str, value: &str, rec: &mut DrainRecord) {
        self.mark_attribute(cluster, ci_arn, MARKER_ATTRIBUTE, value, rec)
            .await
    }

    async fn mark_attribute(
        &self,
        cluster: &str,
        ci_arn: &str,
        name: &str,
        value: &str,
        rec: &mut DrainRecord,
    ) {
        if let Err(e) = self
            .ecs
            .put_instance_attribute(cluster, ci_arn, name, value)
            .await
        {
            rec.warnings
                .push(format!("PutAttributes {name}={value}: {e}"));
        }
    }
}

/// True when the marker shows that re-check `attempt` of the action `token` is a duplicate or
/// stale: the drain completed (`TOKEN/done`) or a later re-check was already queued
/// (`TOKEN/N` with N > attempt). A marker *behind* the attempt (its write failed) or of another
/// action does not stop the re-check: a failed best-effort write must never end a drain.
pub fn marker_supersedes(marker: &str, token: &str, attempt: u32) -> bool {
    let Some(rest) = marker.strip_prefix(token).and_then(|r| r.strip_prefix('/')) else {
        return false;
    };
    if rest == "done" {
        return true;
    }
    rest.parse::<u32>().is_ok_and(|n| n > attempt)
}

fn marker(ci: &ContainerInstance) -> Option<String> {
    ci.attribute(MARKER_ATTRIBUTE).and_then(|a| a.value.clone())
}

fn elapsed(started_at: i64, now: i64) -> u64 {
    u64::try_from(now.saturating_sub(started_at)).unwrap_or(0)
}
