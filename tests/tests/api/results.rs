//! Result files (contract §7 download, the worker upload URLs, and the local store's signed
//! URLs): who may ask, what the URLs allow, and bytes going up and coming back unchanged, on the
//! embedded local store and on S3 (moto).

use std::time::Duration;

use reefguide_http_actix::Settings;
use reefguide_http_actix::config::{JobTypeSettings, StorageKind};
use reefguide_tests::test_support::TestBackend;
use reefguide_tests::{Reply, TestApp, s3_test_bucket};
use rstest::rstest;
use serde_json::{Value, json};

use crate::jobs::{claim_one, id, report, submit_test};

/// Where result files go in a test.
#[derive(Debug, Clone, Copy)]
enum Store {
    Local,
    S3,
}

/// An app on SQLite with result files in `store` (a fresh moto bucket for S3).
async fn app_with(store: Store, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let bucket = match store {
        Store::Local => None,
        Store::S3 => Some(s3_test_bucket().await),
    };
    TestApp::spawn_with(TestBackend::Sqlite, move |s| {
        if let Some((endpoint, bucket)) = bucket {
            s.storage.kind = StorageKind::S3;
            s.storage.s3_bucket = Some(bucket);
            s.storage.s3_endpoint_url = Some(endpoint);
            s.storage.s3_force_path_style = true;
            s.storage.s3_region = Some("us-east-1".into());
        }
        configure(s);
    })
    .await
}

/// A user, a worker and one running TEST job: `(user token, worker token, job id, assignment id)`.
async fn running_job(app: &TestApp) -> (String, String, i64, i64) {
    let (_, ana) = app.user("ana@example.com").await;
    let worker = app.worker_token("worker@example.com").await;
    let job_id = submit_test(app, &ana, 1).await;
    let (_, assignment) = claim_one(app, &worker).await;
    (ana, worker, job_id, id(&assignment["id"]))
}

fn upload_path(assignment: i64) -> String {
    format!("/api/jobs/assignments/{assignment}/upload-urls")
}

/// Asks for upload URLs for `files`.
async fn upload_urls(app: &TestApp, token: &str, assignment: i64, files: &[&str]) -> Reply {
    app.post(
        &upload_path(assignment),
        Some(token),
        json!({"files": files}),
    )
    .await
}

/// The `files` map of a reply, as (path, url) pairs in path order.
fn files_of(reply: &Reply) -> Vec<(String, String)> {
    reply.body["files"]
        .as_object()
        .unwrap_or_else(|| panic!("no files: {}", reply.text))
        .iter()
        .map(|(path, url)| (path.clone(), url.as_str().expect("url").to_owned()))
        .collect()
}

