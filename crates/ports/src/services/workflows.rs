//! The workflow dispatcher (labcas-contract §2): runs the jobs of Airflow types on the
//! [`WorkflowEngine`]. One instance at a time runs it (the same leader election as the capacity
//! manager), one cycle every `sync_interval`:
//!
//! 1. **trigger** the attempts that were started but whose run is not recorded as triggered (an
//!    earlier trigger failed, or the server stopped between trigger and record): the run id is
//!    deterministic (`reefguide-<job>-<attempt>`), so a run that exists already is adopted, never
//!    triggered twice;
//! 2. **dispatch** pending workflow jobs: create their output folders, start their attempts
//!    together (a compare-and-set per job, as every change, in one storage call), unpause each
//!    DAG once, trigger the runs ([`CONCURRENT_CALLS`] at a time), record the accepted runs
//!    together;
//! 3. **sync**: per DAG, the runs changed since the last cycle (every page, one request per DAG
//!    and page, whatever the history), finishing the jobs whose run ended: their attempts loaded
//!    together, their changes made [`CONCURRENT_CHANGES`] at a time (storage batches them);
//! 4. **cancel** in the engine the runs of jobs cancelled while running;
//! 5. on the first cycle of a leadership and then every [`FULL_CHECK_EVERY`] cycles, **check**
//!    each running attempt's run by id: a run the engine no longer knows is lost (the job goes
//!    back to the queue for its next attempt, or times out), an ended run missed by the sync is
//!    finished.
//!
//! An engine that is unreachable, answers 5xx, times out or refuses the credentials never fails a
//! job: the work is left as it is and retried next cycle, and [`WorkflowDispatcher::health`]
//! reports the engine degraded.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt as _;
use reefguide_domain::job::registry::JobTypeRegistry;
use reefguide_domain::job::{Assignment, AssignmentId, Job, JobId, JobState, JobStatus, Outcome};
use reefguide_domain::workflow::{
    AirflowRunState, DagId, DagRunId, LocalRoot, WorkflowRun, run_conf,
};
use serde_json::{Value, json};

use super::jobs::Workflows;
use crate::clock::Clock;
use crate::object_store::ObjectStore;
use crate::repositories::jobs::{
    AssignmentUpdate, JobChange, JobRepository, NewResult, WorkflowJobs, WorkflowStart,
};
use crate::workflow_engine::{
    EngineError, EngineHealth, RunStatus, TriggerRequest, Triggered, WorkflowEngine,
};

/// Most jobs one cycle dispatches, triggers again, cancels or checks, per kind.
pub const CYCLE_BATCH: u64 = 1_000;

/// How many engine calls one cycle has in flight at once.
pub const CONCURRENT_CALLS: usize = 8;

/// How many job changes one cycle has in flight at once (storage batches changes made at once).
pub const CONCURRENT_CHANGES: usize = 64;

/// How far before the previous cycle's start the sync reads changed runs: covers a difference
/// between this server's clock and the engine's, and runs whose change was written while the
/// previous read ran.
pub const SYNC_OVERLAP: Duration = Duration::seconds(30);

/// Every how many cycles the running attempts are checked one by one.
pub const FULL_CHECK_EVERY: u32 = 30;

/// The longest pause between cycles while the engine fails (the back-off doubles from one
/// cycle's interval up to this).
pub const MAX_BACKOFF: Duration = Duration::seconds(10);

/// How long an engine health answer is reused.
pub const HEALTH_TTL: StdDuration = StdDuration::from_secs(5);

/// What one cycle did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Runs triggered (created by this cycle).
    pub triggered: u64,
    /// Runs that existed already and were adopted.
    pub adopted: u64,
    /// Jobs finished `SUCCEEDED`.
    pub succeeded: u64,
    /// Jobs finished `FAILED`.
    pub failed: u64,
    /// Runs of cancelled jobs stopped in the engine.
    pub cancelled: u64,
    /// Runs the engine no longer knew: their jobs re-queued or timed out.
    pub lost: u64,
    /// Why the engine could not be used this cycle (unreachable, credentials refused), if so.
    pub engine_error: Option<String>,
}

