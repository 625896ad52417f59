//! Workflow jobs on a real Apache Airflow (labcas-contract §1, §2): submission on a data
//! collection, who may run what where, the conf the DAG receives, success, failure, cancel, the
//! cache, and download of the outputs; on Postgres and SQLite.
//!
//! The Airflow is the one `cargo xtask test` starts for the whole run (its URL and credentials in
//! `REEFGUIDE_TEST_AIRFLOW_*`), serving the DAGs of `tests/airflow/dags/`. Several test servers
//! share it, each with its own database: each test starts its job ids at a random offset, so the
//! run ids (`reefguide-<job id>-<attempt>`) of two tests never meet in Airflow.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::Rng as _;
use reefguide_http_actix::Settings;
use reefguide_http_actix::config::{
    AirflowSettings, CollectionSettings, EngineKind, JobTypeSettings,
};
use reefguide_tests::TestApp;
use reefguide_tests::airflow::TestAirflow;
use reefguide_tests::fault_proxy::{Fault, FaultProxy};
use reefguide_tests::test_support::TestBackend;
use rstest::rstest;
use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};

use crate::jobs::id;

/// How long a run may take to end (Airflow runs one task at a time for every test server).
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// An Airflow type running `dag_id`, open to `allowed_users` (everyone when empty).
fn airflow_type(dag_id: &str, allowed_users: &[&str]) -> JobTypeSettings {
    JobTypeSettings {
        description: Some(format!("runs {dag_id}")),
        input_schema: Some(json!({
            "type": "object",
            "properties": {
                "greeting": {"type": "string"},
                "sleep_seconds": {"type": "number", "minimum": 0}
            }
        })),
        engine: Some(EngineKind::Airflow),
        dag_id: Some(dag_id.to_owned()),
        allowed_users: (!allowed_users.is_empty()).then(|| {
            allowed_users
                .iter()
                .map(|user| (*user).to_owned())
                .collect()
        }),
        ..JobTypeSettings::default()
    }
}

/// ECHO, FAIL and SLEEP on the test DAGs (ECHO for ana only); collection `images` offers all
/// three, `other` only FAIL. Runs are read back every 250 ms.
pub(crate) fn configure_workflows(settings: &mut Settings) {
    let airflow = TestAirflow::from_env();
    settings.workflows.airflow = Some(AirflowSettings {
        url: Some(airflow.url),
        username: Some(airflow.username),
        password: Some(airflow.password.into()),
        mwaa_environment: None,
        mwaa_region: None,
        sync_interval_ms: 250,
        request_timeout_ms: 10_000,
    });
    let types = &mut settings.jobs.job_types;
    types.insert(
        "ECHO".into(),
        airflow_type("reefguide_echo", &["ana@example.com"]),
    );
    types.insert("FAIL".into(), airflow_type("reefguide_fail", &[]));
    types.insert("SLEEP".into(), airflow_type("reefguide_sleep", &[]));
    let collection = |location: &str, workflows: &[&str]| CollectionSettings {
        description: format!("data at {location}"),
        location: location.to_owned(),
        workflows: workflows.iter().map(|w| (*w).to_owned()).collect(),
    };
    settings.workflows.collections = BTreeMap::from([
        (
            "images".to_owned(),
            collection("local://archive/images/", &["ECHO", "FAIL", "SLEEP"]),
        ),
        (
            "other".to_owned(),
            collection("s3://labcas-archive/other/", &["FAIL"]),
        ),
    ]);
}

/// Starts the job ids of `app`'s database at a random offset (see the module documentation).
pub(crate) async fn start_job_ids_at_random(app: &TestApp, backend: TestBackend) {
    let first: i64 = rand::thread_rng().gen_range(1_000_000..2_000_000_000);
    let sql = match backend {
        TestBackend::Postgres => format!("ALTER SEQUENCE jobs_id_seq RESTART WITH {first}"),
        TestBackend::Sqlite => {
            format!(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('jobs', {})",
                first - 1
            )
        }
    };
    app.sql()
        .await
        .execute_unprepared(&sql)
        .await
        .expect("job ids start at a random offset");
}

/// Submits `job_type` on `collection` with `payload`: the reply.
async fn submit(
    app: &TestApp,
    token: &str,
    job_type: &str,
    collection: Option<&str>,
    payload: Value,
) -> reefguide_tests::Reply {
    let mut body = json!({"type": job_type, "inputPayload": payload});
    if let Some(collection) = collection {
        body["collection"] = json!(collection);
    }
    app.post("/api/jobs", Some(token), body).await
}

