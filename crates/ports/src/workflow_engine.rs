//! The workflow engine that runs the jobs of Airflow job types (labcas-contract §2): Airflow's
//! stable REST API, directly or through AWS MWAA (`reefguide-adapters-airflow`).
//!
//! The engine is read in bulk: a sync cycle asks, per DAG, for the runs changed since the last
//! cycle ([`WorkflowEngine::runs_changed_since`], every page), so its cost does not grow with the
//! history of finished runs. Triggering is idempotent by run id: the server names each run
//! ([`DagRunId`]) and a run that already exists is reported as such, to be adopted.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reefguide_domain::workflow::{AirflowRunState, DagId, DagRunId};
use serde_json::{Map, Value};
use thiserror::Error;

/// A run to start.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerRequest {
    /// The DAG.
    pub dag_id: DagId,
    /// The run's id (deterministic: job and attempt).
    pub run_id: DagRunId,
    /// The run's `conf`: the job's input payload plus the reserved parameters.
    pub conf: Map<String, Value>,
}

/// What a trigger did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Triggered {
    /// The run was created.
    Created,
    /// A run with that id already existed (an earlier trigger whose answer was lost): adopt it.
    AlreadyExists,
}

/// A run as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStatus {
    /// The run's id as the engine knows it (ours are [`DagRunId`]s; others are ignored by the
    /// dispatcher).
    pub run_id: String,
    /// Its state.
    pub state: AirflowRunState,
    /// When it started running, once it has.
    pub start_date: Option<DateTime<Utc>>,
    /// When it ended, once it has.
    pub end_date: Option<DateTime<Utc>>,
}

/// A DAG the engine knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagInfo {
    /// Its id.
    pub dag_id: DagId,
    /// Whether it is paused (its runs stay queued).
    pub is_paused: bool,
    /// Its description, if any.
    pub description: Option<String>,
}

/// How the engine answers right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineHealth {
    /// It answers.
    Healthy,
    /// It does not answer, or refuses the credentials: why.
    Degraded(String),
}

/// Why an engine call failed. Only [`EngineError::NotFound`] is an answer about the thing asked
/// for; every other error leaves jobs as they are, to be retried.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The engine could not be reached, timed out or answered 5xx.
    #[error("the workflow engine is unavailable: {0}")]
    Unavailable(String),
    /// The engine refused the credentials (Airflow answers 403 as well as 401).
    #[error("the workflow engine refused the credentials: {0}")]
    CredentialsRefused(String),
    /// The DAG or run does not exist.
    #[error("the workflow engine does not know {0}")]
    NotFound(String),
    /// The engine refused the request itself (another 4xx): a bug or a misconfigured DAG.
    #[error("the workflow engine refused the request: {0}")]
    Refused(String),
}

/// An Airflow deployment.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait WorkflowEngine: Send + Sync + 'static {
    /// Starts a run, or reports that a run with that id already exists.
    async fn trigger(&self, request: &TriggerRequest) -> Result<Triggered, EngineError>;

    /// The runs of `dag_id` changed at or after `since`, every page of them.
    async fn runs_changed_since(
        &self,
        dag_id: &DagId,
        since: DateTime<Utc>,
    ) -> Result<Vec<RunStatus>, EngineError>;

    /// One run: how the dispatcher notices a run the engine no longer knows
    /// ([`EngineError::NotFound`]); asked only for the runs in progress, and seldom.
    async fn run(&self, dag_id: &DagId, run_id: &str) -> Result<RunStatus, EngineError>;

    /// The ids of the failed tasks of a run (for the result of a failed job).
    async fn failed_tasks(&self, dag_id: &DagId, run_id: &str) -> Result<Vec<String>, EngineError>;

    /// Marks a run failed (Airflow then stops its running tasks): how a job is cancelled.
    async fn cancel(&self, dag_id: &DagId, run_id: &str) -> Result<(), EngineError>;

    /// Unpauses a DAG (DAGs start paused; a paused DAG's runs stay queued).
    async fn unpause(&self, dag_id: &DagId) -> Result<(), EngineError>;

    /// Every DAG the engine knows.
    async fn dags(&self) -> Result<Vec<DagInfo>, EngineError>;

    /// Whether the engine answers.
    async fn health(&self) -> EngineHealth;
}
