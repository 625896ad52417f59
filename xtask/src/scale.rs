//! Three replicas of the server on one Postgres database, behaving as one.
//!
//! - `cargo xtask scale` (in `cargo xtask test`): three replicas behind the readiness-checking
//!   balancer of [`crate::balancer`], with the lease sweeper and the capacity manager on in
//!   each. It checks, from every replica's `/metrics`, that exactly one replica leads each role
//!   and only that one runs its cycles; that a claim waiting on one replica is woken at once by
//!   a submission to another (Postgres `LISTEN`/`NOTIFY`, not the claim's one-second re-check);
//!   and, while submitters and `reefguide worker` processes work through the balancer, that
//!   killing the leader (SIGKILL), then stopping the next one (SIGTERM), passes each of its
//!   roles to another replica within one interval, that no two replicas ever report leading
//!   the same role, and that every job in the database ends SUCCEEDED exactly once.
//! - `cargo xtask bench scale`: the same load on the release build through one and through three
//!   replicas, for `docs/performance.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use sea_orm::Database;
use serde::Serialize;
use serde_json::json;

use crate::balancer::{Balancer, Upstream};
use crate::bench::api;
use crate::bench::throughput::check_queue;
use crate::server::{Profile, ScratchDatabase, Server, ServerOptions, build_binary};
use crate::submitters::{Expect, Load, wait_for_queue};
use crate::workers::{WorkerPool, Workers};

/// The replicas' ADMIN account (it submits the jobs).
const ADMIN: (&str, &str) = ("scale-admin@reefguide.test", "scale-admin-password");
/// The workers' account.
const WORKER: (&str, &str) = ("scale-worker@reefguide.test", "scale-worker-password");
/// The interval of both roles (the lease sweeper's and the capacity manager's).
const ROLE_INTERVAL: Duration = Duration::from_millis(1_000);
/// The replicas' settings: both roles every [`ROLE_INTERVAL`] (the capacity manager's only
/// target has no worker to start: it decides, and nothing runs outside the check's control),
/// and short TEST leases, so a claim lost with a killed replica is swept back soon.
const CONFIG: &str = "lease_sweep_interval_ms = 1000\n\
    capacity_manager = true\n\
    capacity_interval_ms = 1000\n\
    \n\
    [capacity_targets.default]\n\
    max_workers = 0\n\
    \n\
    [job_types.TEST]\n\
    lease_seconds = 10\n";
/// The roles one replica plays for all, as `reefguide_leader{role}` names them.
const ROLES: [&str; 2] = ["lease_sweeper", "capacity_manager"];
/// How much later than one interval a handover may be seen (the new leader's check, the scrape).
const HANDOVER_SLACK: Duration = Duration::from_millis(500);
/// Cross-replica wake-up probes (a claim on one replica, a submission on the next).
const WAKE_PROBES: usize = 6;
/// When each probe submits, after its claim started: half way between two of the claim's
/// one-second re-checks, so that a claim woken only by them would answer 500 ms late.
const WAKE_SUBMIT_AFTER: Duration = Duration::from_millis(1_500);
/// The latest a woken claim may answer after the submission.
const WAKE_LIMIT: Duration = Duration::from_millis(300);
/// Load before and after the leader is killed.
const SETTLE: Duration = Duration::from_secs(3);

/// Runs the check on a scratch database of the Postgres server at `admin_url`.
pub fn run_check(admin_url: &str) -> anyhow::Result<()> {
    let binary = build_binary(Profile::Debug)?;
    let logs = fresh_dir("scale")?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let database = ScratchDatabase::create(admin_url, "scale").await?;
        let result = async {
            let mut cluster =
                Cluster::start(&binary, &database.url, &logs, 3, Upstream::FreshConnections)
                    .await?;
            let outcome = check(&mut cluster, &binary, &database.url).await;
            cluster.stop(&logs).await;
            outcome
        }
        .await;
        database.drop_now().await;
        result
    })
}

