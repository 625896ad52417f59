//! [`Worker`], its [`WorkerBuilder`] and the run loop: login, `concurrency` slots that claim and
//! run jobs, idle timeout and graceful shutdown.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::client::{ApiClient, ApiError, CALL_TIMEOUT, normalise_base_url};
use crate::ecs::{self, EcsTask, RequiredArns};
use crate::error::{BuildError, WorkerError};
use crate::handler::{ErasedHandler, JobHandler, Typed};
use crate::runner::{self, Outcome, RunnerEnv};
use crate::s3::S3Settings;
use crate::upload::Uploader;
use crate::wire::{
    AssignRequest, AssignResponse, Assignment, ClaimRequest, ClaimResponse, Job, PollResponse,
};

/// The longest long-poll wait the server accepts.
const MAX_CLAIM_WAIT: Duration = Duration::from_secs(30);
/// Back-off after transient errors: 1 s doubling up to 30 s.
const ERROR_BACKOFF: Duration = Duration::from_secs(1);
const ERROR_BACKOFF_CAP: Duration = Duration::from_secs(30);

/// `base · 2^attempt`, at most `cap`.
pub(crate) fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let factor = 2_u32.saturating_pow(attempt.min(31));
    base.saturating_mul(factor).min(cap)
}

/// Whether a claim answer means the server predates `POST /api/jobs/claim` (ReefGuide R1), so
/// the worker should switch to `poll` + `assign`.
pub(crate) fn claim_route_missing(status: StatusCode) -> bool {
    status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED
}

/// What a worker did before it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Jobs reported SUCCEEDED.
    pub succeeded: u64,
    /// Jobs reported FAILED (handler errors, panics, invalid input).
    pub failed: u64,
    /// Jobs given up without a report: cancelled, lease lost, or cut off by shutdown (the
    /// server re-queues them when their lease expires).
    pub abandoned: u64,
}

/// Configures a [`Worker`]; see [`Worker::builder`].
pub struct WorkerBuilder {
    api_url: Option<String>,
    credentials: Option<(String, String)>,
    handlers: Vec<(String, Arc<dyn ErasedHandler>)>,
    concurrency: usize,
    idle_timeout: Option<Duration>,
    heartbeat_interval: Duration,
    claim_wait: Duration,
    poll_interval: Duration,
    shutdown_grace: Duration,
    scratch_root: Option<PathBuf>,
    /// Direct S3 uploads (servers without upload URLs); see the `s3_*` methods.
    s3: S3Settings,
}

impl Default for WorkerBuilder {
    fn default() -> Self {
        Self {
            api_url: None,
            credentials: None,
            handlers: Vec::new(),
            concurrency: 1,
            idle_timeout: None,
            heartbeat_interval: Duration::from_secs(20),
            claim_wait: Duration::from_secs(20),
            poll_interval: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(30),
            scratch_root: None,
            s3: S3Settings::default(),
        }
    }
}

impl fmt::Debug for WorkerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerBuilder")
            .field("api_url", &self.api_url)
            .field("email", &self.credentials.as_ref().map(|(email, _)| email))
            .field(
                "job_types",
                &self.handlers.iter().map(|(t, _)| t).collect::<Vec<_>>(),
            )
            .field("concurrency", &self.concurrency)
            .field("idle_timeout", &self.idle_timeout)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("claim_wait", &self.claim_wait)
            .field("poll_interval", &self.poll_interval)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("scratch_root", &self.scratch_root)
            .finish()
    }
}

