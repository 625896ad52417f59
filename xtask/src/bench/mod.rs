//! `cargo xtask bench [scenario]`: the benchmark suite of issue 9, release build against Postgres.
//!
//! One run builds the `reefguide` binary in release mode, creates a private Postgres database,
//! starts ONE server on it (rate limits off, logging at `warn`, see [`SERVER_ENV`]) and runs the
//! chosen scenarios against it from Rust load generators ([`load`]) in this process, itself built
//! in release mode (see [`run`]). In the order `all` (the default) runs them:
//!
//! - [`polygons`]: authenticated `GET /api/polygons/:id` at 32 and 256 connections;
//! - [`throughput`]: jobs/s end to end with 8 and 64 simulated workers, R1's poll → assign →
//!   result and `/claim`, with claim latency and duplicate completions;
//! - [`memory`]: the server's resident memory idle and at its peak during the polygons and
//!   throughput phases (sampled every 100 ms by [`system::MemorySampler`]);
//! - [`submit`]: job submission at 0 and 100,000 stored jobs;
//! - [`login`]: login latency and logins/s (argon2id), last because argon2id's memory blocks
//!   inflate the server's resident memory for the rest of its life.
//!
//! Each scenario prints a table (with the CPU used by the server, Postgres, the load generator
//! and the whole machine during each phase); the run ends with a summary of every figure beside
//! its issue-9 target and writes `target/bench/results.json`. The job tables are emptied before
//! each job scenario phase, so that phases do not see each other's jobs. The database is dropped
//! afterwards.

pub(crate) mod api;
mod fake_airflow;
mod import;
mod load;
mod login;
mod memory;
mod polygons;
mod report;
mod submit;
mod system;
pub(crate) mod throughput;
mod workflows;

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection};
use serde_json::json;

use self::report::Report;
use self::system::{CpuSnapshot, CpuUse, Machine, MemorySampler, Resident};
use crate::server::{Profile, ServerOptions, build_binary, with_scratch_server};

/// The scenarios, in the order `all` runs them.
const SCENARIOS: [&str; 5] = ["polygons", "throughput", "memory", "submit", "login"];
/// The server's ADMIN service account.
const ADMIN_EMAIL: &str = "bench-admin@reefguide.test";
/// Its password.
const ADMIN_PASSWORD: &str = "bench-admin-password";
/// Settings of the benchmarked server (besides rate limits off and logging at `warn`, which
/// [`Server`] sets): a pool of 16 database connections, and access tokens that outlive the run.
const SERVER_ENV: [(&str, &str); 2] = [
    ("REEFGUIDE_DATABASE_MAX_CONNECTIONS", "16"),
    ("REEFGUIDE_ACCESS_TOKEN_MINUTES", "60"),
];

/// The running server and what the scenarios share.
pub struct Bench {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The server's process id.
    pub pid: u32,
    /// An access token of the ADMIN service account.
    pub admin_token: String,
    /// A connection to the server's database, for setup and checks in SQL.
    pub db: DatabaseConnection,
    /// Everything measured so far.
    pub report: Report,
    /// Peak resident memory (KiB) of each observed load phase.
    pub peaks: Vec<(String, u64)>,
}

/// What the server used during one phase.
pub struct Observed {
    /// CPU use.
    pub cpu: CpuUse,
    /// Peak resident memory of the server, KiB.
    pub peak_rss_kib: u64,
}