/// PUTs `bytes` to a presigned URL, without any token; `(status, body)`.
async fn put_bytes(app: &TestApp, url: &str, bytes: &[u8]) -> (u16, String) {
    let response = app
        .client
        .put(url)
        .body(bytes.to_vec())
        .send()
        .await
        .expect("PUT sent");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// GETs a presigned URL, without any token; `(status, bytes)`.
async fn get_bytes(app: &TestApp, url: &str) -> (u16, Vec<u8>) {
    let response = app.client.get(url).send().await.expect("GET sent");
    let status = response.status().as_u16();
    (status, response.bytes().await.expect("body").to_vec())
}

/// The error code of a JSON error body.
fn code_of(body: &[u8]) -> String {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    body["code"].as_str().unwrap_or_default().to_owned()
}

/// Uploads `files` (path, bytes) through the API's upload URLs and reports SUCCEEDED.
async fn finish_with_files(app: &TestApp, worker: &str, assignment: i64, files: &[(&str, &[u8])]) {
    let paths: Vec<&str> = files.iter().map(|(path, _)| *path).collect();
    let reply = upload_urls(app, worker, assignment, &paths)
        .await
        .expect(200);
    assert!(reply.body["expirySeconds"].as_u64().is_some_and(|s| s > 0));
    let urls = files_of(&reply);
    for (path, bytes) in files {
        let url = &urls
            .iter()
            .find(|(p, _)| p == path)
            .unwrap_or_else(|| panic!("no URL for {path}"))
            .1;
        let (status, body) = put_bytes(app, url, bytes).await;
        assert_eq!(status, 200, "PUT {path}: {body}");
    }
    report(app, worker, assignment, "SUCCEEDED", Some(json!({})))
        .await
        .expect(200);
}

fn download_path(job_id: i64, query: &str) -> String {
    format!("/api/jobs/{job_id}/download{query}")
}

/// Bytes that are not text, so nothing gets normalised on the way.
fn binary(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from(i % 251).expect("small").wrapping_mul(seed))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Round trip

#[rstest]
#[tokio::test]
async fn uploaded_files_download_unchanged(#[values(Store::Local, Store::S3)] store: Store) {
    let app = app_with(store, |_| {}).await;
    let (ana, worker, job_id, assignment) = running_job(&app).await;
    let result = br#"{"cells": 42}"#.to_vec();
    let raster = binary(300_000, 7);
    finish_with_files(
        &app,
        &worker,
        assignment,
        &[("result.json", &result), ("maps/suitability.tif", &raster)],
    )
    .await;

    let reply = app
        .get(&download_path(job_id, ""), Some(&ana))
        .await
        .expect(200);
    assert_eq!(
        reply.body["job"],
        json!({"id": job_id, "type": "TEST", "status": "SUCCEEDED"})
    );
    let files = files_of(&reply);
    assert_eq!(
        files.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        ["maps/suitability.tif", "result.json"]
    );
    for (path, url) in &files {
        let (status, bytes) = get_bytes(&app, url).await;
        assert_eq!(status, 200, "GET {path}");
        let expected = if path == "result.json" {
            &result
        } else {
            &raster
        };
        assert!(bytes == *expected, "{path}: {} bytes differ", bytes.len());
    }

    // filterPrefix selects a folder; a sibling name is not a match.
    let reply = app
        .get(&download_path(job_id, "?filterPrefix=maps/"), Some(&ana))
        .await
        .expect(200);
    assert_eq!(files_of(&reply).len(), 1);
    let reply = app
        .get(&download_path(job_id, "?filterPrefix=mapsx"), Some(&ana))
        .await
        .expect(200);
    assert!(files_of(&reply).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Download: who may, and when

#[rstest]
#[tokio::test]
async fn download_is_for_the_owner_requesters_and_admin(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (ana, worker, job_id, assignment) = running_job(&app).await;
    finish_with_files(&app, &worker, assignment, &[("out.txt", b"hello")]).await;
    let path = download_path(job_id, "");

    app.get(&path, Some(&ana)).await.expect(200);
    let admin = app.admin_token().await;
    assert_eq!(
        files_of(&app.get(&path, Some(&admin)).await.expect(200)).len(),
        1
    );
    let (_, bob) = app.user("bob@example.com").await;
    app.get(&path, Some(&bob))
        .await
        .expect_error(403, "forbidden");
    app.get(&path, None).await.expect(401);
    // A worker sees only the worker routes.
    app.get(&path, Some(&worker)).await.expect(403);
    // Bob asks for the same job: a cache hit makes him a requester.
    let cached = app
        .post(
            "/api/jobs",
            Some(&bob),
            json!({"type": "TEST", "inputPayload": {"id": 1}}),
        )
        .await
        .expect(200);
    assert_eq!(cached.body["cached"], json!(true));
    app.get(&path, Some(&bob)).await.expect(200);
    app.get(&download_path(job_id + 1000, ""), Some(&ana))
        .await
        .expect(404);
}

#[tokio::test]
async fn only_succeeded_jobs_have_downloads() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let (ana, worker, job_id, assignment) = running_job(&app).await;
    let path = download_path(job_id, "");
    app.get(&path, Some(&ana))
        .await
        .expect_error(400, "job_not_succeeded");
    report(&app, &worker, assignment, "FAILED", None)
        .await
        .expect(200);
    app.get(&path, Some(&ana))
        .await
        .expect_error(400, "job_not_succeeded");
    // A job that succeeded without writing files has an empty download.
    let second = submit_test(&app, &ana, 2).await;
    let (_, assignment) = claim_one(&app, &worker).await;
    report(
        &app,
        &worker,
        id(&assignment["id"]),
        "SUCCEEDED",
        Some(json!({})),
    )
    .await
    .expect(200);
    let reply = app
        .get(&download_path(second, ""), Some(&ana))
        .await
        .expect(200);
    assert!(files_of(&reply).is_empty());
}

#[tokio::test]
async fn download_parameters_are_checked_and_the_file_count_bounded() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |s| s.storage.download_max_files = 2).await;
    let (ana, worker, job_id, assignment) = running_job(&app).await;
    finish_with_files(
        &app,
        &worker,
        assignment,
        &[("a.txt", b"a"), ("maps/b.txt", b"b"), ("maps/c.txt", b"c")],
    )
    .await;
    app.get(&download_path(job_id, ""), Some(&ana))
        .await
        .expect_error(400, "too_many_files");
    let reply = app
        .get(&download_path(job_id, "?filterPrefix=maps/"), Some(&ana))
        .await
        .expect(200);
    assert_eq!(files_of(&reply).len(), 2);
    for query in [
        "?expirySeconds=0",
        "?expirySeconds=604801",
        "?expirySeconds=-1",
        "?expirySeconds=soon",
        "?filterPrefix=../",
        "?filterPrefix=/etc",
    ] {
        app.get(&download_path(job_id, query), Some(&ana))
            .await
            .expect(400);
    }
    app.get(
        &download_path(job_id, "?expirySeconds=604800&filterPrefix=a"),
        Some(&ana),
    )
    .await
    .expect(200);
}

