//! Contract §7, time and concurrency: lease expiry (re-queue, then TIMED_OUT), heartbeats keeping
//! a lease, long-polling claims, thousands of jobs raced for by many workers (Postgres only) and
//! identical submissions racing into one job.

use reefguide_adapters_postgres::test_support::count_rows as count;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reefguide_http_actix::Settings;
use reefguide_http_actix::config::JobTypeSettings;
use reefguide_tests::TestApp;
use reefguide_tests::test_support::TestBackend;
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::jobs::{claim, claim_one, id, job, report, submit, submit_test, time_of};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The longest any condition below is waited for.
const PATIENCE: Duration = Duration::from_secs(10);

/// TEST jobs with a lease of `lease_seconds` and two attempts; the sweeper runs every 100 ms.
fn short_leases(lease_seconds: u32) -> impl FnOnce(&mut Settings) {
    move |s| {
        s.jobs.job_types.insert(
            "TEST".into(),
            JobTypeSettings {
                lease_seconds: Some(lease_seconds),
                max_attempts: Some(2),
                ..JobTypeSettings::default()
            },
        );
        s.jobs.lease_sweep_interval_ms = 100;
    }
}

/// Waits (checking every 100 ms, at most [`PATIENCE`]) until job `job_id` has `status`; the job.
async fn wait_for_status(app: &TestApp, token: &str, job_id: i64, status: &str) -> Value {
    let start = Instant::now();
    loop {
        let current = job(app, token, job_id).await;
        if current["status"] == json!(status) {
            return current;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "job {job_id} did not become {status} within {PATIENCE:?}: {current}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn heartbeat_path(assignment: i64) -> String {
    format!("/api/jobs/assignments/{assignment}/heartbeat")
}

/// One request from a spawned task: `(status, JSON body)`; fails on a 5xx.
async fn call(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("response body");
    assert!(status < 500, "server error on {url}: {status} {text}");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

// ---------------------------------------------------------------------------------------------
// Leases
// ---------------------------------------------------------------------------------------------

#[rstest]
#[tokio::test]
async fn an_expired_lease_is_requeued_then_timed_out(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, short_leases(1)).await;
    let (_, ana) = app.user("ana@example.com").await;
    let worker = app.worker_token("worker@example.com").await;
    let job_id = submit_test(&app, &ana, 1).await;

    let (claimed, first) = claim_one(&app, &worker).await;
    let claimed_at = Instant::now();
    assert_eq!(claimed, job_id);
    let first_id = id(&first["id"]);
    let lease = time_of(&first["expires_at"]) - time_of(&first["created_at"]);
    assert!(
        (900..=1100).contains(&lease.num_milliseconds()),
        "lease {lease}"
    );
    assert_eq!(
        job(&app, &ana, job_id).await["status"],
        json!("IN_PROGRESS")
    );

    // Attempt 1 expires: back in the queue, and the old assignment is dead.
    let requeued = wait_for_status(&app, &ana, job_id, "PENDING").await;
    assert!(
        claimed_at.elapsed() >= Duration::from_millis(900),
        "re-queued before the lease ended ({:?})",
        claimed_at.elapsed()
    );
    assert_eq!(requeued["assignments"].as_array().map(Vec::len), Some(1));
    app.post(&heartbeat_path(first_id), Some(&worker), json!({}))
        .await
        .expect_error(409, "lease_lost");
    report(&app, &worker, first_id, "SUCCEEDED", Some(json!({})))
        .await
        .expect_error(409, "lease_lost");
    assert_eq!(job(&app, &ana, job_id).await["status"], json!("PENDING"));
    let poll = app.get("/api/jobs/poll", Some(&worker)).await.expect(200);
    assert_eq!(poll.body["jobs"][0]["id"], json!(job_id));

    // Attempt 2: a new assignment; the first stays dead.
    let (again, second) = claim_one(&app, &worker).await;
    assert_eq!(again, job_id);
    let second_id = id(&second["id"]);
    assert_ne!(second_id, first_id);
    app.post(&heartbeat_path(first_id), Some(&worker), json!({}))
        .await
        .expect_error(409, "lease_lost");
    report(&app, &worker, first_id, "SUCCEEDED", Some(json!({})))
        .await
        .expect_error(409, "lease_lost");

    // Attempts used up: TIMED_OUT, and a late result changes nothing.
    wait_for_status(&app, &ana, job_id, "TIMED_OUT").await;
    report(&app, &worker, second_id, "SUCCEEDED", Some(json!({})))
        .await
        .expect_error(409, "lease_lost");
    app.post(&heartbeat_path(second_id), Some(&worker), json!({}))
        .await
        .expect_error(409, "lease_lost");
    let stored = job(&app, &ana, job_id).await;
    assert_eq!(stored["status"], json!("TIMED_OUT"));
    let assignments = stored["assignments"].as_array().expect("assignments");
    assert_eq!(assignments.len(), 2);
    for assignment in assignments {
        assert_eq!(assignment["result"], Value::Null, "{assignment}");
        assert_eq!(assignment["completed_at"], Value::Null, "{assignment}");
    }
    claim(&app, &worker, json!({})).await.expect(204);
    app.post(&format!("/api/jobs/{job_id}/cancel"), Some(&ana), json!({}))
        .await
        .expect_error(400, "job_not_cancellable");
    // A timed-out job is never a cache hit.
    let resubmitted = submit(&app, &ana, "TEST", json!({"id": 1}))
        .await
        .expect(200);
    assert_eq!(resubmitted.body["cached"], json!(false));
}

#[rstest]
#[tokio::test]
async fn a_lapsed_lease_is_refused_even_before_the_sweeper_runs(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, |s| {
        short_leases(1)(s);
        s.jobs.lease_sweep_interval_ms = 600_000;
    })
    .await;
    let (_, ana) = app.user("ana@example.com").await;
    let worker = app.worker_token("worker@example.com").await;
    let job_id = submit_test(&app, &ana, 1).await;
    let (_, assignment) = claim_one(&app, &worker).await;
    let assignment_id = id(&assignment["id"]);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    app.post(&heartbeat_path(assignment_id), Some(&worker), json!({}))
        .await
        .expect_error(409, "lease_lost");
    report(&app, &worker, assignment_id, "SUCCEEDED", Some(json!({})))
        .await
        .expect_error(409, "lease_lost");
    // Nothing changed: the sweeper has not run, so the job still waits for it.
    let stored = job(&app, &ana, job_id).await;
    assert_eq!(stored["status"], json!("IN_PROGRESS"));
    assert_eq!(stored["assignments"][0]["result"], Value::Null);
    assert_eq!(stored["assignments"][0]["completed_at"], Value::Null);
    assert_eq!(
        stored["assignments"][0]["expires_at"],
        assignment["expires_at"]
    );
}

#[rstest]
#[tokio::test]
async fn heartbeats_keep_a_short_lease_alive(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, short_leases(2)).await;
    let (_, ana) = app.user("ana@example.com").await;
    let worker = app.worker_token("worker@example.com").await;
    let job_id = submit_test(&app, &ana, 1).await;
    let (_, assignment) = claim_one(&app, &worker).await;
    let assignment_id = id(&assignment["id"]);
    let started = Instant::now();
    // Twice the lease, with a heartbeat every 400 ms.
    while started.elapsed() < Duration::from_secs(4) {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let beat = app
            .post(&heartbeat_path(assignment_id), Some(&worker), json!({}))
            .await
            .expect(200);
        assert_eq!(beat.body["cancelled"], json!(false));
    }
    let stored = job(&app, &ana, job_id).await;
    assert_eq!(stored["status"], json!("IN_PROGRESS"));
    assert_eq!(stored["assignments"].as_array().map(Vec::len), Some(1));
    report(&app, &worker, assignment_id, "SUCCEEDED", Some(json!({})))
        .await
        .expect(200);
    assert_eq!(job(&app, &ana, job_id).await["status"], json!("SUCCEEDED"));
}

