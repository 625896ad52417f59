//! `cargo xtask rolling-restart`: two replicas of the server on one Postgres database, behind a
//! load balancer that, like an ALB, routes only to replicas whose readiness (`/api/health`)
//! answers 200. Submitters and `reefguide worker` processes work through it while each replica
//! in turn gets SIGTERM, must exit 0, and starts again. No request may get a 5xx or fail to
//! reach a replica, and every job submitted must succeed exactly once.

use std::path::Path;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use sea_orm::Database;

use crate::balancer::{Balancer, Upstream};
use crate::bench::api;
use crate::server::{Profile, ScratchDatabase, Server, ServerOptions, build_binary};
use crate::submitters::{Expect, Load, wait_for_queue};
use crate::workers::{WorkerPool, Workers};

/// The replicas' ADMIN account (it submits the jobs).
const ADMIN: (&str, &str) = ("rolling-admin@reefguide.test", "rolling-admin-password");
/// The workers' account.
const WORKER: (&str, &str) = ("rolling-worker@reefguide.test", "rolling-worker-password");
/// Tasks submitting jobs without pause.
const SUBMITTERS: usize = 4;
/// Seconds a replica keeps serving after SIGTERM (readiness 503), as `shutdown_delay_seconds`.
const SHUTDOWN_DELAY_SECONDS: &str = "2";
/// Load before the first restart, and between and after restarts.
const SETTLE: Duration = Duration::from_secs(3);
/// How long a replica may take to exit after SIGTERM.
const EXIT_TIMEOUT: Duration = Duration::from_secs(40);

/// Runs the check on a scratch database of the Postgres server at `admin_url`.
pub fn run_check(admin_url: &str) -> anyhow::Result<()> {
    let binary = build_binary(Profile::Debug)?;
    let logs = crate::target_dir().join("rolling-restart");
    if logs.exists() {
        std::fs::remove_dir_all(&logs)
            .with_context(|| format!("cannot clear {}", logs.display()))?;
    }
    std::fs::create_dir_all(logs.join("data"))?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let database = ScratchDatabase::create(admin_url, "rolling").await?;
        let result = scenario(&binary, &database.url, &logs).await;
        database.drop_now().await;
        result
    })
}

async fn scenario(binary: &Path, database_url: &str, logs: &Path) -> anyhow::Result<()> {
    // A new connection per request: a replica that restarted on the same port leaves no stale
    // pooled connection behind.
    let balancer = Balancer::bind(Upstream::FreshConnections)?;
    // One public URL (the balancer's) and one data directory (keys, result files) for both
    // replicas, as a shared file system would give them.
    let data = logs.join("data").to_string_lossy().into_owned();
    let env = [
        ("REEFGUIDE_PUBLIC_URL", balancer.url.as_str()),
        ("REEFGUIDE_DATA_DIR", data.as_str()),
        ("REEFGUIDE_SHUTDOWN_DELAY_SECONDS", SHUTDOWN_DELAY_SECONDS),
    ];
    let options = ServerOptions {
        binary,
        admin: ADMIN,
        worker: Some(WORKER),
        env: &env,
    };
    let mut replicas = Vec::new();
    for _ in 0..2 {
        replicas.push(Server::start(&options, database_url).await?);
    }
    let outcome = drive(&balancer, &mut replicas, binary, database_url, logs).await;
    for (index, replica) in replicas.iter().enumerate() {
        let kept = logs.join(format!("replica-{index}.log"));
        if let Err(error) = std::fs::copy(replica.log_path(), &kept) {
            eprintln!("xtask: rolling-restart: could not keep a replica's log: {error}");
        }
    }
    balancer.stop().await;
    outcome
}

async fn drive(
    balancer: &Balancer,
    replicas: &mut [Server],
    binary: &Path,
    database_url: &str,
    logs: &Path,
) -> anyhow::Result<()> {
    balancer.route_to(
        replicas
            .iter()
            .map(|replica| replica.base.clone())
            .collect(),
    );
    balancer.wait_until_ready(replicas.len()).await?;
    let client = reqwest::Client::new();
    let token = api::login(&client, &balancer.url, ADMIN.0, ADMIN.1).await?;
    let pool = WorkerPool {
        processes: 2,
        concurrency: 4,
        account: WORKER,
    };
    let mut workers = Workers::start(binary, &balancer.url, logs, &pool)?;
    let load = Load::start(&balancer.url, &token, SUBMITTERS, Duration::from_millis(20));
    let started = Instant::now();
    tokio::time::sleep(SETTLE).await;
    for (index, replica) in replicas.iter_mut().enumerate() {
        replica
            .terminate(EXIT_TIMEOUT)
            .await
            .with_context(|| format!("replica {index}"))?;
        eprintln!(
            "xtask: rolling-restart: replica {index} drained and exited 0 ({:.1} s in)",
            started.elapsed().as_secs_f64()
        );
        replica.restart().await?;
        balancer.wait_until_ready(2).await?;
        tokio::time::sleep(SETTLE).await;
    }
    let tally = load.stop().await;
    let db = Database::connect(database_url).await?;
    let submitted = tally.submitted.load(Ordering::SeqCst);
    let finished = wait_for_queue(&db, Expect::Exactly(submitted)).await;
    workers.stop();
    let failures = tally
        .failures
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let proxied = balancer.proxied();
    let upstream = balancer.failures();
    eprintln!(
        "xtask: rolling-restart: {submitted} jobs submitted, {proxied} requests through the \
         balancer in {:.1} s; logs in {}",
        started.elapsed().as_secs_f64(),
        logs.display()
    );
    ensure!(failures.is_empty(), "submissions failed: {failures:?}");
    ensure!(
        upstream.is_empty(),
        "requests through the balancer failed (workers' included): {upstream:?}"
    );
    ensure!(submitted > 0, "no job was submitted");
    let queue = finished?;
    ensure!(
        queue.duplicate_jobs == 0 && queue.extra_results == 0,
        "jobs done more than once: {queue:?}"
    );
    Ok(())
}