/// What the dispatcher remembers between cycles of one leadership.
#[derive(Debug, Default)]
struct Memory {
    /// The start of the last cycle whose sync read every DAG.
    synced_until: Option<DateTime<Utc>>,
    /// Cycles since the running attempts were last checked one by one.
    since_full_check: u32,
    /// DAGs unpaused during this leadership.
    unpaused: BTreeSet<DagId>,
    /// Runs finished recently (seen again while inside the sync overlap), by id.
    finished: HashMap<String, DateTime<Utc>>,
    /// Cycles in a row on which the engine failed.
    failures: u32,
    /// No cycle before this time (back-off while the engine fails).
    resume_at: Option<DateTime<Utc>>,
    /// When the last cycle ran.
    last_start: Option<DateTime<Utc>>,
    /// The time between two cycles while the engine answers: the back-off's unit.
    unit: Option<Duration>,
}

/// Runs workflow jobs on the engine (see the [module documentation](self)).
pub struct WorkflowDispatcher<S, C> {
    store: S,
    clock: C,
    engine: Arc<dyn WorkflowEngine>,
    objects: Arc<dyn ObjectStore>,
    registry: JobTypeRegistry,
    workflows: Workflows,
    root: LocalRoot,
    memory: Mutex<Memory>,
    health: Mutex<Option<(Instant, EngineHealth)>>,
}

/// Why a cycle stopped early: storage failed (the engine's failures are reported, not errors).
pub type DispatchError = anyhow::Error;

impl<S: JobRepository, C: Clock> WorkflowDispatcher<S, C> {
    /// A dispatcher of the Airflow types of `registry`, whose jobs run on `workflows`'
    /// collections; `local://` locations are below `root`; output folders are made in `objects`.
    pub fn new(
        store: S,
        clock: C,
        engine: Arc<dyn WorkflowEngine>,
        objects: Arc<dyn ObjectStore>,
        registry: JobTypeRegistry,
        workflows: Workflows,
        root: LocalRoot,
    ) -> Self {
        Self {
            store,
            clock,
            engine,
            objects,
            registry,
            workflows,
            root,
            memory: Mutex::new(Memory::default()),
            health: Mutex::new(None),
        }
    }

    /// Forgets what this leadership learnt: the next cycle checks every running attempt (call
    /// it when another instance led meanwhile).
    pub fn reset(&self) {
        *self.memory() = Memory::default();
    }

