//! ReefGuide R2's data specification (reefguide-r2 §3.2): an admin replaces it and everyone with
//! the user features reads it back through the regions and ranges routes, in R2's shapes; bad
//! specifications are 400s naming the field; the admin routes are the admin's, the read routes
//! are behind the user-features gate; an update request queues a `DATA_SPECIFICATION_UPDATE`
//! job owned by the ADMIN service account.

use reefguide_domain::Role;
use reefguide_tests::test_support::TestBackend;
use reefguide_tests::{ADMIN_EMAIL, TestApp};
use rstest::rstest;
use serde_json::{Value, json};

use crate::jobs::{claim, error_paths, id, job};

const SPEC: &str = "/api/admin/data-specification";
const UPDATE: &str = "/api/admin/data-specification-update";
const REGIONS: &str = "/api/admin/regions";

fn ranges(region: &str) -> String {
    format!("/api/admin/criteria/{region}/ranges")
}

fn depth() -> Value {
    json!({
        "name": "Depth",
        "display_title": "Depth Range",
        "display_subtitle": "Water depth constraints",
        "units": "meters",
        "min_tooltip": "Minimum depth",
        "max_tooltip": "Maximum depth",
        "payload_prefix": "depth_",
        "min_val": -50,
        "max_val": -2,
        "default_min_val": -30,
        "default_max_val": -5
    })
}

fn slope() -> Value {
    json!({
        "name": "Slope",
        "display_title": "Slope Range",
        "units": "degrees",
        "payload_prefix": "slope_",
        "min_val": 0,
        "max_val": 45.5,
        "default_min_val": 5,
        "default_max_val": 30
    })
}

/// The specification R2's worker would post for two regions.
fn two_regions() -> Value {
    json!({"regions": [
        {
            "name": "Townsville-Whitsunday",
            "display_name": "Townsville/Whitsunday",
            "description": "Townsville and the Whitsundays",
            "criteria": [depth(), slope()]
        },
        {
            "name": "Low Isles",
            "display_name": "Low Isles",
            "criteria": [
                // The same criterion, another range; extra fields (a newer worker's) ignored.
                {"name": "Depth", "display_title": "Depth Range",
                 "display_subtitle": "Water depth constraints", "units": "meters",
                 "min_tooltip": "Minimum depth", "max_tooltip": "Maximum depth",
                 "payload_prefix": "depth_", "min_val": -12.25, "max_val": 0,
                 "default_min_val": -30, "default_max_val": -5, "default_weight": 1.0}
            ]
        }
    ]})
}

