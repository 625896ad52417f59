//! The job use cases: submitting and reading jobs (users), claiming and reporting them (workers),
//! and expiring leases (the sweeper).
//!
//! Every state change is decided by the domain state machine ([`JobState`]) on a freshly read job
//! and stored with [`JobRepository::apply_change`], a compare-and-set on the job's version; when
//! another writer got there first the use case reads again and decides again (at most
//! [`MAX_CHANGE_ATTEMPTS`] times). Claims are atomic in storage itself.
//!
//! Every worker use case first checks that the caller may work the queue
//! ([`may_act_as_worker`]); the other rules are applied where the use case reads what they are
//! about. All of them are decided in [`reefguide_domain::access`].
//!
//! What this instance remembers to go faster ([`shortcuts`]) is behind one type: heartbeats and
//! results first decide on the lease remembered from the claim or the last heartbeat, which saves
//! reading the assignment and its job again (only a change that storage accepted is answered
//! from such a copy); R1's poll and assign skip jobs that are leased, being assigned, or offered
//! to another poller.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use reefguide_domain::User;
use reefguide_domain::access::{
    WorkflowRefusal, listing_scope, may_act_as_worker, may_cancel_job, may_invalidate_cache,
    may_run_workflow, may_time_out_jobs, may_view_job, may_work_assignment,
};
use reefguide_domain::job::errors::{
    AssignJobError, AssignmentError, CancelJobError, ClaimError, InvalidateCacheError,
    JobAccessError, NotAWorker, PollError, SubmitJobError, TimeoutJobsError,
};
use reefguide_domain::job::registry::{JobType, JobTypeName, JobTypeRegistry, UnknownJobType};
use reefguide_domain::job::worker::InvalidClaimTypes;
use reefguide_domain::job::{
    Assignment, AssignmentId, ClaimTypes, EcsArn, Job, JobDetails, JobId, JobRequest, JobState,
    JobStatus, Outcome, PayloadHash, ProgressMessage, ProgressPercent, StorageBase,
    TransitionError,
};
use reefguide_domain::workflow::{
    Collections, DataLocation, WorkflowRun, check_reserved_parameters, workflow_hash,
};
use serde_json::Value;

use crate::clock::Clock;
use crate::repositories::jobs::{
    AssignOutcome, AssignmentUpdate, ClaimRequest, Claimed, JobCensus, JobChange, JobPage,
    JobQuery, JobRepository, JobScope, NewJob, NewResult, Submission, WorkerTag,
};
use crate::wakeup::JobSignal;

use self::shortcuts::{Lease, LeasedJob, Shortcuts};

pub use self::shortcuts::OFFER_HOLD;

mod shortcuts;

/// How often a change is re-decided when concurrent writers keep winning the compare-and-set.
pub const MAX_CHANGE_ATTEMPTS: usize = 8;

/// The longest a claim may wait for work (contract §7: `waitSeconds` up to 30).
pub const MAX_CLAIM_WAIT: StdDuration = StdDuration::from_secs(30);

/// How often a waiting claim re-checks the queue even without a wake-up (e.g. a lost
/// notification from another server instance).
pub const CLAIM_RECHECK: StdDuration = StdDuration::from_secs(1);

/// How many jobs R1's `poll` returns at most.
pub const POLL_LIMIT: u64 = 10;

/// How many more jobs than [`POLL_LIMIT`] a poll reads at most, to make up for the jobs it leaves
/// out (being assigned, or on offer).
pub const MAX_POLL_SKIP: usize = 128;

/// How many expired leases one sweep handles at most.
pub const SWEEP_BATCH: u64 = 500;

/// Filters of a job listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobListing {
    /// Only this status.
    pub status: Option<JobStatus>,
    /// Only this type (resolved with [`JobService::job_type`]).
    pub job_type: Option<JobTypeName>,
    /// Page size.
    pub limit: u64,
    /// The cursor from the previous page.
    pub before: Option<JobId>,
    /// Jobs skipped before the page (offset paging, as LabCAS's run listing).
    pub offset: u64,
}

