//! Issue 22, the port trap: with neither `api_domain` nor `public_url` set, the server derives
//! both from its listener, so on any port (not only 5000) the local store's signed URLs, the JWT
//! issuer and service-info name the address the server really listens at, and a TEST job runs
//! end to end with local storage and the worker SDK.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use base64::Engine as _;
use reefguide_tests::TestApp;
use reefguide_tests::test_support::TestBackend;
use reefguide_worker_sdk::{Worker, test_job};
use rstest::rstest;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::jobs::{id, job, submit};

/// The longest the job may take to finish.
const PATIENCE: Duration = Duration::from_secs(60);
/// Password of the accounts made by [`TestApp::user_with_roles`].
const WORKER_PASSWORD: &str = "user-password-1";

/// A port that was free a moment ago (bound to port 0 on loopback, then released), never 5000.
fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        if port != 5000 {
            return port;
        }
    }
}

/// The `iss` claim of an access token.
fn issuer(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice::<Value>(&bytes).expect("JSON claims")["iss"].clone()
}

#[rstest]
#[tokio::test]
async fn with_no_urls_set_a_test_job_runs_and_downloads_on_a_port_other_than_5000(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let port = free_port();
    let app = TestApp::spawn_with(backend, |settings| {
        settings.server.port = port;
        settings.server.api_domain = None;
        settings.server.public_url = None;
    })
    .await;
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(app.address, base, "the app listens on the port asked for");

    // The derived api_domain is the JWT issuer and the service's URL.
    let (_, ana) = app.user("ana@example.com").await;
    assert_eq!(issuer(&ana), json!(base));
    let info = app.get("/api/service-info", None).await.expect(200);
    assert_eq!(info.body["organization"]["url"], json!(base));

    let worker_email = "worker@example.com";
    app.user_with_roles(worker_email, &["WORKER"]).await;
    let job_id = id(&submit(&app, &ana, "TEST", json!({"id": 22}))
        .await
        .expect(200)
        .body["jobId"]);

    let worker = Worker::builder()
        .api_url(app.address.clone())
        .credentials(worker_email, WORKER_PASSWORD)
        .handler(test_job::JOB_TYPE, test_job::handler())
        .claim_wait(Duration::from_secs(1))
        .poll_interval(Duration::from_millis(100))
        .build()
        .expect("worker builds");
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(worker.run_until(async {
        let _ = stopped.await;
    }));
    let started = Instant::now();
    let status = loop {
        let status = job(&app, &ana, job_id).await["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if !matches!(status.as_str(), "PENDING" | "IN_PROGRESS") || started.elapsed() > PATIENCE {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = stop.send(());
    running
        .await
        .expect("worker task")
        .expect("worker ran without a fatal error");
    assert_eq!(
        status,
        "SUCCEEDED",
        "job {job_id} after {:?}",
        started.elapsed()
    );

    let reply = app
        .get(&format!("/api/jobs/{job_id}/download"), Some(&ana))
        .await
        .expect(200);
    let url = reply.body["files"][test_job::RESULT_FILE]
        .as_str()
        .unwrap_or_else(|| panic!("no result.json: {}", reply.text));
    assert!(
        url.starts_with(&format!("{base}/api/storage/")),
        "the download URL names the listener: {url}"
    );
    let response = app.client.get(url).send().await.expect("download");
    assert_eq!(response.status().as_u16(), 200, "GET {url}");
    let file: Value =
        serde_json::from_slice(&response.bytes().await.expect("bytes")).expect("JSON result file");
    assert_eq!(file["id"], json!(22));
}
