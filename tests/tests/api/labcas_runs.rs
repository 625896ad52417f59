//! labcas-contract §3, the run routes, end to end on the real Airflow of `cargo xtask test`: a
//! LabCAS user triggers `reefguide_echo` on a data selection the way LabCAS's client does (no
//! `Content-Type`), sees the run `queued` → `success` with its `output_url`, opens that folder,
//! downloads the DAG's output through its presigned link and sets properties of it — with the
//! outputs on the local store and on S3 (moto, which the DAG writes to with boto3); another
//! LabCAS user reaches none of it; the refusals; a cache hit is only ever the user's own run.

use std::time::{Duration, Instant};

use reefguide_http_actix::config::StorageKind;
use reefguide_tests::labcas::{labcas_issuer, labcas_token};
use reefguide_tests::test_support::TestBackend;
use reefguide_tests::{TestApp, s3_test_bucket, s3_test_store};
use rstest::rstest;
use serde_json::{Value, json};

use crate::labcas_callers::{CALLERS, Row, call_row};
use crate::workflows::{configure_workflows, start_job_ids_at_random};

const ECHO: &str = "/labcas/workflows/reefguide_echo";

/// Where the runs' outputs go.
#[derive(Debug, Clone, Copy)]
enum Store {
    /// The local result store (the staging area `local://labcas/`).
    Local,
    /// A fresh moto bucket (the staging area `s3://<bucket>/results/labcas/`).
    S3,
}

/// The workflow suite's Airflow types and collections, ECHO also open to thomas, and LabCAS
/// tokens trusted; outputs on the local store.
async fn app(backend: TestBackend) -> TestApp {
    app_on(backend, Store::Local).await.0
}

