//! labcas-contract §3, the run routes, end to end on the real Airflow of `cargo xtask test`: a
//! LabCAS user triggers `reefguide_echo` on a data selection the way LabCAS's client does (no
//! `Content-Type`), sees the run `queued` → `success` with its `output_url`, opens that folder
//! and downloads the DAG's output; another LabCAS user reaches none of it; the refusals.

use std::time::{Duration, Instant};

use reefguide_tests::TestApp;
use reefguide_tests::labcas::{labcas_issuer, labcas_token};
use reefguide_tests::test_support::TestBackend;
use rstest::rstest;
use serde_json::{Value, json};

use crate::workflows::{configure_workflows, start_job_ids_at_random};

const ECHO: &str = "/labcas/workflows/reefguide_echo";

/// The workflow suite's Airflow types and collections, ECHO also open to thomas, and LabCAS
/// tokens trusted.
async fn app(backend: TestBackend) -> TestApp {
    let app = TestApp::spawn_with(backend, |settings| {
        configure_workflows(settings);
        if let Some(echo) = settings.jobs.job_types.get_mut("ECHO") {
            echo.allowed_users = Some(vec!["ana@example.com".into(), "thomas".into()]);
        }
        settings.auth.external_jwt = vec![labcas_issuer()];
    })
    .await;
    start_job_ids_at_random(&app, backend).await;
    app
}

