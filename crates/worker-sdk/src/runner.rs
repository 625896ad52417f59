//! One job from claim to result: scratch directory, the handler in its own task, heartbeats
//! while it runs, and the result report.

use std::any::Any;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::{JoinError, JoinHandle};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::client::{ApiClient, ApiError};
use crate::context::{ContextParts, JobContext, Progress};
use crate::handler::{ErasedHandler, HandlerError};
use crate::lease::{GaveUp, Lease, within_lease};
use crate::upload::Uploader;
use crate::wire::{
    Assignment, HeartbeatRequest, HeartbeatResponse, Job, ResultRequest, ResultStatus,
};
use crate::worker::backoff;
/// How long an aborted handler task gets to unwind before its scratch directory is removed.
const ABORT_WAIT: Duration = Duration::from_secs(5);

/// How a job ended for this worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Reported SUCCEEDED.
    Succeeded,
    /// Reported FAILED.
    Failed,
    /// Not reported: cancelled, lease lost, or cut off by shutdown.
    Abandoned,
}

/// What the runner needs from the worker.
pub(crate) struct RunnerEnv {
    pub client: Arc<ApiClient>,
    pub uploader: Arc<Uploader>,
    pub heartbeat_interval: Duration,
    pub scratch_root: PathBuf,
    /// The server is R1 (no long-poll claim), shared with the worker.
    pub r1: Arc<AtomicBool>,
    /// An R1 server answered a heartbeat 404: it has no heartbeat route, stop sending them.
    pub no_heartbeat_route: Arc<AtomicBool>,
}

/// What a heartbeat answer means for the running handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Keep going.
    Continue,
    /// The heartbeat did not get through (a network error, a 5xx): keep going, and send the
    /// next one sooner than the interval.
    RetrySoon,
    /// Stop the handler without reporting (cancelled, or lease lost).
    Stop(String),
}

/// First pause before a heartbeat that did not get through is sent again; it doubles up to the
/// heartbeat interval.
const HEARTBEAT_RETRY: Duration = Duration::from_millis(200);

/// How supervision of the handler task ended.
pub(crate) enum Supervised {
    /// The handler task ended by itself.
    Finished(Result<Result<Value, HandlerError>, JoinError>),
    /// The handler was stopped for this reason.
    Stopped(String),
}

/// `{"error": message}`, the FAILED result payload.
pub(crate) fn failure_payload(message: &str) -> Value {
    json!({ "error": message })
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic payload".to_owned()
    }
}

/// The result to report for a finished handler task; `None` when it was aborted.
pub(crate) fn result_for(
    finished: Result<Result<Value, HandlerError>, JoinError>,
) -> Option<ResultRequest> {
    match finished {
        Ok(Ok(payload)) => Some(ResultRequest {
            status: ResultStatus::Succeeded,
            result_payload: Some(payload),
        }),
        Ok(Err(error)) => Some(failed(&error.to_string())),
        Err(join) if join.is_panic() => {
            let message = panic_message(join.into_panic().as_ref());
            Some(failed(&format!("handler panicked: {message}")))
        }
        Err(_) => None,
    }
}

fn failed(message: &str) -> ResultRequest {
    ResultRequest {
        status: ResultStatus::Failed,
        result_payload: Some(failure_payload(message)),
    }
}

/// Aborts a task when dropped, so that dropping a worker's `run` future (or aborting the task
/// running it, as a crash would) stops every task it started instead of leaving them detached.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Watches the handler task: heartbeats every `interval` (the first after one interval) until it
/// finishes, a heartbeat says stop, or `hard_stop` fires. On a stop the context is cancelled and
/// the task aborted.
pub(crate) async fn supervise<HB, Fut>(
    mut task: JoinHandle<Result<Value, HandlerError>>,
    ctx: &JobContext,
    interval: Duration,
    hard_stop: &CancellationToken,
    mut heartbeat: HB,
) -> Supervised
where
    HB: FnMut(Option<Progress>) -> Fut,
    Fut: Future<Output = Verdict>,
{
    let _abort_if_dropped = AbortOnDrop(task.abort_handle());
    let mut next_beat = Instant::now() + interval;
    let mut failures = 0_u32;
    let reason = loop {
        tokio::select! {
            finished = &mut task => return Supervised::Finished(finished),
            () = hard_stop.cancelled() => break "shutdown grace period over".to_owned(),
            () = tokio::time::sleep_until(next_beat) => {
                let verdict = tokio::select! {
                    verdict = heartbeat(ctx.latest_progress()) => verdict,
                    () = hard_stop.cancelled() => Verdict::Stop("shutdown grace period over".to_owned()),
                };
                let pause = match verdict {
                    Verdict::Stop(reason) => break reason,
                    Verdict::Continue => {
                        failures = 0;
                        interval
                    }
                    Verdict::RetrySoon => {
                        failures = failures.saturating_add(1);
                        backoff(failures - 1, HEARTBEAT_RETRY, interval)
                    }
                };
                next_beat = Instant::now() + pause;
            }
        }
    };
    ctx.cancel();
    task.abort();
    let _ = tokio::time::timeout(ABORT_WAIT, task).await;
    Supervised::Stopped(reason)
}

