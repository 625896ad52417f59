//! `cargo xtask bench`: release-build benchmarks of the wired server against Postgres.
//!
//! Each run builds the `reefguide` binary in release mode, creates a private Postgres database,
//! starts the server on a free loopback port (rate limits off, logging at `warn`), drives it from
//! Rust load generators, prints a table and writes `target/bench/<scenario>.json`. The database is
//! dropped afterwards.
//!
//! Scenario `submit` (job submission): 16 concurrent clients submit distinct `TEST` jobs, first on
//! a nearly empty table (after 1,000 unmeasured warm-up submissions) and again after 100,000 more
//! jobs were inserted directly in SQL, so the figure shows whether submission stays flat as the
//! table grows.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection};
use serde_json::{Value, json};

const ADMIN_EMAIL: &str = "bench-admin@reefguide.test";
const ADMIN_PASSWORD: &str = "bench-admin-password";
/// Concurrent submitting clients.
const CLIENTS: usize = 16;
/// Submissions measured per phase.
const SUBMISSIONS: u64 = 4_000;
/// Jobs added between the two phases.
const BACKGROUND_JOBS: u64 = 100_000;
/// Unmeasured submissions first, so that the first phase does not pay for cold caches and pools.
const WARM_UP: u64 = 1_000;

/// One measured phase.
#[derive(Debug, serde::Serialize)]
struct Phase {
    stored_jobs_before: u64,
    submissions: u64,
    seconds: f64,
    jobs_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

/// Runs the named scenario.
pub fn run(admin_url: &str, scenario: &str) -> anyhow::Result<()> {
    match scenario {
        "submit" => tokio::runtime::Runtime::new()?.block_on(submit_scenario(admin_url)),
        other => bail!("unknown scenario {other:?} (available: submit)"),
    }
}

async fn submit_scenario(admin_url: &str) -> anyhow::Result<()> {
    let binary = build_release()?;
    let database = BenchDatabase::create(admin_url).await?;
    let result = async {
        let server = Server::start(&binary, &database.url).await?;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(CLIENTS * 2)
            .build()?;
        let token = login(&client, &server.base).await?;
        submit_phase(&client, &server.base, &token, 2_000_000, WARM_UP, 0).await?;
        let empty = submit_phase(&client, &server.base, &token, 0, SUBMISSIONS, WARM_UP).await?;
        let db = Database::connect(&database.url).await?;
        insert_background_jobs(&db).await?;
        let grown = submit_phase(
            &client,
            &server.base,
            &token,
            1_000_000,
            SUBMISSIONS,
            WARM_UP + SUBMISSIONS + BACKGROUND_JOBS,
        )
        .await?;
        drop(server);
        report(&[empty, grown])
    }
    .await;
    database.drop_now().await;
    result
}

fn report(phases: &[Phase]) -> anyhow::Result<()> {
    println!("\njob submission, {CLIENTS} concurrent clients, {SUBMISSIONS} submissions per phase");
    println!(
        "{:>14} {:>10} {:>9} {:>9} {:>7}",
        "stored jobs", "jobs/s", "p50 ms", "p99 ms", "errors"
    );
    for phase in phases {
        println!(
            "{:>14} {:>10.0} {:>9.2} {:>9.2} {:>7}",
            phase.stored_jobs_before,
            phase.jobs_per_second,
            phase.p50_ms,
            phase.p99_ms,
            phase.errors
        );
    }
    if let [first, last] = phases {
        let change = (last.jobs_per_second / first.jobs_per_second - 1.0) * 100.0;
        println!("throughput change after {BACKGROUND_JOBS} more jobs: {change:+.1} %");
    }
    let dir = Path::new("target").join("bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("submit.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(
            &json!({"scenario": "submit", "clients": CLIENTS, "phases": phases}),
        )?,
    )?;
    println!("written to {}", path.display());
    Ok(())
}

/// Submits `count` distinct TEST jobs from `CLIENTS` tasks; ids start at `first_id`.
async fn submit_phase(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    first_id: u64,
    count: u64,
    stored_jobs_before: u64,
) -> anyhow::Result<Phase> {
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let (client, next, errors) = (client.clone(), next.clone(), errors.clone());
        let url = format!("{base}/api/jobs");
        let auth = format!("Bearer {token}");
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return latencies;
                }
                let body = json!({"type": "TEST", "inputPayload": {"id": first_id + n}});
                let sent = Instant::now();
                let ok = client
                    .post(&url)
                    .header("authorization", &auth)
                    .json(&body)
                    .send()
                    .await
                    .is_ok_and(|response| response.status().is_success());
                latencies.push(sent.elapsed());
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await?);
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    Ok(Phase {
        stored_jobs_before,
        submissions: count,
        seconds,
        jobs_per_second: count as f64 / seconds,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        errors: errors.load(Ordering::Relaxed),
    })
}

