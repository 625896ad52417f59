//! Scenario `throughput`: jobs per second end to end, from a queue of waiting jobs to recorded
//! results, with 8 and with 64 simulated workers, once per worker protocol:
//!
//! - **R1** (what ReefGuide's workers do): `GET /api/jobs/poll?jobType=TEST` (up to 10 pending
//!   jobs, oldest first), then `POST /api/jobs/assign` on each listed job in order until one is
//!   won (a 400 means another worker took it: a *lost race*, expected, not an error; when all
//!   are lost the worker polls again), then `POST /api/jobs/assignments/:id/result`;
//! - **claim**: `POST /api/jobs/claim` (`waitSeconds` 0: one atomic claim), then the result.
//!
//! Before each phase the job tables are emptied and N TEST jobs are submitted through the API
//! (16 clients, not measured here). The workers, sharing one WORKER account as R1's fleet shares
//! `WORKER_USERNAME`, then run until the queue is empty (an empty poll, or 204 from claim) or a
//! time cap. Measured: jobs/s (completed results over the time until the last worker stopped),
//! the claim latency (one claim request, or the whole poll → assign round trip including lost
//! races), lost races, errors of every other kind, result reports answered non-2xx, and, in SQL
//! afterwards, jobs completed more than once (more than one result, or more than one completed
//! assignment) and jobs left unfinished.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sea_orm::{ConnectionTrait as _, DatabaseConnection, Statement};
use serde::Serialize;
use serde_json::{Value, json};

use super::load::{self, ErrorKinds, count_error, percentile_ms};
use super::report::{Goal, number, table};
use super::{Bench, Observed, api, submit};

/// The worker account.
const WORKER: (&str, &str) = ("bench-worker@reefguide.test", "bench-worker-password");
/// The phases: protocol, workers, jobs submitted first.
const PHASES: [(Protocol, usize, u64); 4] = [
    (Protocol::R1, 8, 5_000),
    (Protocol::R1, 64, 10_000),
    (Protocol::Claim, 8, 5_000),
    (Protocol::Claim, 64, 10_000),
];
/// Longest a phase may run (the suite must stay short); the figures then cover what was done.
const TIME_CAP: Duration = Duration::from_secs(30);
/// Payload ids of the submitted jobs start here (distinct from the other scenarios').
const FIRST_ID: u64 = 10_000_000;

/// How a worker takes jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
enum Protocol {
    /// R1's poll → assign → result.
    R1,
    /// `POST /api/jobs/claim` → result.
    Claim,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Self::R1 => "R1 poll/assign",
            Self::Claim => "claim",
        }
    }
}

/// What one worker (or all of them) did.
#[derive(Debug, Default)]
struct Tally {
    /// Claim latencies (claim request, or poll → won assign).
    claims: Vec<Duration>,
    /// Results answered 2xx.
    completed: u64,
    /// 400 on assign: another worker won the job (R1 only).
    lost_races: u64,
    /// Poll, assign and claim failures (non-2xx other than a lost race, transport errors).
    errors: ErrorKinds,
    /// Result reports answered non-2xx (or lost in transport).
    result_errors: ErrorKinds,
}

impl Tally {
    fn merge(&mut self, other: Self) {
        self.claims.extend(other.claims);
        self.completed += other.completed;
        self.lost_races += other.lost_races;
        for (kind, count) in other.errors {
            *self.errors.entry(kind).or_default() += count;
        }
        for (kind, count) in other.result_errors {
            *self.result_errors.entry(kind).or_default() += count;
        }
    }
}

/// What SQL says about the queue after a phase (or after `cargo xtask chaos`).
#[derive(Debug, Serialize)]
pub(crate) struct QueueCheck {
    /// Jobs now SUCCEEDED.
    pub succeeded: i64,
    /// Jobs in any other status.
    pub unfinished: i64,
    /// Jobs with more than one result or more than one completed assignment.
    pub duplicate_jobs: i64,
    /// Results beyond the first of each job.
    pub extra_results: i64,
}

