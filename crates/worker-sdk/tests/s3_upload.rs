//! Direct S3 uploads (feature `s3`) against the S3 emulator that `cargo xtask test` starts
//! (moto, named by `S3_ENDPOINT_URL`, with `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//! `AWS_REGION` set): a real [`Worker`] takes a job from a tiny stub of a ReefGuide R1 server,
//! which stores results in S3 and has no upload-URL route, and its handler's
//! `ctx.upload_bytes` / `ctx.upload_file` must land byte for byte under the assignment's prefix.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_s3::Client;
use chrono::{SecondsFormat, Utc};
use reefguide_worker_sdk::{HandlerError, JobContext, RunSummary, Worker, handler_fn};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Set in the child process of [`a_worker_configured_only_by_environment_uploads`]: the stub's
/// URL the child's worker talks to.
const CHILD_API_VAR: &str = "REEFGUIDE_S3_TEST_CHILD_API_URL";

/// The S3 emulator's endpoint; fails the test when it is not named.
fn endpoint() -> String {
    std::env::var("S3_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!("S3 tests need S3_ENDPOINT_URL: run them with `cargo xtask test`, which starts moto")
    })
}

/// A client of the emulator, to create buckets and read objects back.
async fn s3_client() -> Client {
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .load()
        .await;
    let config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(true)
        .build();
    Client::from_conf(config)
}

/// A bucket name no other test (or test run) uses.
fn unique_bucket(purpose: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "worker-sdk-{purpose}-{}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_millis(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh, empty bucket.
async fn fresh_bucket(client: &Client) -> String {
    let bucket = unique_bucket("s3");
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("test bucket created");
    bucket
}

/// The stored bytes of `bucket`/`key`.
async fn object(client: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let output = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|error| panic!("s3://{bucket}/{key} missing: {error:?}"));
    output
        .body
        .collect()
        .await
        .expect("object body")
        .into_bytes()
        .to_vec()
}

/// All keys of `bucket`, sorted.
async fn keys(client: &Client, bucket: &str) -> Vec<String> {
    let listed = client
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("listing");
    let mut keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|object| object.key().map(str::to_owned))
        .collect();
    keys.sort();
    keys
}

/// What an R1 server stub hands out and records.
struct R1 {
    job_id: i64,
    assignment_id: i64,
    storage_uri: String,
    /// Whether the one job was polled already (later polls list nothing).
    polled: AtomicBool,
    /// The bodies of `POST /api/jobs/assignments/:id/result`.
    results: Mutex<Vec<Value>>,
    /// Requests that R1 would not have understood.
    unexpected: Mutex<Vec<String>>,
}

impl R1 {
    fn new(job_id: i64, storage_uri: String) -> Self {
        Self {
            job_id,
            assignment_id: job_id + 1000,
            storage_uri,
            polled: AtomicBool::new(false),
            results: Mutex::new(Vec::new()),
            unexpected: Mutex::new(Vec::new()),
        }
    }

    /// R1's answer to one request: `(status, content type, body)`.
    fn answer(&self, method: &str, path: &str, body: &str) -> (u16, &'static str, String) {
        const JSON: &str = "application/json";
        let assignment = format!("/api/jobs/assignments/{}", self.assignment_id);
        match (method, path) {
            ("POST", "/api/auth/login") => {
                (200, JSON, r#"{"token":"t","refreshToken":"r"}"#.into())
            }
            ("GET", "/api/jobs/poll?jobType=TEST") => {
                if self.polled.swap(true, Ordering::SeqCst) {
                    (200, JSON, r#"{"jobs":[]}"#.into())
                } else {
                    let job = json!({
                        "id": self.job_id, "type": "TEST", "status": "PENDING",
                        "input_payload": {"id": self.job_id},
                    });
                    (200, JSON, json!({ "jobs": [job] }).to_string())
                }
            }
            ("POST", "/api/jobs/assign") => self.assign(body),
            ("POST", p) if p == format!("{assignment}/result") => {
                let result = serde_json::from_str(body).unwrap_or(Value::Null);
                lock(&self.results).push(result);
                (200, JSON, "{}".into())
            }
            // Routes R1 lacks: Express answers 404 with an HTML page.
            ("POST", "/api/jobs/claim") => not_found(method, path),
            ("POST", p)
                if p == format!("{assignment}/upload-urls")
                    || p == format!("{assignment}/heartbeat") =>
            {
                not_found(method, path)
            }
            _ => {
                lock(&self.unexpected).push(format!("{method} {path} {body}"));
                not_found(method, path)
            }
        }
    }

    /// `POST /api/jobs/assign`: R1 validates `jobId` (a number) and both ECS ARNs (strings).
    fn assign(&self, body: &str) -> (u16, &'static str, String) {
        let request: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let valid = request["jobId"].is_i64()
            && request["ecsTaskArn"].is_string()
            && request["ecsClusterArn"].is_string();
        if !valid {
            lock(&self.unexpected).push(format!("invalid assign {body}"));
            return (
                400,
                "application/json",
                r#"{"message":"Invalid request"}"#.into(),
            );
        }
        if request["jobId"].as_i64() != Some(self.job_id) {
            let message = r#"{"message":"Job is not available for assignment"}"#;
            return (400, "application/json", message.into());
        }
        let expires_at =
            (Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Millis, true);
        let assignment = json!({
            "assignment": {
                "id": self.assignment_id,
                "job_id": self.job_id,
                "ecs_task_arn": request["ecsTaskArn"],
                "ecs_cluster_arn": request["ecsClusterArn"],
                "expires_at": expires_at,
                "storage_scheme": "S3",
                "storage_uri": self.storage_uri,
                "completed_at": null,
            }
        });
        (200, "application/json", assignment.to_string())
    }

    fn results(&self) -> Vec<Value> {
        lock(&self.results).clone()
    }

    fn unexpected(&self) -> Vec<String> {
        lock(&self.unexpected).clone()
    }
}

fn not_found(method: &str, path: &str) -> (u16, &'static str, String) {
    (404, "text/html", format!("Cannot {method} {path}"))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serves `r1` over HTTP/1.1 on a loopback port (one request per connection); returns its URL.
async fn serve(r1: Arc<R1>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer_one(r1.clone(), stream));
        }
    });
    url
}