/// Runs one claimed job to its end and reports its result (unless it was abandoned).
pub(crate) async fn run_job(
    env: &RunnerEnv,
    handler: Option<Arc<dyn ErasedHandler>>,
    job: Job,
    assignment: Assignment,
    hard_stop: &CancellationToken,
) -> Outcome {
    let assignment_id = assignment.id;
    let lease = Arc::new(Lease::from_expiry(assignment.expires_at.as_deref()));
    let report = |result| report(&env.client, assignment_id, result, &lease, hard_stop);
    let Some(handler) = handler else {
        let message = format!("this worker has no handler for job type {}", job.job_type);
        tracing::error!("{message}");
        return report(failed(&message)).await;
    };
    let scratch_dir = env.scratch_root.join(format!(
        "job-{}-{}-{}",
        job.id,
        assignment_id,
        std::process::id()
    ));
    if let Err(e) = fresh_dir(&scratch_dir).await {
        let message = format!(
            "could not create the scratch directory {}: {e}",
            scratch_dir.display()
        );
        tracing::error!("{message}");
        return report(failed(&message)).await;
    }
    let ctx = JobContext::new(
        ContextParts {
            job_id: job.id,
            job_type: job.job_type.clone(),
            assignment_id,
            storage_scheme: assignment.storage_scheme.clone(),
            storage_uri: assignment.storage_uri.clone().unwrap_or_default(),
            scratch_dir: scratch_dir.clone(),
            lease: lease.clone(),
        },
        env.uploader.clone(),
    );
    let outcome = match handler.start(job.input_payload, ctx.clone()) {
        Err(parse_error) => {
            tracing::warn!(error = %parse_error, "invalid job input");
            report(failed(&format!("invalid input: {parse_error}"))).await
        }
        Ok(future) => {
            tracing::info!("job started");
            let task = tokio::spawn(future.instrument(tracing::Span::current()));
            let supervised = supervise(task, &ctx, env.heartbeat_interval, hard_stop, |progress| {
                heartbeat(env, assignment_id, progress, &lease)
            })
            .await;
            match supervised {
                Supervised::Stopped(reason) => {
                    tracing::warn!(%reason, "job abandoned");
                    Outcome::Abandoned
                }
                Supervised::Finished(_) if lease.is_abandoned() => {
                    // An outage outlasted the lease (or the lease was lost) while the handler
                    // called the API: not the job's fault, so no FAILED report.
                    tracing::warn!(
                        "job abandoned: its lease ended while the server or the result store \
                         was unreachable; the server re-queues it"
                    );
                    Outcome::Abandoned
                }
                Supervised::Finished(finished) => match result_for(finished) {
                    Some(result) => report(result).await,
                    None => Outcome::Abandoned,
                },
            }
        }
    };
    drop(ctx);
    if let Err(e) = tokio::fs::remove_dir_all(&scratch_dir).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %scratch_dir.display(), error = %e, "could not remove the scratch directory");
    }
    tracing::info!(?outcome, "job done");
    outcome
}

async fn fresh_dir(dir: &std::path::Path) -> std::io::Result<()> {
    match tokio::fs::remove_dir_all(dir).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    tokio::fs::create_dir_all(dir).await
}