// ---------------------------------------------------------------------------------------------
// Upload URLs: only the lease holder

#[rstest]
#[tokio::test]
async fn upload_urls_are_for_the_lease_holder_only(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let app = TestApp::spawn(backend).await;
    let (ana, worker, _, assignment) = running_job(&app).await;
    let rival = app.worker_token("rival@example.com").await;

    upload_urls(&app, &rival, assignment, &["a.txt"])
        .await
        .expect_error(403, "not_assignment_holder");
    upload_urls(&app, &ana, assignment, &["a.txt"])
        .await
        .expect(403);
    app.post(&upload_path(assignment), None, json!({"files": ["a.txt"]}))
        .await
        .expect(401);
    upload_urls(&app, &worker, assignment + 1000, &["a.txt"])
        .await
        .expect(404);
    let admin = app.admin_token().await;
    upload_urls(&app, &admin, assignment, &["a.txt"])
        .await
        .expect(200);

    // Paths cannot leave the assignment's prefix.
    for bad in [
        "../escape.txt",
        "/etc/passwd",
        "a/../../b",
        "a//b",
        "dir/",
        "",
    ] {
        upload_urls(&app, &worker, assignment, &[bad])
            .await
            .expect_error(400, "validation_error");
    }
    upload_urls(&app, &worker, assignment, &[])
        .await
        .expect_error(400, "validation_error");
    let too_many: Vec<String> = (0..101).map(|n| format!("f{n}")).collect();
    let refs: Vec<&str> = too_many.iter().map(String::as_str).collect();
    upload_urls(&app, &worker, assignment, &refs)
        .await
        .expect_error(400, "validation_error");

    let reply = upload_urls(&app, &worker, assignment, &["x.txt", "x.txt", "d/y.txt"])
        .await
        .expect(200);
    assert_eq!(files_of(&reply).len(), 2);

    // Once the result is in, no more uploads.
    report(&app, &worker, assignment, "SUCCEEDED", Some(json!({})))
        .await
        .expect(200);
    upload_urls(&app, &worker, assignment, &["late.txt"])
        .await
        .expect_error(400, "assignment_completed");
}

#[tokio::test]
async fn a_lost_lease_gets_no_upload_urls() {
    let app = TestApp::spawn_with(TestBackend::Sqlite, |s| {
        s.jobs.job_types.insert(
            "TEST".into(),
            JobTypeSettings {
                lease_seconds: Some(1),
                ..JobTypeSettings::default()
            },
        );
        s.jobs.lease_sweep_interval_ms = 600_000;
    })
    .await;
    let (_, worker, _, assignment) = running_job(&app).await;
    upload_urls(&app, &worker, assignment, &["a.txt"])
        .await
        .expect(200);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    upload_urls(&app, &worker, assignment, &["a.txt"])
        .await
        .expect_error(409, "lease_lost");
}

// ---------------------------------------------------------------------------------------------
// The local store's signed URLs