/// The job, once `done` holds for it (fails the test after [`RUN_TIMEOUT`]).
pub(crate) async fn wait_for_job(
    app: &TestApp,
    token: &str,
    job: i64,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let reply = app
            .get(&format!("/api/jobs/{job}"), Some(token))
            .await
            .expect(200);
        if done(&reply.body["job"]) {
            return reply.body["job"].clone();
        }
        assert!(
            started.elapsed() < RUN_TIMEOUT,
            "job {job} never became {what}: {}",
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The job once its status is `status`.
pub(crate) async fn wait_for_status(app: &TestApp, token: &str, job: i64, status: &str) -> Value {
    wait_for_job(app, token, job, status, |job| {
        job["status"] == json!(status)
    })
    .await
}

/// The state of a run as Airflow reports it.
pub(crate) async fn airflow_run_state(dag_id: &str, run_id: &str) -> Option<String> {
    let airflow = TestAirflow::from_env();
    let reply = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/dags/{dag_id}/dagRuns/{run_id}",
            airflow.url
        ))
        .basic_auth(&airflow.username, Some(&airflow.password))
        .send()
        .await
        .expect("Airflow answers");
    if reply.status() == reqwest::StatusCode::NOT_FOUND {
        return None;
    }
    let body: Value = reply.json().await.expect("a JSON run");
    body["state"].as_str().map(ToOwned::to_owned)
}

/// The engine run id of the job's current (last) assignment.
fn engine_run_id(job: &Value) -> Option<String> {
    job["assignments"]
        .as_array()?
        .last()?
        .get("engine_run_id")?
        .as_str()
        .map(ToOwned::to_owned)
}

#[rstest]
#[case::postgres(TestBackend::Postgres)]
#[case::sqlite(TestBackend::Sqlite)]
#[tokio::test]
async fn a_workflow_runs_on_airflow_and_its_outputs_download(#[case] backend: TestBackend) {
    let app = TestApp::spawn_with(backend, configure_workflows).await;
    start_job_ids_at_random(&app, backend).await;
    let (_, ana) = app.user("ana@example.com").await;

    let submitted = submit(
        &app,
        &ana,
        "ECHO",
        Some("images"),
        json!({"greeting": "hi"}),
    )
    .await
    .expect(200);
    let job = id(&submitted.body["jobId"]);
    assert_eq!(submitted.body["cached"], json!(false));

    let done = wait_for_job(&app, &ana, job, "finished", |job| {
        !matches!(job["status"].as_str(), Some("PENDING" | "IN_PROGRESS"))
    })
    .await;
    assert_eq!(done["status"], json!("SUCCEEDED"), "{done}");
    assert_eq!(done["collection"], json!("images"));
    let assignment = &done["assignments"][0];
    let run_id = format!("reefguide-{job}-1");
    assert_eq!(assignment["engine_run_id"], json!(run_id));
    let result = &assignment["result"]["result_payload"];
    assert_eq!(result["dag_run_id"], json!(run_id), "{done}");
    assert!(
        result["start_date"].is_string() && result["end_date"].is_string(),
        "{result}"
    );
    let output = result["output_location"].as_str().expect("output location");
    assert!(
        output.starts_with("local://labcas/ana@example.com/") && output.ends_with('/'),
        "{output}"
    );
    assert_eq!(
        airflow_run_state("reefguide_echo", &run_id)
            .await
            .as_deref(),
        Some("success")
    );

    // The outputs download like any job's results, and the DAG got the conf of §2.
    let download = app
        .get(&format!("/api/jobs/{job}/download"), Some(&ana))
        .await
        .expect(200);
    let files = download.body["files"].as_object().expect("files");
    let names: Vec<&String> = files.keys().collect();
    assert_eq!(names, ["conf.json", "output.txt"], "{}", download.text);
    let fetch = |name: &str| {
        let url = files[name].as_str().expect("a URL").to_owned();
        async move {
            let reply = reqwest::get(&url).await.expect("the URL answers");
            assert_eq!(reply.status(), 200, "{url}");
            reply.text().await.expect("text")
        }
    };
    assert_eq!(fetch("output.txt").await.trim(), "hello ana@example.com");
    let conf: Value = serde_json::from_str(&fetch("conf.json").await).expect("JSON conf");
    assert_eq!(conf["greeting"], json!("hi"));
    assert_eq!(conf["job_id"], json!(job));
    assert_eq!(conf["username"], json!("ana@example.com"));
    assert_eq!(conf["in_bucket"], json!(""));
    assert_eq!(conf["out_bucket"], json!(""));
    let in_prefix = conf["in_prefix"].as_str().expect("in_prefix");
    assert!(
        in_prefix.starts_with('/') && in_prefix.ends_with("/results/archive/images/"),
        "{conf}"
    );
    let out_prefix = conf["out_prefix"].as_str().expect("out_prefix");
    let folder = output.trim_start_matches("local://");
    assert!(
        out_prefix.starts_with('/') && out_prefix.ends_with(&format!("/results/{folder}")),
        "{conf}"
    );

    // An identical submission is served from the cache; another collection is another job.
    let again = submit(
        &app,
        &ana,
        "ECHO",
        Some("images"),
        json!({"greeting": "hi"}),
    )
    .await
    .expect(200);
    assert_eq!(
        (again.body["cached"].clone(), id(&again.body["jobId"])),
        (json!(true), job)
    );
}

