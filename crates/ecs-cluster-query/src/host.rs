//! What an expression is evaluated against.

use std::collections::{BTreeMap, BTreeSet};

/// A read-only view of one container instance.
pub trait HostView {
    /// None = attribute absent; Some(None) = present without value; Some(Some(v)) = value.
    fn attribute(&self, name: &str) -> Option<Option<&str>>;
    /// The EC2 instance id (`i-...`).
    fn ec2_instance_id(&self) -> Option<&str>;
    /// Whether the container agent is connected.
    fn agent_connected(&self) -> Option<bool>;
    /// The container agent version (`1.21.0`).
    fn agent_version(&self) -> Option<&str>;
    /// Registration time, Unix epoch seconds, UTC.
    fn registered_at(&self) -> Option<i64>;
    /// Number of running tasks.
    fn running_tasks_count(&self) -> Option<i64>;
    /// Task groups (e.g. "service:web", "family:nginx") of tasks on this host.
    fn task_groups(&self) -> Vec<&str>;

    /// True when `f` holds for any task group on the host.
    ///
    /// The default calls [`HostView::task_groups`] (one allocation); implementations should
    /// override it to avoid allocating during evaluation, as [`Host`] does.
    fn any_task_group(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        self.task_groups().into_iter().any(f)
    }
}

/// A plain, owned container instance: for tests, fixtures and [`crate::placement`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Host {
    /// Identifier reported in placement results (container instance ARN or id).
    pub id: String,
    /// Attributes: `None` value = attribute present without a value.
    pub attributes: BTreeMap<String, Option<String>>,
    /// EC2 instance id.
    pub ec2_instance_id: Option<String>,
    /// Agent connection status.
    pub agent_connected: Option<bool>,
    /// Agent version.
    pub agent_version: Option<String>,
    /// Registration time, Unix epoch seconds, UTC.
    pub registered_at: Option<i64>,
    /// Running task count.
    pub running_tasks_count: Option<i64>,
    /// Group of each task on the host, one entry per task (duplicates allowed).
    pub task_groups: Vec<String>,
    /// Remaining CPU units (1024 = 1 vCPU).
    pub remaining_cpu: i64,
    /// Remaining memory in MiB.
    pub remaining_memory: i64,
    /// Host ports already in use or reserved.
    pub used_ports: BTreeSet<u16>,
}

impl Host {
    /// How a person recognises the host in a message: its EC2 instance id when known, else its id.
    pub fn label(&self) -> &str {
        self.ec2_instance_id.as_deref().unwrap_or(&self.id)
    }

    /// A host with the given id, also used as its EC2 instance id, agent connected, no tasks,
    /// and no resources.
    pub fn new(id: impl Into<String>) -> Self {
        let id = id.into();
        Host {
            ec2_instance_id: Some(id.clone()),
            id,
            agent_connected: Some(true),
            running_tasks_count: Some(0),
            ..Host::default()
        }
    }

    /// Adds an attribute with a value.
    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), Some(value.into()));
        self
    }

    /// Adds an attribute without a value.
    pub fn with_flag_attribute(mut self, name: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), None);
        self
    }

    /// Sets remaining CPU units and memory (MiB).
    pub fn with_resources(mut self, cpu: i64, memory: i64) -> Self {
        self.remaining_cpu = cpu;
        self.remaining_memory = memory;
        self
    }

    /// Adds a running task of the given group (also bumps `running_tasks_count`).
    pub fn with_task(mut self, group: impl Into<String>) -> Self {
        self.task_groups.push(group.into());
        self.running_tasks_count = Some(self.running_tasks_count.unwrap_or(0) + 1);
        self
    }
}

impl HostView for Host {
    fn attribute(&self, name: &str) -> Option<Option<&str>> {
        self.attributes.get(name).map(|v| v.as_deref())
    }
    fn ec2_instance_id(&self) -> Option<&str> {
        self.ec2_instance_id.as_deref()
    }
    fn agent_connected(&self) -> Option<bool> {
        self.agent_connected
    }
    fn agent_version(&self) -> Option<&str> {
        self.agent_version.as_deref()
    }
    fn registered_at(&self) -> Option<i64> {
        self.registered_at
    }
    fn running_tasks_count(&self) -> Option<i64> {
        self.running_tasks_count
    }
    fn task_groups(&self) -> Vec<&str> {
        self.task_groups.iter().map(String::as_str).collect()
    }
    fn any_task_group(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        self.task_groups.iter().any(|g| f(g))
    }
}

impl<T: HostView + ?Sized> HostView for &T {
    fn attribute(&self, name: &str) -> Option<Option<&str>> {
        (**self).attribute(name)
    }
    fn ec2_instance_id(&self) -> Option<&str> {
        (**self).ec2_instance_id()
    }
    fn agent_connected(&self) -> Option<bool> {
        (**self).agent_connected()
    }
    fn agent_version(&self) -> Option<&str> {
        (**self).agent_version()
    }
    fn registered_at(&self) -> Option<i64> {
        (**self).registered_at()
    }
    fn running_tasks_count(&self) -> Option<i64> {
        (**self).running_tasks_count()
    }
    fn task_groups(&self) -> Vec<&str> {
        (**self).task_groups()
    }
    fn any_task_group(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        (**self).any_task_group(f)
    }
}