/// What a heartbeat tells the worker.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatReply {
    /// The assignment, with its extended lease (unchanged when cancelled).
    pub assignment: Assignment,
    /// The job was cancelled: the worker should stop and report nothing.
    pub cancelled: bool,
}

/// A heartbeat's optional progress report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Percent complete.
    pub percent: Option<ProgressPercent>,
    /// A short human message.
    pub message: Option<ProgressMessage>,
}

/// Where a worker runs, as it names itself when it takes a job (both optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerArns {
    /// Its ECS task ARN.
    pub task: Option<EcsArn>,
    /// Its ECS cluster ARN.
    pub cluster: Option<EcsArn>,
}

impl WorkerArns {
    /// How storage records `actor` working under these ARNs.
    fn tag(self, actor: &User) -> WorkerTag {
        WorkerTag {
            user_id: actor.id,
            ecs_task_arn: self.task.map(EcsArn::into_string),
            ecs_cluster_arn: self.cluster.map(EcsArn::into_string),
        }
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepSummary {
    /// Jobs put back in the queue for another attempt.
    pub requeued: u64,
    /// Jobs that used up their attempts.
    pub timed_out: u64,
}

/// The job use cases.
pub struct JobService<S, C> {
    store: S,
    clock: C,
    registry: JobTypeRegistry,
    storage: StorageBase,
    signal: JobSignal,
    shortcuts: Shortcuts,
    workflows: Workflows,
}

/// What workflow (Airflow) jobs run on and where their outputs go (labcas-contract §1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workflows {
    /// The data collections.
    pub collections: Collections,
    /// The folder below which each user's run folders are made.
    pub staging: DataLocation,
}

impl Default for Workflows {
    /// No collection; outputs below `local://labcas/`.
    fn default() -> Self {
        Self {
            collections: Collections::default(),
            staging: DataLocation::Local {
                prefix: "labcas/".to_owned(),
            },
        }
    }
}

/// A decision taken on a lease: the answer, or to be taken again on fresh rows.
enum Attempt<T> {
    /// Storage accepted the change: the answer.
    Done(T),
    /// An answer that changed nothing (e.g. "the job was cancelled"): final only when decided
    /// on fresh rows, never on a remembered copy.
    Unchanged(T),
    /// Another writer changed the job first.
    Lost,
}

impl<S: JobRepository, C: Clock> JobService<S, C> {
    /// Wires the service. `storage` is where assignments' results go; `signal` wakes waiting
    /// claimers (share it with whatever relays other instances' notifications).
    pub fn new(
        store: S,
        clock: C,
        registry: JobTypeRegistry,
        storage: StorageBase,
        signal: JobSignal,
    ) -> Self {
        Self {
            store,
            clock,
            registry,
            storage,
            signal,
            shortcuts: Shortcuts::default(),
            workflows: Workflows::default(),
        }
    }

    /// The same service with these collections and staging area for workflow jobs.
    #[must_use]
    pub fn with_workflows(self, workflows: Workflows) -> Self {
        Self { workflows, ..self }
    }

    /// The collections and staging area of workflow jobs.
    pub fn workflows(&self) -> &Workflows {
        &self.workflows
    }

    /// The job types of this deployment.
    pub fn registry(&self) -> &JobTypeRegistry {
        &self.registry
    }

    /// The stored jobs counted by type and state, with each type's queue (for the operators'
    /// metrics; no caller is checked: the metrics endpoint guards itself).
    pub async fn census(&self) -> anyhow::Result<JobCensus> {
        self.store.job_census().await
    }

    /// The registered name of the type called `name`: whether a job type exists is decided by
    /// the registry ([`JobTypeRegistry::resolve`]) for every use case.
    ///
    /// # Errors
    /// [`UnknownJobType`] when the deployment has no type of that name.
    pub fn job_type(&self, name: &str) -> Result<JobTypeName, UnknownJobType> {
        self.registry.resolve(name)
    }

