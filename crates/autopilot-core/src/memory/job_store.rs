//! The job store in memory, with the DynamoDB adapter's conditions (create only when the id is
//! new, replace only at the expected revision); counts requests like the DynamoDB calls.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use crate::arn::cluster_name;
use crate::job::Job;
use crate::ports::job_store::{ControlItem, Created, JobStore, JobStoreError, Replaced};

#[derive(Debug, Default)]
pub struct InMemoryJobStore {
    jobs: Mutex<BTreeMap<String, Job>>,
    controls: Mutex<BTreeMap<String, ControlItem>>,
    calls: Mutex<BTreeMap<&'static str, usize>>,
    failures: Mutex<BTreeMap<&'static str, JobStoreError>>,
}

impl InMemoryJobStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn jobs(&self) -> MutexGuard<'_, BTreeMap<String, Job>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn enter(&self, op: &'static str) -> Result<(), JobStoreError> {
        *self
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(op)
            .or_insert(0) += 1;
        match self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(op)
        {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Requests so far per DynamoDB operation (`PutItem`, `GetItem`, `Query`).
    pub fn count_calls(&self, operation: &str) -> usize {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    pub fn clear_calls(&self) {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Makes `op` fail with `error` (`None`: stop failing).
    pub fn fail(&self, op: &'static str, error: Option<JobStoreError>) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match error {
            Some(e) => f.insert(op, e),
            None => f.remove(op),
        };
    }

    /// Every job, by id.
    pub fn all(&self) -> Vec<Job> {
        self.jobs().values().cloned().collect()
    }

    pub fn job(&self, job_id: &str) -> Option<Job> {
        self.jobs().get(job_id).cloned()
    }

    pub fn control(&self, key: &str) -> Option<ControlItem> {
        self.controls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }
}

impl JobStore for InMemoryJobStore {
    async fn create(&self, job: &Job) -> Result<Created, JobStoreError> {
        self.enter("PutItem")?;
        let mut jobs = self.jobs();
        if let Some(existing) = jobs.get(&job.job_id) {
            return Ok(Created::Exists(Box::new(existing.clone())));
        }
        jobs.insert(job.job_id.clone(), job.clone());
        Ok(Created::Created)
    }

    async fn get(&self, job_id: &str) -> Result<Option<Job>, JobStoreError> {
        self.enter("GetItem")?;
        Ok(self.jobs().get(job_id).cloned())
    }

    async fn replace(&self, job: &Job, expected_revision: u64) -> Result<Replaced, JobStoreError> {
        self.enter("PutItem")?;
        let mut jobs = self.jobs();
        match jobs.get(&job.job_id) {
            Some(stored) if stored.revision == expected_revision => {
                jobs.insert(job.job_id.clone(), job.clone());
                Ok(Replaced::Written)
            }
            _ => Ok(Replaced::Conflict),
        }
    }

    async fn cluster_jobs(&self, cluster: &str) -> Result<Vec<Job>, JobStoreError> {
        self.enter("Query")?;
        let name = cluster_name(cluster);
        Ok(self
            .jobs()
            .values()
            .filter(|j| cluster_name(&j.spec.cluster) == name)
            .cloned()
            .collect())
    }

    async fn live_jobs(&self, cluster: &str) -> Result<Vec<Job>, JobStoreError> {
        self.enter("Query")?;
        let name = cluster_name(cluster);
        let mut live: Vec<Job> = self
            .jobs()
            .values()
            .filter(|j| cluster_name(&j.spec.cluster) == name && !j.state.is_terminal())
            .cloned()
            .collect();
        live.sort_by_key(Job::queue_key);
        Ok(live)
    }

    async fn get_control(&self, key: &str) -> Result<Option<ControlItem>, JobStoreError> {
        self.enter("GetItem")?;
        Ok(self.control(key))
    }

    async fn put_control(
        &self,
        item: &ControlItem,
        expected_revision: Option<u64>,
    ) -> Result<Replaced, JobStoreError> {
        self.enter("PutItem")?;
        let mut controls = self.controls.lock().unwrap_or_else(|p| p.into_inner());
        let current = controls.get(&item.key).map(|c| c.revision);
        if current != expected_revision {
            return Ok(Replaced::Conflict);
        }
        controls.insert(item.key.clone(), item.clone());
        Ok(Replaced::Written)
    }

    async fn listed_controls(&self, partition: &str) -> Result<Vec<ControlItem>, JobStoreError> {
        self.enter("Query")?;
        let controls = self.controls.lock().unwrap_or_else(|p| p.into_inner());
        Ok(controls
            .values()
            .filter(|c| c.listed_under.as_deref() == Some(partition))
            .cloned()
            .collect())
    }
}