/// A POST as LabCAS's browser client sends it: the bare token, the JSON body with no
/// `Content-Type`. The status and body.
async fn client_post(app: &TestApp, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let reply = reqwest::Client::new()
        .post(format!("{}{path}", app.address))
        .header("authorization", token)
        .body(body.to_string())
        .send()
        .await
        .expect("answered");
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

/// The run, once its status is `status` (fails the test after a minute).
async fn wait_for_run(app: &TestApp, token: &str, run_id: &str, status: &str) -> Value {
    let started = Instant::now();
    loop {
        let run = app
            .get(&format!("{ECHO}/runs/{run_id}"), Some(token))
            .await
            .expect(200)
            .body;
        if run["status"] == json!(status) {
            return run;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "run {run_id} never became {status}: {run}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[rstest]
#[tokio::test]
async fn a_labcas_user_runs_a_workflow_and_opens_its_outputs(
    #[values(TestBackend::Postgres, TestBackend::Sqlite)] backend: TestBackend,
) {
    let app = app(backend).await;
    let thomas = labcas_token("thomas");
    let greeting = format!("hello from {backend:?}");

    let (status, triggered) = client_post(
        &app,
        &format!("{ECHO}/runs"),
        &thomas,
        &json!({"in_data_selection": "images", "greeting": greeting}),
    )
    .await;
    assert_eq!(status, 201, "{triggered}");
    let job_id = triggered["job_id"].as_i64().expect("a job id");
    let run_id = triggered["run_id"].as_str().expect("a run id").to_owned();
    assert_eq!(run_id, format!("reefguide-{job_id}-1"));
    assert_eq!(triggered["status"], json!("queued"));
    assert_eq!(triggered["state"], json!("queued"));

    let run = wait_for_run(&app, &thomas, &run_id, "success").await;
    assert_eq!(run["workflow_id"], json!("reefguide_echo"));
    assert_eq!(
        run["conf"],
        json!({"greeting": greeting, "in_data_selection": "images"})
    );
    assert!(run["end_time"].is_string(), "{run}");
    let listed = app
        .get(&format!("{ECHO}/runs"), Some(&thomas))
        .await
        .expect(200)
        .body;
    assert_eq!(listed["total"], json!(1));
    assert_eq!(listed["runs"][0]["run_id"], json!(run_id));

    // The output folder, through the output browser: the DAG's files with working links.
    let output_url = run["output_url"].as_str().expect("an output url");
    let folder_path = output_url
        .strip_prefix(&app.address)
        .expect("this server's URL");
    let folder = app.get(folder_path, Some(&thomas)).await.expect(200).body;
    let output = folder["files"]["output.txt"]["href"]
        .as_str()
        .expect("the DAG's output file");
    let fetched = reqwest::get(output).await.expect("fetched");
    assert_eq!(fetched.status().as_u16(), 200);
    assert!(folder["files"]["conf.json"].is_object(), "{folder}");

    // The spec's body form, and an administrator sees every run.
    let (status, second) = client_post(
        &app,
        &format!("{ECHO}/runs"),
        &thomas,
        &json!({"workflow_id": "reefguide_echo",
            "params": {"in_data_selection": "images", "greeting": "second"}}),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    let admin = app.admin_token().await;
    let all = app
        .get(&format!("{ECHO}/runs?limit=1&offset=1"), Some(&admin))
        .await
        .expect(200)
        .body;
    assert_eq!(all["total"], json!(2));
    assert_eq!(all["runs"][0]["run_id"], json!(run_id), "newest first");

    // A finished run cannot be cancelled.
    app.post(
        &format!("{ECHO}/runs/{run_id}/cancel"),
        Some(&thomas),
        json!({}),
    )
    .await
    .expect_error(400, "run_finished");
}

#[rstest]
#[tokio::test]
async fn runs_are_refused_to_whoever_may_not_run_them(
    #[values(TestBackend::Postgres, TestBackend::Sqlite)] backend: TestBackend,
) {
    let app = app(backend).await;
    let thomas = labcas_token("thomas");
    let mallory = labcas_token("mallory");
    let runs = format!("{ECHO}/runs");

    // LabCAS's hole: a user not listed for the workflow cannot trigger it.
    let (status, body) = client_post(
        &app,
        &runs,
        &mallory,
        &json!({"in_data_selection": "images"}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // Nor on a data selection the workflow does not apply to, nor without one.
    let (status, body) =
        client_post(&app, &runs, &thomas, &json!({"in_data_selection": "other"})).await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, json!("workflow_not_in_collection"))
    );
    let (status, body) = client_post(&app, &runs, &thomas, &json!({"greeting": "x"})).await;
    assert_eq!(
        (status, body["code"].clone()),
        (400, json!("missing_collection"))
    );
    let (status, body) = client_post(
        &app,
        &runs,
        &thomas,
        &json!({"in_data_selection": "images", "out_prefix": "/etc"}),
    )
    .await;
    assert_eq!(
        (status, body["code"].clone()),
        (400, json!("reserved_parameter"))
    );
    let (status, _) = client_post(
        &app,
        "/labcas/workflows/no_such_dag/runs",
        &thomas,
        &json!({"in_data_selection": "images"}),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = client_post(&app, &runs, &thomas, &json!("not an object")).await;
    assert_eq!(status, 400);

    // A run of thomas's is nobody else's.
    let (status, triggered) = client_post(
        &app,
        &runs,
        &thomas,
        &json!({"in_data_selection": "images", "greeting": "mine"}),
    )
    .await;
    assert_eq!(status, 201, "{triggered}");
    let run_id = triggered["run_id"].as_str().expect("run id");
    app.get(&runs, Some(&mallory))
        .await
        .expect_error(404, "not_found");
    app.get(&format!("{runs}/{run_id}"), Some(&mallory))
        .await
        .expect_error(404, "not_found");
    app.post(
        &format!("{runs}/{run_id}/cancel"),
        Some(&mallory),
        json!({}),
    )
    .await
    .expect_error(404, "not_found");
    // Another user listed for the workflow sees none of thomas's runs.
    let (_, ana) = app.user("ana@example.com").await;
    let theirs = app.get(&runs, Some(&ana)).await.expect(200).body;
    assert_eq!(theirs["total"], json!(0));
    app.get(&format!("{runs}/{run_id}"), Some(&ana))
        .await
        .expect_error(404, "not_found");
    app.get(&format!("{runs}?limit=0"), Some(&thomas))
        .await
        .expect_error(400, "invalid_query");
    app.get(&format!("{runs}/not-a-run"), Some(&thomas))
        .await
        .expect_error(404, "not_found");
}