    /// The job types one claim asks for: at most [`ClaimTypes::MAX`] names, each one of the
    /// deployment's types (decided by the registry, as for every use case).
    ///
    /// # Errors
    /// [`InvalidClaimTypes::TooMany`] over the limit, else [`InvalidClaimTypes::Unknown`] naming
    /// the first unknown type.
    pub fn claim_types(&self, names: &[String]) -> Result<ClaimTypes, InvalidClaimTypes> {
        ClaimTypes::parse(names, &self.registry)
    }

    /// The types `actor` may submit, by name.
    pub fn submittable_types<'a>(&'a self, actor: &'a User) -> impl Iterator<Item = &'a JobType> {
        self.registry.submittable_by(actor)
    }

    /// Submits a job: checks the type, the caller's permission and the payload, then records the
    /// request, reusing a cached job when the type caches. A workflow (Airflow) type runs on the
    /// named `collection` (required for it, refused for any other type): the collection must
    /// list the type and the payload may not set the reserved parameters; the collection and the
    /// submitter's username are part of the cache hash (a user's cache hit is their own run).
    pub async fn submit(
        &self,
        actor: &User,
        job_type: &str,
        input_payload: Value,
        collection: Option<&str>,
    ) -> Result<Submission, SubmitJobError> {
        let kind = self
            .registry
            .get(job_type)
            .ok_or_else(|| SubmitJobError::UnknownType(job_type.to_owned()))?;
        let spec = kind.spec();
        let now = self.clock.now();
        let workflow = match (kind.is_worker_run(), collection) {
            (true, None) => None,
            (true, Some(_)) => {
                return Err(SubmitJobError::CollectionNotApplicable(job_type.to_owned()));
            }
            (false, None) => return Err(SubmitJobError::MissingCollection(job_type.to_owned())),
            (false, Some(collection)) => Some(self.workflow_run(actor, kind, collection, now)?),
        };
        if !spec.access.permits(actor) {
            return Err(SubmitJobError::NotPermitted(job_type.to_owned()));
        }
        if workflow.is_some() {
            check_reserved_parameters(&input_payload)?;
        }
        kind.validate_input(&input_payload)?;
        let hash = match &workflow {
            Some(run) => workflow_hash(&spec.name, &run.collection, &run.username, &input_payload),
            None => PayloadHash::compute(spec.name.as_str(), &input_payload),
        };
        let worker_run = workflow.is_none();
        let submission = self
            .store
            .submit_job(NewJob {
                owner: actor.id,
                job_type: spec.name.clone(),
                hash,
                input_payload,
                policy: spec.policy,
                use_cache: spec.cache,
                now,
                workflow,
            })
            .await?;
        if !submission.cached && worker_run {
            self.signal.notify();
        }
        Ok(submission)
    }

    /// The run of a workflow job of `kind` on `collection` submitted by `actor` at `now`: the
    /// collection must exist and list the type (checked before who asks, as LabCAS users expect
    /// a workflow that does not apply to be refused whoever asks).
    fn workflow_run(
        &self,
        actor: &User,
        kind: &JobType,
        collection: &str,
        now: DateTime<Utc>,
    ) -> Result<WorkflowRun, SubmitJobError> {
        let found = self
            .workflows
            .collections
            .get(collection)
            .ok_or_else(|| SubmitJobError::UnknownCollection(collection.to_owned()))?;
        may_run_workflow(actor, kind.name(), &kind.spec().access, found).map_err(|refusal| {
            match refusal {
                WorkflowRefusal::NotInCollection {
                    workflow,
                    collection,
                } => SubmitJobError::WorkflowNotInCollection {
                    workflow: workflow.to_string(),
                    collection,
                },
                WorkflowRefusal::NotAuthorised(name) => {
                    SubmitJobError::NotPermitted(name.to_string())
                }
            }
        })?;
        Ok(WorkflowRun::new(
            found.id.clone(),
            actor.username(),
            &self.workflows.staging,
            now,
        )?)
    }