/// The figures of one phase.
#[derive(Debug, Serialize)]
struct PhaseFigures {
    protocol: Protocol,
    workers: usize,
    jobs_submitted: u64,
    seconds: f64,
    capped: bool,
    jobs_per_second: f64,
    claim_p50_ms: f64,
    claim_p99_ms: f64,
    completed: u64,
    lost_races: u64,
    errors: u64,
    error_kinds: ErrorKinds,
    result_errors: u64,
    result_error_kinds: ErrorKinds,
    queue: QueueCheck,
}

/// Shared by the workers of a phase.
struct Worker {
    client: reqwest::Client,
    base: String,
    auth: String,
    deadline: Instant,
}

/// Runs the scenario.
pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    let setup = load::client(4)?;
    api::create_user(&setup, &bench.base, &bench.admin_token, WORKER, &["WORKER"]).await?;
    let token = api::login(&setup, &bench.base, WORKER.0, WORKER.1).await?;
    let mut rows = Vec::new();
    for (index, (protocol, workers, jobs)) in PHASES.into_iter().enumerate() {
        bench.reset_jobs().await?;
        let submitter = load::client(submit::CLIENTS)?;
        let first_id = FIRST_ID + index as u64 * 1_000_000;
        let submitted = submit::submit(&submitter, &bench.base, &bench.admin_token, first_id, jobs)
            .await?
            .stats();
        anyhow::ensure!(
            submitted.errors == 0,
            "submitting the jobs failed: {:?}",
            submitted.error_kinds
        );
        let phase = format!("{}, {workers} workers", protocol.name());
        let worker = Arc::new(Worker {
            client: load::client(workers)?,
            base: bench.base.clone(),
            auth: api::bearer(&token),
            deadline: Instant::now() + TIME_CAP,
        });
        // A mark for profilers started alongside (see docs/performance.md).
        eprintln!("xtask: measuring throughput, {phase}");
        let started = Instant::now();
        let (tally, observed) = bench
            .observe(
                &format!("throughput, {phase}"),
                run_workers(worker, protocol, workers),
            )
            .await?;
        let seconds = started.elapsed().as_secs_f64();
        let queue = check_queue(&bench.db).await?;
        let figures = figures((protocol, workers, jobs), seconds, tally, queue);
        rows.push(row(&phase, &figures, &observed));
        record(bench, &phase, &figures);
        bench.report.phase(
            "throughput",
            &phase,
            json!({"figures": figures, "cpu": observed.cpu, "peak_rss_kib": observed.peak_rss_kib}),
        );
    }
    table(
        "throughput: jobs end to end (submitted first, then workers until the queue is empty)",
        &[
            "phase",
            "jobs",
            "s",
            "jobs/s",
            "claim p50",
            "claim p99",
            "lost races",
            "errors",
            "result non-2xx",
            "duplicates",
            "unfinished",
            "peak MB",
            "cpu % srv/pg/gen/all",
        ],
        &rows,
    );
    Ok(())
}

/// Runs `count` workers until the queue is empty or the time cap, and merges their tallies.
async fn run_workers(
    worker: Arc<Worker>,
    protocol: Protocol,
    count: usize,
) -> anyhow::Result<Tally> {
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let worker = worker.clone();
            tokio::spawn(async move {
                match protocol {
                    Protocol::R1 => worker.r1_loop().await,
                    Protocol::Claim => worker.claim_loop().await,
                }
            })
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        tally.merge(task.await?);
    }
    tally.claims.sort_unstable();
    Ok(tally)
}

/// What one request answered: the status and the JSON body (`Null` when empty or not JSON), or
/// the kind of transport error.
async fn exchange(request: reqwest::RequestBuilder) -> Result<(u16, Value), String> {
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response
                .bytes()
                .await
                .map_err(|_| "transport (body)".to_owned())?;
            Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
        }
        Err(error) if error.is_timeout() => Err("transport (timeout)".into()),
        Err(_) => Err("transport".into()),
    }
}