impl WorkerBuilder {
    /// The server's address, e.g. `http://127.0.0.1:5000` (a trailing `/` or `/api` is fine).
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = Some(url.into());
        self
    }

    /// The worker account (role WORKER or ADMIN).
    pub fn credentials(mut self, email: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((email.into(), password.into()));
        self
    }

    /// Runs jobs of `job_type` with `handler`; call once per type the worker takes.
    pub fn handler<H: JobHandler>(mut self, job_type: impl Into<String>, handler: H) -> Self {
        self.handlers
            .push((job_type.into(), Arc::new(Typed(handler))));
        self
    }

    /// How many jobs run at once (default 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// Stop (as on shutdown) after this long without a claimed or running job (default: never).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = Some(d);
        self
    }

    /// How often a running job's lease is extended and its progress sent (default 20 s; keep it
    /// well below the job type's lease).
    pub fn heartbeat_interval(mut self, d: Duration) -> Self {
        self.heartbeat_interval = d;
        self
    }

    /// How long one claim waits on the server for a job (long poll; default 20 s, at most 30 s).
    pub fn claim_wait(mut self, d: Duration) -> Self {
        self.claim_wait = d;
        self
    }

    /// The pause between polls when nothing is pending (R1 servers without long-poll claims,
    /// or `claim_wait` under a second; default 2 s).
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.poll_interval = d;
        self
    }

    /// How long running jobs may still finish after shutdown begins (default 30 s).
    pub fn shutdown_grace(mut self, d: Duration) -> Self {
        self.shutdown_grace = d;
        self
    }

    /// Where per-job scratch directories are made (default `<temp dir>/reefguide-worker`).
    pub fn scratch_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.scratch_root = Some(dir.into());
        self
    }

    /// Checks the configuration and creates the worker (no network access yet).
    pub fn build(self) -> Result<Worker, BuildError> {
        let url = self.api_url.ok_or(BuildError::MissingApiUrl)?;
        let base = normalise_base_url(&url).ok_or(BuildError::InvalidApiUrl(url))?;
        let (email, password) = self.credentials.ok_or(BuildError::MissingCredentials)?;
        if self.handlers.is_empty() {
            return Err(BuildError::NoHandler);
        }
        let mut handlers = HashMap::new();
        let mut job_types = Vec::new();
        for (job_type, handler) in self.handlers {
            if job_type.trim().is_empty() {
                return Err(BuildError::EmptyJobType);
            }
            if handlers.insert(job_type.clone(), handler).is_some() {
                return Err(BuildError::DuplicateHandler(job_type));
            }
            job_types.push(job_type);
        }
        if self.concurrency == 0 {
            return Err(BuildError::ZeroConcurrency);
        }
        if self.heartbeat_interval.is_zero() {
            return Err(BuildError::ZeroHeartbeatInterval);
        }
        if self.claim_wait > MAX_CLAIM_WAIT {
            return Err(BuildError::ClaimWaitTooLong(self.claim_wait));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("reefguide-worker-sdk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BuildError::HttpClient(crate::client::error_chain(&e)))?;
        Ok(Worker {
            client: Arc::new(ApiClient::new(http, base, email, password)),
            handlers,
            job_types,
            concurrency: self.concurrency,
            idle_timeout: self.idle_timeout,
            heartbeat_interval: self.heartbeat_interval,
            claim_wait: self.claim_wait,
            poll_interval: self.poll_interval,
            shutdown_grace: self.shutdown_grace,
            scratch_root: self
                .scratch_root
                .unwrap_or_else(|| std::env::temp_dir().join("reefguide-worker")),
            s3: self.s3,
        })
    }
}

/// A configured worker: [`run`](Self::run) logs in and takes jobs until shutdown.
pub struct Worker {
    client: Arc<ApiClient>,
    handlers: HashMap<String, Arc<dyn ErasedHandler>>,
    job_types: Vec<String>,
    concurrency: usize,
    idle_timeout: Option<Duration>,
    heartbeat_interval: Duration,
    claim_wait: Duration,
    poll_interval: Duration,
    shutdown_grace: Duration,
    scratch_root: PathBuf,
    s3: S3Settings,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("job_types", &self.job_types)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// State shared by the slots of a running worker.
struct Shared {
    client: Arc<ApiClient>,
    handlers: HashMap<String, Arc<dyn ErasedHandler>>,
    job_types: Vec<String>,
    claim_wait: Duration,
    poll_interval: Duration,
    idle_timeout: Option<Duration>,
    ecs: EcsTask,
    /// The ARNs sent with R1 assigns: the ECS task's, else placeholders naming this host.
    arns: RequiredArns,
    env: RunnerEnv,
    /// Stop claiming (shutdown, idle timeout or a fatal error).
    stop: CancellationToken,
    /// Abort running handlers (the shutdown grace is over).
    hard_stop: CancellationToken,
    fatal: Mutex<Option<WorkerError>>,
    summary: Mutex<RunSummary>,
    running: AtomicUsize,
    last_activity: Mutex<Instant>,
    /// Rotates the job type an R1 poll starts with.
    poll_turn: AtomicUsize,
}

impl Shared {
    fn record(&self, outcome: Outcome) {
        let mut summary = self.summary.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Outcome::Succeeded => summary.succeeded += 1,
            Outcome::Failed => summary.failed += 1,
            Outcome::Abandoned => summary.abandoned += 1,
        }
    }

    fn touch(&self) {
        *self
            .last_activity
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    /// Time left before the idle timeout, if there is one (the full timeout while jobs run).
    fn idle_remaining(&self) -> Option<Duration> {
        let idle = self.idle_timeout?;
        if self.running.load(Ordering::SeqCst) > 0 {
            return Some(idle);
        }
        let last = *self
            .last_activity
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Some((last + idle).saturating_duration_since(Instant::now()))
    }

    fn fail(&self, error: WorkerError) {
        tracing::error!(%error, "stopping the worker");
        let mut fatal = self.fatal.lock().unwrap_or_else(PoisonError::into_inner);
        if fatal.is_none() {
            *fatal = Some(error);
        }
        self.stop.cancel();
    }
}

/// An API error that ends the worker, if it is one.
fn fatal_error(error: &ApiError) -> Option<WorkerError> {
    match error {
        ApiError::LoginRefused(message) => Some(WorkerError::Login(message.clone())),
        ApiError::Status {
            status: 403,
            message,
            ..
        } => Some(WorkerError::Api(format!(
            "forbidden (the account needs role WORKER or ADMIN): {message}"
        ))),
        ApiError::Status {
            status: 400,
            message,
            ..
        } => Some(WorkerError::Api(format!("request refused: {message}"))),
        _ => None,
    }
}

impl Worker {
    /// A builder with the defaults.
    pub fn builder() -> WorkerBuilder {
        WorkerBuilder::default()
    }

    /// Runs until SIGINT or SIGTERM (or the idle timeout), then shuts down gracefully.
    pub async fn run(self) -> Result<RunSummary, WorkerError> {
        self.run_until(shutdown_signal()).await
    }

    /// Runs until `shutdown` resolves (or the idle timeout), then shuts down gracefully: no new
    /// claims, running jobs get `shutdown_grace` to finish, after which their handlers are
    /// aborted without a report (the server re-queues them when their leases expire).
    ///
    /// Errors only when the credentials are refused or the server answers in a way the worker
    /// cannot recover from; transient trouble is logged and retried.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<RunSummary, WorkerError> {
        let mut shutdown = std::pin::pin!(shutdown);
        let client = self.client.clone();

        // Log in; refused credentials are fatal, transient trouble is retried, but not past the
        // idle timeout: a worker whose server is gone must not wait for it forever.
        let give_up_at = self.idle_timeout.map(|idle| Instant::now() + idle);
        let mut attempt = 0;
        loop {
            let pause = match client.login().await {
                Ok(()) => break,
                Err(ApiError::LoginRefused(message)) => return Err(WorkerError::Login(message)),
                Err(error) if error.is_transient() => {
                    if give_up_at.is_some_and(|deadline| Instant::now() >= deadline) {
                        return Err(WorkerError::Unreachable(error.to_string()));
                    }
                    let pause = backoff(attempt, ERROR_BACKOFF, ERROR_BACKOFF_CAP);
                    tracing::warn!(%error, ?pause, "cannot log in yet; retrying");
                    pause
                }
                Err(error) => return Err(WorkerError::Api(format!("login: {error}"))),
            };
            attempt += 1;
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = &mut shutdown => return Ok(RunSummary::default()),
            }
        }
        let ecs = ecs::detect(client.http()).await;
        let arns = ecs.required_arns(&ecs::host_name());
        tracing::info!(job_types = ?self.job_types, concurrency = self.concurrency, "worker started");

        let auth_stop = CancellationToken::new();
        let auth_task = {
            let client = client.clone();
            let stop = auth_stop.clone();
            tokio::spawn(async move { client.keep_fresh(stop).await })
        };
        let _auth_guard = crate::runner::AbortOnDrop(auth_task.abort_handle());

        let shared = Arc::new(Shared {
            client: client.clone(),
            handlers: self.handlers,
            job_types: self.job_types,
            claim_wait: self.claim_wait,
            poll_interval: self.poll_interval,
            idle_timeout: self.idle_timeout,
            ecs,
            arns,
            env: RunnerEnv {
                client: client.clone(),
                uploader: Arc::new(Uploader::new(client.clone()).with_s3(self.s3)),
                heartbeat_interval: self.heartbeat_interval,
                scratch_root: self.scratch_root,
                r1: Arc::new(AtomicBool::new(false)),
                no_heartbeat_route: Arc::new(AtomicBool::new(false)),
            },
            stop: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
            fatal: Mutex::new(None),
            summary: Mutex::new(RunSummary::default()),
            running: AtomicUsize::new(0),
            last_activity: Mutex::new(Instant::now()),
            poll_turn: AtomicUsize::new(0),
        });

        let mut slots = JoinSet::new();
        for index in 0..self.concurrency {
            slots.spawn(slot(shared.clone(), index));
        }

        tokio::select! {
            () = &mut shutdown => tracing::info!("shutdown requested; no new jobs"),
            () = idle_watch(&shared, self.idle_timeout) => tracing::info!("idle timeout; stopping"),
            () = shared.stop.cancelled() => {}
        }
        shared.stop.cancel();

        let deadline = Instant::now() + self.shutdown_grace;
        let mut internal = None;
        loop {
            let next = if shared.hard_stop.is_cancelled() {
                slots.join_next().await
            } else {
                match tokio::time::timeout_at(deadline, slots.join_next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        tracing::warn!("shutdown grace period over; abandoning running jobs");
                        shared.hard_stop.cancel();
                        continue;
                    }
                }
            };
            match next {
                None => break,
                Some(Ok(())) => {}
                Some(Err(error)) => {
                    tracing::error!(%error, "a worker slot failed");
                    internal = Some(WorkerError::Internal(error.to_string()));
                }
            }
        }
        auth_stop.cancel();
        let _ = auth_task.await;

        let summary = shared
            .summary
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        tracing::info!(?summary, "worker stopped");
        let fatal = shared
            .fatal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match fatal.or(internal) {
            Some(error) => Err(error),
            None => Ok(summary),
        }
    }
}