    /// One job with its assignments and results, if the caller may see it.
    pub async fn get(&self, actor: &User, id: JobId) -> Result<JobDetails, JobAccessError> {
        visible_job(&self.store, actor, id).await
    }

    /// The jobs the caller owns or requested (every job for administrators).
    pub async fn list_visible(&self, actor: &User, listing: JobListing) -> anyhow::Result<JobPage> {
        let scope = listing_scope(actor).map_or(JobScope::All, JobScope::VisibleTo);
        self.list(scope, listing).await
    }

    /// The jobs the caller owns.
    pub async fn list_own(&self, actor: &User, listing: JobListing) -> anyhow::Result<JobPage> {
        self.list(JobScope::OwnedBy(actor.id), listing).await
    }

    async fn list(&self, scope: JobScope, listing: JobListing) -> anyhow::Result<JobPage> {
        self.store
            .list_jobs(JobQuery {
                scope,
                status: listing.status,
                job_type: listing.job_type,
                limit: listing.limit,
                before: listing.before,
                offset: listing.offset,
            })
            .await
    }

    /// The caller's job requests (everyone's for administrators), newest first.
    pub async fn requests(&self, actor: &User, limit: u64) -> anyhow::Result<Vec<JobRequest>> {
        self.store.list_requests(listing_scope(actor), limit).await
    }

    /// Cancels a pending or running job (its owner or an administrator). A running job's worker
    /// learns it from its next heartbeat; its result is then refused.
    pub async fn cancel(&self, actor: &User, id: JobId) -> Result<JobDetails, CancelJobError> {
        for _ in 0..MAX_CHANGE_ATTEMPTS {
            let details = self
                .store
                .find_job(id)
                .await?
                .ok_or(CancelJobError::NotFound(id))?;
            let job = &details.job;
            if !may_cancel_job(actor, job.owner) {
                return Err(CancelJobError::Forbidden);
            }
            let next = job
                .state
                .cancel()
                .map_err(|_| CancelJobError::NotCancellable(job.state.status()))?;
            if self.store.apply_change(self.change(job, next)).await? {
                return self
                    .store
                    .find_job(id)
                    .await?
                    .ok_or(CancelJobError::NotFound(id));
            }
        }
        Err(contention(id).into())
    }

    /// Marks every cached result of a job type as stale (administrators only); the number of
    /// results affected.
    pub async fn invalidate_cache(
        &self,
        actor: &User,
        job_type: &str,
    ) -> Result<u64, InvalidateCacheError> {
        if !may_invalidate_cache(actor) {
            return Err(InvalidateCacheError::Forbidden);
        }
        let name = self
            .registry
            .resolve(job_type)
            .map_err(|unknown| InvalidateCacheError::UnknownType(unknown.name))?;
        Ok(self.store.invalidate_cache(name).await?)
    }

    /// Times out (administrators only) every worker job still `PENDING` or `IN_PROGRESS` that
    /// was created more than `threshold` ago, of `types` (every type when empty): R2's
    /// `POST /api/admin/timeout-jobs`. Each job goes through the state machine with a
    /// compare-and-set, so a job that finishes meanwhile keeps its end, and a worker still on a
    /// timed-out job is refused its next heartbeat or result. Workflow jobs are left to their
    /// engine (cancel them to stop their runs). The jobs timed out, by id.
    pub async fn time_out_stale(
        &self,
        actor: &User,
        threshold: chrono::Duration,
        types: &[String],
    ) -> Result<Vec<Job>, TimeoutJobsError> {
        if !may_time_out_jobs(actor) {
            return Err(TimeoutJobsError::Forbidden);
        }
        let types = types
            .iter()
            .map(|name| self.registry.resolve(name))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|unknown| TimeoutJobsError::UnknownType(unknown.name))?;
        let now = self.clock.now();
        let cutoff = now - threshold;
        let mut timed_out = Vec::new();
        loop {
            let batch = self.store.stale_jobs(cutoff, &types, SWEEP_BATCH).await?;
            let mut changed = 0_usize;
            for job in &batch {
                let Ok(next) = job.state.time_out() else {
                    continue;
                };
                if self
                    .store
                    .apply_change(change_at(job.id, job.version, next, now))
                    .await?
                {
                    changed += 1;
                    timed_out.push(Job {
                        state: next,
                        ..job.clone()
                    });
                }
            }
            // A short batch was the last; a batch where every change lost its race to another
            // writer is left for the next call rather than retried forever.
            if u64::try_from(batch.len()).unwrap_or(u64::MAX) < SWEEP_BATCH || changed == 0 {
                break;
            }
        }
        timed_out.sort_by_key(|job| job.id);
        Ok(timed_out)
    }

