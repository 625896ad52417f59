//! The worker SDK against a faithful stand-in for ReefGuide R1 (the original Node server): R1
//! validates `POST /api/jobs/assign` with zod and requires `ecsTaskArn` and `ecsClusterArn`
//! strings, has no claim, heartbeat or upload-urls route, and stores results in S3.
//!
//! - the SDK library completes many jobs with several slots, sending both ARNs on every assign;
//! - it renews an expired access token through R1's `/api/auth/token`;
//! - the `reefguide worker` binary completes TEST jobs, writing `result.json` straight into S3 (the
//!   moto server `cargo xtask test` names in `S3_ENDPOINT_URL`).

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reefguide_tests::r1_stub::{R1Stub, R1StubOptions};
use reefguide_worker_sdk::{HandlerError, JobContext, RunSummary, Worker, handler_fn};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const EMAIL: &str = "worker@example.com";
const PASSWORD: &str = "r1-worker-password";
/// The longest any condition below is waited for.
const PATIENCE: Duration = Duration::from_secs(120);

fn options(bucket: &str) -> R1StubOptions {
    R1StubOptions {
        worker_email: EMAIL.into(),
        worker_password: PASSWORD.into(),
        bucket: bucket.into(),
    }
}

/// Everything that went wrong on the stub so far, each kind once with its count: refused assigns
/// and answers >= 400 other than 401s, the 404s of the routes R1 lacks, and lost races. Empty
/// when all is well.
fn trouble(stub: &R1Stub) -> Vec<String> {
    let mut seen: Vec<String> = stub
        .refused_assigns()
        .into_iter()
        .map(|body| format!("refused assign: {body}"))
        .collect();
    for request in stub.requests() {
        let expected_404 = request.status == 404
            && (request.path.ends_with("/claim")
                || request.path.ends_with("/heartbeat")
                || request.path.ends_with("/upload-urls"));
        let lost_race = request.status == 400
            && request
                .error_body
                .contains("Job is not available for assignment");
        // A 401 is the SDK's cue to renew its token; the tests below check that it did.
        if request.status >= 400 && request.status != 401 && !expected_404 && !lost_race {
            seen.push(format!(
                "{} {} -> {} {}",
                request.method, request.path, request.status, request.error_body
            ));
        }
    }
    // Each kind once, with how often it happened.
    let mut counted: BTreeMap<String, usize> = BTreeMap::new();
    for problem in seen {
        *counted.entry(problem).or_default() += 1;
    }
    counted
        .into_iter()
        .map(|(problem, n)| format!("{n} x {problem}"))
        .collect()
}

/// The stub's requests so far, counted by method, path (ids as `:id`) and status.
fn request_summary(stub: &R1Stub) -> BTreeMap<String, usize> {
    let mut counted = BTreeMap::new();
    for request in stub.requests() {
        let path: Vec<&str> = request
            .path
            .split('/')
            .map(|segment| {
                if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
                    ":id"
                } else {
                    segment
                }
            })
            .collect();
        let key = format!(
            "{} {} -> {}",
            request.method,
            path.join("/"),
            request.status
        );
        *counted.entry(key).or_default() += 1;
    }
    counted
}