#[rstest]
#[tokio::test]
async fn an_admin_replaces_the_specification_and_analysts_read_it_back(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, |s| s.auth.required_role = Some(Role::Analyst)).await;
    let admin = app.admin_token().await;
    let (_, analyst) = app.user_with_roles("ana@example.com", &["ANALYST"]).await;

    let empty = app.get(REGIONS, Some(&analyst)).await.expect(200);
    assert_eq!(empty.body, json!({"regions": []}));

    let reply = app
        .post(SPEC, Some(&admin), two_regions())
        .await
        .expect(200);
    assert_eq!(
        reply.body,
        json!({
            "message": "Data specification updated successfully",
            "updated": {"criteria_count": 2, "regions_count": 2, "regional_criteria_count": 3}
        })
    );

    let regions = app.get(REGIONS, Some(&analyst)).await.expect(200);
    assert_eq!(
        regions.body,
        json!({"regions": [
            {"name": "Low Isles", "display_name": "Low Isles", "description": null,
             "criteria_count": 1},
            {"name": "Townsville-Whitsunday", "display_name": "Townsville/Whitsunday",
             "description": "Townsville and the Whitsundays", "criteria_count": 2}
        ]}),
        "sorted by name"
    );

    let townsville = app
        .get(&ranges("Townsville-Whitsunday"), Some(&analyst))
        .await
        .expect(200);
    assert_eq!(
        townsville.body,
        json!({
            "Depth": {
                "id": "Depth", "min_val": -50.0, "max_val": -2.0,
                "display_title": "Depth Range", "display_subtitle": "Water depth constraints",
                "units": "meters", "min_tooltip": "Minimum depth", "max_tooltip": "Maximum depth",
                "default_min_val": -30.0, "default_max_val": -5.0,
                "payload_property_prefix": "depth_"
            },
            "Slope": {
                "id": "Slope", "min_val": 0.0, "max_val": 45.5,
                "display_title": "Slope Range", "display_subtitle": null, "units": "degrees",
                "min_tooltip": null, "max_tooltip": null,
                "default_min_val": 5.0, "default_max_val": 30.0,
                "payload_property_prefix": "slope_"
            }
        })
    );
    // A name with a space, percent-encoded in the path.
    let low_isles = app
        .get(&ranges("Low%20Isles"), Some(&analyst))
        .await
        .expect(200);
    assert_eq!(low_isles.body["Depth"]["min_val"], json!(-12.25));
    assert_eq!(low_isles.body["Depth"]["max_val"], json!(0.0));
    assert_eq!(
        low_isles.body.as_object().map(|o| o.len()),
        Some(1),
        "{}",
        low_isles.text
    );

    // A second replacement: Low Isles and Slope go, Depth is updated, a new region comes.
    let mut retitled = depth();
    retitled["display_title"] = json!("Updated Depth Range");
    retitled["min_val"] = json!(-100);
    let reply = app
        .post(
            SPEC,
            Some(&admin),
            json!({"regions": [
                {"name": "Townsville-Whitsunday", "display_name": "Townsville/Whitsunday",
                 "criteria": [retitled]},
                {"name": "Cairns-Cooktown", "display_name": "Cairns/Cooktown", "criteria": []}
            ]}),
        )
        .await
        .expect(200);
    assert_eq!(
        reply.body["updated"],
        json!({"criteria_count": 1, "regions_count": 2, "regional_criteria_count": 1})
    );
    let regions = app.get(REGIONS, Some(&analyst)).await.expect(200);
    let names: Vec<&str> = regions.body["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .map(|r| r["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["Cairns-Cooktown", "Townsville-Whitsunday"]);
    assert_eq!(regions.body["regions"][1]["description"], json!(null));
    let townsville = app
        .get(&ranges("Townsville-Whitsunday"), Some(&analyst))
        .await
        .expect(200);
    assert_eq!(
        townsville.body["Depth"]["display_title"],
        json!("Updated Depth Range")
    );
    assert_eq!(townsville.body["Depth"]["min_val"], json!(-100.0));
    assert!(
        townsville.body.get("Slope").is_none(),
        "{}",
        townsville.text
    );
    app.get(&ranges("Low%20Isles"), Some(&analyst))
        .await
        .expect_error(404, "not_found");
    let cairns = app
        .get(&ranges("Cairns-Cooktown"), Some(&analyst))
        .await
        .expect(200);
    assert_eq!(cairns.body, json!({}), "a region without criteria");

    // The empty specification deletes everything.
    let reply = app
        .post(SPEC, Some(&admin), json!({"regions": []}))
        .await
        .expect(200);
    assert_eq!(
        reply.body["updated"],
        json!({"criteria_count": 0, "regions_count": 0, "regional_criteria_count": 0})
    );
    let regions = app.get(REGIONS, Some(&analyst)).await.expect(200);
    assert_eq!(regions.body, json!({"regions": []}));
}

#[rstest]
#[tokio::test]
async fn an_unknown_region_is_a_404(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    app.post(SPEC, Some(&admin), two_regions())
        .await
        .expect(200);
    let (_, ana) = app.user("ana@example.com").await;
    for unknown in [
        "nonexistent_region",
        "townsville-whitsunday",
        "%20Low%20Isles",
        "%C3%A9",
    ] {
        let reply = app
            .get(&ranges(unknown), Some(&ana))
            .await
            .expect_error(404, "not_found");
        assert_eq!(
            reply.body["message"],
            json!("Region not found"),
            "{unknown}"
        );
    }
}