fn percentile(sorted: &[Duration], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * quantile).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Inserts `BACKGROUND_JOBS` finished TEST jobs (each with its own hash) in one statement.
async fn insert_background_jobs(db: &DatabaseConnection) -> anyhow::Result<()> {
    let started = Instant::now();
    db.execute_unprepared(&format!(
        "INSERT INTO jobs (created_at, updated_at, type, status, user_id, input_payload, hash, \
         attempts, max_attempts, lease_seconds, lease_expires_at, current_assignment_id, version) \
         SELECT now(), now(), 'TEST', 'SUCCEEDED', (SELECT min(id) FROM users), \
         jsonb_build_object('id', -n), md5(n::text) || md5((n + 1)::text), 1, 3, 3600, NULL, NULL, 1 \
         FROM generate_series(1, {BACKGROUND_JOBS}) AS n"
    ))
    .await
    .context("cannot insert the background jobs")?;
    db.execute_unprepared("ANALYZE jobs").await?;
    eprintln!(
        "xtask: inserted {BACKGROUND_JOBS} jobs in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn login(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let reply: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    reply["token"]
        .as_str()
        .map(str::to_owned)
        .context("login returned no token")
}

fn build_release() -> anyhow::Result<PathBuf> {
    eprintln!("xtask: building the release binary");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "reefguide-http-actix",
            "--bin",
            "reefguide",
        ])
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        bail!("release build failed");
    }
    Ok(Path::new("target").join("release").join("reefguide"))
}

/// A private Postgres database, dropped by [`BenchDatabase::drop_now`].
struct BenchDatabase {
    admin: DatabaseConnection,
    name: String,
    url: String,
}

impl BenchDatabase {
    async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let admin = Database::connect(admin_url)
            .await
            .context("cannot connect to Postgres")?;
        let name = format!("reefguide_bench_{}", std::process::id());
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
            .await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url, |(base, _)| base);
        let url = format!("{base}/{name}");
        Ok(Self { admin, name, url })
    }

    async fn drop_now(self) {
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(error) = self.admin.execute_unprepared(&statement).await {
            eprintln!("xtask: could not drop {}: {error}", self.name);
        }
    }
}

/// The server process; killed on drop.
struct Server {
    child: Child,
    base: String,
    _data_dir: tempfile::TempDir,
}

impl Server {
    async fn start(binary: &Path, database_url: &str) -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let data_dir = tempfile::tempdir()?;
        let child = Command::new(binary)
            .arg("serve")
            .env("REEFGUIDE_CONFIG", data_dir.path().join("none.toml"))
            .env("REEFGUIDE_DATABASE_URL", database_url)
            .env("REEFGUIDE_PORT", port.to_string())
            .env("REEFGUIDE_DATA_DIR", data_dir.path())
            .env("REEFGUIDE_RATE_LIMIT_ENABLED", "false")
            .env("REEFGUIDE_LOG_LEVEL", "warn")
            .env("REEFGUIDE_DATABASE_MAX_CONNECTIONS", "16")
            .env("ADMIN_USERNAME", ADMIN_EMAIL)
            .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _data_dir: data_dir,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if reqwest::get(format!("{}/api/health", self.base))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the server did not become healthy within 30 s")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
