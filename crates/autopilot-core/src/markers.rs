//! The marks ecs-autopilot shares between its functions through ECS itself: the service tag
//! daemon-count obeys (and the drainer reads, to know a daemon's tasks), and the stop reason the
//! drainer gives standalone tasks (which task-dispatcher reads, to know why its run stopped).
//! Shared vocabulary, so it lives here and not in one capability's folder.

/// Tag that opts a service in to daemon-count (value `true`, any case) when `DAEMON_SERVICES`
/// is not set.
pub const DAEMON_TAG: &str = "ecs-autopilot:daemon";

/// StopTask reason instance-drainer gives standalone tasks on a terminating host.
pub const DRAINER_STOP_REASON: &str =
    "ecs-autopilot instance-drainer: host is terminating (Auto Scaling lifecycle hook)";