async fn check(cluster: &mut Cluster, binary: &Path, database_url: &str) -> anyhow::Result<()> {
    let watch = LeaderWatch::start(cluster.bases());
    let leaders = wait_for_leaders(&cluster.bases()).await?;
    eprintln!("xtask: scale: leaders {leaders:?}");
    only_leaders_run_cycles(&cluster.bases(), &leaders).await?;
    let wakes = cross_replica_wakes(&cluster.bases()).await?;
    eprintln!(
        "xtask: scale: claims woken across replicas in {:?} ms",
        wakes.iter().map(Duration::as_millis).collect::<Vec<_>>()
    );

    let client = reqwest::Client::new();
    let token = api::login(&client, &cluster.balancer.url, ADMIN.0, ADMIN.1).await?;
    let pool = WorkerPool {
        processes: 2,
        concurrency: 4,
        account: WORKER,
    };
    let mut workers = Workers::start(binary, &cluster.balancer.url, &cluster.logs, &pool)?;
    let load = Load::start(&cluster.balancer.url, &token, 4, Duration::from_millis(20));
    tokio::time::sleep(SETTLE).await;
    let handovers = stop_leaders(cluster, &leaders).await;
    tokio::time::sleep(SETTLE).await;
    let tally = load.stop().await;
    let submitted = tally.submitted.load(Ordering::SeqCst);
    let db = Database::connect(database_url).await?;
    // Submissions cut off by the kill may or may not have been stored: every stored job counts.
    let finished = wait_for_queue(&db, Expect::AtLeast(submitted + WAKE_PROBES as u64)).await;
    workers.stop();
    let overlaps = watch.stop().await;
    let handovers = handovers?;
    for (role, how, took) in &handovers {
        eprintln!(
            "xtask: scale: {role} passed on {} ms after {how:?}",
            took.as_millis()
        );
    }
    let queue = finished?;
    eprintln!(
        "xtask: scale: {submitted} jobs accepted through the balancer, {} succeeded; {} \
         requests met the killed replica",
        queue.succeeded,
        cluster.balancer.failures().len()
    );
    ensure!(overlaps.is_empty(), "two leaders at once: {overlaps:?}");
    ensure!(
        queue.duplicate_jobs == 0 && queue.extra_results == 0,
        "jobs done more than once: {queue:?}"
    );
    for (role, how, took) in handovers {
        ensure!(
            took <= ROLE_INTERVAL + HANDOVER_SLACK,
            "{role} passed on only {} ms after {how:?} (interval {} ms)",
            took.as_millis(),
            ROLE_INTERVAL.as_millis()
        );
    }
    Ok(())
}

/// The replicas, the balancer before them, and where their logs go.
struct Cluster {
    balancer: Balancer,
    replicas: Vec<Server>,
    /// Whether each replica still runs (not killed).
    alive: Vec<bool>,
    logs: PathBuf,
}

impl Cluster {
    /// `count` replicas sharing one database, one data directory and one public URL (the
    /// balancer's), all in rotation.
    async fn start(
        binary: &Path,
        database_url: &str,
        logs: &Path,
        count: usize,
        upstream: Upstream,
    ) -> anyhow::Result<Self> {
        let balancer = Balancer::bind(upstream)?;
        let config = logs.join("scale.toml");
        std::fs::write(&config, CONFIG)?;
        let (config, data) = (
            config.to_string_lossy().into_owned(),
            logs.join("data").to_string_lossy().into_owned(),
        );
        let env = [
            ("REEFGUIDE_CONFIG", config.as_str()),
            ("REEFGUIDE_PUBLIC_URL", balancer.url.as_str()),
            ("REEFGUIDE_DATA_DIR", data.as_str()),
            ("REEFGUIDE_DATABASE_MAX_CONNECTIONS", "16"),
            ("REEFGUIDE_ACCESS_TOKEN_MINUTES", "60"),
        ];
        let options = ServerOptions {
            binary,
            admin: ADMIN,
            worker: Some(WORKER),
            env: &env,
        };
        let mut replicas = Vec::new();
        for _ in 0..count {
            replicas.push(Server::start(&options, database_url).await?);
        }
        balancer.route_to(replicas.iter().map(|r| r.base.clone()).collect());
        balancer.wait_until_ready(count).await?;
        Ok(Self {
            balancer,
            alive: vec![true; count],
            replicas,
            logs: logs.to_path_buf(),
        })
    }

    fn bases(&self) -> Vec<String> {
        self.replicas.iter().map(|r| r.base.clone()).collect()
    }

    /// Stops everything, keeping each replica's log in the logs directory.
    async fn stop(self, logs: &Path) {
        for (index, replica) in self.replicas.iter().enumerate() {
            let kept = logs.join(format!("replica-{index}.log"));
            if let Err(error) = std::fs::copy(replica.log_path(), &kept) {
                eprintln!("xtask: scale: could not keep a replica's log: {error}");
            }
        }
        self.balancer.stop().await;
    }
}

/// `target/<name>` emptied, with a `data` directory.
fn fresh_dir(name: &str) -> anyhow::Result<PathBuf> {
    let dir = crate::target_dir().join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir.join("data"))?;
    Ok(dir)
}

