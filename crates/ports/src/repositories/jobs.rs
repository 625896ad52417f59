//! Storage port of the job queue.
//!
//! The rules of the job state machine live in `reefguide_domain::job::state`; storage makes them
//! atomic. Two kinds of write exist:
//! - **claims** ([`JobRepository::claim_jobs`], [`JobRepository::assign_job`]) are single atomic
//!   statements in storage, because they race by design. They apply exactly
//!   [`JobState::claim`](reefguide_domain::job::JobState::claim): only a `PENDING` job whose
//!   attempts are below its policy's maximum is claimed; it becomes `IN_PROGRESS`, gains one
//!   attempt and a lease of its policy's length, and a new assignment whose storage location is
//!   [`StorageBase::location_for`].
//! - **every other transition** is computed by the service with the domain state machine and
//!   stored with [`JobRepository::apply_change`], a compare-and-set on the job's `version`: it
//!   changes nothing and answers `false` when the job changed in between, and the service
//!   re-reads and decides again.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reefguide_domain::UserId;
use reefguide_domain::job::registry::JobTypeName;
use reefguide_domain::job::{
    Assignment, AssignmentId, Job, JobDetails, JobId, JobRequest, JobRequestId, JobState,
    JobStatus, PayloadHash, RetryPolicy, StorageBase, StorageLocation,
};
use reefguide_domain::workflow::WorkflowRun;
use serde_json::Value;

/// A job submission to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// Who submits it.
    pub owner: UserId,
    /// The (registered) job type name.
    pub job_type: JobTypeName,
    /// The validated input payload.
    pub input_payload: Value,
    /// Its content hash.
    pub hash: PayloadHash,
    /// The type's retry policy, fixed for the job's lifetime.
    pub policy: RetryPolicy,
    /// Reuse an existing job with the same hash when there is one (the type caches results).
    pub use_cache: bool,
    /// The submission time.
    pub now: DateTime<Utc>,
    /// For an Airflow type: the collection, submitter and run folder.
    pub workflow: Option<WorkflowRun>,
}

/// What a submission led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submission {
    /// The job that serves the request (new, or reused from the cache).
    pub job_id: JobId,
    /// Whether an existing job was reused.
    pub cached: bool,
    /// The recorded request.
    pub request_id: JobRequestId,
}

/// Who claims a job, as R1 workers describe themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerTag {
    /// The claiming account.
    pub user_id: UserId,
    /// The worker's ECS task ARN.
    pub ecs_task_arn: Option<String>,
    /// The worker's ECS cluster ARN.
    pub ecs_cluster_arn: Option<String>,
}

impl WorkerTag {
    /// A worker known only by its account (no ECS task or cluster).
    #[must_use]
    pub const fn account(user_id: UserId) -> Self {
        Self {
            user_id,
            ecs_task_arn: None,
            ecs_cluster_arn: None,
        }
    }
}

/// A claim request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    /// Only jobs of these types (`None`: any type).
    pub job_types: Option<Vec<JobTypeName>>,
    /// The claiming worker.
    pub worker: WorkerTag,
    /// Where assignments' results go.
    pub storage: StorageBase,
    /// Most jobs to claim (at least 1).
    pub limit: u64,
    /// The claim time (lease start).
    pub now: DateTime<Utc>,
}

/// The stored jobs counted, for operators: what every server instance reports alike, since it
/// is read from the shared store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobCensus {
    /// The number of jobs of each type in each state; pairs with no job are absent.
    pub by_state: BTreeMap<(JobTypeName, JobStatus), u64>,
    /// Each type's queue of claimable jobs (`PENDING`, attempts left, not a workflow); types
    /// with none are absent.
    pub queues: BTreeMap<JobTypeName, QueueCensus>,
}

/// One job type's queue of claimable jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCensus {
    /// How many jobs wait.
    pub depth: u64,
    /// When the oldest of them was submitted.
    pub oldest_created_at: DateTime<Utc>,
}

/// A job just claimed, with its new assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The job, now `IN_PROGRESS`.
    pub job: Job,
    /// The assignment holding its lease.
    pub assignment: Assignment,
}

/// The outcome of assigning one job by id (R1's `assign`).
#[derive(Debug, Clone, PartialEq)]
pub enum AssignOutcome {
    /// The caller won the job.
    Assigned(Box<Claimed>),
    /// No such job.
    NotFound,
    /// The job exists but is not claimable (not `PENDING`, or out of attempts).
    NotAvailable,
}