// ---------------------------------------------------------------------------------------------
// Long polls
// ---------------------------------------------------------------------------------------------

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_claim_returns_as_soon_as_a_job_arrives(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let worker = app.worker_token("worker@example.com").await;
    let started = Instant::now();
    let ((reply, claimed_at), (job_id, submitted_at)) = tokio::join!(
        async {
            let reply = claim(&app, &worker, json!({"waitSeconds": 10})).await;
            (reply, Instant::now())
        },
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let job_id = submit_test(&app, &ana, 1).await;
            (job_id, Instant::now())
        },
    );
    let reply = reply.expect(200);
    assert_eq!(reply.body["job"]["id"], json!(job_id));
    assert!(
        claimed_at - started >= Duration::from_millis(300),
        "the claim waited for the job"
    );
    let latency = claimed_at.saturating_duration_since(submitted_at);
    eprintln!("{backend:?}: claim answered {latency:?} after the submission's response");
    assert!(
        latency < Duration::from_millis(100),
        "{backend:?}: the waiting claim answered {latency:?} after the submission"
    );
}

#[rstest]
#[tokio::test]
async fn a_waiting_claim_with_nothing_to_take_answers_204_after_the_wait(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let worker = app.worker_token("worker@example.com").await;
    let started = Instant::now();
    claim(&app, &worker, json!({"waitSeconds": 1}))
        .await
        .expect(204);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(950) && waited < Duration::from_secs(5),
        "waited {waited:?}"
    );
    // A job of another type arriving meanwhile does not end the wait, and is left alone.
    let started = Instant::now();
    let (reply, job_id) = tokio::join!(
        claim(
            &app,
            &worker,
            json!({"waitSeconds": 1.5, "jobTypes": ["REGIONAL_ASSESSMENT"]})
        ),
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            submit_test(&app, &ana, 1).await
        },
    );
    reply.expect(204);
    assert!(started.elapsed() >= Duration::from_millis(1400));
    assert_eq!(job(&app, &ana, job_id).await["status"], json!("PENDING"));
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_several_waiting_claims_exactly_one_gets_a_new_job(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let (_, ana) = app.user("ana@example.com").await;
    let worker = app.worker_token("worker@example.com").await;
    let mut waiting = JoinSet::new();
    for _ in 0..4 {
        let (app, worker) = (Arc::clone(&app), worker.clone());
        waiting.spawn(async move {
            let reply = claim(&app, &worker, json!({"waitSeconds": 2})).await;
            (reply.status.as_u16(), reply.body)
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let job_id = submit_test(&app, &ana, 1).await;
    let mut granted = Vec::new();
    while let Some(outcome) = waiting.join_next().await {
        let (status, body) = outcome.expect("claim task");
        match status {
            200 => granted.push(id(&body["job"]["id"])),
            204 => {}
            other => panic!("claim answered {other}: {body}"),
        }
    }
    assert_eq!(granted, [job_id]);
    let stored = job(&app, &ana, job_id).await;
    assert_eq!(stored["assignments"].as_array().map(Vec::len), Some(1));
}

// ---------------------------------------------------------------------------------------------
// Races (Postgres)
// ---------------------------------------------------------------------------------------------

/// How many jobs the big race hands out.
const RACE_JOBS: usize = 2_000;
/// How many workers race for them (half claim, half poll + assign).
const RACE_WORKERS: usize = 32;

/// A worker that claims until nothing is left; `(assignment id, job id)` of what it was granted.
async fn claiming_worker(client: reqwest::Client, base: String, token: String) -> Vec<(i64, i64)> {
    let mut granted = Vec::new();
    loop {
        let (status, body) = call(
            &client,
            Method::POST,
            &format!("{base}/api/jobs/claim"),
            &token,
            Some(json!({"jobTypes": ["TEST"], "waitSeconds": 0})),
        )
        .await;
        match status {
            200 => {
                let assignment = id(&body["assignment"]["id"]);
                granted.push((assignment, id(&body["job"]["id"])));
                finish(&client, &base, &token, assignment).await;
            }
            204 => return granted,
            other => panic!("claim answered {other}: {body}"),
        }
    }
}

/// An R1-style worker: polls, then assigns, reading 400 as "someone else won"; stops when the
/// poll is empty (every job was submitted before the workers started, and none is re-queued).
/// What it was granted, and how many assignments it lost to another worker.
async fn polling_worker(
    client: reqwest::Client,
    base: String,
    token: String,
    offset: usize,
) -> (Vec<(i64, i64)>, usize) {
    let mut granted = Vec::new();
    let mut lost = 0;
    loop {
        let (status, body) = call(
            &client,
            Method::GET,
            &format!("{base}/api/jobs/poll?jobType=TEST"),
            &token,
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let jobs: Vec<i64> = body["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .map(|job| id(&job["id"]))
            .collect();
        if jobs.is_empty() {
            return (granted, lost);
        }
        // Like an R1 worker, try one job per poll; pollers pick different places in the list so
        // that they do not all chase the same job.
        let job_id = jobs[(offset / 2) % jobs.len()];
        let (status, body) = call(
            &client,
            Method::POST,
            &format!("{base}/api/jobs/assign"),
            &token,
            Some(json!({"jobId": job_id, "ecsTaskArn": format!("arn:task/{offset}")})),
        )
        .await;
        match status {
            200 => {
                let assignment = id(&body["assignment"]["id"]);
                assert_eq!(body["assignment"]["job_id"], json!(job_id));
                granted.push((assignment, job_id));
                finish(&client, &base, &token, assignment).await;
            }
            400 => {
                assert_eq!(body["code"], json!("job_not_available"), "{body}");
                lost += 1;
            }
            other => panic!("assign answered {other}: {body}"),
        }
    }
}

/// Reports SUCCEEDED for an assignment.
async fn finish(client: &reqwest::Client, base: &str, token: &str, assignment: i64) {
    let (status, body) = call(
        client,
        Method::POST,
        &format!("{base}/api/jobs/assignments/{assignment}/result"),
        token,
        Some(json!({"status": "SUCCEEDED", "resultPayload": {}})),
    )
    .await;
    assert_eq!(status, 200, "result of assignment {assignment}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_jobs_are_each_granted_exactly_once_to_racing_workers() {
    let started = Instant::now();
    let app = TestApp::spawn_with(TestBackend::Postgres, |s| {
        s.database.database_max_connections = 16;
        s.server.http_workers = Some(2);
    })
    .await;
    let admin = app.admin_token().await;
    let worker = app.worker_token("worker@example.com").await;

    // Submit the jobs, 32 at a time.
    let mut submitters = JoinSet::new();
    for lane in 0..RACE_WORKERS {
        let (client, base, token) = (app.client.clone(), app.address.clone(), admin.clone());
        submitters.spawn(async move {
            let mut ids = Vec::new();
            for n in (lane..RACE_JOBS).step_by(RACE_WORKERS) {
                let (status, body) = call(
                    &client,
                    Method::POST,
                    &format!("{base}/api/jobs"),
                    &token,
                    Some(json!({"type": "TEST", "inputPayload": {"id": n}})),
                )
                .await;
                assert_eq!(status, 200, "{body}");
                assert_eq!(body["cached"], json!(false), "{body}");
                ids.push(id(&body["jobId"]));
            }
            ids
        });
    }
    let mut submitted = HashSet::new();
    while let Some(ids) = submitters.join_next().await {
        submitted.extend(ids.expect("submitter"));
    }
    assert_eq!(submitted.len(), RACE_JOBS);
    let submitting = started.elapsed();

    // Race for them.
    let mut workers = JoinSet::new();
    for n in 0..RACE_WORKERS {
        let (client, base, token) = (app.client.clone(), app.address.clone(), worker.clone());
        if n % 2 == 0 {
            workers.spawn(async move { (true, claiming_worker(client, base, token).await, 0) });
        } else {
            workers.spawn(async move {
                let (granted, lost) = polling_worker(client, base, token, n).await;
                (false, granted, lost)
            });
        }
    }
    let (mut by_claim, mut by_assign, mut lost) = (0, 0, 0);
    let mut assignments = HashSet::new();
    let mut jobs = HashSet::new();
    while let Some(outcome) = workers.join_next().await {
        let (claiming, granted, lost_here) = outcome.expect("worker");
        lost += lost_here;
        *(if claiming {
            &mut by_claim
        } else {
            &mut by_assign
        }) += granted.len();
        for (assignment, job_id) in granted {
            assert!(
                assignments.insert(assignment),
                "assignment {assignment} twice"
            );
            assert!(jobs.insert(job_id), "job {job_id} granted twice");
        }
    }
    assert_eq!(assignments.len(), RACE_JOBS);
    assert_eq!(jobs, submitted);
    assert!(
        by_claim > 0 && by_assign > 0,
        "{by_claim} claimed, {by_assign} assigned"
    );

    let db = app.sql().await;
    for (sql, expected) in [
        ("SELECT COUNT(*) AS n FROM jobs", RACE_JOBS),
        (
            "SELECT COUNT(*) AS n FROM jobs WHERE status = 'SUCCEEDED'",
            RACE_JOBS,
        ),
        ("SELECT COUNT(*) AS n FROM job_assignments", RACE_JOBS),
        (
            "SELECT COUNT(DISTINCT job_id) AS n FROM job_assignments",
            RACE_JOBS,
        ),
        (
            "SELECT COUNT(*) AS n FROM job_assignments WHERE completed_at IS NULL",
            0,
        ),
        ("SELECT COUNT(*) AS n FROM job_results", RACE_JOBS),
        (
            "SELECT COUNT(DISTINCT job_id) AS n FROM job_results",
            RACE_JOBS,
        ),
        (
            "SELECT COUNT(*) AS n FROM jobs j WHERE (SELECT COUNT(*) FROM job_results r \
             WHERE r.job_id = j.id) <> 1",
            0,
        ),
    ] {
        assert_eq!(
            count(&db, sql).await,
            i64::try_from(expected).expect("small"),
            "{sql}"
        );
    }
    eprintln!(
        "{RACE_JOBS} jobs: submitted in {submitting:?}, all done in {:?} \
         ({by_claim} by claim, {by_assign} by poll + assign, {lost} assigns lost to a rival)",
        started.elapsed()
    );
}

/// Postgres is the target of this race; SQLite (which serialises writers) is held to it too.
#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_identical_concurrent_submissions_make_one_job(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    const SUBMISSIONS: usize = 200;
    let app = TestApp::spawn_with(backend, |s| {
        s.database.database_max_connections = 16;
        s.server.http_workers = Some(2);
    })
    .await;
    let mut tokens = Vec::new();
    for n in 0..4 {
        tokens.push(app.user(&format!("user{n}@example.com")).await.1);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(SUBMISSIONS));
    let mut submissions = JoinSet::new();
    for n in 0..SUBMISSIONS {
        let (client, base) = (app.client.clone(), app.address.clone());
        let (token, barrier) = (tokens[n % tokens.len()].clone(), Arc::clone(&barrier));
        submissions.spawn(async move {
            barrier.wait().await;
            let (status, body) = call(
                &client,
                Method::POST,
                &format!("{base}/api/jobs"),
                &token,
                Some(json!({"type": "TEST", "inputPayload": {"id": 42}})),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            body
        });
    }
    let mut replies = Vec::new();
    while let Some(body) = submissions.join_next().await {
        replies.push(body.expect("submission"));
    }
    let job_ids: HashSet<i64> = replies.iter().map(|r| id(&r["jobId"])).collect();
    let request_ids: HashSet<i64> = replies.iter().map(|r| id(&r["requestId"])).collect();
    let fresh = replies
        .iter()
        .filter(|r| r["cached"] == json!(false))
        .count();
    let cached = replies
        .iter()
        .filter(|r| r["cached"] == json!(true))
        .count();
    assert_eq!(job_ids.len(), 1, "one job: {job_ids:?}");
    assert_eq!((fresh, cached), (1, SUBMISSIONS - 1));
    assert_eq!(request_ids.len(), SUBMISSIONS);

    let job_id = job_ids.into_iter().next().expect("one job");
    let db = app.sql().await;
    for (sql, expected) in [
        ("SELECT COUNT(*) AS n FROM jobs".to_owned(), 1),
        (
            "SELECT COUNT(*) AS n FROM job_requests".to_owned(),
            SUBMISSIONS,
        ),
        (
            "SELECT COUNT(*) AS n FROM job_requests WHERE cache_hit = false".to_owned(),
            1,
        ),
        (
            format!("SELECT COUNT(*) AS n FROM job_requests WHERE job_id = {job_id}"),
            SUBMISSIONS,
        ),
    ] {
        assert_eq!(
            count(&db, &sql).await,
            i64::try_from(expected).expect("small"),
            "{sql}"
        );
    }
}
