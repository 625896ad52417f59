//! labcas-contract §3, the catalog routes: workflows and data selections, for a LabCAS user
//! listed for a workflow, one who is not, an ADMIN, a user of our own RS256 tokens and an
//! anonymous caller; the bare token LabCAS's browser client sends; the configurable base path.
//! (Airflow is named but never reached: these routes only read the configuration.)

use std::collections::BTreeMap;

use reefguide_http_actix::Settings;
use reefguide_http_actix::config::{
    AirflowSettings, CollectionSettings, EngineKind, JobTypeSettings,
};
use reefguide_tests::TestApp;
use reefguide_tests::labcas::{labcas_issuer, labcas_token};
use reefguide_tests::test_support::TestBackend;
use reqwest::Method;
use rstest::rstest;
use serde_json::{Value, json};

use crate::labcas_callers::{Row, call_row};

/// LabCAS tokens trusted; NEBRASKA (DAG `nebraska`, for thomas only) and OPEN (DAG `open`, for
/// everyone) on Airflow; collection `images` offers both, `restricted` only NEBRASKA.
fn configure(settings: &mut Settings) {
    settings.auth.external_jwt = vec![labcas_issuer()];
    // Nothing listens there: the catalog never calls Airflow.
    settings.workflows.airflow = Some(AirflowSettings {
        url: Some("http://127.0.0.1:9".into()),
        username: Some("nobody".into()),
        password: Some("nothing".to_owned().into()),
        mwaa_environment: None,
        mwaa_region: None,
        sync_interval_ms: 60_000,
        request_timeout_ms: 1_000,
    });
    let airflow = |dag: &str, users: &[&str]| JobTypeSettings {
        description: Some(format!("Runs {dag}")),
        input_schema: Some(json!({"type": "object", "properties": {
            "tile_size": {"type": "integer", "minimum": 1, "description": "Tile edge in pixels"}}})),
        engine: Some(EngineKind::Airflow),
        dag_id: Some(dag.to_owned()),
        allowed_users: (!users.is_empty())
            .then(|| users.iter().map(|user| (*user).to_owned()).collect()),
        ..JobTypeSettings::default()
    };
    settings
        .jobs
        .job_types
        .insert("NEBRASKA".into(), airflow("nebraska", &["thomas"]));
    settings
        .jobs
        .job_types
        .insert("OPEN".into(), airflow("open", &[]));
    let collection = |workflows: &[&str]| CollectionSettings {
        description: format!("offers {}", workflows.join(", ")),
        location: "s3://labcas-archive/nebraska/images/".into(),
        workflows: workflows.iter().map(|w| (*w).to_owned()).collect(),
    };
    settings.workflows.collections = BTreeMap::from([
        ("images".to_owned(), collection(&["NEBRASKA", "OPEN"])),
        ("restricted".to_owned(), collection(&["NEBRASKA"])),
    ]);
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list")
        .iter()
        .filter_map(|item| item["id"].as_str())
        .collect()
}

#[rstest]
#[tokio::test]
async fn each_caller_sees_the_workflows_and_data_selections_they_may_use(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, configure).await;
    let thomas = labcas_token("thomas");
    let mallory = labcas_token("mallory");
    let admin = app.admin_token().await;
    let (_, ana) = app.user("ana@example.com").await;

    let workflows = |token: String| {
        let app = &app;
        async move {
            app.get("/labcas/workflows", Some(&token))
                .await
                .expect(200)
                .body
        }
    };
    assert_eq!(
        ids(&workflows(thomas.clone()).await["workflows"]),
        ["nebraska", "open"]
    );
    assert_eq!(
        ids(&workflows(mallory.clone()).await["workflows"]),
        ["open"]
    );
    assert_eq!(
        ids(&workflows(admin.clone()).await["workflows"]),
        ["nebraska", "open"]
    );
    assert_eq!(ids(&workflows(ana.clone()).await["workflows"]), ["open"]);
    app.get("/labcas/workflows", None)
        .await
        .expect_error(401, "unauthorized");

    // One workflow: its parameters from the input schema; unknown to whoever may not run it.
    let described = app
        .get("/labcas/workflows/nebraska", Some(&thomas))
        .await
        .expect(200);
    assert_eq!(
        described.body,
        json!({"id": "nebraska", "description": "Runs nebraska",
            "parameters": {"tile_size": "integer: Tile edge in pixels"}, "schedule": null})
    );
    app.get("/labcas/workflows/nebraska", Some(&mallory))
        .await
        .expect_error(404, "not_found");
    app.get("/labcas/workflows/no_such_dag", Some(&admin))
        .await
        .expect_error(404, "not_found");

    // Data selections: those offering something runnable, under both of LabCAS's names.
    let selections = app
        .get("/labcas/data-selections", Some(&thomas))
        .await
        .expect(200)
        .body;
    assert_eq!(
        ids(&selections["data_selections"]),
        ["images", "restricted"]
    );
    assert_eq!(selections["workflows"], selections["data_selections"]);
    let selections = app
        .get("/labcas/data-selections", Some(&mallory))
        .await
        .expect(200)
        .body;
    assert_eq!(ids(&selections["data_selections"]), ["images"]);

    // A data selection's workflows, in the query form and the older path form.
    for path in [
        "/labcas/data-selections/workflows?data_id=images",
        "/labcas/data-selections/images/workflows",
    ] {
        let listed = app.get(path, Some(&mallory)).await.expect(200).body;
        assert_eq!(ids(&listed["workflows"]), ["open"], "{path}");
    }
    let nothing = app
        .get(
            "/labcas/data-selections/workflows?data_id=restricted",
            Some(&mallory),
        )
        .await
        .expect(200);
    assert_eq!(nothing.body, json!({"workflows": []}));
    app.get("/labcas/data-selections/workflows", Some(&thomas))
        .await
        .expect_error(400, "missing_data_id");
    app.get(
        "/labcas/data-selections/workflows?data_id=nope",
        Some(&thomas),
    )
    .await
    .expect_error(404, "not_found");
    app.get("/labcas/data-selections/nope/workflows", Some(&thomas))
        .await
        .expect_error(404, "not_found");
}