/// Whose jobs a listing covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobScope {
    /// Every job (ADMIN).
    All,
    /// Jobs the user owns or requested through a cache hit.
    VisibleTo(UserId),
    /// Jobs the user owns.
    OwnedBy(UserId),
}

/// A listing query; jobs come newest first (by id, descending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobQuery {
    /// Whose jobs.
    pub scope: JobScope,
    /// Only this status.
    pub status: Option<JobStatus>,
    /// Only this type.
    pub job_type: Option<JobTypeName>,
    /// Page size.
    pub limit: u64,
    /// Only jobs with an id below this one (the previous page's cursor).
    pub before: Option<JobId>,
    /// Jobs skipped before the page (after the cursor), for offset paging.
    pub offset: u64,
}

/// A page of jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPage {
    /// The jobs with their assignments and results.
    pub jobs: Vec<JobDetails>,
    /// Jobs matching the query (ignoring the cursor).
    pub total: u64,
    /// The cursor of the next page, when there is one.
    pub next: Option<JobId>,
}

/// An update of an assignment, stored with a job change.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignmentUpdate {
    /// The assignment.
    pub id: AssignmentId,
    /// New lease end (a heartbeat).
    pub expires_at: Option<DateTime<Utc>>,
    /// Heartbeat time.
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// Completion time (a result).
    pub completed_at: Option<DateTime<Utc>>,
    /// Reported progress (0..=100).
    pub progress: Option<f64>,
    /// Reported message.
    pub message: Option<String>,
}

/// A result to store with a job change.
#[derive(Debug, Clone, PartialEq)]
pub struct NewResult {
    /// The assignment that produced it.
    pub assignment_id: AssignmentId,
    /// The validated result payload.
    pub result_payload: Option<Value>,
    /// Where its files are (the assignment's location).
    pub storage: StorageLocation,
}

/// A state change computed by the domain state machine, applied only if the job's version is
/// still `expected_version`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobChange {
    /// The job.
    pub job_id: JobId,
    /// The version the change was computed from.
    pub expected_version: i64,
    /// The new state.
    pub state: JobState,
    /// The change time (`updated_at`).
    pub now: DateTime<Utc>,
    /// An assignment to update in the same transaction.
    pub assignment: Option<AssignmentUpdate>,
    /// A result to insert in the same transaction.
    pub result: Option<NewResult>,
}

/// Which workflow jobs the dispatcher follows ([`JobRepository::workflow_jobs`]); each comes
/// with its current assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkflowJobs {
    /// `IN_PROGRESS`, and the current attempt's run not recorded as triggered.
    Untriggered,
    /// `IN_PROGRESS`, the current attempt's run triggered.
    Running,
    /// `CANCELLED` while an attempt was under way, whose run is not yet stopped (the current
    /// assignment is not completed).
    Cancelling,
}

/// The start of a workflow job's attempt, decided by the service
/// ([`JobState::claim`](reefguide_domain::job::JobState::claim)), stored only if the job is
/// still at `expected_version`.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowStart {
    /// The job.
    pub job_id: JobId,
    /// The version the start was decided on.
    pub expected_version: i64,
    /// The new state (`IN_PROGRESS`, one more attempt).
    pub state: JobState,
    /// Who the attempt is recorded for (the job's owner: the engine acts on their behalf).
    pub worker: UserId,
    /// Where the run's outputs go.
    pub storage: StorageLocation,
    /// The start time.
    pub now: DateTime<Utc>,
}

