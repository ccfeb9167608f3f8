//! The hosts as the dispatcher sees them, and which of them a job may use: what ECS enforces for
//! the job (its task definition's `memberOf` and `requiresAttributes`, its GPUs, the
//! capacity-provider scope of its launch), its launch request, and the daemons' headroom.

use super::*;

/// A host as the dispatcher sees it: the simulator's view (remaining resources, attributes, task
/// groups) and its registered size (for "could it ever fit").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchHost {
    pub host: Host,
    pub registered_cpu: i64,
    pub registered_memory: i64,
    /// `capacityProviderName` (DescribeContainerInstances), when it joined through one.
    pub capacity_provider: Option<String>,
    /// Whether a job with neither launch type nor strategy may land here: the cluster has no
    /// default capacity provider strategy (and the host is an EC2 one), or the host's provider
    /// is in it.
    pub in_default_scope: bool,
    pub registered_gpus: i64,
    pub remaining_gpus: i64,
}

impl DispatchHost {
    /// A host without GPUs or capacity provider, in the default scope.
    pub fn new(host: Host, registered_cpu: i64, registered_memory: i64) -> Self {
        DispatchHost {
            host,
            registered_cpu,
            registered_memory,
            capacity_provider: None,
            in_default_scope: true,
            registered_gpus: 0,
            remaining_gpus: 0,
        }
    }
}

/// An ECS Anywhere (external) instance: its EC2 id is a managed-instance id.
fn is_external(h: &DispatchHost) -> bool {
    h.host
        .ec2_instance_id
        .as_deref()
        .is_some_and(|id| id.starts_with("mi-"))
}

/// Whether `provider` is in the job's own `capacityProviderStrategy` (`None`: it has none).
/// No allocation: it runs for every (job, host) pair of a wake-up.
fn in_job_strategy(job: &Job, provider: Option<&str>) -> Option<bool> {
    let items = job.spec.capacity_provider_strategy.as_ref()?.as_array()?;
    Some(provider.is_some_and(|p| {
        items
            .iter()
            .any(|i| i.get("capacityProvider").and_then(|v| v.as_str()) == Some(p))
    }))
}

/// Whether ECS may run `job` on `h`, whatever its room now (module doc):
///
/// | job launch | host |
/// |---|---|
/// | `capacityProviderStrategy` | its provider is in the strategy |
/// | launch type `EC2` | an EC2 instance (not external) |
/// | launch type `EXTERNAL` | an external instance |
/// | other launch type (`FARGATE`) | none |
/// | neither | in the cluster's default scope |
///
/// and in every case: every `requiresAttributes` of the task definition on the host, and at
/// least the job's GPUs registered.
pub fn eligible(job: &Job, h: &DispatchHost) -> bool {
    let strategy = in_job_strategy(job, h.capacity_provider.as_deref());
    let scope = match (strategy, job.spec.launch_type.as_deref()) {
        (Some(in_strategy), _) => in_strategy,
        (None, Some(t)) if t.eq_ignore_ascii_case("EC2") => !is_external(h),
        (None, Some(t)) if t.eq_ignore_ascii_case("EXTERNAL") => is_external(h),
        (None, Some(_)) => false,
        (None, None) => h.in_default_scope,
    };
    scope && h.registered_gpus >= job.needs.gpus && job.needs.attributes_on(&h.host)
}

/// The request for a job placed on `h`: the host pin, and the one capacity provider of the
/// host when the job's launch goes through providers (its own strategy, or the cluster's
/// default), so the pin can hold.
pub fn launch_request(job: &Job, h: &DispatchHost) -> crate::job::LaunchRequest {
    let through_providers = job.spec.capacity_provider_strategy.is_some()
        || (job.spec.launch_type.is_none() && h.capacity_provider.is_some());
    crate::job::LaunchRequest {
        pin: h.host.ec2_instance_id.clone(),
        capacity_provider: h.capacity_provider.clone().filter(|_| through_providers),
    }
}

/// The dispatcher's own launches that a host snapshot from the capacity table cannot show yet.
///
/// The table's host item says what was free when ECS last reported the host (its event's
/// `updatedAt`, or the sweep's Describe time). A job launched at or after that moment holds room
/// the item still shows free, until ECS's next event for the host; without this rule a second
/// wake-up in that window (a duplicate event) would call RunTask for the next job into room that
/// is not there. ECS's own Describe is current (RunTask places synchronously): only table
/// snapshots need it.
///
/// | job state | launched (`→ STARTING`) | host item as of | the host's remaining |
/// |---|---|---|---|
/// | STARTING or RUNNING on the host | at or after the item's time | time known | minus the job's CPU, memory and ports |
/// | STARTING or RUNNING on the host | any | unknown | minus the job's needs (the safe side) |
/// | STARTING or RUNNING on the host | before the item's time | time known | unchanged: the item counts it |
/// | any other state, or no host | – | – | unchanged |
///
/// `as_of`: each host's snapshot time (Unix seconds) by container instance ARN (`None`: unknown).
pub fn discount_unrecorded_launches(
    hosts: &mut [DispatchHost],
    jobs: &[Job],
    as_of: &BTreeMap<String, Option<i64>>,
) {
    for job in jobs {
        if !matches!(job.state, JobState::Starting | JobState::Running) {
            continue;
        }
        let Some(arn) = job.container_instance_arn.as_deref() else {
            continue;
        };
        let Some(h) = hosts.iter_mut().find(|h| h.host.id == arn) else {
            continue;
        };
        let launched = job
            .history
            .iter()
            .rev()
            .find(|t| t.to == JobState::Starting)
            .map_or(job.updated_at, |t| t.at);
        let counted = matches!(as_of.get(arn), Some(Some(at)) if launched < *at);
        if !counted {
            h.host.remaining_cpu -= job.needs.cpu;
            h.host.remaining_memory -= job.needs.memory;
            h.host.used_ports.extend(job.needs.ports.iter().copied());
        }
    }
}

/// Room kept for a daemon service's task on hosts that do not run one yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonReservation {
    /// The daemon's task group, `service:NAME`.
    pub group: String,
    pub cpu: i64,
    pub memory: i64,
    pub ports: Vec<u16>,
}
