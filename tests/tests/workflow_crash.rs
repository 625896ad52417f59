//! The server killed (SIGKILL) between triggering an Airflow run and recording it
//! (labcas-contract §2, "Faults"): on restart the run is adopted, and Airflow holds exactly one
//! run for the job.
//!
//! The `reefguide` binary runs as a child process on Postgres, reaching the test Airflow (started
//! by `cargo xtask test`) through a proxy that delivers the trigger but loses Airflow's answer, so
//! the server is killed while it waits for it: the run exists, the database does not know it.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng as _;
use reefguide_tests::airflow::TestAirflow;
use reefguide_tests::fault_proxy::{Fault, FaultProxy};
use reefguide_tests::test_support::{TestBackend, TestDatabase};
use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};

const ADMIN: &str = "admin@crash.test";
const PASSWORD: &str = "crash-test-password";

/// A server process, killed (SIGKILL) and reaped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `reefguide serve` with the configuration file `config`, logging to `log`.
fn start_server(
    binary: &std::path::Path,
    config: &std::path::Path,
    log: &std::path::Path,
) -> Server {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let child = Command::new(binary)
        .arg("serve")
        .env("REEFGUIDE_CONFIG", config)
        .env("ADMIN_USERNAME", ADMIN)
        .env("ADMIN_PASSWORD", PASSWORD)
        .env_remove("DATABASE_URL")
        .env_remove("PORT")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .expect("the server starts");
    Server(child)
}

/// Waits until the server at `base` answers its health check.
async fn wait_until_up(client: &reqwest::Client, base: &str, log: &std::path::Path) {
    let started = Instant::now();
    loop {
        if let Ok(reply) = client.get(format!("{base}/api/health")).send().await
            && reply.status().is_success()
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server did not come up: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An admin access token.
async fn login(client: &reqwest::Client, base: &str) -> String {
    let reply: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .expect("login answers")
        .json()
        .await
        .expect("JSON");
    reply["token"].as_str().expect("a token").to_owned()
}

/// The runs of `reefguide_echo` whose id starts with `prefix`, with their states.
async fn echo_runs(prefix: &str) -> Vec<(String, String)> {
    TestAirflow::from_env().runs("reefguide_echo", prefix).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_between_trigger_and_record_adopts_the_run_on_restart() {
    let TestAirflow {
        url: airflow_url,
        username: airflow_user,
        password: airflow_password,
    } = TestAirflow::from_env();
    let proxy = FaultProxy::start(airflow_url.trim_start_matches("http://").to_owned()).await;
    let db = TestDatabase::create(TestBackend::Postgres)
        .await
        .expect("a Postgres test database");
    let dir = tempfile::tempdir().expect("temp dir");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let config = dir.path().join("reefguide.toml");
    std::fs::write(
        &config,
        format!(
            r#"port = {port}
data_dir = "{data}"
database_url = "{database}"
rate_limit_enabled = false
log_level = "info"

[airflow]
url = "{proxy}"
username = "{airflow_user}"
password = "{airflow_password}"
sync_interval_ms = 250
request_timeout_ms = 30000

[job_types.CRASH]
engine = "airflow"
dag_id = "reefguide_echo"
input_schema = {{ type = "object" }}

[collections.images]
location = "local://archive/images/"
workflows = ["CRASH"]
"#,
            data = dir.path().join("data").display(),
            database = db.url(),
            proxy = proxy.url(),
        ),
    )
    .expect("config written");
    let log = dir.path().join("server.log");
    let binary = tokio::task::spawn_blocking(reefguide_tests::reefguide_binary)
        .await
        .expect("build task");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();

    let server = start_server(&binary, &config, &log);
    wait_until_up(&client, &base, &log).await;
    // Job ids at a random offset: run ids never meet another test's in the shared Airflow.
    let first: i64 = rand::thread_rng().gen_range(1_000_000..2_000_000_000);
    sea_orm::Database::connect(db.url())
        .await
        .expect("database")
        .execute_unprepared(&format!("ALTER SEQUENCE jobs_id_seq RESTART WITH {first}"))
        .await
        .expect("sequence moved");
    let token = login(&client, &base).await;

    // The trigger reaches Airflow; the answer never comes back; the server dies waiting.
    proxy.set(Fault::LoseAnswers);
    let submitted: Value = client
        .post(format!("{base}/api/jobs"))
        .bearer_auth(&token)
        .json(&json!({"type": "CRASH", "inputPayload": {"greeting": "crash"}, "collection": "images"}))
        .send()
        .await
        .expect("submitted")
        .json()
        .await
        .expect("JSON");
    let job = submitted["jobId"].as_i64().expect("a job id");
    let prefix = format!("reefguide-{job}-");
    let started = Instant::now();
    while echo_runs(&prefix).await.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the trigger never reached Airflow"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SIGKILL: no chance to record anything.
    drop(server);

    // Restarted (and Airflow answering again), the server adopts the run.
    proxy.set(Fault::None);
    let _server = start_server(&binary, &config, &log);
    wait_until_up(&client, &base, &log).await;
    let token = login(&client, &base).await;
    let started = Instant::now();
    let job_after = loop {
        let reply: Value = client
            .get(format!("{base}/api/jobs/{job}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("answers")
            .json()
            .await
            .expect("JSON");
        let status = reply["job"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status != "PENDING" && status != "IN_PROGRESS" {
            break reply["job"].clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "job {job} never finished: {reply}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(job_after["status"], json!("SUCCEEDED"), "{job_after}");
    let run_id = format!("{prefix}1");
    let assignments = job_after["assignments"].as_array().expect("assignments");
    assert_eq!(assignments.len(), 1, "{job_after}");
    assert_eq!(assignments[0]["engine_run_id"], json!(run_id));
    assert_eq!(echo_runs(&prefix).await, [(run_id, "success".to_owned())]);
}
