//! The compute cluster that runs workers: ECS in production, worker processes on this machine in
//! the embedded default. Admins see, scale and redeploy its worker service (contract §8); the
//! capacity manager starts tasks for a compute target as the queue grows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use thiserror::Error;

/// The worker service as contract §8 shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceStatus {
    /// Tasks running.
    pub running_count: u32,
    /// Tasks starting.
    pub pending_count: u32,
    /// Tasks wanted.
    pub desired_count: u32,
    /// Deployments, newest first.
    pub deployments: Vec<Deployment>,
    /// The latest events (at most 5), newest first.
    pub events: Vec<ServiceEvent>,
    /// The service's status (e.g. `ACTIVE`).
    pub service_status: String,
}

/// One deployment of the worker service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deployment {
    /// `PRIMARY`, `ACTIVE` or `INACTIVE`.
    pub status: String,
    /// The task definition deployed.
    pub task_definition: String,
    /// Tasks wanted.
    pub desired_count: u32,
    /// Tasks starting.
    pub pending_count: u32,
    /// Tasks running.
    pub running_count: u32,
    /// Tasks that failed to start.
    pub failed_tasks: u32,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED`, when known.
    pub rollout_state: Option<String>,
    /// Why the rollout is in that state.
    pub rollout_state_reason: Option<String>,
}

/// One service event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEvent {
    /// When it happened.
    pub created_at: DateTime<Utc>,
    /// What happened.
    pub message: String,
}

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Starting (provisioning, pulling, pending).
    Starting,
    /// Running.
    Running,
    /// Stopped or stopping: it no longer counts as capacity.
    Stopped,
}

/// A task started for a compute target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    /// Its identifier (an ECS task ARN, or a local process id).
    pub id: String,
    /// Where it is in its life.
    pub state: TaskState,
}

/// A compute-cluster operation failed.
#[derive(Debug, Error)]
pub enum ComputeError {
    /// The cluster (ECS) refused or failed; the message is the upstream one (shown as 502).
    #[error("{0}")]
    Upstream(String),
    /// No compute target of that name is configured.
    #[error("unknown compute target {0:?}")]
    UnknownTarget(String),
    /// A request outside what the cluster allows (e.g. a desired count over the maximum).
    #[error("{0}")]
    Invalid(String),
}

/// The cluster running workers.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ComputeCluster: Send + Sync + 'static {
    /// The worker service's status.
    async fn service_status(&self) -> Result<ServiceStatus, ComputeError>;

    /// Sets how many tasks the worker service keeps running.
    async fn set_desired_count(&self, count: u32) -> Result<(), ComputeError>;

    /// Replaces the service's tasks with fresh ones (a forced new deployment).
    async fn redeploy(&self) -> Result<(), ComputeError>;

    /// Starts `count` tasks for a compute target (a group of job types sharing a task
    /// definition); their ids. May start fewer than asked (the ids say how many).
    async fn run_tasks(&self, target: &str, count: u32) -> Result<Vec<String>, ComputeError>;

    /// The current state of tasks by id; ids the cluster no longer knows are reported stopped.
    async fn describe_tasks(&self, ids: &[String]) -> Result<Vec<TaskInfo>, ComputeError>;
}

/// A shared cluster is a cluster (the server wires one behind an `Arc<dyn ComputeCluster>`).
#[async_trait]
impl<T: ComputeCluster + ?Sized> ComputeCluster for std::sync::Arc<T> {
    async fn service_status(&self) -> Result<ServiceStatus, ComputeError> {
        (**self).service_status().await
    }

    async fn set_desired_count(&self, count: u32) -> Result<(), ComputeError> {
        (**self).set_desired_count(count).await
    }

    async fn redeploy(&self) -> Result<(), ComputeError> {
        (**self).redeploy().await
    }

    async fn run_tasks(&self, target: &str, count: u32) -> Result<Vec<String>, ComputeError> {
        (**self).run_tasks(target, count).await
    }

    async fn describe_tasks(&self, ids: &[String]) -> Result<Vec<TaskInfo>, ComputeError> {
        (**self).describe_tasks(ids).await
    }
}