    /// Up to [`POLL_LIMIT`] claimable jobs, oldest first (R1's `poll`). Jobs that an `assign` of
    /// this instance is claiming right now or has leased are left out (R1's workers would only
    /// lose the race for them: the listing may have been read before the claim's commit), and so
    /// are jobs that came first in another poll's answer moments ago (see [`shortcuts`]), unless
    /// nothing else is waiting. The first job listed is offered to this poller.
    ///
    /// `job_type` is checked before the caller: an unknown type is
    /// [`PollError::UnknownType`] whoever asks.
    pub async fn poll(&self, actor: &User, job_type: Option<&str>) -> Result<Vec<Job>, PollError> {
        let job_type = job_type
            .map(|name| self.registry.resolve(name))
            .transpose()?;
        require_worker(actor)?;
        let now = self.clock.now();
        let margin = self.shortcuts.poll_margin(now).min(MAX_POLL_SKIP);
        let extra = u64::try_from(margin).unwrap_or(0);
        let listing = self
            .store
            .pending_jobs(job_type, POLL_LIMIT.saturating_add(extra))
            .await?;
        let limit = usize::try_from(POLL_LIMIT).unwrap_or(usize::MAX);
        Ok(self.shortcuts.poll_answer(listing, limit, now))
    }

    /// Assigns one job by id to the calling worker (R1's `assign`): atomic, exactly one of
    /// several racing workers wins. A job this instance leased and whose lease has not ended, or
    /// that another `assign` of this instance is claiming right now, is not available without
    /// asking storage (R1's workers all try the same oldest jobs). Ends the job's offer to the
    /// poller that listed it first (see [`shortcuts`]).
    pub async fn assign(
        &self,
        actor: &User,
        id: JobId,
        arns: WorkerArns,
    ) -> Result<Claimed, AssignJobError> {
        require_worker(actor)?;
        let now = self.clock.now();
        let Some(_assigning) = self.shortcuts.start_assign(id, now) else {
            return Err(AssignJobError::NotAvailable);
        };
        match self
            .store
            .assign_job(id, arns.tag(actor), self.storage.clone(), now)
            .await?
        {
            AssignOutcome::Assigned(claimed) => {
                self.shortcuts.claimed(&claimed);
                Ok(*claimed)
            }
            AssignOutcome::NotFound => Err(AssignJobError::NotFound(id)),
            AssignOutcome::NotAvailable => Err(AssignJobError::NotAvailable),
        }
    }