#[rstest]
#[tokio::test]
async fn invalid_specifications_are_400s_naming_the_field_and_change_nothing(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    app.post(SPEC, Some(&admin), two_regions())
        .await
        .expect(200);

    let region = |criteria: Value| json!({"regions": [{"name": "A", "display_name": "A", "criteria": criteria}]});
    let with = |field: &str, value: Value| {
        let mut criterion = depth();
        criterion[field] = value;
        region(json!([criterion]))
    };
    let mut retitled = depth();
    retitled["display_title"] = json!("Another title");
    for (body, path) in [
        (with("min_val", json!(10)), "regions[0].criteria[0].min_val"),
        (
            with("default_min_val", json!(0)),
            "regions[0].criteria[0].default_min_val",
        ),
        (with("name", json!("")), "regions[0].criteria[0].name"),
        (with("name", json!(" Depth")), "regions[0].criteria[0].name"),
        (
            with("display_title", json!("  ")),
            "regions[0].criteria[0].display_title",
        ),
        (
            with("payload_prefix", json!("x".repeat(129))),
            "regions[0].criteria[0].payload_prefix",
        ),
        (
            region(json!([depth(), depth()])),
            "regions[0].criteria[1].name",
        ),
        (
            json!({"regions": [
                {"name": "A/B", "display_name": "A", "criteria": []}
            ]}),
            "regions[0].name",
        ),
        (
            json!({"regions": [
                {"name": "A", "display_name": "A", "criteria": []},
                {"name": "A", "display_name": "Again", "criteria": []}
            ]}),
            "regions[1].name",
        ),
        (
            json!({"regions": [
                {"name": "A", "display_name": "A", "criteria": [depth()]},
                {"name": "B", "display_name": "B", "criteria": [retitled]}
            ]}),
            "regions[1].criteria[0].display_title",
        ),
        (
            json!({"regions": (0..101)
                .map(|n| json!({"name": format!("R{n}"), "display_name": "R", "criteria": []}))
                .collect::<Vec<_>>()}),
            "regions",
        ),
    ] {
        let reply = app
            .post(SPEC, Some(&admin), body)
            .await
            .expect_error(400, "validation_error");
        assert_eq!(error_paths(&reply), [path], "{}", reply.text);
    }
    // Not a specification at all: missing or mistyped fields.
    for body in [
        json!({}),
        json!({"regions": {}}),
        json!({"regions": [{"name": "A", "display_name": "A"}]}),
        with("min_val", json!("low")),
        with("max_val", json!(null)),
    ] {
        app.post(SPEC, Some(&admin), body)
            .await
            .expect_error(400, "invalid_body");
    }
    app.send_raw(
        reqwest::Method::POST,
        SPEC,
        Some(&admin),
        br#"{"regions": [{"name": "A", "display_name": "A", "criteria": [{"min_val": 1e999}]}]}"#
            .to_vec(),
    )
    .await
    .expect(400);

    let regions = app.get(REGIONS, Some(&admin)).await.expect(200);
    assert_eq!(
        regions.body["regions"].as_array().map(Vec::len),
        Some(2),
        "nothing changed: {}",
        regions.text
    );
}

