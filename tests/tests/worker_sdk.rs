//! End-to-end tests of the worker SDK against the wired server on Postgres: many workers sharing a
//! queue, a worker killed mid-job, a job cancelled while it runs, and a server that only has R1's
//! routes.

use reefguide_adapters_postgres::test_support::count_rows as count;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reefguide_http_actix::Settings;
use reefguide_http_actix::config::JobTypeSettings;
use reefguide_tests::TestApp;
use reefguide_tests::test_support::TestBackend;
use reefguide_worker_sdk::{HandlerError, JobContext, RunSummary, Worker, handler_fn, test_job};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Password of the worker accounts made by [`TestApp::user_with_roles`].
const WORKER_PASSWORD: &str = "user-password-1";
/// The longest any condition below is waited for.
const PATIENCE: Duration = Duration::from_secs(120);

/// The TEST input.
#[derive(Debug, Deserialize)]
struct TestInput {
    id: f64,
}

/// A worker account: its email.
async fn worker_account(app: &TestApp, email: &str) -> String {
    app.user_with_roles(email, &["WORKER"]).await;
    email.to_owned()
}

/// The SDK's shipped TEST handler: writes `result.json` with the input id and succeeds.
fn writing_handler()
-> impl reefguide_worker_sdk::JobHandler<Input = test_job::TestInput, Output = Value> {
    test_job::handler()
}

/// Tells workers to shut down (`send(true)`).
type Stop = Arc<watch::Sender<bool>>;

fn stopper() -> Stop {
    Arc::new(watch::channel(false).0)
}

/// Resolves once `stop` says so.
async fn stopped(stop: Stop) {
    let mut seen = stop.subscribe();
    let _ = seen.wait_for(|stop| *stop).await;
}

/// Starts a worker until `stop` says so; its summary when it ends.
fn start(
    app: &TestApp,
    email: &str,
    configure: impl FnOnce(reefguide_worker_sdk::WorkerBuilder) -> reefguide_worker_sdk::WorkerBuilder,
    stop: Stop,
) -> JoinHandle<RunSummary> {
    let builder = Worker::builder()
        .api_url(app.address.clone())
        .credentials(email, WORKER_PASSWORD)
        .heartbeat_interval(Duration::from_millis(300))
        .claim_wait(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(100));
    let worker = configure(builder).build().expect("worker builds");
    tokio::spawn(async move { worker.run_until(stopped(stop)).await.expect("worker ran") })
}