impl Worker {
    /// R1's loop: poll, assign the listed jobs in order until one is won, report its result.
    async fn r1_loop(&self) -> Tally {
        let mut tally = Tally::default();
        let poll = format!("{}/api/jobs/poll?jobType=TEST", self.base);
        let assign = format!("{}/api/jobs/assign", self.base);
        let mut claim_started = None;
        while Instant::now() < self.deadline {
            let started = *claim_started.get_or_insert_with(Instant::now);
            let listed =
                match exchange(self.client.get(&poll).header("authorization", &self.auth)).await {
                    Ok((200, body)) => body["jobs"].as_array().cloned().unwrap_or_default(),
                    Ok((status, _)) => {
                        self.failed(&mut tally.errors, format!("poll: HTTP {status}"))
                            .await;
                        continue;
                    }
                    Err(kind) => {
                        self.failed(&mut tally.errors, format!("poll: {kind}"))
                            .await;
                        continue;
                    }
                };
            if listed.is_empty() {
                break;
            }
            for job in listed {
                let body = json!({"jobId": job["id"], "ecsTaskArn": null, "ecsClusterArn": null});
                let request = self
                    .client
                    .post(&assign)
                    .header("authorization", &self.auth)
                    .json(&body);
                match exchange(request).await {
                    Ok((200, reply)) => {
                        tally.claims.push(started.elapsed());
                        claim_started = None;
                        self.report(&mut tally, &reply["assignment"]["id"]).await;
                        break;
                    }
                    Ok((400, _)) => tally.lost_races += 1,
                    Ok((status, _)) => {
                        count_error(&mut tally.errors, format!("assign: HTTP {status}"))
                    }
                    Err(kind) => count_error(&mut tally.errors, format!("assign: {kind}")),
                }
            }
        }
        tally
    }

    /// The claim loop: claim one job atomically, report its result; stop on 204 (none left).
    async fn claim_loop(&self) -> Tally {
        let mut tally = Tally::default();
        let claim = format!("{}/api/jobs/claim", self.base);
        let body = json!({"jobTypes": ["TEST"], "waitSeconds": 0});
        while Instant::now() < self.deadline {
            let started = Instant::now();
            let request = self
                .client
                .post(&claim)
                .header("authorization", &self.auth)
                .json(&body);
            match exchange(request).await {
                Ok((200, reply)) => {
                    tally.claims.push(started.elapsed());
                    self.report(&mut tally, &reply["assignment"]["id"]).await;
                }
                Ok((204, _)) => break,
                Ok((status, _)) => {
                    self.failed(&mut tally.errors, format!("claim: HTTP {status}"))
                        .await
                }
                Err(kind) => {
                    self.failed(&mut tally.errors, format!("claim: {kind}"))
                        .await
                }
            }
        }
        tally
    }

    /// Reports SUCCEEDED (empty result payload) for an assignment.
    async fn report(&self, tally: &mut Tally, assignment: &Value) {
        let Some(id) = assignment.as_i64() else {
            count_error(&mut tally.errors, "no assignment id in the answer".into());
            return;
        };
        let url = format!("{}/api/jobs/assignments/{id}/result", self.base);
        let body = json!({"status": "SUCCEEDED", "resultPayload": {}});
        let request = self
            .client
            .post(&url)
            .header("authorization", &self.auth)
            .json(&body);
        match exchange(request).await {
            Ok((status, _)) if (200..300).contains(&status) => tally.completed += 1,
            Ok((status, _)) => count_error(&mut tally.result_errors, format!("HTTP {status}")),
            Err(kind) => count_error(&mut tally.result_errors, kind),
        }
    }