/// Jobs, assignments, results and requests.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait JobRepository: Send + Sync + 'static {
    /// Records a submission. With `use_cache`, a job with the same hash that is `PENDING`,
    /// `IN_PROGRESS`, or `SUCCEEDED` with a cache-valid result is reused (the newest such job,
    /// preferring a `SUCCEEDED` one) instead of creating a job. The lookup, the job and the request
    /// are one transaction, serialised per hash, so concurrent identical submissions create one
    /// job.
    async fn submit_job(&self, new_job: NewJob) -> anyhow::Result<Submission>;

    /// The job with its assignments and results, if any.
    async fn find_job(&self, id: JobId) -> anyhow::Result<Option<JobDetails>>;

    /// The assignment and its job, if any.
    async fn find_assignment(&self, id: AssignmentId) -> anyhow::Result<Option<(Assignment, Job)>>;

    /// Whether the user has a request for this job (owner or cache hit).
    async fn has_requested(&self, user: UserId, job: JobId) -> anyhow::Result<bool>;

    /// A page of jobs.
    async fn list_jobs(&self, query: JobQuery) -> anyhow::Result<JobPage>;

    /// The user's requests (`None`: everyone's), newest first, at most `limit`.
    async fn list_requests(
        &self,
        user: Option<UserId>,
        limit: u64,
    ) -> anyhow::Result<Vec<JobRequest>>;

    /// Up to `limit` claimable jobs, oldest first, optionally of one type (R1's `poll`).
    async fn pending_jobs(
        &self,
        job_type: Option<JobTypeName>,
        limit: u64,
    ) -> anyhow::Result<Vec<Job>>;

    /// The number of claimable jobs (`PENDING` with attempts below their maximum) of each job
    /// type that has any, in one query and without any page limit. Types without claimable jobs
    /// are absent (never a zero count).
    async fn pending_counts(&self) -> anyhow::Result<BTreeMap<JobTypeName, u64>>;

    /// Every stored job counted by type and state, and each type's claimable queue (depth and
    /// oldest submission), for the operators' metrics.
    async fn job_census(&self) -> anyhow::Result<JobCensus>;

    /// Claims this job if it is claimable (R1's `assign`); atomic: of concurrent callers exactly
    /// one wins.
    async fn assign_job(
        &self,
        id: JobId,
        worker: WorkerTag,
        storage: StorageBase,
        now: DateTime<Utc>,
    ) -> anyhow::Result<AssignOutcome>;

    /// Claims up to `limit` claimable jobs, oldest first; concurrent claimers never get the same
    /// job and never wait for each other's rows.
    async fn claim_jobs(&self, request: ClaimRequest) -> anyhow::Result<Vec<Claimed>>;

    /// Applies a change if the job is still at `expected_version` (bumping it); `false` when it
    /// was not (nothing changed).
    async fn apply_change(&self, change: JobChange) -> anyhow::Result<bool>;

    /// Up to `limit` `IN_PROGRESS` jobs whose lease ended at or before `now`, oldest lease first.
    async fn expired_leases(&self, now: DateTime<Utc>, limit: u64) -> anyhow::Result<Vec<Job>>;

    /// Up to `limit` worker jobs (not workflow jobs) still `PENDING` or `IN_PROGRESS` that were
    /// created before `created_before`, of any of `types` (of every type when empty), by id.
    async fn stale_jobs(
        &self,
        created_before: DateTime<Utc>,
        types: &[JobTypeName],
        limit: u64,
    ) -> anyhow::Result<Vec<Job>>;

    /// Marks every result of this job type as no longer valid for the cache; the number changed.
    async fn invalidate_cache(&self, job_type: JobTypeName) -> anyhow::Result<u64>;

    /// Up to `limit` workflow jobs waiting for the engine (`PENDING` with attempts left), oldest
    /// first. (Workers never see these: every claim, poll, assign and pending count leaves
    /// workflow jobs out.)
    async fn pending_workflow_jobs(&self, limit: u64) -> anyhow::Result<Vec<Job>>;

    /// Up to `limit` workflow jobs of one kind, oldest first, with their current assignment.
    async fn workflow_jobs(
        &self,
        which: WorkflowJobs,
        limit: u64,
    ) -> anyhow::Result<Vec<(Job, Assignment)>>;

    /// The workflow jobs among `ids` that have a current assignment, with it (in no particular
    /// order; ids that are not such jobs are absent).
    async fn workflow_attempts(&self, ids: Vec<JobId>) -> anyhow::Result<Vec<(Job, Assignment)>>;

    /// Starts attempts of workflow jobs (at most one start per job): for each job still at its
    /// expected version, the new state and a new assignment, all in one transaction. The
    /// assignments of the jobs started (those whose version had changed are absent: nothing
    /// changed for them).
    async fn start_workflow_runs(
        &self,
        starts: Vec<WorkflowStart>,
    ) -> anyhow::Result<Vec<Assignment>>;

    /// Records that the engine accepted (or already had) each run: `(assignment, run id)`.
    async fn record_engine_runs(
        &self,
        runs: Vec<(AssignmentId, String)>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()>;
}
