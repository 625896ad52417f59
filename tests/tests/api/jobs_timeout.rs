//! `POST /api/admin/timeout-jobs` (reefguide-r2 §3.2): stale worker jobs, pending or running,
//! are timed out through the state machine; finished and recent jobs stay as they are; the
//! worker of a timed-out job is refused; only admins may ask.

use reefguide_tests::TestApp;
use reefguide_tests::test_support::TestBackend;
use rstest::rstest;
use sea_orm::ConnectionTrait as _;
use serde_json::json;

use crate::jobs::{claim_one, id, report, status_of, submit, submit_test};

/// Moves job `job_id`'s creation `hours` into the past.
async fn age(app: &TestApp, job_id: i64, hours: i64) {
    let sql = match app.sql().await.get_database_backend() {
        sea_orm::DbBackend::Postgres => format!(
            "UPDATE jobs SET created_at = created_at - interval '{hours} hours' WHERE id = {job_id}"
        ),
        _ => format!(
            "UPDATE jobs SET created_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', created_at, \
             '-{hours} hours') WHERE id = {job_id}"
        ),
    };
    app.sql()
        .await
        .execute_unprepared(&sql)
        .await
        .expect("aged");
}

#[rstest]
#[tokio::test]
async fn stale_pending_and_running_jobs_are_timed_out_and_nothing_else(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let worker = app.worker_token("worker@example.com").await;
    let admin = app.admin_token().await;

    let running = submit_test(&app, &ana, 1).await;
    let (claimed, assignment) = claim_one(&app, &worker).await;
    assert_eq!(claimed, running);
    let assignment = id(&assignment["id"]);
    let finished = submit_test(&app, &ana, 2).await;
    let (_, done) = claim_one(&app, &worker).await;
    report(&app, &worker, id(&done["id"]), "SUCCEEDED", Some(json!({})))
        .await
        .expect(200);
    let pending = submit_test(&app, &ana, 3).await;
    let recent = submit_test(&app, &ana, 4).await;
    let other_type = id(&submit(
        &app,
        &ana,
        "SUITABILITY_ASSESSMENT",
        json!({"region": "Townsville Whitsunday", "reef_type": "slopes", "x_dist": 450, "y_dist": 20, "threshold": 95}),
    )
    .await
    .body["jobId"]);
    for job in [running, finished, pending, other_type] {
        age(&app, job, 3).await;
    }

    // Only TEST jobs older than 2 hours: the running and the pending one.
    let reply = app
        .post(
            "/api/admin/timeout-jobs",
            Some(&admin),
            json!({"timeoutThresholdMinutes": 120, "jobTypes": ["TEST"]}),
        )
        .await
        .expect(200);
    assert_eq!(
        reply.body,
        json!({"totalTimedOut": 2, "byType": {"TEST": 2}, "timedOutJobIds": [running, pending]})
    );
    for (job, status) in [
        (running, "TIMED_OUT"),
        (pending, "TIMED_OUT"),
        (finished, "SUCCEEDED"),
        (recent, "PENDING"),
        (other_type, "PENDING"),
    ] {
        assert_eq!(status_of(&app, job).await, status, "job {job}");
    }
    // The worker on the timed-out job is refused.
    report(&app, &worker, assignment, "SUCCEEDED", Some(json!({})))
        .await
        .expect_error(409, "lease_lost");

    // Again with the defaults (120 minutes, every type): the other type now; nothing twice.
    let reply = app
        .post("/api/admin/timeout-jobs", Some(&admin), json!({}))
        .await
        .expect(200);
    assert_eq!(
        reply.body,
        json!({
            "totalTimedOut": 1,
            "byType": {"SUITABILITY_ASSESSMENT": 1},
            "timedOutJobIds": [other_type]
        })
    );
    assert_eq!(status_of(&app, recent).await, "PENDING");
}

#[rstest]
#[tokio::test]
async fn only_admins_time_out_jobs_and_bad_requests_are_refused(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, ana) = app.user("ana@example.com").await;
    let admin = app.admin_token().await;
    app.post("/api/admin/timeout-jobs", None, json!({}))
        .await
        .expect(401);
    app.post("/api/admin/timeout-jobs", Some(&ana), json!({}))
        .await
        .expect_error(403, "forbidden");
    for bad in [
        json!({"timeoutThresholdMinutes": 0}),
        json!({"timeoutThresholdMinutes": -5}),
        json!({"timeoutThresholdMinutes": 1e12}),
    ] {
        app.post("/api/admin/timeout-jobs", Some(&admin), bad)
            .await
            .expect_error(400, "validation_error");
    }
    app.post(
        "/api/admin/timeout-jobs",
        Some(&admin),
        json!({"timeoutThresholdMinutes": "soon"}),
    )
    .await
    .expect(400);
    app.post(
        "/api/admin/timeout-jobs",
        Some(&admin),
        json!({"jobTypes": ["NO_SUCH_TYPE"]}),
    )
    .await
    .expect_error(400, "unknown_job_type");
}