    /// Counts an error and pauses briefly, so that a failing server is not hammered in a loop.
    async fn failed(&self, errors: &mut ErrorKinds, kind: String) {
        count_error(errors, kind);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Counts finished, unfinished and duplicated jobs in SQL.
pub(crate) async fn check_queue(db: &DatabaseConnection) -> anyhow::Result<QueueCheck> {
    let sql = "SELECT \
        (SELECT count(*) FROM jobs WHERE status = 'SUCCEEDED'), \
        (SELECT count(*) FROM jobs WHERE status <> 'SUCCEEDED'), \
        (SELECT count(*) FROM jobs j WHERE \
            (SELECT count(*) FROM job_results r WHERE r.job_id = j.id) > 1 \
            OR (SELECT count(*) FROM job_assignments a \
                WHERE a.job_id = j.id AND a.completed_at IS NOT NULL) > 1), \
        (SELECT count(*) - count(DISTINCT job_id) FROM job_results)";
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .context("the queue check returned no row")?;
    Ok(QueueCheck {
        succeeded: row.try_get_by_index(0)?,
        unfinished: row.try_get_by_index(1)?,
        duplicate_jobs: row.try_get_by_index(2)?,
        extra_results: row.try_get_by_index(3)?,
    })
}

/// The figures of a phase from the merged tally and the queue check.
fn figures(
    (protocol, workers, jobs): (Protocol, usize, u64),
    seconds: f64,
    tally: Tally,
    queue: QueueCheck,
) -> PhaseFigures {
    PhaseFigures {
        protocol,
        workers,
        jobs_submitted: jobs,
        seconds,
        capped: seconds >= TIME_CAP.as_secs_f64(),
        jobs_per_second: tally.completed as f64 / seconds.max(1e-9),
        claim_p50_ms: percentile_ms(&tally.claims, 0.50),
        claim_p99_ms: percentile_ms(&tally.claims, 0.99),
        completed: tally.completed,
        lost_races: tally.lost_races,
        errors: tally.errors.values().sum(),
        error_kinds: tally.errors,
        result_errors: tally.result_errors.values().sum(),
        result_error_kinds: tally.result_errors,
        queue,
    }
}

/// A table row.
fn row(phase: &str, f: &PhaseFigures, observed: &Observed) -> Vec<String> {
    vec![
        phase.to_owned(),
        f.completed.to_string(),
        format!("{:.1}{}", f.seconds, if f.capped { " (cap)" } else { "" }),
        number(f.jobs_per_second),
        number(f.claim_p50_ms),
        number(f.claim_p99_ms),
        f.lost_races.to_string(),
        f.errors.to_string(),
        f.result_errors.to_string(),
        f.queue.duplicate_jobs.to_string(),
        f.queue.unfinished.to_string(),
        format!("{:.1}", observed.peak_rss_kib as f64 * 1024.0 / 1e6),
        observed.cpu.cell(),
    ]
}

/// The summary figures: jobs/s targets for R1 with 8 workers and claim with 64; claim p99 for
/// the claim phases; zero duplicates, errors and failed reports everywhere, and no unfinished
/// job unless the phase hit the time cap.
fn record(bench: &mut Bench, phase: &str, f: &PhaseFigures) {
    let key = ("throughput", phase);
    let (jobs_goal, reference) = match (f.protocol, f.workers) {
        (Protocol::R1, 8) => (Some(Goal::AtLeast(1000.0)), Some("22")),
        (Protocol::Claim, 64) => (Some(Goal::AtLeast(3000.0)), None),
        _ => (None, None),
    };
    bench
        .report
        .check(key, "jobs/s", f.jobs_per_second, jobs_goal, reference);
    let claim_goal = (f.protocol == Protocol::Claim).then_some(Goal::Below(20.0));
    bench
        .report
        .check(key, "claim p99 ms", f.claim_p99_ms, claim_goal, None);
    let zero = Some(Goal::AtMost(0.0));
    let duplicates_reference =
        (f.protocol == Protocol::R1 && f.workers == 8).then_some("354 of 1,000");
    bench.report.check(
        key,
        "duplicate completions",
        f.queue.duplicate_jobs as f64,
        zero,
        duplicates_reference,
    );
    bench.report.check(
        key,
        "result reports non-2xx",
        f.result_errors as f64,
        zero,
        None,
    );
    bench.report.check_no_errors(key, f.errors);
    bench.report.check(
        key,
        "unfinished jobs",
        f.queue.unfinished as f64,
        // A phase stopped by the time cap leaves jobs behind by design.
        zero.filter(|_| !f.capped),
        None,
    );
}