#[rstest]
#[tokio::test]
async fn replacing_is_for_workers_and_admins_requesting_for_admins_reading_behind_the_gate(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn_with(backend, |s| s.auth.required_role = Some(Role::Analyst)).await;
    let (_, analyst) = app.user_with_roles("ana@example.com", &["ANALYST"]).await;
    let (_, no_role) = app.user("carol@example.com").await;
    let worker = app.worker_token("worker@example.com").await;

    // Authentication comes before the body: an anonymous caller gets 401 whatever it sends.
    for body in [two_regions(), json!("not even an object")] {
        app.post(SPEC, None, body)
            .await
            .expect_error(401, "unauthorized");
    }
    app.post(UPDATE, None, json!({}))
        .await
        .expect_error(401, "unauthorized");
    for token in [&analyst, &no_role] {
        app.post(SPEC, Some(token), two_regions())
            .await
            .expect_error(403, "forbidden");
        app.post(SPEC, Some(token), json!({"regions": "invalid"}))
            .await
            .expect_error(403, "forbidden");
    }
    for token in [&analyst, &no_role, &worker] {
        app.post(UPDATE, Some(token), json!({}))
            .await
            .expect_error(403, "forbidden");
    }
    // The worker of a DATA_SPECIFICATION_UPDATE job posts what it computed (R2's worker does,
    // with its own account).
    app.post(SPEC, Some(&worker), two_regions())
        .await
        .expect(200);
    app.get(&ranges("Townsville-Whitsunday"), Some(&analyst))
        .await
        .expect(200);

    // Reading needs the user features: ANALYST (or ADMIN) here.
    for path in [REGIONS.to_owned(), ranges("A")] {
        app.get(&path, None).await.expect_error(401, "unauthorized");
        app.get(&path, Some(&no_role))
            .await
            .expect_error(403, "forbidden");
        app.get(&path, Some(&worker))
            .await
            .expect_error(403, "forbidden");
    }
    app.get(REGIONS, Some(&analyst)).await.expect(200);
    app.get(&ranges("Nowhere"), Some(&analyst))
        .await
        .expect_error(404, "not_found");
    let admin = app.admin_token().await;
    app.get(REGIONS, Some(&admin)).await.expect(200);
    // The rest of /api/admin stays the admin's.
    app.get("/api/admin/status", Some(&analyst))
        .await
        .expect_error(403, "forbidden");

    // Without a required role, every signed-in user reads.
    let open = TestApp::spawn(backend).await;
    let (_, dan) = open.user("dan@example.com").await;
    open.get(REGIONS, Some(&dan)).await.expect(200);
    open.post(SPEC, Some(&dan), json!({"regions": []}))
        .await
        .expect_error(403, "forbidden");
}

#[rstest]
#[tokio::test]
async fn an_update_request_queues_a_job_owned_by_the_admin_service_account(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let service_admin = app.admin_token().await;
    let service_id = app
        .get("/api/auth/profile", Some(&service_admin))
        .await
        .expect(200)
        .body["user"]["id"]
        .as_i64()
        .expect("id");
    let (other_admin_id, other_admin) = app.user_with_roles("boss@example.com", &["ADMIN"]).await;
    assert_ne!(other_admin_id, service_id);

    let before = chrono::Utc::now().timestamp_millis();
    let first = app
        .post(UPDATE, Some(&other_admin), json!({}))
        .await
        .expect(200);
    assert_eq!(
        first.body["message"],
        json!("Data specification update job created successfully")
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    // R2's clients post no body at all.
    let second = app
        .send(reqwest::Method::POST, UPDATE, Some(&service_admin), None)
        .await
        .expect(200);
    let after = chrono::Utc::now().timestamp_millis();
    let (first_id, second_id) = (id(&first.body["jobId"]), id(&second.body["jobId"]));
    assert_ne!(
        first_id, second_id,
        "the cache buster makes each request a job"
    );

    let queued = job(&app, &service_admin, first_id).await;
    assert_eq!(queued["type"], json!("DATA_SPECIFICATION_UPDATE"));
    assert_eq!(queued["status"], json!("PENDING"));
    assert_eq!(
        queued["user_id"],
        json!(service_id),
        "owned by {ADMIN_EMAIL}, not by the admin who asked"
    );
    let buster = queued["input_payload"]["cache_buster"]
        .as_i64()
        .expect("milliseconds");
    assert!((before..=after).contains(&buster), "{buster}");
    assert_eq!(
        queued["input_payload"].as_object().map(|o| o.len()),
        Some(1),
        "{queued}"
    );

    // A worker takes both from the queue, oldest first.
    let worker = app.worker_token("worker@example.com").await;
    for expected in [first_id, second_id] {
        let claimed = claim(
            &app,
            &worker,
            json!({"jobTypes": ["DATA_SPECIFICATION_UPDATE"], "waitSeconds": 0}),
        )
        .await
        .expect(200);
        assert_eq!(id(&claimed.body["job"]["id"]), expected);
    }
    claim(
        &app,
        &worker,
        json!({"jobTypes": ["DATA_SPECIFICATION_UPDATE"], "waitSeconds": 0}),
    )
    .await
    .expect(204);
}
