//! The typed outcomes of every job use case. Who may do what is decided in
//! [`crate::access`].

use thiserror::Error;

use super::model::{AssignmentId, JobId};
use super::registry::UnknownJobType;
use super::state::JobStatus;

/// Submitting a job.
#[derive(Debug, Error)]
pub enum SubmitJobError {
    /// No job type of that name.
    #[error("Unknown job type {0:?}")]
    UnknownType(String),
    /// The type exists but the caller may not submit it.
    #[error("You are not permitted to submit jobs of type {0}")]
    NotPermitted(String),
    /// The input payload fails the type's schema.
    #[error(transparent)]
    InvalidPayload(#[from] super::registry::PayloadErrors),
    /// A workflow (Airflow) type was submitted without a collection.
    #[error("Jobs of type {0} run on a data collection: name one in \"collection\"")]
    MissingCollection(String),
    /// The named collection does not exist.
    #[error("Unknown collection {0:?}")]
    UnknownCollection(String),
    /// A collection was named for a type that reefguide's workers run.
    #[error("Jobs of type {0} do not run on a data collection: leave out \"collection\"")]
    CollectionNotApplicable(String),
    /// The collection does not list the workflow.
    #[error("Workflow {workflow} does not run on collection {collection}")]
    WorkflowNotInCollection {
        /// The type.
        workflow: String,
        /// The collection.
        collection: String,
    },
    /// The payload sets a parameter the server gives the workflow itself.
    #[error(transparent)]
    ReservedParameter(#[from] crate::workflow::ReservedParameter),
    /// The submitter's username cannot name the run folder.
    #[error(transparent)]
    UnusableUsername(#[from] crate::workflow::UnusableUsername),
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Reading one job.
#[derive(Debug, Error)]
pub enum JobAccessError {
    /// No such job.
    #[error("Job not found")]
    NotFound(JobId),
    /// It exists but the caller may not see it.
    #[error("You do not have access to this job")]
    Forbidden,
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Cancelling a job.
#[derive(Debug, Error)]
pub enum CancelJobError {
    /// No such job.
    #[error("Job not found")]
    NotFound(JobId),
    /// Not the owner and not an administrator.
    #[error("You can only cancel your own jobs")]
    Forbidden,
    /// The job already ended.
    #[error("Job can no longer be cancelled: it is {0}")]
    NotCancellable(JobStatus),
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The caller may not work the job queue: it is neither a worker nor an administrator (see
/// [`crate::access::may_act_as_worker`]). Every worker use case refuses with this first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("Worker or administrator role required")]
pub struct NotAWorker;

/// A worker listing claimable jobs (R1's `poll`).
#[derive(Debug, Error)]
pub enum PollError {
    /// The type to list is not one of the deployment's (checked before the caller).
    #[error(transparent)]
    UnknownType(#[from] UnknownJobType),
    /// The caller may not work the queue.
    #[error(transparent)]
    NotAWorker(#[from] NotAWorker),
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A worker claiming the oldest claimable job.
#[derive(Debug, Error)]
pub enum ClaimError {
    /// The caller may not work the queue.
    #[error(transparent)]
    NotAWorker(#[from] NotAWorker),
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A worker assigning itself one job by id (R1's `assign`).
#[derive(Debug, Error)]
pub enum AssignJobError {
    /// The caller may not work the queue.
    #[error(transparent)]
    NotAWorker(#[from] NotAWorker),
    /// No such job.
    #[error("Job not found")]
    NotFound(JobId),
    /// Another worker won it, or it is not pending (R1 workers read this 400 as "someone else
    /// won").
    #[error("Job is not available for assignment")]
    NotAvailable,
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A worker's heartbeat or result for an assignment.
#[derive(Debug, Error)]
pub enum AssignmentError {
    /// The caller may not work the queue.
    #[error(transparent)]
    NotAWorker(#[from] NotAWorker),
    /// No such assignment.
    #[error("Assignment not found")]
    NotFound(AssignmentId),
    /// The caller is not the account that claimed the assignment.
    #[error("This assignment belongs to another worker")]
    NotHolder,
    /// A result was already reported for this assignment.
    #[error("Assignment already completed")]
    AlreadyCompleted,
    /// The lease is gone: it expired, the job was re-queued or cancelled, or another assignment
    /// holds it now. Nothing changed.
    #[error("The lease on this job was lost ({0})")]
    LeaseLost(&'static str),
    /// The result payload fails the type's result schema.
    #[error(transparent)]
    InvalidResult(#[from] super::registry::PayloadErrors),
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Invalidating the cached results of a job type.
#[derive(Debug, Error)]
pub enum InvalidateCacheError {
    /// The caller is not an administrator (see [`crate::access::may_invalidate_cache`]).
    #[error("Administrator role required")]
    Forbidden,
    /// No job type of that name.
    #[error("Unknown job type {0:?}")]
    UnknownType(String),
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// An administrator timing out stale jobs (`POST /api/admin/timeout-jobs`).
#[derive(Debug, Error)]
pub enum TimeoutJobsError {
    /// The caller is not an administrator (see [`crate::access::may_time_out_jobs`]).
    #[error("Administrator role required")]
    Forbidden,
    /// No job type of that name.
    #[error("Unknown job type {0:?}")]
    UnknownType(String),
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}