    /// Claims the oldest claimable job of the given types (any type when `None`), waiting up to
    /// `wait` (at most [`MAX_CLAIM_WAIT`]) for one to arrive; `None` when none did, or at once
    /// when the job signal drains (shutdown).
    pub async fn claim(
        &self,
        actor: &User,
        job_types: Option<ClaimTypes>,
        arns: WorkerArns,
        wait: StdDuration,
    ) -> Result<Option<Claimed>, ClaimError> {
        require_worker(actor)?;
        let job_types = job_types.map(ClaimTypes::into_names);
        let worker = arns.tag(actor);
        let deadline = tokio::time::Instant::now() + wait.min(MAX_CLAIM_WAIT);
        let mut waiter = self.signal.subscribe();
        loop {
            waiter.arm();
            let claimed = self
                .store
                .claim_jobs(ClaimRequest {
                    job_types: job_types.clone(),
                    worker: worker.clone(),
                    storage: self.storage.clone(),
                    limit: 1,
                    now: self.clock.now(),
                })
                .await?;
            if let Some(claimed) = claimed.into_iter().next() {
                self.shortcuts.claimed(&claimed);
                return Ok(Some(claimed));
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            // A draining server answers at once: its requests must end for it to stop.
            if left.is_zero() || waiter.is_draining() {
                return Ok(None);
            }
            waiter.wait(left.min(CLAIM_RECHECK)).await;
        }
    }

    /// Extends the lease of a running assignment and records its progress. Tells the worker to
    /// stop (`cancelled`) when the job was cancelled.
    pub async fn heartbeat(
        &self,
        actor: &User,
        id: AssignmentId,
        progress: Progress,
    ) -> Result<HeartbeatReply, AssignmentError> {
        require_worker(actor)?;
        self.on_lease(id, async |lease| {
            self.try_heartbeat(actor, lease, &progress).await
        })
        .await
    }

    /// One heartbeat decided on `lease`; on success the extended lease is remembered.
    async fn try_heartbeat(
        &self,
        actor: &User,
        lease: Lease,
        progress: &Progress,
    ) -> Result<Attempt<HeartbeatReply>, AssignmentError> {
        check_holder(actor, &lease)?;
        let Lease { assignment, job } = lease;
        if job.state.status() == JobStatus::Cancelled {
            return Ok(Attempt::Unchanged(HeartbeatReply {
                assignment,
                cancelled: true,
            }));
        }
        let now = self.clock.now();
        let next = job.state.heartbeat(now, &job.policy).map_err(lease_lost)?;
        let percent = progress.percent.map(ProgressPercent::get);
        let message = progress.message.as_ref().map(|m| m.as_str().to_owned());
        let update = AssignmentUpdate {
            id: assignment.id,
            expires_at: next.lease_expires_at(),
            heartbeat_at: Some(now),
            completed_at: None,
            progress: percent,
            message: message.clone(),
        };
        let change = JobChange {
            assignment: Some(update),
            ..change_at(job.id, job.version, next, now)
        };
        if !self.store.apply_change(change).await? {
            return Ok(Attempt::Lost);
        }
        // The assignment as storage now holds it (a field the heartbeat omits keeps its value).
        let assignment = Assignment {
            updated_at: now,
            expires_at: next.lease_expires_at().unwrap_or(assignment.expires_at),
            heartbeat_at: Some(now),
            progress: percent.or(assignment.progress),
            message: message.or(assignment.message),
            ..assignment
        };
        self.shortcuts.remember_lease(Lease {
            assignment: assignment.clone(),
            job: LeasedJob {
                state: next,
                version: job.version.saturating_add(1),
                ..job
            },
        });
        Ok(Attempt::Done(HeartbeatReply {
            assignment,
            cancelled: false,
        }))
    }

    /// Records a worker's result: the job ends `SUCCEEDED` or `FAILED`. A successful result's
    /// payload must match the type's result schema (a failure's payload is diagnostic and kept
    /// as sent). Refused without any change when the lease was lost.
    pub async fn report(
        &self,
        actor: &User,
        id: AssignmentId,
        outcome: Outcome,
        result_payload: Option<Value>,
    ) -> Result<(), AssignmentError> {
        require_worker(actor)?;
        self.on_lease(id, async |lease| {
            self.try_report(actor, lease, outcome, result_payload.as_ref())
                .await
        })
        .await
    }

    /// One result report decided on `lease`.
    async fn try_report(
        &self,
        actor: &User,
        lease: Lease,
        outcome: Outcome,
        result_payload: Option<&Value>,
    ) -> Result<Attempt<()>, AssignmentError> {
        check_holder(actor, &lease)?;
        let Lease { assignment, job } = lease;
        if assignment.completed_at.is_some() {
            return Err(AssignmentError::AlreadyCompleted);
        }
        let now = self.clock.now();
        let next = job.state.complete(outcome, now).map_err(lease_lost)?;
        if outcome == Outcome::Succeeded
            && let Some(kind) = self.registry.get(job.job_type.as_str())
        {
            kind.validate_result(result_payload)?;
        }
        let change = JobChange {
            assignment: Some(AssignmentUpdate {
                id: assignment.id,
                expires_at: None,
                heartbeat_at: None,
                completed_at: Some(now),
                progress: None,
                message: None,
            }),
            result: Some(NewResult {
                assignment_id: assignment.id,
                result_payload: result_payload.cloned(),
                storage: assignment.storage,
            }),
            ..change_at(job.id, job.version, next, now)
        };
        Ok(match self.store.apply_change(change).await? {
            true => Attempt::Done(()),
            false => Attempt::Lost,
        })
    }

    /// Decides a change of assignment `id`'s lease with `decide`: first on the lease this instance
    /// remembers, if any, then on fresh rows whenever another writer changed the job first or a
    /// remembered copy was refused or answered without a change (at most
    /// [`MAX_CHANGE_ATTEMPTS`] decisions in all).
    async fn on_lease<T>(
        &self,
        id: AssignmentId,
        mut decide: impl AsyncFnMut(Lease) -> Result<Attempt<T>, AssignmentError>,
    ) -> Result<T, AssignmentError> {
        let mut remembered = self.shortcuts.take_lease(id);
        for _ in 0..MAX_CHANGE_ATTEMPTS {
            let from_memory = remembered.is_some();
            let lease = match remembered.take() {
                Some(lease) => lease,
                None => self.read_lease(id).await?,
            };
            match decide(lease).await {
                Ok(Attempt::Done(answer)) => return Ok(answer),
                Ok(Attempt::Unchanged(answer)) if !from_memory => return Ok(answer),
                Err(err) if !from_memory || matches!(err, AssignmentError::Unexpected(_)) => {
                    return Err(err);
                }
                // Lost to another writer, or refused or unconfirmed on a remembered copy: decide
                // on fresh rows.
                _ => {}
            }
        }
        Err(contention_on(id).into())
    }

    /// Re-queues (or times out, once attempts are used up) every job whose lease expired. Safe to
    /// run from several server instances at once: each change is a compare-and-set, so a job is
    /// handled by exactly one of them.
    pub async fn expire_leases(&self) -> anyhow::Result<SweepSummary> {
        let now = self.clock.now();
        let mut summary = SweepSummary::default();
        for job in self.store.expired_leases(now, SWEEP_BATCH).await? {
            let Ok(next) = job.state.expire(now, &job.policy) else {
                continue;
            };
            if !self
                .store
                .apply_change(change_at(job.id, job.version, next, now))
                .await?
            {
                continue;
            }
            match next.status() {
                JobStatus::Pending => summary.requeued += 1,
                _ => summary.timed_out += 1,
            }
        }
        if summary.requeued > 0 {
            self.signal.notify();
        }
        Ok(summary)
    }

    /// The assignment and its job as storage holds them now.
    async fn read_lease(&self, id: AssignmentId) -> Result<Lease, AssignmentError> {
        let (assignment, job) = self
            .store
            .find_assignment(id)
            .await?
            .filter(|(_, job)| job.workflow.is_none())
            .ok_or(AssignmentError::NotFound(id))?;
        Ok(Lease::new(assignment, &job))
    }

    fn change(&self, job: &Job, next: JobState) -> JobChange {
        change_at(job.id, job.version, next, self.clock.now())
    }
}

/// A change of job `id` to `next` at `now`, applied only if the job is still at `version` (the
/// one the change was decided on).
fn change_at(id: JobId, version: i64, next: JobState, now: DateTime<Utc>) -> JobChange {
    JobChange {
        job_id: id,
        expected_version: version,
        state: next,
        now,
        assignment: None,
        result: None,
    }
}

/// Refuses an actor that may not work the queue ([`may_act_as_worker`]).
pub(crate) fn require_worker(actor: &User) -> Result<(), NotAWorker> {
    if may_act_as_worker(actor) {
        Ok(())
    } else {
        Err(NotAWorker)
    }
}

/// Refuses a lease `actor` does not hold (a stranger learns nothing about it), or whose
/// assignment was superseded by another one after a re-queue.
fn check_holder(actor: &User, lease: &Lease) -> Result<(), AssignmentError> {
    check_current(
        &lease.assignment,
        lease.job.current_assignment,
        may_work_assignment(actor, lease.assignment.worker_id),
    )
}

/// `AssignmentError::NotHolder` unless `permitted`; `LeaseLost` when the assignment is not
/// completed and no longer holds its job (`holder` is the job's current assignment).
fn check_current(
    assignment: &Assignment,
    holder: Option<AssignmentId>,
    permitted: bool,
) -> Result<(), AssignmentError> {
    if !permitted {
        return Err(AssignmentError::NotHolder);
    }
    if assignment.completed_at.is_none() && holder != Some(assignment.id) {
        return Err(AssignmentError::LeaseLost(
            "the job was re-queued and is held by another assignment",
        ));
    }
    Ok(())
}

/// One job with its assignments and results, if `actor` may see it (owner, requester through
/// the cache, or administrator).
pub(crate) async fn visible_job<S: JobRepository>(
    store: &S,
    actor: &User,
    id: JobId,
) -> Result<JobDetails, JobAccessError> {
    let details = store
        .find_job(id)
        .await?
        .ok_or(JobAccessError::NotFound(id))?;
    let owner = details.job.owner;
    let requested =
        actor.id != owner && !actor.roles.is_admin() && store.has_requested(actor.id, id).await?;
    if !may_view_job(actor, owner, requested) {
        return Err(JobAccessError::Forbidden);
    }
    Ok(details)
}

/// An assignment and its job, refused unless `actor` holds the assignment (or is an
/// administrator; a stranger learns nothing about its lease) and it still holds its job.
pub(crate) async fn held_assignment<S: JobRepository>(
    store: &S,
    actor: &User,
    id: AssignmentId,
) -> Result<(Assignment, Job), AssignmentError> {
    // A workflow job's attempt is the engine's, never a worker's: it does not exist for them.
    let (assignment, job) = store
        .find_assignment(id)
        .await?
        .filter(|(_, job)| job.workflow.is_none())
        .ok_or(AssignmentError::NotFound(id))?;
    check_current(
        &assignment,
        job.current_assignment,
        may_work_assignment(actor, assignment.worker_id),
    )?;
    Ok((assignment, job))
}

/// A heartbeat or result refused by the state machine: always a lost lease, with the reason.
pub(crate) fn lease_lost(err: TransitionError) -> AssignmentError {
    AssignmentError::LeaseLost(match err {
        TransitionError::LeaseLost => "the lease expired",
        TransitionError::NotInProgress {
            status: JobStatus::Cancelled,
        } => "the job was cancelled",
        TransitionError::NotInProgress {
            status: JobStatus::Pending,
        } => "the job was re-queued",
        TransitionError::NotInProgress {
            status: JobStatus::TimedOut,
        } => "the job timed out",
        TransitionError::NotInProgress { .. } => "the job already ended",
        _ => "the lease cannot be extended",
    })
}

fn contention(id: JobId) -> anyhow::Error {
    anyhow::anyhow!(
        "job {id} kept changing concurrently; gave up after {MAX_CHANGE_ATTEMPTS} attempts"
    )
}

fn contention_on(id: AssignmentId) -> anyhow::Error {
    anyhow::anyhow!(
        "the job of assignment {id} kept changing concurrently; gave up after {MAX_CHANGE_ATTEMPTS} attempts"
    )
}

#[cfg(test)]
pub(crate) mod tests;