/// The value of `series` (name and labels as exposed) in Prometheus text.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}

/// The `/metrics` text of the replica at `base` (`None` when it does not answer).
async fn scrape(client: &reqwest::Client, base: &str) -> Option<String> {
    let reply = client.get(format!("{base}/metrics")).send().await.ok()?;
    if !reply.status().is_success() {
        return None;
    }
    reply.text().await.ok()
}

/// Which replica (by index) leads each role, from one scrape of each; `None` for a replica
/// that did not answer.
async fn leaders_now(
    client: &reqwest::Client,
    bases: &[String],
) -> BTreeMap<&'static str, Vec<usize>> {
    let mut leaders: BTreeMap<&'static str, Vec<usize>> =
        ROLES.iter().map(|r| (*r, Vec::new())).collect();
    for (index, base) in bases.iter().enumerate() {
        let Some(text) = scrape(client, base).await else {
            continue;
        };
        for role in ROLES {
            if metric(&text, &format!("reefguide_leader{{role=\"{role}\"}}")) == Some(1.0) {
                leaders.entry(role).or_default().push(index);
            }
        }
    }
    leaders
}

/// Waits until each role has exactly one leader; the leader of each.
async fn wait_for_leaders(bases: &[String]) -> anyhow::Result<BTreeMap<&'static str, usize>> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = leaders_now(&client, bases).await;
        if now.values().all(|l| l.len() == 1) {
            return Ok(now.into_iter().map(|(role, l)| (role, l[0])).collect());
        }
        if Instant::now() > deadline {
            bail!("the roles never had one leader each: {now:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Over three intervals, only each role's leader runs its cycles (and it does).
async fn only_leaders_run_cycles(
    bases: &[String],
    leaders: &BTreeMap<&'static str, usize>,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let cycles = async || -> anyhow::Result<Vec<BTreeMap<&'static str, f64>>> {
        let mut all = Vec::new();
        for base in bases {
            let text = scrape(&client, base)
                .await
                .context("a replica did not answer /metrics")?;
            all.push(
                ROLES
                    .iter()
                    .map(|role| {
                        let series = format!("reefguide_leader_cycles_total{{role=\"{role}\"}}");
                        (*role, metric(&text, &series).unwrap_or(0.0))
                    })
                    .collect(),
            );
        }
        Ok(all)
    };
    let before = cycles().await?;
    tokio::time::sleep(ROLE_INTERVAL * 3).await;
    let after = cycles().await?;
    for role in ROLES {
        let ran: Vec<usize> = (0..bases.len())
            .filter(|&index| after[index][role] > before[index][role])
            .collect();
        ensure!(
            ran == [leaders[role]],
            "{role}: replicas {ran:?} ran cycles, but replica {} leads",
            leaders[role]
        );
    }
    Ok(())
}

/// Claims waiting on one replica, each woken by a submission to the next replica: how long after
/// the submission each claim answered.
async fn cross_replica_wakes(bases: &[String]) -> anyhow::Result<Vec<Duration>> {
    let client = reqwest::Client::new();
    let admin = api::login(&client, &bases[0], ADMIN.0, ADMIN.1).await?;
    let worker = api::login(&client, &bases[0], WORKER.0, WORKER.1).await?;
    let mut wakes = Vec::new();
    for probe in 0..WAKE_PROBES {
        let (claimer, submitter) = (
            &bases[probe % bases.len()],
            &bases[(probe + 1) % bases.len()],
        );
        let claim = {
            let (client, url, token) = (
                client.clone(),
                format!("{claimer}/api/jobs/claim"),
                worker.clone(),
            );
            tokio::spawn(async move {
                let reply = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"jobTypes": ["TEST"], "waitSeconds": 10}))
                    .send()
                    .await;
                let answered = Instant::now();
                let reply = reply?;
                let status = reply.status();
                let body: serde_json::Value = reply.json().await.unwrap_or_default();
                anyhow::Ok((status, body, answered))
            })
        };
        tokio::time::sleep(WAKE_SUBMIT_AFTER).await;
        let submitted = client
            .post(format!("{submitter}/api/jobs"))
            .bearer_auth(&admin)
            .json(&json!({"type": "TEST", "inputPayload": {"id": 1_000_000_000 + probe}}))
            .send()
            .await?
            .error_for_status()?;
        let stored = Instant::now();
        let job: serde_json::Value = submitted.json().await?;
        let (status, claimed, answered) = claim.await??;
        ensure!(
            status == reqwest::StatusCode::OK,
            "probe {probe}: the claim answered {status}"
        );
        let job_id = &job["jobId"];
        ensure!(
            claimed["job"]["id"] == *job_id,
            "probe {probe}: claimed {claimed} instead of job {job_id}"
        );
        let woken = answered.saturating_duration_since(stored);
        ensure!(
            woken <= WAKE_LIMIT,
            "probe {probe}: a claim on {claimer} answered {} ms after the submission to {submitter} \
             (not woken across replicas: its own re-check found the job)",
            woken.as_millis()
        );
        wakes.push(woken);
    }
    Ok(wakes)
}