/// Resolves on SIGINT or SIGTERM (never, if signals cannot be installed).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    () = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}

/// Resolves once no job has been claimed or running for `idle` (never without a timeout).
async fn idle_watch(shared: &Shared, idle: Option<Duration>) {
    let Some(idle) = idle else {
        return std::future::pending().await;
    };
    loop {
        if shared.running.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(idle.min(Duration::from_millis(200))).await;
            continue;
        }
        let deadline = *shared
            .last_activity
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            + idle;
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}

/// One slot: claim a job, run it, repeat until told to stop.
async fn slot(shared: Arc<Shared>, index: usize) {
    let mut failures = 0_u32;
    loop {
        if shared.stop.is_cancelled() {
            return;
        }
        // A claim is never abandoned mid-wait: the server cannot tell that the client left and
        // would still grant it a job, which then waits for its lease to expire. So a claim never
        // waits past the idle deadline, and a shutdown lets a claim in flight end (within
        // `claim_wait`) and runs what it brings within the grace period; only the end of the
        // grace period cuts it off.
        let wait = match shared.idle_remaining() {
            Some(left) => shared.claim_wait.min(left),
            None => shared.claim_wait,
        };
        let acquired = tokio::select! {
            () = shared.hard_stop.cancelled() => return,
            acquired = acquire(&shared, wait) => acquired,
        };
        let pause = match acquired {
            Ok(Some((job, assignment))) => {
                failures = 0;
                shared.running.fetch_add(1, Ordering::SeqCst);
                shared.touch();
                let handler = shared.handlers.get(&job.job_type).cloned();
                let span = tracing::info_span!(
                    "job",
                    job_id = job.id,
                    job_type = %job.job_type,
                    assignment_id = assignment.id
                );
                let outcome =
                    runner::run_job(&shared.env, handler, job, assignment, &shared.hard_stop)
                        .instrument(span)
                        .await;
                shared.record(outcome);
                shared.touch();
                shared.running.fetch_sub(1, Ordering::SeqCst);
                None
            }
            Ok(None) => {
                failures = 0;
                // No long poll (R1, or a wait under a second): pause between attempts.
                let polling =
                    shared.env.r1.load(Ordering::Relaxed) || wait < Duration::from_secs(1);
                polling.then_some(shared.poll_interval)
            }
            Err(error) => {
                if let Some(fatal) = fatal_error(&error) {
                    shared.fail(fatal);
                    return;
                }
                let pause = backoff(failures, ERROR_BACKOFF, ERROR_BACKOFF_CAP);
                failures = failures.saturating_add(1);
                tracing::warn!(slot = index, %error, ?pause, "cannot get a job; retrying");
                Some(pause)
            }
        };
        if let Some(pause) = pause {
            tokio::select! {
                () = shared.stop.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}

/// A job for this worker: a long-poll claim, or poll + assign on R1 servers. `None` when
/// nothing was available.
async fn acquire(shared: &Shared, wait: Duration) -> Result<Option<(Job, Assignment)>, ApiError> {
    if !shared.env.r1.load(Ordering::Relaxed) {
        let body = ClaimRequest {
            job_types: &shared.job_types,
            ecs_task_arn: shared.ecs.task_arn.as_deref(),
            ecs_cluster_arn: shared.ecs.cluster_arn.as_deref(),
            wait_seconds: wait.as_secs(),
        };
        let reply = shared
            .client
            .call(
                Method::POST,
                "/jobs/claim",
                &[],
                Some(&body),
                wait + CALL_TIMEOUT,
            )
            .await?;
        match reply.status {
            StatusCode::OK => {
                let claimed: ClaimResponse = reply.json()?;
                return Ok(Some((claimed.job, claimed.assignment)));
            }
            StatusCode::NO_CONTENT => return Ok(None),
            status if claim_route_missing(status) => {
                if !shared.env.r1.swap(true, Ordering::Relaxed) {
                    tracing::info!("the server has no long-poll claim (R1); using poll + assign");
                }
            }
            _ => return Err(reply.error()),
        }
    }
    poll_and_assign(shared).await
}

/// R1: poll each handled type and try to assign the listed jobs in order (400: another worker
/// won, try the next). A failing type does not keep the others from being polled.
async fn poll_and_assign(shared: &Shared) -> Result<Option<(Job, Assignment)>, ApiError> {
    let count = shared.job_types.len();
    let start = shared.poll_turn.fetch_add(1, Ordering::Relaxed);
    let mut first_error = None;
    for offset in 0..count {
        let job_type = &shared.job_types[(start + offset) % count];
        match poll_type(shared, job_type).await {
            Ok(Some(found)) => return Ok(Some(found)),
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(%error, job_type, "poll failed");
                first_error.get_or_insert(error);
            }
        }
    }
    first_error.map_or(Ok(None), Err)
}

/// R1: poll one type and try to take one of its pending jobs.
async fn poll_type(shared: &Shared, job_type: &str) -> Result<Option<(Job, Assignment)>, ApiError> {
    let reply = shared
        .client
        .call::<()>(
            Method::GET,
            "/jobs/poll",
            &[("jobType", job_type)],
            None,
            CALL_TIMEOUT,
        )
        .await?;
    if reply.status != StatusCode::OK {
        return Err(reply.error());
    }
    let polled: PollResponse = reply.json()?;
    for job in polled.jobs {
        if job.job_type != job_type {
            continue;
        }
        let body = AssignRequest {
            job_id: job.id,
            ecs_task_arn: &shared.arns.task_arn,
            ecs_cluster_arn: &shared.arns.cluster_arn,
        };
        let reply = shared.client.post("/jobs/assign", &body).await?;
        if reply.status == StatusCode::OK {
            let assigned: AssignResponse = reply.json()?;
            return Ok(Some((job, assigned.assignment)));
        }
        let error = reply.error();
        if is_lost_race(&error) {
            tracing::debug!(job_id = job.id, "job taken by another worker");
        } else if error.status() != Some(400) {
            return Err(error); // retried (network, 5xx) or fatal (403)
        } else {
            // Not a lost race: the server refuses this worker's assigns (e.g. R1's validation),
            // which must not look like an idle queue. The next job would most likely meet the
            // same refusal, so this poll ends here: one warning per poll, not one per job.
            tracing::warn!(
                job_id = job.id,
                status = error.status(),
                message = %error.message(),
                "the server refused to assign a job to this worker"
            );
            break;
        }
    }
    Ok(None)
}

/// R1's answers when another worker took the job first: 400 `Job is not available for
/// assignment` (R1 and this server, whose body also has code `job_not_available`), 404 (gone) or
/// 409.
pub(crate) fn is_lost_race(error: &ApiError) -> bool {
    match error.status() {
        Some(404 | 409) => true,
        Some(400) => {
            error.code() == Some("job_not_available")
                || error.message() == "Job is not available for assignment"
        }
        _ => false,
    }
}

/// Direct S3 uploads (feature `s3`): on servers that offer no upload URLs (ReefGuide R1) and
/// store results in S3, result files are PUT with the AWS SDK and the standard AWS credential
/// chain. The endpoint and region also come from the usual AWS configuration
/// (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, `AWS_REGION`, profiles), so these methods are only
/// needed to override it in code.
#[cfg(feature = "s3")]
impl WorkerBuilder {
    /// The S3 endpoint for direct uploads, e.g. `http://127.0.0.1:9000` for MinIO or moto
    /// (default: the AWS configuration's, else AWS itself). Implies path-style addressing unless
    /// [`s3_force_path_style`](Self::s3_force_path_style) says otherwise.
    pub fn s3_endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.s3.endpoint_url = Some(url.into());
        self
    }

    /// Path-style S3 addressing (`<endpoint>/<bucket>/<key>`) instead of virtual hosts
    /// (`<bucket>.<endpoint>/<key>`). Default: on when an endpoint is configured (here or by
    /// `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`/the profile), as S3-compatible stores need it;
    /// off for AWS itself.
    pub fn s3_force_path_style(mut self, force: bool) -> Self {
        self.s3.force_path_style = Some(force);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HandlerError, JobContext, handler_fn};

    fn echo() -> impl JobHandler<Input = serde_json::Value, Output = serde_json::Value> {
        handler_fn(|input: serde_json::Value, _ctx: JobContext| async move {
            Ok::<_, HandlerError>(input)
        })
    }

    fn complete() -> WorkerBuilder {
        Worker::builder()
            .api_url("http://127.0.0.1:5000")
            .credentials("worker@example.com", "password")
            .handler("TEST", echo())
    }

    #[test]
    fn builds_with_defaults() {
        let worker = complete().build().expect("valid");
        assert_eq!(worker.job_types, vec!["TEST".to_owned()]);
        assert_eq!(worker.concurrency, 1);
        assert_eq!(worker.claim_wait, Duration::from_secs(20));
        assert_eq!(worker.heartbeat_interval, Duration::from_secs(20));
        assert!(worker.scratch_root.ends_with("reefguide-worker"));
        complete()
            .claim_wait(Duration::from_secs(30))
            .build()
            .expect("30 s is allowed");
    }

    #[test]
    fn build_errors() {
        let no_url = Worker::builder()
            .credentials("a@b.c", "password")
            .handler("TEST", echo());
        assert_eq!(no_url.build().err(), Some(BuildError::MissingApiUrl));
        assert_eq!(
            complete().api_url("localhost:5000").build().err(),
            Some(BuildError::InvalidApiUrl("localhost:5000".into()))
        );
        let no_credentials = Worker::builder()
            .api_url("http://x")
            .handler("TEST", echo());
        assert_eq!(
            no_credentials.build().err(),
            Some(BuildError::MissingCredentials)
        );
        let no_handler = Worker::builder()
            .api_url("http://x")
            .credentials("a@b.c", "password");
        assert_eq!(no_handler.build().err(), Some(BuildError::NoHandler));
        assert_eq!(
            complete().handler("TEST", echo()).build().err(),
            Some(BuildError::DuplicateHandler("TEST".into()))
        );
        assert_eq!(
            complete().handler(" ", echo()).build().err(),
            Some(BuildError::EmptyJobType)
        );
        assert_eq!(
            complete().concurrency(0).build().err(),
            Some(BuildError::ZeroConcurrency)
        );
        assert_eq!(
            complete().heartbeat_interval(Duration::ZERO).build().err(),
            Some(BuildError::ZeroHeartbeatInterval)
        );
        assert_eq!(
            complete().claim_wait(Duration::from_secs(31)).build().err(),
            Some(BuildError::ClaimWaitTooLong(Duration::from_secs(31)))
        );
    }

    #[test]
    fn backoff_schedule() {
        let base = Duration::from_millis(200);
        let cap = Duration::from_secs(10);
        let schedule: Vec<_> = (0..8).map(|n| backoff(n, base, cap).as_millis()).collect();
        assert_eq!(
            schedule,
            vec![200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]
        );
        assert_eq!(backoff(u32::MAX, base, cap), cap);
        assert_eq!(
            backoff(0, ERROR_BACKOFF, ERROR_BACKOFF_CAP),
            Duration::from_secs(1)
        );
        assert_eq!(
            backoff(10, ERROR_BACKOFF, ERROR_BACKOFF_CAP),
            ERROR_BACKOFF_CAP
        );
    }

    #[test]
    fn lost_races_are_told_from_refusals() {
        let answer = |status: u16, code: Option<&str>, message: &str| ApiError::Status {
            status,
            code: code.map(str::to_owned),
            message: message.to_owned(),
        };
        assert!(is_lost_race(&answer(
            400,
            None,
            "Job is not available for assignment"
        )));
        assert!(is_lost_race(&answer(400, Some("job_not_available"), "x")));
        assert!(is_lost_race(&answer(404, None, "Job not found")));
        assert!(is_lost_race(&answer(409, None, "conflict")));
        // R1's validation answer: a zod issue list, not a lost race.
        let zod = r#"[{"type":"Body","errors":{"issues":[{"code":"invalid_type","expected":"string","received":"undefined","path":["ecsTaskArn"],"message":"Required"}],"name":"ZodError"}}]"#;
        assert!(!is_lost_race(&answer(400, None, zod)));
        assert!(!is_lost_race(&answer(503, None, "down")));
    }

    #[test]
    fn r1_mode_decision() {
        assert!(claim_route_missing(StatusCode::NOT_FOUND));
        assert!(claim_route_missing(StatusCode::METHOD_NOT_ALLOWED));
        for status in [
            StatusCode::OK,
            StatusCode::NO_CONTENT,
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::INTERNAL_SERVER_ERROR,
        ] {
            assert!(!claim_route_missing(status), "{status}");
        }
    }

    #[test]
    fn fatal_errors() {
        assert!(matches!(
            fatal_error(&ApiError::LoginRefused("no".into())),
            Some(WorkerError::Login(_))
        ));
        let forbidden = ApiError::Status {
            status: 403,
            code: Some("forbidden".into()),
            message: "no".into(),
        };
        assert!(matches!(fatal_error(&forbidden), Some(WorkerError::Api(_))));
        assert!(fatal_error(&ApiError::Transport("reset".into())).is_none());
        let unavailable = ApiError::Status {
            status: 503,
            code: None,
            message: "down".into(),
        };
        assert!(fatal_error(&unavailable).is_none());
    }

    #[tokio::test]
    async fn unreachable_server_is_retried_until_shutdown() {
        // Nothing listens on port 9 (discard) here: transient errors until shutdown.
        let worker = complete()
            .api_url("http://127.0.0.1:9")
            .build()
            .expect("valid");
        let summary = tokio::time::timeout(
            Duration::from_secs(10),
            worker.run_until(tokio::time::sleep(Duration::from_millis(300))),
        )
        .await
        .expect("stops on shutdown")
        .expect("no fatal error");
        assert_eq!(summary, RunSummary::default());
    }

    /// A tiny HTTP/1.1 server answering each request with `route(method, path, body)`.
    async fn stub_server<F>(route: F) -> String
    where
        F: Fn(&str, &str, &str) -> (u16, String) + Send + Sync + 'static,
    {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let route = Arc::new(route);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let route = route.clone();
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    let mut chunk = [0_u8; 4096];
                    let (head, body) = loop {
                        let n = stream.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buffer.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buffer).into_owned();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let length = head
                                .lines()
                                .find_map(|l| {
                                    let (name, value) = l.split_once(':')?;
                                    name.eq_ignore_ascii_case("content-length")
                                        .then(|| value.trim().parse::<usize>().ok())?
                                })
                                .unwrap_or(0);
                            if body.len() >= length {
                                break (head.to_owned(), body.to_owned());
                            }
                        }
                    };
                    let mut parts = head.split_whitespace();
                    let method = parts.next().unwrap_or_default().to_owned();
                    let path = parts.next().unwrap_or_default().to_owned();
                    let (status, answer) = route(&method, &path, &body);
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        format!("http://{address}")
    }

    #[tokio::test]
    async fn refused_login_is_fatal() {
        let url = stub_server(|_, _, _| {
            (
                401,
                r#"{"status":401,"message":"Invalid credentials","code":"unauthorized"}"#.into(),
            )
        })
        .await;
        let worker = complete().api_url(url).build().expect("valid");
        let error = worker
            .run_until(std::future::pending())
            .await
            .expect_err("login refused");
        assert!(
            matches!(&error, WorkerError::Login(m) if m == "Invalid credentials"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_ends_the_worker_after_its_idle_timeout() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let url = format!("http://{}", closed.local_addr().expect("its address"));
        drop(closed);
        let worker = complete()
            .api_url(url)
            .idle_timeout(Duration::from_millis(500))
            .build()
            .expect("valid");
        let error = tokio::time::timeout(
            Duration::from_secs(10),
            worker.run_until(std::future::pending()),
        )
        .await
        .expect("the worker gives up instead of retrying forever")
        .expect_err("it never logged in");
        assert!(matches!(error, WorkerError::Unreachable(_)), "{error}");
    }

    #[tokio::test]
    async fn r1_server_poll_assign_and_report() {
        let results = Arc::new(Mutex::new(Vec::<String>::new()));
        let polls = Arc::new(AtomicUsize::new(0));
        let (seen, poll_count) = (results.clone(), polls.clone());
        let url = stub_server(move |method, path, body| match (method, path) {
            ("POST", "/api/auth/login") => (200, r#"{"token":"t","refreshToken":"r"}"#.into()),
            ("POST", "/api/jobs/claim") => (404, r#"{"message":"Not found"}"#.into()),
            ("GET", "/api/jobs/poll?jobType=TEST") => {
                if poll_count.fetch_add(1, Ordering::SeqCst) == 0 {
                    let job = |id: i64| {
                        format!(r#"{{"id":{id},"type":"TEST","status":"PENDING","input_payload":{{"id":{id}}}}}"#)
                    };
                    (200, format!(r#"{{"jobs":[{},{}]}}"#, job(1), job(2)))
                } else {
                    (200, r#"{"jobs":[]}"#.into())
                }
            }
            ("GET", "/api/jobs/poll?jobType=OTHER") => (503, r#"{"message":"busy"}"#.into()),
            ("POST", "/api/jobs/assign") if body.contains(r#""jobId":1"#) => {
                (400, r#"{"message":"Job is not available for assignment"}"#.into())
            }
            ("POST", "/api/jobs/assign") => (
                200,
                r#"{"assignment":{"id":5,"job_id":2,"storage_scheme":"S3","storage_uri":"s3://b/results/test/2/1"}}"#.into(),
            ),
            ("POST", "/api/jobs/assignments/5/heartbeat") => (404, "Not Found".into()),
            ("POST", "/api/jobs/assignments/5/result") => {
                seen.lock().expect("lock").push(body.to_owned());
                (200, "{}".into())
            }
            _ => (500, r#"{"message":"unexpected"}"#.into()),
        })
        .await;
        let scratch = tempfile::tempdir().expect("tempdir");
        let worker = Worker::builder()
            .credentials("worker@example.com", "password")
            .handler(
                "TEST",
                // Outlives a few heartbeats, which R1 answers 404 (no route): not a lost lease.
                handler_fn(|input: serde_json::Value, _ctx: JobContext| async move {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    Ok::<_, HandlerError>(input)
                }),
            )
            .api_url(url)
            .poll_interval(Duration::from_millis(20))
            .heartbeat_interval(Duration::from_millis(20))
            .idle_timeout(Duration::from_millis(500))
            .scratch_root(scratch.path())
            .handler(
                "OTHER",
                handler_fn(|_: serde_json::Value, _ctx: JobContext| async move {
                    Ok::<_, HandlerError>(serde_json::json!({}))
                }),
            )
            .build()
            .expect("valid");
        let summary = tokio::time::timeout(
            Duration::from_secs(20),
            worker.run_until(std::future::pending()),
        )
        .await
        .expect("idle timeout ends the run")
        .expect("no fatal error");
        assert_eq!(
            summary,
            RunSummary {
                succeeded: 1,
                failed: 0,
                abandoned: 0
            }
        );
        let results = results.lock().expect("lock").clone();
        assert_eq!(results.len(), 1);
        let body: serde_json::Value = serde_json::from_str(&results[0]).expect("json");
        assert_eq!(
            body,
            serde_json::json!({"status": "SUCCEEDED", "resultPayload": {"id": 2}})
        );
        assert!(
            polls.load(Ordering::SeqCst) >= 2,
            "polled again after the job"
        );
    }
}