impl Bench {
    /// Runs `phase` while sampling the server's memory and everyone's CPU; remembers the peak
    /// memory under `name`.
    pub async fn observe<T>(
        &mut self,
        name: &str,
        phase: impl Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<(T, Observed)> {
        let sampler = MemorySampler::start(self.pid);
        let cpu = CpuSnapshot::take(self.pid);
        let result = phase.await;
        let cpu = cpu.since();
        let peak_rss_kib = sampler.stop().await;
        self.peaks.push((name.to_owned(), peak_rss_kib));
        Ok((result?, Observed { cpu, peak_rss_kib }))
    }

    /// Empties the job tables (jobs, requests, assignments, results).
    pub async fn reset_jobs(&self) -> anyhow::Result<()> {
        self.db
            .execute_unprepared("TRUNCATE job_results, job_assignments, job_requests, jobs")
            .await
            .context("cannot empty the job tables")?;
        Ok(())
    }
}

/// Runs `scenario` (`all` or one of [`SCENARIOS`]).
///
/// The load generator shares the 2 cores with the server and Postgres, so it must be optimised:
/// a debug build of xtask (what `cargo xtask` runs) builds xtask in release mode and runs the
/// benchmark from that binary instead.
pub fn run(admin_url: &str, scenario: &str) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        return run_released(scenario);
    }
    let chosen: Vec<&str> = match scenario {
        "all" => SCENARIOS.to_vec(),
        "memory" => vec!["polygons", "throughput", "memory"],
        // Not part of `all`: it runs its own server, configured for a fake Airflow.
        "workflows" => vec!["workflows"],
        // Not part of `all`: no server, the `reefguide import` command on two scratch databases.
        "import" => return tokio::runtime::Runtime::new()?.block_on(import::run(admin_url)),
        // Not part of `all`: one, then three servers behind a balancer.
        "scale" => return tokio::runtime::Runtime::new()?.block_on(crate::scale::bench(admin_url)),
        one if SCENARIOS.contains(&one) => vec![one],
        other => bail!(
            "unknown scenario {other:?} (available: all, {}, workflows, import, scale)",
            SCENARIOS.join(", ")
        ),
    };
    tokio::runtime::Runtime::new()?.block_on(run_scenarios(admin_url, &chosen))
}

/// Builds xtask in release mode and runs `xtask bench <scenario>` from it (same environment).
fn run_released(scenario: &str) -> anyhow::Result<()> {
    eprintln!("xtask: building the load generator (xtask) in release mode");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "-p", "xtask"])
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        bail!("release build of xtask failed");
    }
    let binary = crate::target_dir().join("release").join("xtask");
    let status = Command::new(&binary)
        .args(["bench", scenario])
        .status()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    if !status.success() {
        bail!("the benchmark failed");
    }
    Ok(())
}

async fn run_scenarios(admin_url: &str, chosen: &[&str]) -> anyhow::Result<()> {
    // A profiler's wrapper (docs/performance.md) may stand in for the release binary.
    let binary = match std::env::var_os("XTASK_BENCH_SERVER") {
        Some(program) => std::path::PathBuf::from(program),
        None => build_binary(Profile::Release)?,
    };
    let server_options = ServerOptions {
        binary: &binary,
        admin: (ADMIN_EMAIL, ADMIN_PASSWORD),
        worker: None,
        env: &SERVER_ENV,
    };
    with_scratch_server(admin_url, "bench", &server_options, async |server, database_url| {
        let started = Instant::now();
        let db = Database::connect(database_url).await?;
        let machine = Machine::describe(&db).await;
        eprintln!(
            "xtask: {} CPUs, {} MiB, load average {}, {}",
            machine.nproc, machine.memory_mib, machine.load_average, machine.postgres
        );
        let setup = load::client(4)?;
        let admin_token = api::login(&setup, &server.base, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
        // Idle: after start-up and one login, before any load.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = Resident::read(server.pid());
        let mut bench = Bench {
            base: server.base.clone(),
            pid: server.pid(),
            admin_token,
            db,
            report: Report::default(),
            peaks: Vec::new(),
        };
        for &scenario in chosen {
            eprintln!("xtask: scenario {scenario}");
            match scenario {
                "polygons" => polygons::run(&mut bench).await?,
                "throughput" => throughput::run(&mut bench).await?,
                "memory" => memory::run(&mut bench, &idle),
                "submit" => submit::run(&mut bench).await?,
                "login" => login::run(&mut bench).await?,
                "workflows" => workflows::run(&mut bench, admin_url, &binary).await?,
                other => bail!("unknown scenario {other:?}"),
            }
        }
        bench.report.print_summary();
        let suite_seconds = started.elapsed().as_secs_f64();
        println!("suite ran in {suite_seconds:.0} s (builds excluded)");
        let run = json!({
            "scenarios": chosen,
            "suite_seconds": suite_seconds,
            "server_env": SERVER_ENV.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "rate_limit_enabled": false,
            "log_level": "warn",
        });
        let path = bench.report.write(&crate::target_dir(), &machine, run)?;
        println!("written to {}", path.display());
        Ok(())
    })
    .await
}