#[rstest]
#[case::postgres(TestBackend::Postgres)]
#[case::sqlite(TestBackend::Sqlite)]
#[tokio::test]
async fn a_failing_workflow_fails_naming_its_task_and_a_cancelled_one_stops_in_airflow(
    #[case] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, configure_workflows).await;
    start_job_ids_at_random(&app, backend).await;
    let (_, bob) = app.user("bob@example.com").await;

    let failing = id(&submit(&app, &bob, "FAIL", Some("images"), json!({}))
        .await
        .expect(200)
        .body["jobId"]);
    let sleeping = id(&submit(
        &app,
        &bob,
        "SLEEP",
        Some("images"),
        json!({"sleep_seconds": 90}),
    )
    .await
    .expect(200)
    .body["jobId"]);

    // Cancel once the run is triggered (and, Airflow permitting, running).
    let running = wait_for_job(&app, &bob, sleeping, "triggered", |job| {
        engine_run_id(job).is_some()
    })
    .await;
    let run_id = engine_run_id(&running).expect("triggered");
    let started = Instant::now();
    while airflow_run_state("reefguide_sleep", &run_id)
        .await
        .as_deref()
        != Some("running")
        && started.elapsed() < RUN_TIMEOUT
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let cancelled = app
        .post(
            &format!("/api/jobs/{sleeping}/cancel"),
            Some(&bob),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(
        cancelled.body["job"]["status"],
        json!("CANCELLED"),
        "{}",
        cancelled.text
    );
    let started = Instant::now();
    loop {
        let state = airflow_run_state("reefguide_sleep", &run_id).await;
        if state.as_deref() == Some("failed") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the run is still {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let failed = wait_for_job(&app, &bob, failing, "finished", |job| {
        !matches!(job["status"].as_str(), Some("PENDING" | "IN_PROGRESS"))
    })
    .await;
    assert_eq!(failed["status"], json!("FAILED"), "{failed}");
    let result = &failed["assignments"][0]["result"]["result_payload"];
    assert_eq!(result["failed_tasks"], json!(["explode"]), "{failed}");
    assert!(
        result["error"]
            .as_str()
            .is_some_and(|e| e.contains("explode")),
        "{result}"
    );

    let after = app
        .get(&format!("/api/jobs/{sleeping}"), Some(&bob))
        .await
        .expect(200);
    assert_eq!(
        after.body["job"]["status"],
        json!("CANCELLED"),
        "{}",
        after.text
    );
}

#[rstest]
#[case::postgres(TestBackend::Postgres)]
#[case::sqlite(TestBackend::Sqlite)]
#[tokio::test]
async fn who_may_run_which_workflow_on_which_collection(#[case] backend: TestBackend) {
    let app = TestApp::spawn_with(backend, configure_workflows).await;
    let (_, ana) = app.user("ana@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    let admin = app.admin_token().await;

    // ECHO admits ana (listed) and the administrator, not bob.
    submit(&app, &bob, "ECHO", Some("images"), json!({}))
        .await
        .expect_error(403, "job_type_forbidden");
    // A type the collection does not list: refused whoever asks.
    for token in [&ana, &admin] {
        submit(&app, token, "ECHO", Some("other"), json!({}))
            .await
            .expect_error(400, "workflow_not_in_collection");
    }
    submit(&app, &ana, "ECHO", Some("nowhere"), json!({}))
        .await
        .expect_error(400, "unknown_collection");
    submit(&app, &ana, "ECHO", None, json!({}))
        .await
        .expect_error(400, "missing_collection");
    submit(&app, &ana, "TEST", Some("images"), json!({"id": 1}))
        .await
        .expect_error(400, "collection_not_applicable");
    for key in [
        "in_bucket",
        "in_prefix",
        "out_bucket",
        "out_prefix",
        "username",
        "job_id",
    ] {
        let reply = submit(&app, &ana, "ECHO", Some("images"), json!({ key: "x" }))
            .await
            .expect_error(400, "reserved_parameter");
        assert!(reply.text.contains(key), "{}", reply.text);
    }

    // The job types show their engine; service-info lists Airflow.
    let types = app.get("/api/jobs/types", Some(&ana)).await.expect(200);
    let echo = types.body["jobTypes"]
        .as_array()
        .expect("types")
        .iter()
        .find(|t| t["name"] == json!("ECHO"))
        .expect("ECHO offered to ana")
        .clone();
    assert_eq!(
        (&echo["engine"], &echo["dag_id"]),
        (&json!("airflow"), &json!("reefguide_echo"))
    );
    let bobs = app.get("/api/jobs/types", Some(&bob)).await.expect(200);
    assert!(!bobs.text.contains("\"ECHO\""), "{}", bobs.text);
    let info = app.get("/api/service-info", None).await.expect(200);
    assert_eq!(info.body["engines"], json!(["worker", "airflow"]));
    // Reachable with the right credentials; with one task at a time, Airflow's own scheduler
    // may report itself busy (unhealthy) while another test's task runs.
    let health = app.get("/api/health", None).await.expect(200);
    let engine = &health.body["engine"];
    assert_eq!(engine["name"], json!("airflow"), "{}", health.text);
    assert!(
        engine["status"] == json!("ok")
            || engine["message"]
                .as_str()
                .is_some_and(|m| m.contains("scheduler")),
        "{}",
        health.text
    );
}

#[rstest]
#[case::postgres(TestBackend::Postgres)]
#[case::sqlite(TestBackend::Sqlite)]
#[tokio::test]
async fn workers_never_see_workflow_jobs(#[case] backend: TestBackend) {
    // No engine reachable: the workflow job stays in the queue, where workers must not find it.
    let app = TestApp::spawn_with(backend, |settings| {
        configure_workflows(settings);
        if let Some(airflow) = &mut settings.workflows.airflow {
            airflow.url = Some("http://127.0.0.1:9".into());
            airflow.request_timeout_ms = 200;
        }
    })
    .await;
    start_job_ids_at_random(&app, backend).await;
    let (_, bob) = app.user("bob@example.com").await;
    let worker = app.worker_token("worker@example.com").await;
    let job = id(&submit(&app, &bob, "FAIL", Some("images"), json!({}))
        .await
        .expect(200)
        .body["jobId"]);

    let poll = app.get("/api/jobs/poll", Some(&worker)).await.expect(200);
    assert_eq!(poll.body["jobs"], json!([]), "{}", poll.text);
    app.post("/api/jobs/assign", Some(&worker), json!({"jobId": job}))
        .await
        .expect_error(400, "job_not_available");
    app.post("/api/jobs/claim", Some(&worker), json!({"waitSeconds": 1}))
        .await
        .expect(204);

    // The dispatcher starts the attempt, cannot trigger it, and leaves the job waiting (never
    // FAILED); its assignment is no worker's.
    let started = wait_for_status(&app, &bob, job, "IN_PROGRESS").await;
    let assignment = id(&started["assignments"][0]["id"]);
    app.post(
        &format!("/api/jobs/assignments/{assignment}/heartbeat"),
        Some(&worker),
        json!({}),
    )
    .await
    .expect(404);
    let health = app.get("/api/health", None).await.expect(200);
    assert_eq!(
        health.body["engine"]["status"],
        json!("degraded"),
        "{}",
        health.text
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let still = app
        .get(&format!("/api/jobs/{job}"), Some(&bob))
        .await
        .expect(200);
    assert_eq!(
        still.body["job"]["status"],
        json!("IN_PROGRESS"),
        "{}",
        still.text
    );
}

/// An app whose Airflow is reached through a [`FaultProxy`], with short Airflow timeouts.
async fn app_behind_proxy(backend: TestBackend) -> (TestApp, FaultProxy) {
    let url = TestAirflow::from_env().url;
    let target = url.trim_start_matches("http://").to_owned();
    let proxy = FaultProxy::start(target).await;
    let proxied = proxy.url();
    let app = TestApp::spawn_with(backend, move |settings| {
        configure_workflows(settings);
        if let Some(airflow) = &mut settings.workflows.airflow {
            airflow.url = Some(proxied);
            airflow.request_timeout_ms = 3_000;
        }
    })
    .await;
    start_job_ids_at_random(&app, backend).await;
    (app, proxy)
}

/// The ids of the latest runs of `dag_id` whose id starts with `prefix`.
async fn airflow_runs(dag_id: &str, prefix: &str) -> Vec<String> {
    TestAirflow::from_env()
        .runs(dag_id, prefix)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

#[tokio::test]
async fn airflow_down_for_20_seconds_fails_no_job() {
    let backend = TestBackend::Postgres;
    let (app, proxy) = app_behind_proxy(backend).await;
    let (_, bob) = app.user("bob@example.com").await;
    let mut jobs = Vec::new();
    for n in 0..20 {
        let payload = json!({"greeting": format!("job {n}"), "sleep_seconds": 2});
        let submitted = submit(&app, &bob, "SLEEP", Some("images"), payload)
            .await
            .expect(200);
        jobs.push(id(&submitted.body["jobId"]));
    }
    // Some are triggered (running in Airflow), the others still pending: Airflow goes away.
    wait_for_job(&app, &bob, jobs[0], "triggered", |job| {
        engine_run_id(job).is_some() || job["status"] == json!("SUCCEEDED")
    })
    .await;
    proxy.set(Fault::Down);
    let down_since = Instant::now();
    let mut saw_degraded = false;
    while down_since.elapsed() < Duration::from_secs(20) {
        let health = app.get("/api/health", None).await.expect(200);
        saw_degraded |= health.body["engine"]["status"] == json!("degraded");
        for job in &jobs {
            let reply = app
                .get(&format!("/api/jobs/{job}"), Some(&bob))
                .await
                .expect(200);
            let status = reply.body["job"]["status"].clone();
            assert!(
                status == json!("PENDING") || status == json!("IN_PROGRESS"),
                "job {job} is {status} while Airflow is down"
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        saw_degraded,
        "the health check never showed the engine degraded"
    );
    proxy.set(Fault::None);
    for job in &jobs {
        let done = wait_for_job(&app, &bob, *job, "finished", |job| {
            !matches!(job["status"].as_str(), Some("PENDING" | "IN_PROGRESS"))
        })
        .await;
        assert_eq!(done["status"], json!("SUCCEEDED"), "{done}");
        assert_eq!(
            done["assignments"].as_array().map(Vec::len),
            Some(1),
            "{done}"
        );
        assert_eq!(
            airflow_runs("reefguide_sleep", &format!("reefguide-{job}-"))
                .await
                .len(),
            1
        );
    }
}

/// The state a crash between trigger and record leaves (Airflow has the run, the database does
/// not know it was triggered), made by losing Airflow's answers: the run is adopted, never
/// triggered twice.
#[rstest]
#[case::postgres(TestBackend::Postgres)]
#[case::sqlite(TestBackend::Sqlite)]
#[tokio::test]
async fn a_run_whose_trigger_answer_was_lost_is_adopted(#[case] backend: TestBackend) {
    let (app, proxy) = app_behind_proxy(backend).await;
    let (_, bob) = app.user("bob@example.com").await;
    proxy.set(Fault::LoseAnswers);
    let job = id(&submit(
        &app,
        &bob,
        "FAIL",
        Some("images"),
        json!({"greeting": "lost"}),
    )
    .await
    .expect(200)
    .body["jobId"]);
    let run_id = format!("reefguide-{job}-1");
    // The trigger reaches Airflow; its answer does not come back.
    let started = Instant::now();
    while airflow_run_state("reefguide_fail", &run_id).await.is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the trigger never reached Airflow"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let unrecorded = app
        .get(&format!("/api/jobs/{job}"), Some(&bob))
        .await
        .expect(200);
    assert_eq!(
        unrecorded.body["job"]["status"],
        json!("IN_PROGRESS"),
        "{}",
        unrecorded.text
    );
    assert_eq!(
        engine_run_id(&unrecorded.body["job"]),
        None,
        "{}",
        unrecorded.text
    );

    proxy.set(Fault::None);
    let done = wait_for_job(&app, &bob, job, "finished", |job| {
        !matches!(job["status"].as_str(), Some("PENDING" | "IN_PROGRESS"))
    })
    .await;
    assert_eq!(done["status"], json!("FAILED"), "{done}");
    assert_eq!(engine_run_id(&done).as_deref(), Some(run_id.as_str()));
    assert_eq!(
        done["assignments"].as_array().map(Vec::len),
        Some(1),
        "{done}"
    );
    assert_eq!(
        airflow_runs("reefguide_fail", &format!("reefguide-{job}-")).await,
        [run_id]
    );
}