    /// How the engine answers (asked at most every [`HEALTH_TTL`]).
    pub async fn health(&self) -> EngineHealth {
        if let Some((at, health)) = self
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            && at.elapsed() < HEALTH_TTL
        {
            return health;
        }
        let health = self.engine.health().await;
        *self.health.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), health.clone()));
        health
    }

    /// One cycle (see the [module documentation](self)).
    ///
    /// While the engine keeps failing, cycles back off (the wait doubles, up to
    /// [`MAX_BACKOFF`]); a skipped cycle reports nothing.
    ///
    /// # Errors
    /// When storage fails; engine failures are in the report instead.
    pub async fn run_cycle(&self) -> Result<DispatchReport, DispatchError> {
        let started = self.clock.now();
        if self.backing_off(started) {
            return Ok(DispatchReport::default());
        }
        let report = self.cycle(started).await?;
        self.note_outcome(started, report.engine_error.is_some());
        Ok(report)
    }

    /// Whether the cycle starting at `now` is skipped; remembers the start of one that is not.
    fn backing_off(&self, now: DateTime<Utc>) -> bool {
        let mut memory = self.memory();
        if memory.resume_at.is_some_and(|resume| now < resume) {
            return true;
        }
        memory.resume_at = None;
        false
    }

    /// Counts an engine failure (and sets the back-off) or clears the count.
    fn note_outcome(&self, started: DateTime<Utc>, engine_failed: bool) {
        let mut memory = self.memory();
        // The unit is the time between two cycles while all is well (the loop's interval).
        if memory.failures == 0
            && let Some(last) = memory.last_start
        {
            memory.unit = Some((started - last).clamp(Duration::milliseconds(100), MAX_BACKOFF));
        }
        memory.last_start = Some(started);
        if !engine_failed {
            memory.failures = 0;
            return;
        }
        memory.failures = memory.failures.saturating_add(1);
        let unit = memory.unit.unwrap_or(Duration::seconds(1));
        let factor = 1_i32 << memory.failures.min(8);
        memory.resume_at = Some(started + (unit * factor).min(MAX_BACKOFF));
    }

    /// The work of one cycle.
    async fn cycle(&self, started: DateTime<Utc>) -> Result<DispatchReport, DispatchError> {
        let mut report = DispatchReport::default();
        let untriggered = self
            .store
            .workflow_jobs(WorkflowJobs::Untriggered, CYCLE_BATCH)
            .await?;
        self.trigger_all(untriggered, &mut report).await?;
        self.dispatch(&mut report).await?;
        let synced = self.sync(started, &mut report).await?;
        self.cancel_runs(&mut report).await?;
        let full_check = {
            let mut memory = self.memory();
            let due = memory.synced_until.is_none() || memory.since_full_check >= FULL_CHECK_EVERY;
            memory.since_full_check = if due { 0 } else { memory.since_full_check + 1 };
            due
        };
        if full_check {
            self.check_running(&mut report).await?;
        }
        if synced {
            self.memory().synced_until = Some(started);
        }
        Ok(report)
    }

    /// Starts attempts of pending workflow jobs (all in one go) and triggers their runs.
    async fn dispatch(&self, report: &mut DispatchReport) -> Result<(), DispatchError> {
        let pending = self.store.pending_workflow_jobs(CYCLE_BATCH).await?;
        if pending.is_empty() {
            return Ok(());
        }
        let prepared: Vec<_> = futures_util::stream::iter(pending)
            .map(|job| async move { self.prepare_start(job).await })
            .buffer_unordered(CONCURRENT_CALLS)
            .filter_map(std::future::ready)
            .collect()
            .await;
        let mut decided: HashMap<JobId, (Job, JobState)> = HashMap::new();
        let mut starts = Vec::with_capacity(prepared.len());
        for (job, start) in prepared {
            decided.insert(job.id, (job, start.state));
            starts.push(start);
        }
        let assignments = self.store.start_workflow_runs(starts).await?;
        let started = assignments
            .into_iter()
            .filter_map(|assignment| {
                let (job, state) = decided.remove(&assignment.job_id)?;
                let job = Job {
                    state,
                    current_assignment: Some(assignment.id),
                    version: job.version.saturating_add(1),
                    ..job
                };
                Some((job, assignment))
            })
            .collect();
        self.trigger_all(started, report).await
    }

    /// The start of `job`'s next attempt, its output folder made; `None` when it is not runnable
    /// (not a workflow job, attempts used up) or its folder cannot be made.
    async fn prepare_start(&self, job: Job) -> Option<(Job, WorkflowStart)> {
        let run = job.workflow.as_ref()?;
        let now = self.clock.now();
        let state = job.state.claim(now, &job.policy).ok()?;
        let storage = run.output.storage_location(&self.root);
        if let Err(error) = self.objects.create_folder(&storage).await {
            tracing::warn!(job = %job.id, %error, "cannot create the output folder of a workflow job");
            return None;
        }
        let start = WorkflowStart {
            job_id: job.id,
            expected_version: job.version,
            state,
            worker: job.owner,
            storage,
            now,
        };
        Some((job, start))
    }

    /// Triggers the runs of started attempts, some at a time, and records the accepted ones
    /// together. (A run accepted and not yet recorded when the server stops is adopted on the
    /// next trigger: its id is deterministic.)
    async fn trigger_all(
        &self,
        attempts: Vec<(Job, Assignment)>,
        report: &mut DispatchReport,
    ) -> Result<(), DispatchError> {
        if attempts.is_empty() {
            return Ok(());
        }
        let dags: BTreeSet<DagId> = attempts
            .iter()
            .filter_map(|(job, _)| Some(self.workflow_of(job)?.0))
            .collect();
        for dag_id in &dags {
            self.unpause(dag_id).await;
        }
        let outcomes: Vec<_> = futures_util::stream::iter(attempts)
            .map(|(job, assignment)| async move { self.trigger(&job, &assignment).await })
            .buffer_unordered(CONCURRENT_CALLS)
            .collect()
            .await;
        let mut accepted = Vec::new();
        for outcome in outcomes {
            match outcome? {
                TriggerOutcome::Created(run) => {
                    report.triggered += 1;
                    accepted.push(run);
                }
                TriggerOutcome::Adopted(run) => {
                    report.adopted += 1;
                    accepted.push(run);
                }
                TriggerOutcome::Failed => report.failed += 1,
                TriggerOutcome::Skipped => {}
                TriggerOutcome::EngineDown(reason) => {
                    report.engine_error.get_or_insert(reason);
                }
            }
        }
        if !accepted.is_empty() {
            self.store
                .record_engine_runs(accepted, self.clock.now())
                .await?;
        }
        Ok(())
    }

    /// Triggers the run of one started attempt.
    async fn trigger(
        &self,
        job: &Job,
        assignment: &Assignment,
    ) -> Result<TriggerOutcome, DispatchError> {
        let Some((dag_id, run)) = self.workflow_of(job) else {
            return Ok(TriggerOutcome::Skipped);
        };
        let Some(collection) = self.workflows.collections.get(run.collection.as_str()) else {
            tracing::warn!(job = %job.id, collection = %run.collection, "a workflow job's collection is no longer configured");
            return Ok(TriggerOutcome::Skipped);
        };
        let run_id = DagRunId {
            job: job.id,
            attempt: job.state.attempts(),
        };
        let request = TriggerRequest {
            dag_id: dag_id.clone(),
            run_id,
            conf: run_conf(
                job.id,
                &job.input_payload,
                run,
                &collection.location,
                &self.root,
            ),
        };
        let accepted = (assignment.id, run_id.to_string());
        match self.engine.trigger(&request).await {
            Ok(Triggered::Created) => Ok(TriggerOutcome::Created(accepted)),
            Ok(Triggered::AlreadyExists) => Ok(TriggerOutcome::Adopted(accepted)),
            Err(error) => self.trigger_refused(job, assignment, &dag_id, error).await,
        }
    }

    /// What a refused trigger means: the engine is down (retry), or the DAG cannot run this
    /// (the job fails, saying why).
    async fn trigger_refused(
        &self,
        job: &Job,
        assignment: &Assignment,
        dag_id: &DagId,
        error: EngineError,
    ) -> Result<TriggerOutcome, DispatchError> {
        match error {
            EngineError::Unavailable(_) | EngineError::CredentialsRefused(_) => {
                log_engine_down(&error);
                Ok(TriggerOutcome::EngineDown(error.to_string()))
            }
            EngineError::NotFound(_) | EngineError::Refused(_) => {
                let sentence = format!("Airflow refused to run DAG {dag_id}: {error}");
                tracing::warn!(job = %job.id, %sentence, "workflow job failed");
                let payload = json!({ "error": sentence, "failed_tasks": [] });
                self.finish(job, assignment, Outcome::Failed, payload)
                    .await?;
                Ok(TriggerOutcome::Failed)
            }
        }
    }

    /// Unpauses `dag_id` once per leadership (DAGs start paused, and a paused DAG's runs wait).
    /// Should that fail, the cycle triggers all the same (a run that reaches Airflow is one
    /// fewer to send later), and the unpause is tried again next cycle.
    async fn unpause(&self, dag_id: &DagId) {
        if self.memory().unpaused.contains(dag_id) {
            return;
        }
        match self.engine.unpause(dag_id).await {
            Ok(()) => {
                self.memory().unpaused.insert(dag_id.clone());
            }
            Err(error) => {
                tracing::warn!(dag = %dag_id, %error, "cannot unpause an Airflow DAG; triggering anyway");
            }
        }
    }

    /// Reads each DAG's runs changed since the last synced cycle and finishes the jobs whose run
    /// ended; whether every DAG was read.
    async fn sync(
        &self,
        started: DateTime<Utc>,
        report: &mut DispatchReport,
    ) -> Result<bool, DispatchError> {
        let since = {
            let mut memory = self.memory();
            let horizon = started - SYNC_OVERLAP * 2;
            memory.finished.retain(|_, at| *at >= horizon);
            memory.synced_until
        };
        let Some(since) = since else {
            // The first cycle of a leadership checks every running attempt instead.
            return Ok(true);
        };
        let mut every_dag_read = true;
        for job_type in self.registry.airflow_types() {
            let Some(dag_id) = job_type.engine().dag_id() else {
                continue;
            };
            let runs = match self
                .engine
                .runs_changed_since(dag_id, since - SYNC_OVERLAP)
                .await
            {
                Ok(runs) => runs,
                Err(error) => {
                    log_engine_down(&error);
                    report.engine_error.get_or_insert(error.to_string());
                    every_dag_read = false;
                    continue;
                }
            };
            let ended: Vec<RunStatus> = {
                let memory = self.memory();
                runs.into_iter()
                    .filter(|run| {
                        run.state.is_final() && !memory.finished.contains_key(&run.run_id)
                    })
                    .collect()
            };
            for (run_id, settled) in self.settle_all(dag_id, ended).await? {
                self.count(settled, report);
                self.memory().finished.insert(run_id, started);
            }
        }
        Ok(every_dag_read)
    }

    /// Finishes the jobs of ended runs of `dag_id` whose run is their current attempt: the
    /// attempts loaded together, the unrecorded runs among them recorded together (a run whose
    /// trigger answer was lost is that attempt's all the same: adopted), the failed tasks of
    /// failed runs asked some at a time, the jobs finished many at a time. What each run came
    /// to, by run id.
    async fn settle_all(
        &self,
        dag_id: &DagId,
        runs: Vec<RunStatus>,
    ) -> Result<Vec<(String, Settled)>, DispatchError> {
        let ids: BTreeSet<JobId> = runs
            .iter()
            .filter_map(|run| Some(DagRunId::parse(&run.run_id)?.job))
            .collect();
        let mut attempts: HashMap<JobId, (Job, Assignment)> = if ids.is_empty() {
            HashMap::new()
        } else {
            self.store
                .workflow_attempts(ids.into_iter().collect())
                .await?
                .into_iter()
                .map(|(job, assignment)| (job.id, (job, assignment)))
                .collect()
        };
        let mut settled = Vec::with_capacity(runs.len());
        let mut current = Vec::with_capacity(runs.len());
        for run in runs {
            let attempt = DagRunId::parse(&run.run_id)
                .filter(|run_id| {
                    attempts
                        .get(&run_id.job)
                        .is_some_and(|(job, _)| is_current_run(job, run_id))
                })
                .and_then(|run_id| attempts.remove(&run_id.job));
            match attempt {
                Some((job, assignment)) => current.push((job, assignment, run)),
                None => settled.push((run.run_id, Settled::NotOurs)),
            }
        }
        let unrecorded: Vec<_> = current
            .iter()
            .filter(|(_, assignment, _)| assignment.engine_run_id.is_none())
            .map(|(_, assignment, run)| (assignment.id, run.run_id.clone()))
            .collect();
        if !unrecorded.is_empty() {
            self.store
                .record_engine_runs(unrecorded, self.clock.now())
                .await?;
        }
        let ends: Vec<_> = futures_util::stream::iter(current)
            .map(|(job, assignment, run)| async move {
                let end = self.run_end(dag_id, &job, &run).await;
                (job, assignment, run.run_id, end)
            })
            .buffer_unordered(CONCURRENT_CALLS)
            .collect()
            .await;
        let concluded: Vec<_> = futures_util::stream::iter(ends)
            .map(|(job, assignment, run_id, end)| async move {
                let outcome = self.conclude(&job, &assignment, end).await;
                (run_id, outcome)
            })
            .buffer_unordered(CONCURRENT_CHANGES)
            .collect()
            .await;
        for (run_id, outcome) in concluded {
            settled.push((run_id, outcome?));
        }
        Ok(settled)
    }

    /// Finishes an attempt whose run is in `run`'s state (nothing while it runs), adopting the
    /// run if its trigger was not recorded.
    async fn settle_attempt(
        &self,
        dag_id: &DagId,
        job: &Job,
        assignment: &Assignment,
        run: &RunStatus,
    ) -> Result<Settled, DispatchError> {
        if assignment.engine_run_id.is_none() {
            self.store
                .record_engine_runs(vec![(assignment.id, run.run_id.clone())], self.clock.now())
                .await?;
        }
        let end = self.run_end(dag_id, job, run).await;
        self.conclude(job, assignment, end).await
    }

    /// What `run`'s state means for `job`'s attempt; a failed run's failed tasks are asked of
    /// the engine.
    async fn run_end(&self, dag_id: &DagId, job: &Job, run: &RunStatus) -> RunEnd {
        let Some(workflow) = &job.workflow else {
            return RunEnd::NotOurs;
        };
        match run.state {
            AirflowRunState::Queued | AirflowRunState::Running => RunEnd::Running,
            AirflowRunState::Success => RunEnd::Ended(
                Outcome::Succeeded,
                json!({
                    "dag_run_id": run.run_id,
                    "start_date": run.start_date,
                    "end_date": run.end_date,
                    "output_location": workflow.output.to_string(),
                }),
            ),
            AirflowRunState::Failed => {
                let tasks = match self.engine.failed_tasks(dag_id, &run.run_id).await {
                    Ok(tasks) => tasks,
                    Err(EngineError::NotFound(_)) => Vec::new(),
                    Err(error) => {
                        log_engine_down(&error);
                        return RunEnd::EngineDown(error.to_string());
                    }
                };
                let sentence = if tasks.is_empty() {
                    format!("Airflow run {} failed", run.run_id)
                } else {
                    format!(
                        "Airflow run {} failed in task {}",
                        run.run_id,
                        tasks.join(", ")
                    )
                };
                RunEnd::Ended(
                    Outcome::Failed,
                    json!({ "error": sentence, "failed_tasks": tasks }),
                )
            }
        }
    }

    /// Stores what `end` decided for the attempt.
    async fn conclude(
        &self,
        job: &Job,
        assignment: &Assignment,
        end: RunEnd,
    ) -> Result<Settled, DispatchError> {
        let (outcome, payload) = match end {
            RunEnd::Running => return Ok(Settled::Running),
            RunEnd::NotOurs => return Ok(Settled::NotOurs),
            RunEnd::EngineDown(reason) => return Ok(Settled::EngineDown(reason)),
            RunEnd::Ended(outcome, payload) => (outcome, payload),
        };
        if !self.finish(job, assignment, outcome, payload).await? {
            return Ok(Settled::NotOurs);
        }
        Ok(match outcome {
            Outcome::Succeeded => Settled::Succeeded,
            Outcome::Failed => Settled::Failed,
        })
    }

    /// Stores the end of an attempt with its result; whether the job was still as read.
    async fn finish(
        &self,
        job: &Job,
        assignment: &Assignment,
        outcome: Outcome,
        payload: Value,
    ) -> Result<bool, DispatchError> {
        let Ok(next) = job.state.finish_run(outcome) else {
            return Ok(false);
        };
        let now = self.clock.now();
        self.store
            .apply_change(JobChange {
                job_id: job.id,
                expected_version: job.version,
                state: next,
                now,
                assignment: Some(completed(assignment, now)),
                result: Some(NewResult {
                    assignment_id: assignment.id,
                    result_payload: Some(payload),
                    storage: assignment.storage.clone(),
                }),
            })
            .await
    }

    /// Stops in the engine the runs of jobs cancelled while they ran.
    async fn cancel_runs(&self, report: &mut DispatchReport) -> Result<(), DispatchError> {
        let cancelling = self
            .store
            .workflow_jobs(WorkflowJobs::Cancelling, CYCLE_BATCH)
            .await?;
        for (job, assignment) in cancelling {
            let Some((dag_id, _)) = self.workflow_of(&job) else {
                continue;
            };
            // The attempt's run id, recorded or not (the trigger may have landed unrecorded).
            let run_id = assignment.engine_run_id.clone().unwrap_or_else(|| {
                DagRunId {
                    job: job.id,
                    attempt: job.state.attempts(),
                }
                .to_string()
            });
            match self.engine.cancel(&dag_id, &run_id).await {
                Ok(()) | Err(EngineError::NotFound(_)) => {}
                Err(error @ (EngineError::Unavailable(_) | EngineError::CredentialsRefused(_))) => {
                    log_engine_down(&error);
                    report.engine_error.get_or_insert(error.to_string());
                    continue;
                }
                Err(error @ EngineError::Refused(_)) => {
                    // An ended run cannot be marked failed: there is nothing left to stop.
                    tracing::info!(job = %job.id, %error, "the run of a cancelled job was not stopped");
                }
            }
            let now = self.clock.now();
            let stored = self
                .store
                .apply_change(JobChange {
                    job_id: job.id,
                    expected_version: job.version,
                    state: job.state,
                    now,
                    assignment: Some(completed(&assignment, now)),
                    result: None,
                })
                .await?;
            if stored {
                report.cancelled += 1;
            }
        }
        Ok(())
    }

    /// Checks every running attempt's run by id: lost runs re-queue their job, ended ones finish.
    async fn check_running(&self, report: &mut DispatchReport) -> Result<(), DispatchError> {
        let running = self
            .store
            .workflow_jobs(WorkflowJobs::Running, CYCLE_BATCH)
            .await?;
        let outcomes: Vec<_> = futures_util::stream::iter(running)
            .map(|(job, assignment)| async move { self.check(&job, &assignment).await })
            .buffer_unordered(CONCURRENT_CALLS)
            .collect()
            .await;
        for outcome in outcomes {
            self.count(outcome?, report);
        }
        Ok(())
    }

    /// Checks one running attempt's run.
    async fn check(&self, job: &Job, assignment: &Assignment) -> Result<Settled, DispatchError> {
        let (Some((dag_id, _)), Some(run_id)) =
            (self.workflow_of(job), assignment.engine_run_id.as_deref())
        else {
            return Ok(Settled::NotOurs);
        };
        match self.engine.run(&dag_id, run_id).await {
            Ok(run) => self.settle_attempt(&dag_id, job, assignment, &run).await,
            Err(EngineError::NotFound(_)) => {
                let Ok(next) = job.state.lose_run(&job.policy) else {
                    return Ok(Settled::NotOurs);
                };
                tracing::warn!(job = %job.id, run = run_id, "Airflow no longer knows the run; the job is re-queued");
                let now = self.clock.now();
                let stored = self
                    .store
                    .apply_change(JobChange {
                        job_id: job.id,
                        expected_version: job.version,
                        state: next,
                        now,
                        assignment: Some(completed(assignment, now)),
                        result: None,
                    })
                    .await?;
                Ok(if stored {
                    Settled::Lost
                } else {
                    Settled::NotOurs
                })
            }
            Err(error) => {
                log_engine_down(&error);
                Ok(Settled::EngineDown(error.to_string()))
            }
        }
    }

    /// Adds one settled run to the report.
    fn count(&self, settled: Settled, report: &mut DispatchReport) {
        match settled {
            Settled::Succeeded => report.succeeded += 1,
            Settled::Failed => report.failed += 1,
            Settled::Lost => report.lost += 1,
            Settled::EngineDown(reason) => {
                report.engine_error.get_or_insert(reason);
            }
            Settled::Running | Settled::NotOurs => {}
        }
    }

    /// The DAG and run of a workflow job whose type is still an Airflow type.
    fn workflow_of<'a>(&self, job: &'a Job) -> Option<(DagId, &'a WorkflowRun)> {
        let run = job.workflow.as_ref()?;
        let dag_id = self
            .registry
            .get(job.job_type.as_str())?
            .engine()
            .dag_id()?
            .clone();
        Some((dag_id, run))
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a trigger came to.
enum TriggerOutcome {
    /// The run was created: `(assignment, run id)`, to record.
    Created((AssignmentId, String)),
    /// The run existed: adopted (recorded as the created ones).
    Adopted((AssignmentId, String)),
    /// The engine cannot run it: the job failed.
    Failed,
    /// The job's type or collection is no longer configured: left alone.
    Skipped,
    /// The engine is down: retried next cycle.
    EngineDown(String),
}

/// What reading an attempt's run came to.
enum Settled {
    /// The job succeeded.
    Succeeded,
    /// The job failed.
    Failed,
    /// The run was lost: the job was re-queued or timed out.
    Lost,
    /// The run still runs.
    Running,
    /// Not the current attempt of a running workflow job (finished, cancelled, not ours).
    NotOurs,
    /// The engine could not answer.
    EngineDown(String),
}

/// What a run's state means for its attempt.
enum RunEnd {
    /// The run still runs.
    Running,
    /// The run ended: the job's outcome and result payload.
    Ended(Outcome, Value),
    /// Not a workflow job.
    NotOurs,
    /// The engine could not say which tasks failed.
    EngineDown(String),
}

/// Whether `run_id` is the current attempt of `job`, a running workflow job.
fn is_current_run(job: &Job, run_id: &DagRunId) -> bool {
    job.state.status() == JobStatus::InProgress
        && job.workflow.is_some()
        && job.state.attempts() == run_id.attempt
}

/// The completion of an assignment at `now`.
fn completed(assignment: &Assignment, now: DateTime<Utc>) -> AssignmentUpdate {
    AssignmentUpdate {
        id: assignment.id,
        expires_at: None,
        heartbeat_at: None,
        completed_at: Some(now),
        progress: None,
        message: None,
    }
}

/// Logs an engine failure: loudly when the credentials are refused (an operator must act).
fn log_engine_down(error: &EngineError) {
    match error {
        EngineError::CredentialsRefused(_) => {
            tracing::error!(%error, "Airflow refused the credentials; workflow jobs wait");
        }
        _ => tracing::warn!(%error, "Airflow is unavailable; workflow jobs wait"),
    }
}

#[cfg(all(test, feature = "mock"))]
mod tests;
