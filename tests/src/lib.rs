//! Test support for black-box tests of the wired service.
//!
//! [`TestApp::spawn`] starts the real application on a free loopback port against a fresh,
//! private database (SQLite file or a new Postgres database that is dropped afterwards), with a
//! configured ADMIN service account. Requests go through [`TestApp::send`], which fails the test
//! on any 5xx unless the test says it expects one: nothing in the suite may receive a 500.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};

use reefguide_adapters_aws::{S3ObjectStore, S3Settings};
use reefguide_adapters_postgres::test_support::{TestBackend, TestDatabase};
use reefguide_http_actix::Application;
use reefguide_http_actix::Settings;
use reefguide_http_actix::crypto::RsaKeyPair;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub use reefguide_adapters_postgres::test_support;

pub mod airflow;
pub mod fault_proxy;
pub mod labcas;
pub mod r1_stub;
pub mod reefguide_fixture;
pub mod smtp;

/// Email of the ADMIN service account of every test app.
pub const ADMIN_EMAIL: &str = "admin@reefguide.test";
/// Its password.
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";
/// The JWT issuer of every test app.
pub const ISSUER: &str = "http://reefguide.test";

/// One RSA key pair for the whole test binary (generation is slow).
pub static KEYS: LazyLock<RsaKeyPair> =
    LazyLock::new(|| RsaKeyPair::generate().expect("RSA key generation"));

/// A fresh bucket in the S3-compatible store named by `S3_ENDPOINT_URL` (the moto server that
/// `cargo xtask test` starts): `(endpoint, bucket)`. Fails the test when no store is named.
pub async fn s3_test_bucket() -> (String, String) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let endpoint = std::env::var("S3_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!("S3 tests need S3_ENDPOINT_URL: run them with `cargo xtask test`, which starts moto")
    });
    let bucket = format!(
        "reefguide-api-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    s3_test_store(&endpoint, &bucket)
        .await
        .client()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("test bucket created");
    (endpoint, bucket)
}

/// A client of `bucket` in the S3-compatible store at `endpoint` (as [`s3_test_bucket`] names
/// them: path-style addressing, region `us-east-1`).
pub async fn s3_test_store(endpoint: &str, bucket: &str) -> S3ObjectStore {
    S3ObjectStore::connect(&S3Settings {
        endpoint_url: Some(endpoint.to_owned()),
        force_path_style: true,
        region: Some("us-east-1".into()),
        ..S3Settings::new(bucket.to_owned())
    })
    .await
    .expect("S3 client")
}

/// Builds the `reefguide` binary (the server crate's, with its `worker` command) in this test's
/// profile and returns its path, as cargo reports it.
///
/// # Panics
/// When cargo fails or reports no such executable.
pub fn reefguide_binary() -> std::path::PathBuf {
    let release = std::env::current_exe()
        .ok()
        .and_then(|exe| {
            // target/<profile>/deps/<test binary>
            let profile = exe.parent()?.parent()?.file_name()?.to_owned();
            Some(profile == "release")
        })
        .unwrap_or(false);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = std::process::Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--message-format=json",
            "-p",
            "reefguide-http-actix",
            "--bin",
            "reefguide",
        ])
        .args(release.then_some("--release"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "cargo build of reefguide failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["target"]["name"] == "reefguide"
        })
        .find_map(|message| message["executable"].as_str().map(std::path::PathBuf::from))
        .expect("cargo reported the reefguide executable")
}

/// A running application and its private database.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// The database (dropped with the app).
    pub db: TestDatabase,
    handle: actix_web::dev::ServerHandle,
    _data_dir: tempfile::TempDir,
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body parsed as JSON (`Value::Null` when empty or not JSON).
    pub body: Value,
    /// Raw body text.
    pub text: String,
}

/// The text of header `name`, empty when absent or not text.
pub fn header_text<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