/// Waits until `sql` counts `expected`.
async fn wait_for_count(db: &sea_orm::DatabaseConnection, sql: &str, expected: i64) {
    let start = Instant::now();
    loop {
        let n = count(db, sql).await;
        if n == expected {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{sql}: {n}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Submits TEST jobs `{"id": n}` for `ids` as `token`; their job ids.
async fn submit_many(app: &TestApp, token: &str, ids: std::ops::Range<i64>) -> Vec<i64> {
    let mut submitted = Vec::new();
    for n in ids {
        let reply = app
            .post(
                "/api/jobs",
                Some(token),
                json!({"type": "TEST", "inputPayload": {"id": n}}),
            )
            .await
            .expect(200);
        submitted.push(reply.body["jobId"].as_i64().expect("job id"));
    }
    submitted
}

/// The job as the admin sees it.
async fn job(app: &TestApp, admin: &str, job_id: i64) -> Value {
    app.get(&format!("/api/jobs/{job_id}"), Some(admin))
        .await
        .expect(200)
        .body["job"]
        .clone()
}

/// Downloads `result.json` of a job through the download route; its JSON.
async fn result_file(app: &TestApp, admin: &str, job_id: i64) -> Value {
    let reply = app
        .get(&format!("/api/jobs/{job_id}/download"), Some(admin))
        .await
        .expect(200);
    let url = reply.body["files"]["result.json"]
        .as_str()
        .unwrap_or_else(|| panic!("no result.json for job {job_id}: {}", reply.text));
    let response = app.client.get(url).send().await.expect("download");
    assert_eq!(response.status().as_u16(), 200, "GET {url}");
    serde_json::from_slice(&response.bytes().await.expect("bytes")).expect("JSON result file")
}

fn short_leases(s: &mut Settings) {
    s.jobs.job_types.insert(
        "TEST".into(),
        JobTypeSettings {
            lease_seconds: Some(1),
            max_attempts: Some(3),
            ..JobTypeSettings::default()
        },
    );
    s.jobs.lease_sweep_interval_ms = 100;
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_workers_complete_five_hundred_jobs_each_exactly_once() {
    const JOBS: i64 = 500;
    let app = TestApp::spawn_with(TestBackend::Postgres, |s| {
        s.database.database_max_connections = 16;
        s.server.http_workers = Some(2);
    })
    .await;
    let admin = app.admin_token().await;
    let submitted: HashSet<i64> = submit_many(&app, &admin, 0..JOBS)
        .await
        .into_iter()
        .collect();
    assert_eq!(submitted.len(), 500);

    let stop = stopper();
    let mut workers = Vec::new();
    for n in 0..4 {
        let email = worker_account(&app, &format!("worker{n}@example.com")).await;
        workers.push(start(
            &app,
            &email,
            |b| b.handler("TEST", writing_handler()).concurrency(2),
            Arc::clone(&stop),
        ));
    }
    let db = app.sql().await;
    wait_for_count(
        &db,
        "SELECT COUNT(*) AS n FROM jobs WHERE status = 'SUCCEEDED'",
        JOBS,
    )
    .await;
    stop.send_replace(true);
    let mut succeeded = 0;
    for worker in workers {
        let summary = worker.await.expect("worker task");
        assert_eq!(summary.failed, 0, "{summary:?}");
        succeeded += summary.succeeded;
    }
    assert_eq!(succeeded, 500, "each job reported once");
    for (sql, expected) in [
        ("SELECT COUNT(*) AS n FROM job_assignments", JOBS),
        ("SELECT COUNT(DISTINCT job_id) AS n FROM job_results", JOBS),
        ("SELECT COUNT(*) AS n FROM job_results", JOBS),
    ] {
        assert_eq!(count(&db, sql).await, expected, "{sql}");
    }
    for job_id in submitted_in_order(&submitted) {
        let stored = job(&app, &admin, job_id).await;
        let file = result_file(&app, &admin, job_id).await;
        assert_eq!(file["id"], stored["input_payload"]["id"], "job {job_id}");
    }
}

/// The job ids in ascending order.
fn submitted_in_order(ids: &HashSet<i64>) -> Vec<i64> {
    let mut ids: Vec<i64> = ids.iter().copied().collect();
    ids.sort_unstable();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_job_is_requeued_and_finished_by_another() {
    let app = TestApp::spawn_with(TestBackend::Postgres, short_leases).await;
    let admin = app.admin_token().await;
    let first = worker_account(&app, "first@example.com").await;
    let second = worker_account(&app, "second@example.com").await;

    // The first worker hangs in its handler until it is killed.
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let handler_stopped = Arc::new(std::sync::Mutex::new(None));
    let stopped_clock = Arc::clone(&handler_stopped);
    let hanging = handler_fn(move |_: TestInput, ctx: JobContext| {
        let (started_tx, clock) = (started_tx.clone(), DropClock(Arc::clone(&stopped_clock)));
        async move {
            let _clock = clock;
            let _ = started_tx.send(ctx.job_id());
            std::future::pending::<()>().await;
            Ok::<Value, HandlerError>(json!({}))
        }
    });
    let never = stopper();
    let doomed = start(&app, &first, |b| b.handler("TEST", hanging), never);
    let job_id = submit_many(&app, &admin, 7..8).await[0];
    let claimed = tokio::time::timeout(Duration::from_secs(30), started.recv())
        .await
        .expect("the first worker took the job")
        .expect("a job id");
    assert_eq!(claimed, job_id);
    doomed.abort();
    assert!(doomed.await.is_err_and(|e| e.is_cancelled()));
    // Killing the worker stops its handler too: nothing of it keeps running detached.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        handler_stopped.lock().expect("lock").is_some(),
        "the killed worker's handler still runs"
    );

    let stop = stopper();
    let rescuer = start(
        &app,
        &second,
        |b| b.handler("TEST", writing_handler()),
        Arc::clone(&stop),
    );
    let db = app.sql().await;
    wait_for_count(
        &db,
        &format!("SELECT COUNT(*) AS n FROM jobs WHERE id = {job_id} AND status = 'SUCCEEDED'"),
        1,
    )
    .await;
    stop.send_replace(true);
    assert_eq!(rescuer.await.expect("rescuer").succeeded, 1);
    let stored = job(&app, &admin, job_id).await;
    let assignments = stored["assignments"].as_array().expect("assignments");
    assert_eq!(assignments.len(), 2, "{stored}");
    assert_eq!(assignments[0]["result"], Value::Null);
    assert_eq!(result_file(&app, &admin, job_id).await["id"], json!(7));
}

/// Records when it is dropped: the handler owning it has stopped.
struct DropClock(Arc<std::sync::Mutex<Option<Instant>>>);

impl Drop for DropClock {
    fn drop(&mut self) {
        if let Ok(mut at) = self.0.lock() {
            *at = Some(Instant::now());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_job_stops_its_handler_within_a_heartbeat() {
    const HEARTBEAT: Duration = Duration::from_millis(300);
    let app = TestApp::spawn(TestBackend::Postgres).await;
    let (_, ana) = app.user("ana@example.com").await;
    let email = worker_account(&app, "worker@example.com").await;

    // The first job's handler ignores cancellation and would run for an hour.
    let stopped_at = Arc::new(std::sync::Mutex::new(None));
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let runs = Arc::new(AtomicU64::new(0));
    let handler = {
        let (stopped_at, runs) = (Arc::clone(&stopped_at), Arc::clone(&runs));
        handler_fn(move |input: TestInput, ctx: JobContext| {
            let (stopped_at, runs, started_tx) = (
                Arc::clone(&stopped_at),
                Arc::clone(&runs),
                started_tx.clone(),
            );
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                if input.id < 1.0 {
                    let _clock = DropClock(stopped_at);
                    let _ = started_tx.send(ctx.job_id());
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                Ok::<Value, HandlerError>(json!({}))
            }
        })
    };
    let stop = stopper();
    let worker = start(
        &app,
        &email,
        |b| {
            b.handler("TEST", handler)
                .heartbeat_interval(HEARTBEAT)
                .concurrency(1)
        },
        Arc::clone(&stop),
    );
    let first = submit_many(&app, &ana, 0..1).await[0];
    tokio::time::timeout(Duration::from_secs(30), started.recv())
        .await
        .expect("the handler started")
        .expect("a job id");
    let cancelled_at = Instant::now();
    app.post(&format!("/api/jobs/{first}/cancel"), Some(&ana), json!({}))
        .await
        .expect(200);
    let start_wait = Instant::now();
    let stopped = loop {
        if let Some(at) = *stopped_at.lock().expect("lock") {
            break at;
        }
        assert!(
            start_wait.elapsed() < Duration::from_secs(10),
            "the handler was never stopped"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let took = stopped.saturating_duration_since(cancelled_at);
    eprintln!("handler stopped {took:?} after the cancel");
    assert!(
        took <= HEARTBEAT + Duration::from_millis(200),
        "the handler ran on for {took:?} after the cancel (heartbeat every {HEARTBEAT:?})"
    );

    // The worker moves on to the next job.
    let second = submit_many(&app, &ana, 1..2).await[0];
    let db = app.sql().await;
    wait_for_count(
        &db,
        &format!("SELECT COUNT(*) AS n FROM jobs WHERE id = {second} AND status = 'SUCCEEDED'"),
        1,
    )
    .await;
    stop.send_replace(true);
    let summary = worker.await.expect("worker");
    assert_eq!(
        (summary.succeeded, summary.abandoned),
        (1, 1),
        "{summary:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let admin = app.admin_token().await;
    assert_eq!(job(&app, &admin, first).await["status"], json!("CANCELLED"));
}

// ---------------------------------------------------------------------------------------------
// A server with only R1's routes

/// Routes R1 does not have: a proxy answers 404 for them.
fn r1_lacks(method: &actix_web::http::Method, path: &str) -> bool {
    method == actix_web::http::Method::POST
        && (path == "/api/jobs/claim"
            || path.ends_with("/heartbeat")
            || path.ends_with("/upload-urls"))
}

/// Forwards a request to `upstream` unless R1 lacks the route.
async fn forward(
    req: actix_web::HttpRequest,
    body: actix_web::web::Bytes,
    upstream: actix_web::web::Data<(reqwest::Client, String)>,
) -> actix_web::HttpResponse {
    let path = req.uri().path();
    if r1_lacks(req.method(), path) {
        return actix_web::HttpResponse::NotFound()
            .content_type("text/html")
            .body(format!("Cannot POST {path}"));
    }
    let (client, base) = upstream.get_ref();
    let url = format!(
        "{base}{}",
        req.uri().path_and_query().map_or(path, |pq| pq.as_str())
    );
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).expect("method");
    let mut outgoing = client.request(method, url).body(body.to_vec());
    for name in ["authorization", "content-type"] {
        if let Some(value) = req.headers().get(name) {
            outgoing = outgoing.header(name, value.as_bytes());
        }
    }
    let Ok(response) = outgoing.send().await else {
        return actix_web::HttpResponse::BadGateway().finish();
    };
    let status = actix_web::http::StatusCode::from_u16(response.status().as_u16()).expect("status");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.as_bytes().to_vec());
    let bytes = response.bytes().await.unwrap_or_default();
    let mut reply = actix_web::HttpResponse::build(status);
    if let Some(content_type) = content_type {
        reply.insert_header(("content-type", content_type));
    }
    reply.body(bytes)
}

/// A proxy in front of `app` that looks like an R1 server; its base URL.
fn r1_proxy(app: &TestApp) -> (String, actix_web::dev::ServerHandle) {
    let upstream = actix_web::web::Data::new((app.client.clone(), app.address.clone()));
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(upstream.clone())
            .default_service(actix_web::web::to(forward))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("proxy binds");
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}"), handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_on_an_r1_server_polls_and_assigns() {
    let app = TestApp::spawn(TestBackend::Postgres).await;
    let admin = app.admin_token().await;
    let email = worker_account(&app, "worker@example.com").await;
    let (proxy, proxy_handle) = r1_proxy(&app);
    let jobs = submit_many(&app, &admin, 0..5).await;

    let stop = stopper();
    let builder = Worker::builder()
        .api_url(proxy)
        .credentials(&email, WORKER_PASSWORD)
        .handler("TEST", writing_handler())
        .heartbeat_interval(Duration::from_millis(300))
        .claim_wait(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(100));
    let worker = builder.build().expect("worker builds");
    let running = tokio::spawn(worker.run_until(stopped(Arc::clone(&stop))));
    let db = app.sql().await;
    wait_for_count(
        &db,
        "SELECT COUNT(*) AS n FROM jobs WHERE status = 'SUCCEEDED'",
        5,
    )
    .await;
    stop.send_replace(true);
    let summary = running.await.expect("worker").expect("worker ran");
    assert_eq!(summary.succeeded, 5);
    proxy_handle.stop(true).await;
    for job_id in jobs {
        let file = result_file(&app, &admin, job_id).await;
        assert!(file["id"].is_number(), "{file}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_never_strands_a_job_on_a_claim_left_waiting() {
    let app = TestApp::spawn(TestBackend::Postgres).await;
    let admin = app.admin_token().await;
    let email = worker_account(&app, "worker@example.com").await;
    let stop = stopper();
    let worker = start(
        &app,
        &email,
        |b| {
            b.handler("TEST", writing_handler())
                .claim_wait(Duration::from_secs(3))
        },
        Arc::clone(&stop),
    );
    // The worker's claim is waiting on the server when the shutdown begins; a job arrives after.
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.send_replace(true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let job_id = submit_many(&app, &admin, 3..4).await[0];
    let summary = tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("the worker stopped")
        .expect("worker task");
    // The server handed the job to the waiting claim; the worker ran it instead of leaving it
    // IN_PROGRESS until its lease expired.
    assert_eq!(summary.succeeded, 1, "{summary:?}");
    assert_eq!(
        job(&app, &admin, job_id).await["status"],
        json!("SUCCEEDED")
    );
}