/// What a heartbeat answer means.
/// An accepted heartbeat moves `lease` to the new expiry it carries.
pub(crate) fn heartbeat_verdict(
    answer: Result<crate::client::Reply, ApiError>,
    lease: &Lease,
) -> Verdict {
    let error = match answer {
        Ok(reply) if reply.status == StatusCode::OK => {
            return match reply.json::<HeartbeatResponse>() {
                Ok(body) => {
                    if let Some(expires_at) = body.assignment.and_then(|a| a.expires_at) {
                        lease.extend(&expires_at);
                    }
                    if body.cancelled {
                        Verdict::Stop("the job was cancelled".to_owned())
                    } else {
                        Verdict::Continue
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "heartbeat answer not understood");
                    Verdict::Continue
                }
            };
        }
        Ok(reply) => reply.error(),
        Err(error) => error,
    };
    match error.status() {
        Some(404 | 409 | 403) => Verdict::Stop(format!("lease lost: {}", error.message())),
        _ if error.is_transient() => {
            tracing::warn!(%error, "heartbeat did not get through; trying again soon");
            Verdict::RetrySoon
        }
        _ => {
            tracing::warn!(%error, "heartbeat refused; trying again at the next interval");
            Verdict::Continue
        }
    }
}

async fn heartbeat(
    env: &RunnerEnv,
    assignment_id: i64,
    progress: Option<Progress>,
    lease: &Lease,
) -> Verdict {
    if env.no_heartbeat_route.load(Ordering::Relaxed) {
        return Verdict::Continue;
    }
    let body = match progress {
        Some(progress) => HeartbeatRequest {
            progress: Some(progress.percent),
            message: Some(progress.message).filter(|m| !m.is_empty()),
        },
        None => HeartbeatRequest::default(),
    };
    let path = format!("/jobs/assignments/{assignment_id}/heartbeat");
    let answer = env.client.post(&path, &body).await;
    if env.r1.load(Ordering::Relaxed)
        && matches!(&answer, Ok(reply) if reply.status == StatusCode::NOT_FOUND)
    {
        // R1 servers have no heartbeat route; their leases are long.
        if !env.no_heartbeat_route.swap(true, Ordering::Relaxed) {
            tracing::info!("the server has no heartbeat route (R1); not sending heartbeats");
        }
        return Verdict::Continue;
    }
    let verdict = heartbeat_verdict(answer, lease);
    tracing::debug!(?verdict, "heartbeat");
    verdict
}

/// Reports a result: retries network errors and 5xx with back-off while the lease lasts, never
/// reports twice after a success, and replaces a SUCCEEDED result the server refuses (400, e.g.
/// failing the result schema) with one FAILED result carrying the server's message.
async fn report(
    client: &ApiClient,
    assignment_id: i64,
    result: ResultRequest,
    lease: &Lease,
    hard_stop: &CancellationToken,
) -> Outcome {
    tokio::select! {
        outcome = report_within_lease(client, assignment_id, result, lease) => outcome,
        () = hard_stop.cancelled() => {
            tracing::warn!("shutdown grace period over while reporting; result not reported");
            Outcome::Abandoned
        }
    }
}

/// What to do after the server refused a result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ReportStep {
    /// Done with this outcome.
    Done(Outcome),
    /// Send this (FAILED) request instead.
    Replace(ResultRequest),
}

/// Whether a refusal says the assignment already has a result: this server's code
/// `assignment_completed`, or R1's message.
fn already_completed(error: &ApiError) -> bool {
    error.status() == Some(400)
        && (error.code() == Some("assignment_completed")
            || error.message() == "Assignment already completed!")
}

/// Decides the next step after the server refused `request` with `error` (an answer that is not
/// worth retrying); `resent` tells whether the request had been sent before, so that an earlier
/// attempt may have landed although its answer was lost.
pub(crate) fn after_refusal(request: &ResultRequest, resent: bool, error: &ApiError) -> ReportStep {
    if already_completed(error) {
        if resent {
            return ReportStep::Done(reported(request));
        }
        tracing::error!(%error, "the assignment was already completed");
        return ReportStep::Done(Outcome::Abandoned);
    }
    match error.status() {
        Some(400) if request.status == ResultStatus::Succeeded => {
            tracing::warn!(%error, "result refused; reporting FAILED instead");
            ReportStep::Replace(failed(&error.message()))
        }
        // R1 checks any result payload against the type's strict result schema, which
        // `{"error": …}` never fits: FAILED without a payload is all it accepts.
        Some(400) if request.result_payload.is_some() => {
            tracing::warn!(%error, "FAILED result refused; reporting FAILED without a payload");
            ReportStep::Replace(ResultRequest {
                status: ResultStatus::Failed,
                result_payload: None,
            })
        }
        Some(409) => {
            tracing::warn!(%error, "lease lost before the result was reported");
            ReportStep::Done(Outcome::Abandoned)
        }
        _ => {
            tracing::error!(%error, "result refused");
            ReportStep::Done(Outcome::Abandoned)
        }
    }
}