/// Reads one request from `stream`, writes `r1`'s answer and closes the connection.
async fn answer_one(r1: Arc<R1>, mut stream: TcpStream) {
    let Some((method, path, body)) = read_request(&mut stream).await else {
        return;
    };
    let (status, content_type, answer) = r1.answer(&method, &path, &body);
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{answer}",
        answer.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}

/// Reads one request line by line: method, path (with query) and the `content-length` bytes of
/// its body; `None` when the connection ends before that.
async fn read_request(stream: &mut TcpStream) -> Option<(String, String, String)> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await.ok()?;
    let mut request_line = line.split_whitespace();
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let mut length = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.ok()?;
    Some((method, path, String::from_utf8_lossy(&body).into_owned()))
}

/// The storage URI R1 gives job `job_id`: `s3://<bucket>/results/test/<id>/<epoch ms>`.
fn storage_uri(bucket: &str, job_id: i64) -> (String, String) {
    let prefix = format!("results/test/{job_id}/{}", Utc::now().timestamp_millis());
    (format!("s3://{bucket}/{prefix}"), prefix)
}

/// `len` bytes that are not all alike (a simple LCG).
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state.to_be_bytes()[0]
        })
        .collect()
}

/// The report the test handler uploads as `result.json`.
fn report(job_id: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({ "id": job_id, "ok": true })).expect("json")
}

/// The size of the file the test handler uploads (a few MiB, so that it is streamed).
const FILE_SIZE: usize = 3 * 1024 * 1024 + 17;

/// A worker for TEST jobs whose handler uploads `result.json` (bytes) and `maps/big.bin` (a
/// file written into the scratch directory), talking to `api_url`; `configure` adds settings.
fn worker(
    api_url: &str,
    scratch: &std::path::Path,
    configure: impl FnOnce(reefguide_worker_sdk::WorkerBuilder) -> reefguide_worker_sdk::WorkerBuilder,
) -> Worker {
    let handler = handler_fn(|input: Value, ctx: JobContext| async move {
        ctx.upload_bytes("result.json", report(&input["id"]))
            .await?;
        let file = ctx.scratch_dir().join("big.bin");
        tokio::fs::write(&file, pseudo_random(FILE_SIZE)).await?;
        ctx.upload_file(&file, "maps/big.bin").await?;
        Ok::<_, HandlerError>(json!({}))
    });
    let builder = Worker::builder()
        .api_url(api_url)
        .credentials("worker@example.com", "a-long-password")
        .handler("TEST", handler)
        .poll_interval(Duration::from_millis(50))
        .idle_timeout(Duration::from_secs(2))
        .scratch_root(scratch);
    configure(builder).build().expect("valid worker")
}

/// Runs `worker` until its idle timeout.
async fn run(worker: Worker) -> RunSummary {
    tokio::time::timeout(
        Duration::from_secs(120),
        worker.run_until(std::future::pending()),
    )
    .await
    .expect("the idle timeout ends the run")
    .expect("no fatal error")
}