impl Reply {
    /// The `Content-Type` header, empty when absent.
    pub fn content_type(&self) -> &str {
        header_text(&self.headers, "content-type")
    }

    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts the contract §1 error body: JSON with status, message and code.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Self {
        let reply = self.expect(status);
        assert_eq!(reply.body["status"], json!(status), "body: {}", reply.text);
        assert_eq!(reply.body["code"], json!(code), "body: {}", reply.text);
        assert!(
            reply.body["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "body: {}",
            reply.text
        );
        let content_type = reply.content_type();
        assert!(
            content_type.starts_with("application/json"),
            "content type {content_type}"
        );
        reply
    }
}

impl TestApp {
    /// Spawns the app with test defaults (rate limits off).
    pub async fn spawn(backend: TestBackend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Spawns the app after letting the test adjust the settings.
    pub async fn spawn_with(backend: TestBackend, configure: impl FnOnce(&mut Settings)) -> Self {
        let db = TestDatabase::create(backend).await.expect("test database");
        Self::spawn_on(db, configure).await
    }

    /// Spawns the app on an existing database (e.g. one a `reefguide import` filled), with the
    /// test defaults of [`TestApp::spawn_with`] and then the test's adjustments. The app owns
    /// the database from then on.
    pub async fn spawn_on(db: TestDatabase, configure: impl FnOnce(&mut Settings)) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::default();
        settings.server.port = 0;
        settings.server.api_domain = Some(ISSUER.into());
        settings.server.data_dir = data_dir.path().to_path_buf();
        settings.database.database_url = Some(db.url().to_owned());
        settings.database.database_max_connections = 5;
        settings.auth.jwt_private_key = Some(KEYS.private_pem().to_owned().into());
        settings.limits.rate_limit_enabled = false;
        settings.server.http_workers = Some(1);
        settings.server.log_level = "warn".into();
        settings.auth.admin_username = Some(ADMIN_EMAIL.into());
        settings.auth.admin_password = Some(ADMIN_PASSWORD.to_owned().into());
        configure(&mut settings);
        let app = Application::build(settings)
            .await
            .expect("application builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        Self {
            address,
            client: reqwest::Client::new(),
            db,
            handle,
            _data_dir: data_dir,
        }
    }

    /// Sends a request; fails the test on a 5xx.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let reply = self.send_allowing_5xx(method, path, token, body).await;
        assert!(
            !reply.status.is_server_error(),
            "server error on {path}: {}",
            reply.text
        );
        reply
    }

    /// Sends a request and returns whatever comes back.
    pub async fn send_allowing_5xx(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("request sent")).await
    }

    /// Sends a raw body with a content type; fails the test on a 5xx.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let reply = read(request.send().await.expect("request sent")).await;
        assert!(
            !reply.status.is_server_error(),
            "server error on {path}: {}",
            reply.text
        );
        reply
    }

    /// GET.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(Method::GET, path, token, None).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.send(Method::POST, path, token, Some(body)).await
    }

    /// PUT with a JSON body.
    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.send(Method::PUT, path, token, Some(body)).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(Method::DELETE, path, token, None).await
    }

    /// Registers a user and returns its id.
    pub async fn register(&self, email: &str, password: &str) -> i64 {
        let reply = self
            .post(
                "/api/auth/register",
                None,
                json!({"email": email, "password": password}),
            )
            .await
            .expect(200);
        reply.body["userId"].as_i64().expect("userId")
    }

    /// Logs in and returns `(token, refreshToken)`.
    pub async fn login(&self, email: &str, password: &str) -> (String, String) {
        let reply = self
            .post(
                "/api/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await
            .expect(200);
        (
            reply.body["token"].as_str().expect("token").to_owned(),
            reply.body["refreshToken"]
                .as_str()
                .expect("refreshToken")
                .to_owned(),
        )
    }

    /// Registers and logs in a fresh user; returns `(id, token)`.
    pub async fn user(&self, email: &str) -> (i64, String) {
        let id = self.register(email, "user-password-1").await;
        let (token, _) = self.login(email, "user-password-1").await;
        (id, token)
    }

    /// Creates an account with `roles` (as the admin, e.g. `&["WORKER"]`) and logs it in;
    /// returns `(id, token)`.
    pub async fn user_with_roles(&self, email: &str, roles: &[&str]) -> (i64, String) {
        let admin = self.admin_token().await;
        let reply = self
            .post(
                "/api/users",
                Some(&admin),
                json!({"email": email, "password": "user-password-1", "roles": roles}),
            )
            .await
            .expect(200);
        let id = reply.body["id"].as_i64().expect("id");
        let (token, _) = self.login(email, "user-password-1").await;
        (id, token)
    }

    /// An access token of a fresh account whose only role is WORKER.
    pub async fn worker_token(&self, email: &str) -> String {
        self.user_with_roles(email, &["WORKER"]).await.1
    }

    /// An access token of the ADMIN service account.
    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.0
    }

    /// The audit-log actions recorded about user `id`, newest first (read as the admin).
    pub async fn log_actions(&self, id: i64) -> Vec<String> {
        let admin = self.admin_token().await;
        let logs = self
            .get(&format!("/api/users/utils/log?userId={id}"), Some(&admin))
            .await
            .expect(200);
        logs.body["logs"]
            .as_array()
            .expect("logs array")
            .iter()
            .filter_map(|entry| entry["action"].as_str().map(str::to_owned))
            .collect()
    }

    /// A raw SQL connection to the app's database, for checks the API cannot show.
    pub async fn sql(&self) -> sea_orm::DatabaseConnection {
        sea_orm::Database::connect(self.db.url())
            .await
            .expect("direct database connection")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting and close connections before the database goes away.
        drop(self.handle.stop(false));
    }
}

async fn read(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("response body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}