/// Waits until every job in `jobs` is SUCCEEDED; fails at once when the stub saw trouble or
/// `check` reports some (e.g. the worker process exited). `context` is added to a timeout's
/// message (e.g. the worker's log).
async fn wait_until_succeeded(
    stub: &R1Stub,
    jobs: &[i64],
    mut check: impl FnMut() -> Option<String>,
    context: impl Fn() -> String,
) {
    let start = Instant::now();
    loop {
        let pending: Vec<(i64, Option<String>)> = jobs
            .iter()
            .map(|&id| (id, stub.job_status(id)))
            .filter(|(_, status)| status.as_deref() != Some("SUCCEEDED"))
            .collect();
        if pending.is_empty() {
            return;
        }
        let problems = trouble(stub);
        assert!(
            problems.is_empty(),
            "the R1 stub saw trouble: {problems:#?}\n{}",
            context()
        );
        if let Some(problem) = check() {
            panic!("{problem}; jobs not done: {pending:?}");
        }
        assert!(
            start.elapsed() < PATIENCE,
            "jobs not done after {PATIENCE:?}: {pending:?}; requests: {:#?}\n{}",
            request_summary(stub),
            context()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Tells a worker to shut down (`send(true)`).
type Stop = Arc<watch::Sender<bool>>;

/// Starts an SDK worker for TEST jobs against `stub` until `stop` says so; its summary.
fn start_worker(stub: &R1Stub, concurrency: usize, stop: &Stop) -> JoinHandle<RunSummary> {
    // Does not upload: R1's storage is S3, and this test is about taking and reporting jobs.
    let handler = handler_fn(|_input: Value, _ctx: JobContext| async move {
        Ok::<Value, HandlerError>(json!({}))
    });
    start_worker_with(stub, concurrency, stop, handler)
}

/// [`start_worker`] with another TEST handler.
fn start_worker_with(
    stub: &R1Stub,
    concurrency: usize,
    stop: &Stop,
    handler: impl reefguide_worker_sdk::JobHandler,
) -> JoinHandle<RunSummary> {
    let worker = Worker::builder()
        .api_url(stub.url.clone())
        .credentials(EMAIL, PASSWORD)
        .handler("TEST", handler)
        .concurrency(concurrency)
        .heartbeat_interval(Duration::from_millis(200))
        .claim_wait(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(50))
        .build()
        .expect("worker builds");
    let mut stopped = stop.subscribe();
    tokio::spawn(async move {
        worker
            .run_until(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await
            .expect("worker ran")
    })
}

/// Tells the worker to stop and waits (30 s at most) for its summary.
async fn stop_worker(stop: &Stop, worker: JoinHandle<RunSummary>) -> RunSummary {
    stop.send_replace(true);
    tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("the worker stopped")
        .expect("worker task")
}

/// Submits TEST jobs `{"id": n}` for `ids`; their job ids.
fn submit_many(stub: &R1Stub, ids: std::ops::Range<i64>) -> Vec<i64> {
    ids.map(|n| stub.submit("TEST", json!({ "id": n })))
        .collect()
}

/// Each job has exactly one accepted result, SUCCEEDED with `{}`, and exactly one assignment,
/// which carries both ARNs as non-empty strings.
fn assert_each_succeeded_once(stub: &R1Stub, jobs: &[i64]) {
    let wanted: BTreeSet<i64> = jobs.iter().copied().collect();
    let results = stub.results();
    let mut per_job: BTreeMap<i64, usize> = BTreeMap::new();
    for result in &results {
        *per_job.entry(result.job_id).or_default() += 1;
        assert_eq!(result.status, "SUCCEEDED", "{result:?}");
        assert_eq!(result.result_payload, Some(json!({})), "{result:?}");
    }
    assert_eq!(
        per_job.keys().copied().collect::<BTreeSet<_>>(),
        wanted,
        "results for exactly the submitted jobs"
    );
    assert!(
        per_job.values().all(|&n| n == 1),
        "a job reported twice: {per_job:?}"
    );
    let assignments = stub.assignments();
    assert_eq!(assignments.len(), jobs.len(), "{assignments:#?}");
    for assignment in &assignments {
        assert!(wanted.contains(&assignment.job_id), "{assignment:?}");
        assert!(
            !assignment.ecs_task_arn.trim().is_empty()
                && !assignment.ecs_cluster_arn.trim().is_empty(),
            "an assign without ARNs: {assignment:?}"
        );
    }
    assert!(stub.refused_assigns().is_empty());
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_completes_jobs_on_r1_sending_both_arns_with_every_assign() {
    const JOBS: i64 = 20;
    let stub = R1Stub::start(options("r1-results")).await;
    let jobs = submit_many(&stub, 0..JOBS);
    let stop: Stop = Arc::new(watch::channel(false).0);
    let worker = start_worker(&stub, 3, &stop);

    wait_until_succeeded(&stub, &jobs, || None, String::new).await;
    let summary = stop_worker(&stop, worker).await;
    assert_eq!(
        (summary.succeeded, summary.failed, summary.abandoned),
        (20, 0, 0),
        "{summary:?}"
    );
    assert_each_succeeded_once(&stub, &jobs);
    let problems = trouble(&stub);
    assert!(problems.is_empty(), "{problems:#?}");
    // It found out R1 has no claim route, and polled instead.
    let requests = stub.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.path == "/api/jobs/claim" && r.status == 404),
        "never tried the claim route"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.path.starts_with("/api/jobs/poll?") && r.status == 200),
        "never polled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_access_token_is_renewed_through_r1s_refresh_route() {
    let stub = R1Stub::start(options("r1-results")).await;
    let stop: Stop = Arc::new(watch::channel(false).0);
    let worker = start_worker(&stub, 1, &stop);
    let first = submit_many(&stub, 0..2);
    wait_until_succeeded(&stub, &first, || None, String::new).await;

    stub.expire_access_tokens();
    let second = submit_many(&stub, 2..4);
    wait_until_succeeded(&stub, &second, || None, String::new).await;
    let summary = stop_worker(&stop, worker).await;
    assert_eq!(summary.succeeded, 4, "{summary:?}");
    let all: Vec<i64> = first.into_iter().chain(second).collect();
    assert_each_succeeded_once(&stub, &all);

    let requests = stub.requests();
    let count = |path: &str, status: u16| {
        requests
            .iter()
            .filter(|r| r.path == path && r.status == status)
            .count()
    };
    assert!(
        requests.iter().any(|r| r.status == 401),
        "the expired token was never refused, so nothing was tested"
    );
    assert!(
        count("/api/auth/token", 200) >= 1,
        "the token was not refreshed"
    );
    assert_eq!(
        count("/api/auth/login", 200),
        1,
        "logged in again instead of refreshing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_ends_its_job_failed_on_r1() {
    // R1 checks every non-null result payload against the type's strict result schema, which the
    // SDK's `{"error": …}` never fits: the job must still end FAILED, not stay IN_PROGRESS.
    let stub = R1Stub::start(options("r1-results")).await;
    let job = stub.submit("TEST", json!({ "id": 1 }));
    let stop: Stop = Arc::new(watch::channel(false).0);
    let handler = handler_fn(|_input: Value, _ctx: JobContext| async move {
        Err::<Value, HandlerError>(HandlerError::new("the model diverged"))
    });
    let worker = start_worker_with(&stub, 1, &stop, handler);
    let start = Instant::now();
    while stub.job_status(job).as_deref() != Some("FAILED") {
        assert!(
            start.elapsed() < PATIENCE,
            "the job is {:?}; requests: {:#?}",
            stub.job_status(job),
            request_summary(&stub)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let summary = stop_worker(&stop, worker).await;
    assert_eq!(
        (summary.succeeded, summary.failed, summary.abandoned),
        (0, 1, 0),
        "{summary:?}"
    );
    let results = stub.results();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0].status, "FAILED");
}

// ---------------------------------------------------------------------------------------------
// The `reefguide worker` binary

/// A child process killed when dropped (it is ours: we started it).
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reefguide_worker_binary_completes_test_jobs_on_r1_writing_results_to_s3() {
    let (endpoint, bucket) = reefguide_tests::s3_test_bucket().await;
    let stub = R1Stub::start(options(&bucket)).await;
    let jobs = submit_many(&stub, 40..43);
    let binary = tokio::task::spawn_blocking(reefguide_tests::reefguide_binary)
        .await
        .expect("build task");

    let logs = tempfile::tempdir().expect("temp dir");
    let log_path = logs.path().join("worker.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let child = Command::new(&binary)
        .args(["worker", "--api-url", &stub.url])
        .env("WORKER_USERNAME", EMAIL)
        .env("WORKER_PASSWORD", PASSWORD)
        .env("WORKER_CONCURRENCY", "2")
        .env("WORKER_IDLE_TIMEOUT_SECONDS", "3")
        .env("AWS_ENDPOINT_URL_S3", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("REEFGUIDE_API_URL")
        .env_remove("ECS_CONTAINER_METADATA_URI_V4")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .expect("the worker starts");
    let mut child = ChildGuard(child);
    // The last lines of the worker's output.
    let read_log = || {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };

    wait_until_succeeded(
        &stub,
        &jobs,
        || match child.0.try_wait() {
            Ok(Some(status)) => Some(format!("the worker exited ({status}):\n{}", read_log())),
            _ => None,
        },
        || format!("the worker's log:\n{}", read_log()),
    )
    .await;
    assert_each_succeeded_once(&stub, &jobs);

    // Its idle timeout ends it, cleanly.
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("worker status") {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the worker did not stop when idle:\n{}",
            read_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "worker exited {status}:\n{}", read_log());

    // Each job's result.json is in S3 below its assignment's storage URI.
    let store = reefguide_tests::s3_test_store(&endpoint, &bucket).await;
    for assignment in stub.assignments() {
        let prefix = assignment
            .storage_uri
            .strip_prefix(&format!("s3://{bucket}/"))
            .unwrap_or_else(|| panic!("storage URI outside the bucket: {assignment:?}"));
        let key = format!("{prefix}/result.json");
        let object = store
            .client()
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("no s3://{bucket}/{key}: {e:?}\n{}", read_log()));
        let bytes = object
            .body
            .collect()
            .await
            .expect("object body")
            .into_bytes();
        let file: Value = serde_json::from_slice(&bytes).expect("result.json is JSON");
        let index = jobs
            .iter()
            .position(|&id| id == assignment.job_id)
            .expect("a submitted job");
        assert_eq!(file["id"], json!(40 + index), "{key}: {file}");
    }
}