/// Every catalog route for the acceptance's five callers (thomas is listed for NEBRASKA; ana, a
/// user of our own tokens, is not): statuses, and the workflows each one is shown.
#[tokio::test]
async fn every_catalog_route_answers_each_of_the_five_callers() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, configure).await;
    let (_, ana) = app.user("ana@example.com").await;
    let tokens = [
        Some(labcas_token("thomas")),
        Some(labcas_token("mallory")),
        Some(app.admin_token().await),
        None,
        Some(ana),
    ];
    let both = ["nebraska", "open"];
    let rows: [(Row, Option<[&[&str]; 5]>); 5] = [
        (
            Row::new(
                Method::GET,
                "/labcas/workflows".into(),
                [200, 200, 200, 401, 200],
            ),
            Some([&both, &["open"], &both, &[], &["open"]]),
        ),
        (
            Row::new(
                Method::GET,
                "/labcas/workflows/nebraska".into(),
                [200, 404, 200, 401, 404],
            ),
            None,
        ),
        (
            Row::new(
                Method::GET,
                "/labcas/data-selections".into(),
                [200, 200, 200, 401, 200],
            ),
            None,
        ),
        (
            Row::new(
                Method::GET,
                "/labcas/data-selections/workflows?data_id=images".into(),
                [200, 200, 200, 401, 200],
            ),
            Some([&both, &["open"], &both, &[], &["open"]]),
        ),
        (
            Row::new(
                Method::GET,
                "/labcas/data-selections/restricted/workflows".into(),
                [200, 200, 200, 401, 200],
            ),
            Some([&["nebraska"], &[], &["nebraska"], &[], &[]]),
        ),
    ];
    for (row, shown) in rows {
        let bodies = call_row(&app, &tokens, &row).await;
        let Some(shown) = shown else { continue };
        for (body, expected) in bodies.iter().zip(shown) {
            if body["workflows"].is_array() {
                assert_eq!(ids(&body["workflows"]), expected, "{body}");
            }
        }
    }
}

/// A GET with `Authorization: <token>`, no scheme, as LabCAS's browser client may send it.
async fn get_with_bare_token(app: &TestApp, path: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}{path}", app.address))
        .header("authorization", token)
        .send()
        .await
        .expect("answered")
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_labcas_routes_take_a_bare_token_and_follow_the_base_path() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |settings| {
        configure(settings);
        settings.workflows.labcas.base_path = "/science".into();
    })
    .await;
    let thomas = labcas_token("thomas");
    assert_eq!(
        get_with_bare_token(&app, "/science/workflows", &thomas).await,
        200
    );
    // Only the LabCAS routes take it: ours keep asking for `Bearer `.
    assert_eq!(
        get_with_bare_token(&app, "/api/auth/profile", &thomas).await,
        401
    );
    app.get("/science/workflows", Some(&thomas))
        .await
        .expect(200);
    app.get("/labcas/workflows", Some(&thomas))
        .await
        .expect_error(404, "not_found");
    // The document names the routes where they are.
    let document = app.get("/api/openapi.json", None).await.expect(200).body;
    let paths = document["paths"].as_object().expect("paths");
    assert!(
        paths.contains_key("/science/workflows"),
        "{:?}",
        paths.keys()
    );
    assert!(paths.contains_key("/science/data-selections/{data_id}/workflows"));
    assert!(!paths.keys().any(|path| path.starts_with("/labcas/")));
}

#[tokio::test]
async fn the_run_listing_reaches_past_a_hundred_runs() {
    // Airflow is unreachable here: the runs stay queued, which is all a listing needs.
    let app = TestApp::spawn_with(TestBackend::Postgres, configure).await;
    let thomas = labcas_token("thomas");
    for n in 1..=120 {
        app.post(
            "/labcas/workflows/open/runs",
            Some(&thomas),
            json!({"in_data_selection": "images", "tile_size": n}),
        )
        .await
        .expect(201);
    }
    let mut seen = std::collections::BTreeSet::new();
    for offset in [0, 50, 100] {
        let page = app
            .get(
                &format!("/labcas/workflows/open/runs?limit=50&offset={offset}"),
                Some(&thomas),
            )
            .await
            .expect(200)
            .body;
        assert_eq!(page["total"], json!(120));
        for run in page["runs"].as_array().expect("runs") {
            assert_eq!(run["status"], json!("queued"));
            seen.insert(run["run_id"].as_str().expect("run id").to_owned());
        }
    }
    assert_eq!(seen.len(), 120, "every run, once");
}