/// Serves `r1` and runs a worker against it in this process until its idle timeout; the worker
/// is given the emulator's endpoint in code (`s3_endpoint_url`).
async fn run_in_process(r1: Arc<R1>) -> RunSummary {
    let url = serve(r1).await;
    let scratch = tempfile::tempdir().expect("tempdir");
    let endpoint = endpoint();
    run(worker(&url, scratch.path(), |builder| {
        builder.s3_endpoint_url(endpoint)
    }))
    .await
}

/// Checks that the job succeeded and both files are in `bucket` under exactly `prefix`.
async fn assert_uploaded(r1: &R1, client: &Client, bucket: &str, prefix: &str) {
    assert_eq!(
        r1.results(),
        vec![json!({"status": "SUCCEEDED", "resultPayload": {}})]
    );
    assert_eq!(r1.unexpected(), Vec::<String>::new());
    assert_eq!(
        keys(client, bucket).await,
        vec![
            format!("{prefix}/maps/big.bin"),
            format!("{prefix}/result.json"),
        ]
    );
    let stored = object(client, bucket, &format!("{prefix}/result.json")).await;
    assert_eq!(stored, report(&json!(r1.job_id)));
    let stored = object(client, bucket, &format!("{prefix}/maps/big.bin")).await;
    assert!(
        stored == pseudo_random(FILE_SIZE),
        "maps/big.bin differs ({} bytes stored)",
        stored.len()
    );
}

#[tokio::test]
async fn r1_results_go_straight_to_s3() {
    let client = s3_client().await;
    let bucket = fresh_bucket(&client).await;
    let (uri, prefix) = storage_uri(&bucket, 41);
    let r1 = Arc::new(R1::new(41, uri));
    let summary = run_in_process(r1.clone()).await;
    assert_eq!(
        summary,
        RunSummary {
            succeeded: 1,
            failed: 0,
            abandoned: 0
        }
    );
    assert_uploaded(&r1, &client, &bucket, &prefix).await;
}

#[tokio::test]
async fn a_missing_bucket_fails_the_job_with_s3s_reason() {
    let missing = unique_bucket("missing");
    let (uri, prefix) = storage_uri(&missing, 42);
    let r1 = Arc::new(R1::new(42, uri));
    let started = std::time::Instant::now();
    let summary = run_in_process(r1.clone()).await;
    assert_eq!(
        summary,
        RunSummary {
            succeeded: 0,
            failed: 1,
            abandoned: 0
        }
    );
    let results = r1.results();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["status"], "FAILED");
    let error = results[0]["resultPayload"]["error"]
        .as_str()
        .expect("an error message");
    // The bucket, the key and S3's error code (moto sends no message for this one).
    let expected = format!("S3 upload to s3://{missing}/{prefix}/result.json failed: NoSuchBucket");
    assert!(error.starts_with(&expected), "{error}");
    assert!(error.contains("the bucket does not exist"), "{error}");
    assert_eq!(r1.unexpected(), Vec::<String>::new());
    // A refusal is not retried until the lease ends (an hour here).
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// A worker given no S3 settings in code reaches the emulator through `AWS_ENDPOINT_URL_S3`
/// alone, with path-style addressing. Environment variables cannot be changed safely in a
/// running test, so the test runs itself again as a child process with that variable set: the
/// child runs the worker, this process serves the R1 stub and checks the bucket.
#[tokio::test]
async fn a_worker_configured_only_by_environment_uploads() {
    if let Ok(api_url) = std::env::var(CHILD_API_VAR) {
        let scratch = tempfile::tempdir().expect("tempdir");
        let summary = run(worker(&api_url, scratch.path(), |builder| builder)).await;
        assert_eq!(summary.succeeded, 1, "{summary:?}");
        return;
    }
    let client = s3_client().await;
    let bucket = fresh_bucket(&client).await;
    let (uri, prefix) = storage_uri(&bucket, 43);
    let r1 = Arc::new(R1::new(43, uri));
    let url = serve(r1.clone()).await;
    let test_binary = std::env::current_exe().expect("the test binary");
    let mut command = std::process::Command::new(test_binary);
    command
        .args([
            "a_worker_configured_only_by_environment_uploads",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD_API_VAR, &url)
        .env("AWS_ENDPOINT_URL_S3", endpoint())
        .env_remove("AWS_ENDPOINT_URL");
    // This runtime keeps serving the stub while the child runs.
    let child = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the child's task")
        .expect("the child test runs");
    assert!(
        child.status.success(),
        "the child worker failed:\n{}\n{}",
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
    assert_uploaded(&r1, &client, &bucket, &prefix).await;
}