/// The outcome of a result the server accepted.
fn reported(request: &ResultRequest) -> Outcome {
    match request.status {
        ResultStatus::Succeeded => Outcome::Succeeded,
        ResultStatus::Failed => Outcome::Failed,
    }
}

async fn report_within_lease(
    client: &ApiClient,
    assignment_id: i64,
    mut result: ResultRequest,
    lease: &Lease,
) -> Outcome {
    let path = format!("/jobs/assignments/{assignment_id}/result");
    // SUCCEEDED → FAILED with the server's message → FAILED without a payload, at most.
    let mut replacements_left = 2_u8;
    loop {
        let attempts = AtomicU32::new(0);
        let sent = within_lease(lease, "result report", || {
            attempts.fetch_add(1, Ordering::Relaxed);
            async {
                match client.post(&path, &result).await {
                    Ok(reply) if reply.status.is_success() => Ok(()),
                    Ok(reply) => Err(reply.error()),
                    Err(error) => Err(error),
                }
            }
        })
        .await;
        let error = match sent {
            Ok(()) => return reported(&result),
            Err(GaveUp::LeaseOver(error)) => {
                tracing::error!(
                    %error,
                    "the lease ended before the result could be reported; the server re-queues \
                     the job"
                );
                return Outcome::Abandoned;
            }
            Err(GaveUp::Refused(error)) => error,
        };
        match after_refusal(&result, attempts.load(Ordering::Relaxed) > 1, &error) {
            ReportStep::Done(outcome) => return outcome,
            ReportStep::Replace(failed) if replacements_left > 0 => {
                replacements_left -= 1;
                result = failed;
            }
            ReportStep::Replace(_) => return Outcome::Abandoned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::client::ApiClient;

    fn test_ctx(dir: &std::path::Path) -> JobContext {
        let client = Arc::new(ApiClient::new(
            reqwest::Client::new(),
            "http://127.0.0.1:9/api".into(),
            "w@example.com".into(),
            "password".into(),
        ));
        JobContext::new(
            ContextParts {
                job_id: 1,
                job_type: "TEST".into(),
                assignment_id: 2,
                storage_scheme: Some("LOCAL".into()),
                storage_uri: "file:///nowhere".into(),
                scratch_dir: dir.to_path_buf(),
                lease: Arc::new(Lease::lasting(Duration::from_secs(60))),
            },
            Arc::new(Uploader::new(client)),
        )
    }

    fn start<H: crate::JobHandler>(
        handler: H,
        input: Value,
        ctx: &JobContext,
    ) -> Result<JoinHandle<Result<Value, HandlerError>>, String> {
        let erased: Arc<dyn ErasedHandler> = Arc::new(crate::handler::Typed(handler));
        Ok(tokio::spawn(erased.start(input, ctx.clone())?))
    }

    #[tokio::test]
    async fn panic_becomes_failed_result() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = test_ctx(dir.path());
        let handler = crate::handler_fn(|_: Value, _ctx: JobContext| async move {
            if true {
                panic!("boom at step 3");
            }
            Ok::<Value, HandlerError>(json!({}))
        });
        let task = start(handler, json!({}), &ctx).expect("input parses");
        let supervised = supervise(
            task,
            &ctx,
            Duration::from_secs(60),
            &CancellationToken::new(),
            |_| async { Verdict::Continue },
        )
        .await;
        let Supervised::Finished(finished) = supervised else {
            panic!("the handler finished by itself");
        };
        let result = result_for(finished).expect("reported");
        assert_eq!(result.status, ResultStatus::Failed);
        assert_eq!(
            result.result_payload,
            Some(json!({"error": "handler panicked: boom at step 3"}))
        );
    }

    #[tokio::test]
    async fn ok_and_err_results() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = test_ctx(dir.path());
        #[derive(serde::Deserialize)]
        struct Input {
            id: u64,
        }
        let handler = crate::handler_fn(|input: Input, ctx: JobContext| async move {
            ctx.progress(50.0, "half");
            if input.id == 0 {
                return Err(HandlerError::new("id zero"));
            }
            Ok(json!({ "id": input.id }))
        });
        let handler: Arc<dyn ErasedHandler> = Arc::new(crate::handler::Typed(handler));
        let ok = tokio::spawn(
            handler
                .clone()
                .start(json!({"id": 4}), ctx.clone())
                .expect("parses"),
        )
        .await;
        let result = result_for(ok).expect("reported");
        assert_eq!(result.status, ResultStatus::Succeeded);
        assert_eq!(result.result_payload, Some(json!({"id": 4})));
        assert_eq!(ctx.latest_progress().map(|p| p.percent), Some(50.0));

        let err = tokio::spawn(
            handler
                .clone()
                .start(json!({"id": 0}), ctx.clone())
                .expect("parses"),
        )
        .await;
        assert_eq!(
            result_for(err).and_then(|r| r.result_payload),
            Some(json!({"error": "id zero"}))
        );

        let invalid = handler
            .start(json!({"id": "x"}), ctx)
            .err()
            .expect("does not parse");
        assert!(invalid.contains("invalid type"), "{invalid}");
    }

    #[tokio::test]
    async fn stop_verdict_cancels_and_aborts_a_stubborn_handler() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = test_ctx(dir.path());
        let handler = crate::handler_fn(|_: Value, _ctx: JobContext| async move {
            // Ignores cancellation entirely.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<Value, HandlerError>(json!({}))
        });
        let task = start(handler, json!({}), &ctx).expect("parses");
        let mut beats = 0;
        let supervised = tokio::time::timeout(
            Duration::from_secs(10),
            supervise(
                task,
                &ctx,
                Duration::from_millis(20),
                &CancellationToken::new(),
                |_| {
                    beats += 1;
                    let verdict = if beats >= 2 {
                        Verdict::Stop("the job was cancelled".into())
                    } else {
                        Verdict::Continue
                    };
                    async move { verdict }
                },
            ),
        )
        .await
        .expect("stopped quickly");
        assert!(matches!(supervised, Supervised::Stopped(reason) if reason.contains("cancelled")));
        assert!(ctx.is_cancelled());
        assert_eq!(beats, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeats_that_did_not_get_through_are_sent_again_sooner() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = test_ctx(dir.path());
        let handler = crate::handler_fn(|_: Value, _ctx: JobContext| async move {
            tokio::time::sleep(Duration::from_secs(50)).await;
            Ok::<Value, HandlerError>(json!({}))
        });
        let task = start(handler, json!({}), &ctx).expect("parses");
        let started = Instant::now();
        let mut beats = Vec::new();
        let supervised = supervise(
            task,
            &ctx,
            Duration::from_secs(20),
            &CancellationToken::new(),
            |_| {
                beats.push(started.elapsed().as_millis());
                // The server is down for the first three heartbeats.
                let verdict = if beats.len() <= 3 {
                    Verdict::RetrySoon
                } else {
                    Verdict::Continue
                };
                async move { verdict }
            },
        )
        .await;
        assert!(matches!(supervised, Supervised::Finished(_)));
        assert_eq!(beats, [20_000, 20_200, 20_600, 21_400, 41_400]);
    }

    #[tokio::test]
    async fn hard_stop_aborts_the_handler() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = test_ctx(dir.path());
        let handler = crate::handler_fn(|_: Value, _ctx: JobContext| async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<Value, HandlerError>(json!({}))
        });
        let task = start(handler, json!({}), &ctx).expect("parses");
        let hard_stop = CancellationToken::new();
        hard_stop.cancel();
        let supervised = supervise(task, &ctx, Duration::from_secs(60), &hard_stop, |_| async {
            Verdict::Continue
        })
        .await;
        assert!(matches!(supervised, Supervised::Stopped(_)));
    }

    fn reply(status: u16, body: &str) -> Result<crate::client::Reply, ApiError> {
        Ok(crate::client::Reply {
            status: StatusCode::from_u16(status).expect("valid status"),
            body: body.as_bytes().to_vec(),
        })
    }

    #[test]
    fn heartbeat_verdicts() {
        let lease = Lease::lasting(Duration::from_secs(5));
        let verdict = |answer| heartbeat_verdict(answer, &lease);
        assert_eq!(
            verdict(reply(200, r#"{"assignment":{},"cancelled":false}"#)),
            Verdict::Continue
        );
        assert!(matches!(
            verdict(reply(200, r#"{"assignment":{},"cancelled":true}"#)),
            Verdict::Stop(_)
        ));
        assert!(matches!(
            verdict(reply(
                409,
                r#"{"status":409,"message":"lost","code":"lease_lost"}"#
            )),
            Verdict::Stop(_)
        ));
        assert!(matches!(verdict(reply(404, "")), Verdict::Stop(_)));
        assert_eq!(verdict(reply(503, "")), Verdict::RetrySoon);
        assert_eq!(
            verdict(Err(ApiError::Transport("reset".into()))),
            Verdict::RetrySoon
        );
        assert_eq!(verdict(reply(400, "")), Verdict::Continue);
    }

    #[test]
    fn accepted_heartbeats_extend_the_lease() {
        let lease = Lease::lasting(Duration::from_secs(5));
        let before = lease.deadline();
        let expiry = (chrono::Utc::now() + chrono::Duration::seconds(600)).to_rfc3339();
        let body = format!(r#"{{"assignment":{{"expires_at":"{expiry}"}},"cancelled":false}}"#);
        assert_eq!(
            heartbeat_verdict(reply(200, &body), &lease),
            Verdict::Continue
        );
        assert!(lease.deadline() > before + Duration::from_secs(500));
    }

    fn status_error(status: u16, code: Option<&str>, message: &str) -> ApiError {
        ApiError::Status {
            status,
            code: code.map(str::to_owned),
            message: message.to_owned(),
        }
    }

    #[test]
    fn report_steps() {
        let succeeded = ResultRequest {
            status: ResultStatus::Succeeded,
            result_payload: Some(json!({})),
        };
        let fail = failed("x");
        // Lease lost: abandoned, not reported again.
        let lost = status_error(409, Some("lease_lost"), "lost");
        assert_eq!(
            after_refusal(&succeeded, false, &lost),
            ReportStep::Done(Outcome::Abandoned)
        );
        // A SUCCEEDED result failing the schema becomes one FAILED report with the message.
        assert_eq!(
            after_refusal(
                &succeeded,
                false,
                &status_error(400, Some("validation_error"), "result invalid")
            ),
            ReportStep::Replace(failed("result invalid"))
        );
        // R1 refuses `{"error": …}` as the result of every type: FAILED goes again bare, and a
        // bare FAILED refused is the end.
        let bare = ResultRequest {
            status: ResultStatus::Failed,
            result_payload: None,
        };
        let invalid = status_error(400, None, "Invalid result payload for job type TEST");
        assert_eq!(
            after_refusal(&fail, false, &invalid),
            ReportStep::Replace(bare.clone())
        );
        assert_eq!(
            after_refusal(&bare, false, &invalid),
            ReportStep::Done(Outcome::Abandoned)
        );
        // Already completed after a resend (ours and R1's answer): the first attempt landed
        // although its answer was lost.
        for done in [
            status_error(400, Some("assignment_completed"), "done"),
            status_error(400, None, "Assignment already completed!"),
        ] {
            assert_eq!(
                after_refusal(&succeeded, true, &done),
                ReportStep::Done(Outcome::Succeeded)
            );
            assert_eq!(
                after_refusal(&fail, true, &done),
                ReportStep::Done(Outcome::Failed)
            );
            assert_eq!(
                after_refusal(&succeeded, false, &done),
                ReportStep::Done(Outcome::Abandoned)
            );
        }
    }

    #[test]
    fn panic_messages() {
        let text: Box<dyn Any + Send> = Box::new("static");
        assert_eq!(panic_message(text.as_ref()), "static");
        let owned: Box<dyn Any + Send> = Box::new(String::from("owned"));
        assert_eq!(panic_message(owned.as_ref()), "owned");
        let other: Box<dyn Any + Send> = Box::new(3_u8);
        assert_eq!(panic_message(other.as_ref()), "unknown panic payload");
    }
}