/// How a leader is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// SIGKILL: a crash, an OOM kill.
    Kill,
    /// SIGTERM: a deployment or a scale-in.
    Terminate,
}

/// A role passed on: which, after what, and how long after.
type Handover = (&'static str, Stop, Duration);

/// Stops the replica leading `role` (the `current` leaders are updated), and measures for each
/// role it led how long until another replica led it.
async fn stop_leader(
    cluster: &mut Cluster,
    current: &mut BTreeMap<&'static str, usize>,
    role: &'static str,
    how: Stop,
) -> anyhow::Result<Vec<Handover>> {
    let victim = current[role];
    if cluster.alive.iter().filter(|alive| **alive).count() < 2 {
        bail!("no replica left to take {role} over");
    }
    let mut waiting: Vec<&'static str> =
        ROLES.into_iter().filter(|r| current[r] == victim).collect();
    eprintln!("xtask: scale: stopping replica {victim} ({how:?}), leading {waiting:?}");
    match how {
        Stop::Kill => cluster.replicas[victim].kill()?,
        Stop::Terminate => cluster.replicas[victim].send_sigterm()?,
    }
    cluster.alive[victim] = false;
    let stopped = Instant::now();
    let client = reqwest::Client::new();
    let bases = cluster.bases();
    let mut handovers = Vec::new();
    while !waiting.is_empty() {
        let now = leaders_now(&client, &bases).await;
        waiting.retain(|role| match now[role].as_slice() {
            [one] if *one != victim => {
                handovers.push((*role, how, stopped.elapsed()));
                current.insert(role, *one);
                false
            }
            _ => true,
        });
        if stopped.elapsed() > Duration::from_secs(10) {
            bail!("{waiting:?} not passed on within 10 s of stopping their leader");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if how == Stop::Terminate {
        cluster.replicas[victim]
            .wait_for_exit(Duration::from_secs(40))
            .await?;
    }
    Ok(handovers)
}

/// Kills the leader of each role (one replica usually leads both), then stops the next leader
/// with SIGTERM when another replica is left to take over: every handover.
async fn stop_leaders(
    cluster: &mut Cluster,
    leaders: &BTreeMap<&'static str, usize>,
) -> anyhow::Result<Vec<Handover>> {
    let mut current = leaders.clone();
    let mut handovers = Vec::new();
    for role in ROLES {
        if !handovers.iter().any(|(passed, _, _)| *passed == role) {
            handovers.extend(stop_leader(cluster, &mut current, role, Stop::Kill).await?);
        }
    }
    tokio::time::sleep(SETTLE).await;
    if cluster.alive.iter().filter(|alive| **alive).count() >= 2 {
        handovers.extend(stop_leader(cluster, &mut current, ROLES[0], Stop::Terminate).await?);
    }
    Ok(handovers)
}

/// Samples every replica's `reefguide_leader` every 100 ms and keeps each moment two replicas led
/// the same role.
struct LeaderWatch {
    overlaps: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl LeaderWatch {
    fn start(bases: Vec<String>) -> Self {
        let overlaps = Arc::new(Mutex::new(Vec::new()));
        let kept = overlaps.clone();
        let task = tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(1))
                .build()
                .unwrap_or_default();
            let started = Instant::now();
            loop {
                for (role, leaders) in leaders_now(&client, &bases).await {
                    if leaders.len() > 1 {
                        kept.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(format!(
                                "{role} led by replicas {leaders:?} at {} ms",
                                started.elapsed().as_millis()
                            ));
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { overlaps, task }
    }

    async fn stop(self) -> Vec<String> {
        self.task.abort();
        let _ = self.task.await;
        self.overlaps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// One phase of `cargo xtask bench scale`.
#[derive(Debug, Serialize)]
struct ScaleFigures {
    replicas: usize,
    seconds: f64,
    jobs_accepted: u64,
    jobs_succeeded_in_window: i64,
    submissions_per_second: f64,
    completions_per_second: f64,
    submit_p50_ms: f64,
    submit_p99_ms: f64,
    duplicate_jobs: i64,
}

/// How long each bench phase loads the replicas.
const BENCH_WINDOW: Duration = Duration::from_secs(20);

/// `cargo xtask bench scale`: the same load (8 submitters without pause, 3 worker processes of
/// concurrency 8) through the balancer, before one replica and before three; prints and writes
/// `target/bench/scale.json`.
pub async fn bench(admin_url: &str) -> anyhow::Result<()> {
    let binary = build_binary(Profile::Release)?;
    let mut phases = Vec::new();
    for replicas in [1, 3] {
        let logs = fresh_dir(&format!("bench-scale-{replicas}"))?;
        let database = ScratchDatabase::create(admin_url, "bench_scale").await?;
        let result = async {
            let cluster =
                Cluster::start(&binary, &database.url, &logs, replicas, Upstream::Pooled).await?;
            let figures = bench_phase(&cluster, &binary, &database.url, replicas).await;
            cluster.stop(&logs).await;
            figures
        }
        .await;
        database.drop_now().await;
        let figures = result?;
        eprintln!("xtask: bench scale: {figures:?}");
        phases.push(figures);
    }
    println!(
        "| replicas | accepted jobs/s | completed jobs/s | submit p50 ms | submit p99 ms | duplicates |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for f in &phases {
        println!(
            "| {} | {:.0} | {:.0} | {:.1} | {:.1} | {} |",
            f.replicas,
            f.submissions_per_second,
            f.completions_per_second,
            f.submit_p50_ms,
            f.submit_p99_ms,
            f.duplicate_jobs
        );
    }
    let out = crate::target_dir().join("bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join("scale.json"),
        serde_json::to_string_pretty(&phases)?,
    )?;
    ensure!(
        phases.iter().all(|f| f.duplicate_jobs == 0),
        "jobs done more than once"
    );
    Ok(())
}

async fn bench_phase(
    cluster: &Cluster,
    binary: &Path,
    database_url: &str,
    replicas: usize,
) -> anyhow::Result<ScaleFigures> {
    let client = reqwest::Client::new();
    let token = api::login(&client, &cluster.balancer.url, ADMIN.0, ADMIN.1).await?;
    let pool = WorkerPool {
        processes: 3,
        concurrency: 8,
        account: WORKER,
    };
    let mut workers = Workers::start(binary, &cluster.balancer.url, &cluster.logs, &pool)?;
    let db = Database::connect(database_url).await?;
    let load = Load::start(&cluster.balancer.url, &token, 8, Duration::ZERO);
    let started = Instant::now();
    tokio::time::sleep(BENCH_WINDOW).await;
    let succeeded = check_queue(&db).await?.succeeded;
    let tally = load.stop().await;
    let seconds = started.elapsed().as_secs_f64();
    let accepted = tally.submitted.load(Ordering::SeqCst);
    let queue = wait_for_queue(&db, Expect::Exactly(accepted)).await;
    workers.stop();
    let queue = queue?;
    let failures = tally
        .failures
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    ensure!(
        failures.is_empty(),
        "submissions failed: {failures:?}; through the balancer: {:?}",
        cluster.balancer.failures()
    );
    let (p50, p99) = tally.latency_percentiles();
    Ok(ScaleFigures {
        replicas,
        seconds,
        jobs_accepted: accepted,
        jobs_succeeded_in_window: succeeded,
        submissions_per_second: accepted as f64 / seconds,
        completions_per_second: succeeded as f64 / seconds,
        submit_p50_ms: p50,
        submit_p99_ms: p99,
        duplicate_jobs: queue.duplicate_jobs + queue.extra_results,
    })
}

#[cfg(test)]
mod tests {
    use super::metric;

    #[test]
    fn metric_reads_one_series() {
        let text = "# TYPE reefguide_leader gauge\n\
            reefguide_leader{role=\"lease_sweeper\"} 1\n\
            reefguide_leader{role=\"capacity_manager\"} 0\n\
            reefguide_leader_cycles_total{role=\"lease_sweeper\"} 12\n";
        assert_eq!(
            metric(text, "reefguide_leader{role=\"lease_sweeper\"}"),
            Some(1.0)
        );
        assert_eq!(
            metric(text, "reefguide_leader{role=\"capacity_manager\"}"),
            Some(0.0)
        );
        assert_eq!(
            metric(
                text,
                "reefguide_leader_cycles_total{role=\"lease_sweeper\"}"
            ),
            Some(12.0)
        );
        assert_eq!(
            metric(text, "reefguide_leader{role=\"workflow_dispatcher\"}"),
            None
        );
    }
}