/// One upload URL and one download URL of `file` (uploaded with `bytes`) for a finished job.
async fn signed_urls(app: &TestApp, file: &str, bytes: &[u8]) -> (String, String) {
    let (ana, worker, job_id, assignment) = running_job(app).await;
    let reply = upload_urls(app, &worker, assignment, &[file])
        .await
        .expect(200);
    let put_url = files_of(&reply).remove(0).1;
    assert_eq!(put_bytes(app, &put_url, bytes).await.0, 200);
    report(app, &worker, assignment, "SUCCEEDED", Some(json!({})))
        .await
        .expect(200);
    let reply = app
        .get(&download_path(job_id, ""), Some(&ana))
        .await
        .expect(200);
    (put_url, files_of(&reply).remove(0).1)
}

#[tokio::test]
async fn signed_urls_refuse_tampering() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let (put_url, get_url) = signed_urls(&app, "report.txt", b"the report").await;
    assert!(
        get_url.starts_with(&format!("{}/api/storage/", app.address)),
        "{get_url}"
    );
    assert_eq!(
        get_bytes(&app, &get_url).await,
        (200, b"the report".to_vec())
    );

    let tampered = [
        // Another file under the same signature.
        get_url.replace("report.txt", "other.txt"),
        // A later expiry.
        {
            let (head, tail) = get_url.split_once("expires=").expect("expires");
            let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
            format!(
                "{head}expires={}{}",
                digits.clone() + "9",
                &tail[digits.len()..]
            )
        },
        // A flipped signature character.
        {
            let last = get_url.chars().last().expect("non-empty");
            let flipped = if last == '0' { '1' } else { '0' };
            format!("{}{flipped}", &get_url[..get_url.len() - 1])
        },
        // A signature that is not hex.
        format!("{}zz", &get_url[..get_url.len() - 2]),
        // Climbing out of the store.
        get_url.replace("report.txt", "..%2F..%2F..%2Fstorage-signing.key"),
    ];
    for url in &tampered {
        let (status, body) = get_bytes(&app, url).await;
        assert!(
            status == 403 || status == 400,
            "{url}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        assert_ne!(body, b"the report".to_vec());
    }
    // A download URL does not allow an upload, nor an upload URL a download.
    let (status, body) = put_bytes(&app, &get_url, b"overwritten").await;
    assert_eq!(
        (status, code_of(body.as_bytes()).as_str()),
        (403, "invalid_signature")
    );
    let (status, body) = get_bytes(&app, &put_url).await;
    assert_eq!(
        (status, code_of(&body).as_str()),
        (403, "invalid_signature")
    );
    // Nothing was overwritten.
    assert_eq!(
        get_bytes(&app, &get_url).await,
        (200, b"the report".to_vec())
    );
    // Missing signature parameters are a 400.
    let bare = get_url.split_once('?').expect("query").0.to_owned();
    assert_eq!(get_bytes(&app, &bare).await.0, 400);
}

#[tokio::test]
async fn signed_urls_expire() {
    let app = TestApp::spawn(TestBackend::Sqlite).await;
    let (ana, worker, job_id, assignment) = running_job(&app).await;
    finish_with_files(&app, &worker, assignment, &[("a.txt", b"a")]).await;
    let reply = app
        .get(&download_path(job_id, "?expirySeconds=1"), Some(&ana))
        .await
        .expect(200);
    let url = files_of(&reply).remove(0).1;
    assert_eq!(get_bytes(&app, &url).await.0, 200);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let (status, body) = get_bytes(&app, &url).await;
    assert_eq!((status, code_of(&body).as_str()), (403, "url_expired"));
}

#[tokio::test]
async fn uploads_are_bounded_in_size() {
    let app =
        TestApp::spawn_with(TestBackend::Sqlite, |s| s.storage.upload_max_bytes = 1_000).await;
    let (_, worker, _, assignment) = running_job(&app).await;
    let reply = upload_urls(&app, &worker, assignment, &["big.bin", "small.bin"])
        .await
        .expect(200);
    let urls = files_of(&reply);
    let (status, body) = put_bytes(&app, &urls[0].1, &binary(1_001, 3)).await;
    assert_eq!(
        (status, code_of(body.as_bytes()).as_str()),
        (413, "payload_too_large")
    );
    let (status, _) = put_bytes(&app, &urls[1].1, &binary(1_000, 3)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_storage_routes_are_absent_with_s3() {
    let app = app_with(Store::S3, |_| {}).await;
    let (status, body) = get_bytes(
        &app,
        &format!(
            "{}/api/storage/test/1/1/a.txt?expires=1&signature=00",
            app.address
        ),
    )
    .await;
    assert_eq!((status, code_of(&body).as_str()), (404, "not_found"));
}