/// As [`app`], with the outputs in `store`: the app, and the S3 endpoint and bucket for S3.
async fn app_on(backend: TestBackend, store: Store) -> (TestApp, Option<(String, String)>) {
    let bucket = match store {
        Store::Local => None,
        Store::S3 => Some(s3_test_bucket().await),
    };
    let s3 = bucket.clone();
    let app = TestApp::spawn_with(backend, move |settings| {
        configure_workflows(settings);
        if let Some((endpoint, bucket)) = s3 {
            settings.storage.kind = StorageKind::S3;
            settings.storage.s3_bucket = Some(bucket);
            settings.storage.s3_endpoint_url = Some(endpoint);
            settings.storage.s3_force_path_style = true;
            settings.storage.s3_region = Some("us-east-1".into());
        }
        if let Some(echo) = settings.jobs.job_types.get_mut("ECHO") {
            echo.allowed_users = Some(vec!["ana@example.com".into(), "thomas".into()]);
        }
        settings.auth.external_jwt = vec![labcas_issuer()];
    })
    .await;
    start_job_ids_at_random(&app, backend).await;
    (app, bucket)
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

/// A finished run as its user browses it: its id and its output folder's path on this server.
struct FinishedRun {
    run_id: String,
    folder_path: String,
}

/// Triggers ECHO as `token`'s user with `greeting` the way LabCAS's client does, waits for the
/// run to go `queued` → `success`, finds it in the listing with its `output_url`, opens that
/// folder, downloads the DAG's `output.txt` through its presigned link, sets properties of it and
/// sees them on the next listing.
async fn run_and_browse(app: &TestApp, token: &str, uid: &str, greeting: &str) -> FinishedRun {
    let (status, triggered) = client_post(
        app,
        &format!("{ECHO}/runs"),
        token,
        &json!({"in_data_selection": "images", "greeting": greeting}),
    )
    .await;
    assert_eq!(status, 201, "{triggered}");
    let job_id = triggered["job_id"].as_i64().expect("a job id");
    let run_id = triggered["run_id"].as_str().expect("a run id").to_owned();
    assert_eq!(run_id, format!("reefguide-{job_id}-1"));
    assert_eq!(triggered["status"], json!("queued"));
    assert_eq!(triggered["state"], json!("queued"));

    let run = wait_for_run(app, token, &run_id, "success").await;
    assert_eq!(run["workflow_id"], json!("reefguide_echo"));
    assert_eq!(
        run["conf"],
        json!({"greeting": greeting, "in_data_selection": "images"})
    );
    assert!(run["end_time"].is_string(), "{run}");
    let listed = app
        .get(&format!("{ECHO}/runs"), Some(token))
        .await
        .expect(200)
        .body;
    let listed_run = listed["runs"]
        .as_array()
        .and_then(|runs| runs.iter().find(|r| r["run_id"] == json!(run_id)))
        .unwrap_or_else(|| panic!("run {run_id} listed: {listed}"));
    assert_eq!(listed_run["status"], json!("success"));
    assert_eq!(listed_run["output_url"], run["output_url"]);

    // The output folder, through the output browser: the DAG's files with working links.
    let output_url = run["output_url"].as_str().expect("an output url");
    let folder_path = output_url
        .strip_prefix(&app.address)
        .expect("this server's URL")
        .trim_end_matches('/')
        .to_owned();
    let folder = app.get(&folder_path, Some(token)).await.expect(200).body;
    assert!(folder["files"]["conf.json"]["href"].is_string(), "{folder}");
    let output = folder["files"]["output.txt"]["href"]
        .as_str()
        .expect("the DAG's output file");
    let fetched = reqwest::get(output).await.expect("fetched");
    assert_eq!(fetched.status().as_u16(), 200);
    assert_eq!(
        fetched.text().await.expect("text"),
        format!("hello {uid}\n")
    );

    // Properties before publication: written, then shown on the next listing.
    let set = app
        .put(
            &folder_path,
            Some(token),
            json!({"files": {"output.txt": {"properties": {"label": greeting, "reviewed": true}}}}),
        )
        .await
        .expect(200);
    assert_eq!(set.body["updated"], json!(["output.txt"]));
    let again = app.get(&folder_path, Some(token)).await.expect(200).body;
    assert_eq!(
        again["files"]["output.txt"]["properties"],
        json!({"label": greeting, "reviewed": "true"})
    );
    assert!(again["files"].get("output.txt.cfg").is_none(), "{again}");
    FinishedRun {
        run_id,
        folder_path,
    }
}

#[rstest]
#[tokio::test]
async fn a_labcas_user_runs_a_workflow_and_opens_its_outputs(
    #[values(TestBackend::Postgres, TestBackend::Sqlite)] backend: TestBackend,
) {
    let app = app(backend).await;
    let thomas = labcas_token("thomas");
    let run = run_and_browse(&app, &thomas, "thomas", &format!("hello from {backend:?}")).await;
    let listed = app
        .get(&format!("{ECHO}/runs"), Some(&thomas))
        .await
        .expect(200)
        .body;
    assert_eq!(listed["total"], json!(1));

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
    assert_eq!(all["runs"][0]["run_id"], json!(run.run_id), "newest first");

    // A finished run cannot be cancelled.
    app.post(
        &format!("{ECHO}/runs/{}/cancel", run.run_id),
        Some(&thomas),
        json!({}),
    )
    .await
    .expect_error(400, "run_finished");
}

/// The same on S3: the DAG writes the run folder into the moto bucket with boto3, the browser
/// lists it and presigns S3 links, the sidecar is an S3 object; and a folder of more than 1,000
/// files (LabCAS stops at the first page of keys) is listed whole.
#[tokio::test]
async fn a_labcas_user_runs_a_workflow_with_outputs_on_s3() {
    let (app, s3) = app_on(TestBackend::Sqlite, Store::S3).await;
    let (endpoint, bucket) = s3.expect("a bucket");
    let thomas = labcas_token("thomas");
    let run = run_and_browse(&app, &thomas, "thomas", "hello from S3").await;

    let store = s3_test_store(&endpoint, &bucket).await;
    let folder = run
        .folder_path
        .rsplit('/')
        .next()
        .expect("the run folder's name");
    let key = |name: &str| format!("results/labcas/thomas/{folder}/{name}");
    let sidecar = store
        .client()
        .get_object()
        .bucket(&bucket)
        .key(key("output.txt.cfg"))
        .send()
        .await
        .expect("the sidecar is an S3 object");
    let sidecar = sidecar
        .body
        .collect()
        .await
        .expect("its bytes")
        .into_bytes();
    let sidecar = String::from_utf8_lossy(&sidecar);
    assert!(sidecar.contains("[output.txt]"), "{sidecar}");

    let many = 1_050;
    let mut puts = tokio::task::JoinSet::new();
    for chunk in (0..many).collect::<Vec<_>>().chunks(150) {
        let (client, bucket) = (store.client().clone(), bucket.clone());
        let keys: Vec<String> = chunk
            .iter()
            .map(|n| key(&format!("tiles/tile-{n:04}.png")))
            .collect();
        puts.spawn(async move {
            for key in keys {
                client
                    .put_object()
                    .bucket(&bucket)
                    .key(key)
                    .body(b"png".to_vec().into())
                    .send()
                    .await
                    .expect("tile stored");
            }
        });
    }
    puts.join_all().await;
    let tiles = app
        .get(&format!("{}/tiles", run.folder_path), Some(&thomas))
        .await
        .expect(200)
        .body;
    let files = tiles["files"].as_object().expect("files");
    assert_eq!(files.len(), many, "every tile listed");
    assert!(files.contains_key("tile-1049.png"));
    let top = app
        .get(&run.folder_path, Some(&thomas))
        .await
        .expect(200)
        .body;
    assert!(top["folders"]["tiles/"]["href"].is_string(), "{top}");
    // Nobody else reaches the folder.
    app.get(&run.folder_path, Some(&labcas_token("mallory")))
        .await
        .expect_error(404, "not_found");
}

/// An identical request is a cache hit on the same user's earlier run only: another user's
/// identical request is their own run, in their own folder.
#[tokio::test]
async fn a_cache_hit_is_only_ever_the_users_own_run() {
    let app = app(TestBackend::Sqlite).await;
    let thomas = labcas_token("thomas");
    let (_, ana) = app.user("ana@example.com").await;
    let request = json!({"in_data_selection": "images", "greeting": "same"});
    let runs = format!("{ECHO}/runs");

    let (status, first) = client_post(&app, &runs, &thomas, &request).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = client_post(&app, &runs, &thomas, &request).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["run_id"], first["run_id"], "thomas's own run, reused");

    let (status, anas) = client_post(&app, &runs, &ana, &request).await;
    assert_eq!(status, 201, "{anas}");
    assert_ne!(anas["job_id"], first["job_id"], "ana's own run");
    let anas_run = anas["run_id"].as_str().expect("a run id");
    let run = wait_for_run(&app, &ana, anas_run, "success").await;
    let folder = run["output_url"]
        .as_str()
        .and_then(|url| url.strip_prefix(&app.address))
        .expect("an output url on this server")
        .to_owned();
    let listed = app.get(&folder, Some(&ana)).await.expect(200).body;
    let output = listed["files"]["output.txt"]["href"]
        .as_str()
        .expect("ana's output");
    let text = reqwest::get(output)
        .await
        .expect("fetched")
        .text()
        .await
        .expect("text");
    assert_eq!(text, "hello ana@example.com\n");
    let theirs = app.get(&runs, Some(&thomas)).await.expect(200).body;
    assert_eq!(theirs["total"], json!(1));
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

/// labcas-contract §3's run and output routes for the acceptance's five callers: a LabCAS user
/// listed for the workflow, one who is not, an ADMIN, an anonymous caller and a user of our own
/// RS256 tokens (the catalog routes' matrix is in `labcas.rs`). Nobody but the run's user (and,
/// for runs and their jobs, an ADMIN) reaches a run, its job or its folder; an ADMIN's own
/// folder is theirs alone too.
#[tokio::test]
async fn the_run_and_output_routes_answer_each_of_the_five_callers() {
    use reqwest::Method;
    let app = app(TestBackend::Sqlite).await;
    let (_, ana) = app.user("ana@example.com").await;
    let tokens = [
        Some(labcas_token("thomas")),
        Some(labcas_token("mallory")),
        Some(app.admin_token().await),
        None,
        Some(ana),
    ];
    let thomas = tokens[0].clone().expect("thomas");
    let runs = format!("{ECHO}/runs");

    // Triggering: a long run each for whoever may run ECHO.
    let triggered = call_row(
        &app,
        &tokens,
        &Row::new(Method::POST, runs.clone(), [201, 403, 201, 401, 201]).with_body(
            json!({"in_data_selection": "images", "greeting": "matrix", "sleep_seconds": 60}),
        ),
    )
    .await;
    let long_runs: Vec<String> = triggered
        .iter()
        .filter_map(|body| body["run_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(long_runs.len(), 3);
    // Cancelled at once, each by its own user or by an ADMIN, not to hold Airflow's slots.
    let admin = tokens[2].clone().expect("admin");
    for (run_id, token) in long_runs.iter().zip([&thomas, &admin, &admin]) {
        let cancelled = app
            .post(&format!("{runs}/{run_id}/cancel"), Some(token), json!({}))
            .await
            .expect(200)
            .body;
        assert_eq!(cancelled["status"], json!("cancelled"), "{cancelled}");
    }

    // A finished run of thomas's, and its folder.
    let finished = run_and_browse(&app, &thomas, "thomas", "finished").await;
    let (run, folder) = (finished.run_id, finished.folder_path);
    let listed = call_row(
        &app,
        &tokens,
        &Row::new(Method::GET, runs.clone(), [200, 404, 200, 401, 200]),
    )
    .await;
    let totals: Vec<&Value> = listed.iter().map(|body| &body["total"]).collect();
    assert_eq!(
        totals,
        [&json!(2), &Value::Null, &json!(4), &Value::Null, &json!(1)]
    );
    let job = run
        .strip_prefix("reefguide-")
        .and_then(|rest| rest.strip_suffix("-1"))
        .expect("reefguide-<job id>-1");
    for row in [
        Row::new(
            Method::GET,
            format!("{runs}/{run}"),
            [200, 404, 200, 401, 404],
        ),
        // The run's job, through the ReefGuide routes.
        Row::new(
            Method::GET,
            format!("/api/jobs/{job}"),
            [200, 403, 200, 401, 403],
        ),
        Row::new(
            Method::GET,
            format!("/api/jobs/{job}/download"),
            [200, 403, 200, 401, 403],
        ),
        Row::new(
            Method::POST,
            format!("{runs}/{run}/cancel"),
            [400, 404, 400, 401, 404],
        )
        .with_body(json!({})),
        Row::new(Method::GET, folder.clone(), [200, 404, 404, 401, 404]),
        Row::new(Method::PUT, folder.clone(), [200, 404, 404, 401, 404])
            .with_body(json!({"files": {"output.txt": {"properties": {"by": "whoever"}}}})),
    ] {
        call_row(&app, &tokens, &row).await;
    }
    let roots = call_row(
        &app,
        &tokens,
        &Row::new(
            Method::GET,
            "/labcas/output-data".into(),
            [200, 200, 200, 401, 200],
        ),
    )
    .await;
    let run_folder = format!(
        "{}/",
        folder.rsplit('/').next().expect("the run folder's name")
    );
    for (caller, root) in CALLERS.iter().zip(&roots) {
        let sees = root["folders"].get(&run_folder).is_some();
        assert_eq!(sees, caller.starts_with("thomas"), "{caller}: {root}");
    }
}
