//! Scenario `workflows` (issue 24): jobs of an Airflow type dispatched to Airflow and synced back
//! to SUCCEEDED, against the in-process [`FakeAirflow`], whose request log shows what the
//! server's dispatcher asked of Airflow in each cycle.
//!
//! The scenario starts its own server (the suite's shared one has no `[airflow]`): the same
//! release binary and settings, on a database of its own, configured by a TOML file with an
//! `[airflow]` table pointing at the fake (`sync_interval_ms` [`SYNC_INTERVAL_MS`]), one Airflow
//! type [`JOB_TYPE`] on DAG [`DAG`] (`cache = false`) and one collection [`COLLECTION`]. A user
//! registers and logs in through the API, then, in order:
//!
//! 1. **warm-up**: [`WARM_UP`] jobs, not measured, then [`SETTLE`] (longer than the sync's
//!    overlap, below);
//! 2. **idle, 200 finished**: [`IDLE_CYCLES`] dispatcher cycles with no job;
//! 3. **batch 1**: [`BATCH`] jobs (distinct payloads) submitted by [`CLIENTS`] clients as the
//!    `submit` scenario does; measured from the first submission until all are SUCCEEDED
//!    (counted in SQL every [`POLL`]): jobs/s, every Airflow request by route and per cycle, and
//!    each cycle's starts, triggers, sync and finishes;
//! 4. **idle, just after**: [`IDLE_CYCLES`] cycles right after the batch, while the sync's
//!    overlap (it reads the runs changed since the previous cycle's start − 30 s) still re-reads
//!    the batch's runs;
//! 5. **idle, 2,200 finished**: [`IDLE_CYCLES`] cycles [`SETTLE`] after the batch, when only
//!    the history is left;
//! 6. **batch 2** and steps 4–5 again, with 2,200 and then 4,200 finished jobs.
//!
//! What the acceptance of issue 24 asks: ≥ 500 jobs/s in both batches, and Airflow requests per
//! cycle that do not grow with the finished history (idle: one run listing per DAG and cycle).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::Utc;
use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection, Statement};
use serde::Serialize;
use serde_json::json;

use super::fake_airflow::{self, CycleTrace, FakeAirflow, Route, Window};
use super::load::{self, Request, Stats};
use super::report::{Goal, number, table};
use super::system::{CpuSnapshot, CpuUse, MemorySampler};
use super::{ADMIN_EMAIL, ADMIN_PASSWORD, Bench, SERVER_ENV, api};
use crate::server::{Server, ServerOptions, with_scratch_server};

/// The Airflow job type.
const JOB_TYPE: &str = "BENCH_FLOW";
/// Its DAG.
const DAG: &str = "bench_flow";
/// The collection it runs on.
const COLLECTION: &str = "bench";
/// How often the dispatcher runs a cycle.
const SYNC_INTERVAL_MS: u64 = 100;
/// How long a fake run takes from its trigger to `success`.
const RUN_TIME: Duration = Duration::from_millis(50);
/// Jobs per batch.
const BATCH: u64 = 2_000;
/// Jobs of the unmeasured warm-up before the first phase (a fresh server's first submissions
/// and cycles are slower: pools, caches and plans are cold).
const WARM_UP: u64 = 200;
/// Concurrent submitting clients (as the `submit` scenario).
const CLIENTS: usize = 16;
/// Cycles measured in each idle phase.
const IDLE_CYCLES: u64 = 20;
/// The wait after a batch before the settled idle phase: the sync's overlap (30 s) plus margin.
const SETTLE: Duration = Duration::from_secs(40);
/// How often the SUCCEEDED jobs are counted during a batch.
const POLL: Duration = Duration::from_millis(20);
/// Longest a batch may take.
const BATCH_TIMEOUT: Duration = Duration::from_secs(180);
/// The submitting user.
const USER: (&str, &str) = ("bench-flow@reefguide.test", "bench-flow-password");
/// The target of issue 24.
const JOBS_PER_SECOND_GOAL: f64 = 500.0;

/// The server's configuration file: the fake Airflow, the type and the collection.
fn config_toml(airflow_url: &str) -> String {
    format!(
        r#"[airflow]
url = "{airflow_url}"
username = "{user}"
password = "{password}"
sync_interval_ms = {SYNC_INTERVAL_MS}
request_timeout_ms = 10000

[collections.{COLLECTION}]
description = "the workflow benchmark's collection"
location = "local://bench/"
workflows = ["{JOB_TYPE}"]

[job_types.{JOB_TYPE}]
engine = "airflow"
dag_id = "{DAG}"
cache = false
description = "the workflow benchmark's type (a fake DAG)"
input_schema = {{ type = "object", properties = {{ id = {{ type = "integer" }} }} }}
"#,
        user = fake_airflow::USERNAME,
        password = fake_airflow::PASSWORD,
    )
}

/// The figures of one batch.
#[derive(Debug, Serialize)]
struct BatchFigures {
    /// Jobs finished before the batch (the history).
    finished_before: u64,
    jobs: u64,
    /// From the first submission until the count saw them all SUCCEEDED.
    seconds: f64,
    jobs_per_second: f64,
    /// The submissions alone.
    submit: Stats,
    /// In SQL afterwards: the batch's jobs by outcome, attempts and results.
    succeeded: i64,
    not_succeeded: i64,
    attempts: i64,
    results: i64,
    /// Per job, from submission (`created_at`) to SUCCEEDED (`updated_at`), in the server's
    /// clock.
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    latency_max_ms: f64,
    /// The server's span: first job stored to last job finished.
    server_span_seconds: f64,
    /// Seconds from the first submission to the first and the last trigger Airflow saw.
    first_trigger_s: f64,
    last_trigger_s: f64,
    /// Airflow requests per job.
    airflow_requests_per_job: f64,
    /// What Airflow saw.
    airflow: Window,
    /// Each dispatcher cycle.
    cycles: Vec<Cycle>,
    cpu: CpuUse,
    peak_rss_kib: u64,
}

/// Some events of a cycle: how many, and the first and last (seconds from the first
/// submission).
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Span {
    count: u64,
    first_s: Option<f64>,
    last_s: Option<f64>,
}

impl Span {
    fn add(&mut self, at: f64) {
        self.count += 1;
        self.first_s = Some(self.first_s.map_or(at, |first| first.min(at)));
        self.last_s = Some(self.last_s.map_or(at, |last| last.max(at)));
    }
}

/// One dispatcher cycle of a batch: what Airflow saw, with the attempts it started before its
/// triggers and the jobs it finished after its sync (both from the stored timestamps).
#[derive(Debug, Serialize)]
struct Cycle {
    #[serde(flatten)]
    airflow: CycleTrace,
    /// Attempts started (`job_assignments.created_at`) after the previous cycle's sync and
    /// up to this cycle's first trigger.
    starts: Span,
    /// Jobs finished SUCCEEDED (`jobs.updated_at`) from this cycle's sync to the next cycle.
    finishes: Span,
}

/// The cycles of a batch: Airflow's view, with the starts and finishes placed in them.
fn place_in_cycles(traces: Vec<CycleTrace>, starts: &[f64], finishes: &[f64]) -> Vec<Cycle> {
    let mut cycles: Vec<Cycle> = traces
        .into_iter()
        .map(|airflow| Cycle {
            airflow,
            starts: Span::default(),
            finishes: Span::default(),
        })
        .collect();
    for &at in starts {
        // The first cycle that triggers at or after the start.
        let cycle = cycles.iter_mut().find(|cycle| {
            cycle
                .airflow
                .first_trigger_s
                .is_some_and(|first| first >= at)
        });
        if let Some(cycle) = cycle {
            cycle.starts.add(at);
        }
    }
    for &at in finishes {
        // The last cycle whose sync began at or before the finish.
        let cycle = cycles
            .iter_mut()
            .rev()
            .find(|cycle| cycle.airflow.sync_s.is_some_and(|sync| sync <= at));
        if let Some(cycle) = cycle {
            cycle.finishes.add(at);
        }
    }
    cycles
}

/// The figures of one idle phase.
#[derive(Debug, Serialize)]
struct IdleFigures {
    finished_before: u64,
    /// Seconds since the last batch finished (none before the first).
    after_batch_seconds: Option<f64>,
    /// Whether the sync's overlap had passed: only the history is left to read.
    settled: bool,
    airflow: Window,
}

/// Runs the scenario: a fake Airflow, a server configured for it on a database of its own, the
/// phases, then stops both.
pub async fn run(bench: &mut Bench, admin_url: &str, binary: &Path) -> anyhow::Result<()> {
    let fake = FakeAirflow::start(&[DAG], RUN_TIME)?;
    let config_dir = tempfile::tempdir()?;
    let config = config_dir.path().join("reefguide.toml");
    std::fs::write(&config, config_toml(&fake.url))?;
    let config = config.display().to_string();
    let mut env: Vec<(&str, &str)> = SERVER_ENV.to_vec();
    env.push(("REEFGUIDE_CONFIG", &config));
    let options = ServerOptions {
        binary,
        admin: (ADMIN_EMAIL, ADMIN_PASSWORD),
        worker: None,
        env: &env,
    };
    let result = with_scratch_server(
        admin_url,
        "benchflow",
        &options,
        async |server, database_url| phases(bench, &fake, server, database_url).await,
    )
    .await;
    fake.stop().await;
    result
}

/// The phases (see the [module documentation](self)).
async fn phases(
    bench: &mut Bench,
    fake: &FakeAirflow,
    server: &Server,
    database_url: &str,
) -> anyhow::Result<()> {
    let db = Database::connect(database_url).await?;
    let setup = load::client(4)?;
    api::register(&setup, &server.base, USER.0, USER.1).await?;
    let token = api::login(&setup, &server.base, USER.0, USER.1).await?;
    let submitter = load::client(CLIENTS)?;
    eprintln!("xtask: workflows, warm-up ({WARM_UP} jobs)");
    run_batch(
        &db,
        fake,
        server,
        (&submitter, token.as_str()),
        (0, WARM_UP),
    )
    .await?;
    let warm = Instant::now();
    eprintln!(
        "xtask: waiting {} s for the sync's overlap to pass",
        SETTLE.as_secs()
    );
    tokio::time::sleep(SETTLE).await;
    let mut idle = vec![idle_phase(fake, WARM_UP, Some((warm, true))).await?];
    let mut batches = Vec::new();
    for index in 0..2 {
        let finished_before = WARM_UP + index * BATCH;
        eprintln!(
            "xtask: workflows, batch {} ({finished_before} finished before)",
            index + 1
        );
        let batch = run_batch(
            &db,
            fake,
            server,
            (&submitter, token.as_str()),
            (finished_before, BATCH),
        )
        .await?;
        let done = Instant::now();
        idle.push(idle_phase(fake, finished_before + BATCH, Some((done, false))).await?);
        eprintln!(
            "xtask: waiting {} s for the sync's overlap to pass",
            SETTLE.as_secs()
        );
        tokio::time::sleep(SETTLE.saturating_sub(done.elapsed())).await;
        idle.push(idle_phase(fake, finished_before + BATCH, Some((done, true))).await?);
        batches.push(batch);
    }
    let total = WARM_UP + 2 * BATCH;
    let listed = listed_succeeded(&setup, &server.base, &token).await?;
    anyhow::ensure!(
        listed == total,
        "GET /api/jobs?status=SUCCEEDED lists {listed} jobs, not {total}"
    );
    let runs = fake.runs(DAG) as u64;
    anyhow::ensure!(
        runs == total,
        "Airflow has {runs} runs, not one per job ({total})"
    );
    print_tables(&batches, &idle);
    record(bench, &batches, &idle);
    Ok(())
}

/// Submits `jobs` jobs when `finished_before` are finished (their payload ids follow on) and
/// waits until they are all SUCCEEDED.
async fn run_batch(
    db: &DatabaseConnection,
    fake: &FakeAirflow,
    server: &Server,
    (client, token): (&reqwest::Client, &str),
    (finished_before, jobs): (u64, u64),
) -> anyhow::Result<BatchFigures> {
    let last_id = scalar_i64(db, "SELECT coalesce(max(id), 0)::int8 FROM jobs").await?;
    let target = i64::try_from(finished_before + jobs)?;
    let from = fake.mark();
    let started_wall = Utc::now();
    let cpu = CpuSnapshot::take(server.pid());
    let sampler = MemorySampler::start(server.pid());
    let started = Instant::now();
    let submissions = tokio::spawn(submit(
        client.clone(),
        server.base.clone(),
        token.to_owned(),
        (finished_before, jobs),
    ));
    loop {
        let succeeded =
            scalar_i64(db, "SELECT count(*) FROM jobs WHERE status = 'SUCCEEDED'").await?;
        if succeeded >= target {
            break;
        }
        if started.elapsed() > BATCH_TIMEOUT {
            bail!(
                "only {} of {jobs} jobs SUCCEEDED after {} s; by status: {}; see {}",
                succeeded - i64::try_from(finished_before)?,
                BATCH_TIMEOUT.as_secs(),
                statuses(db).await.unwrap_or_default(),
                server.log_path().display()
            );
        }
        tokio::time::sleep(POLL).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let to = fake.mark();
    let cpu = cpu.since();
    let peak_rss_kib = sampler.stop().await;
    let submit = submissions.await??.stats();
    anyhow::ensure!(
        submit.errors == 0,
        "submitting the workflow jobs failed: {:?}",
        submit.error_kinds
    );
    let airflow = fake.window(from, to);
    let epoch = started_wall.timestamp_micros() as f64 / 1e6;
    let starts = seconds_since(
        db,
        &format!(
            "SELECT extract(epoch FROM created_at)::float8 FROM job_assignments \
             WHERE job_id > {last_id}"
        ),
        epoch,
    )
    .await?;
    let finishes = seconds_since(
        db,
        &format!(
            "SELECT extract(epoch FROM updated_at)::float8 FROM jobs \
             WHERE id > {last_id} AND status = 'SUCCEEDED'"
        ),
        epoch,
    )
    .await?;
    let cycles = place_in_cycles(fake.cycles(from, to), &starts, &finishes);
    let (first_trigger_s, last_trigger_s) = fake.first_and_last(from, to, Route::Trigger);
    let sql = format!(
        "SELECT count(*) FILTER (WHERE status = 'SUCCEEDED'), \
         count(*) FILTER (WHERE status <> 'SUCCEEDED'), \
         coalesce(sum(attempts), 0)::int8, \
         (SELECT count(*) FROM job_results WHERE job_id > {last_id}), \
         coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY {latency}), 0), \
         coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY {latency}), 0), \
         coalesce(max({latency}), 0), \
         coalesce(extract(epoch FROM max(updated_at) - min(created_at))::float8, 0) \
         FROM jobs WHERE id > {last_id}",
        latency = "extract(epoch FROM updated_at - created_at)::float8 * 1000"
    );
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .context("the batch check returned no row")?;
    Ok(BatchFigures {
        finished_before,
        jobs,
        seconds,
        jobs_per_second: jobs as f64 / seconds,
        submit,
        succeeded: row.try_get_by_index(0)?,
        not_succeeded: row.try_get_by_index(1)?,
        attempts: row.try_get_by_index(2)?,
        results: row.try_get_by_index(3)?,
        latency_p50_ms: row.try_get_by_index(4)?,
        latency_p99_ms: row.try_get_by_index(5)?,
        latency_max_ms: row.try_get_by_index(6)?,
        server_span_seconds: row.try_get_by_index(7)?,
        first_trigger_s,
        last_trigger_s,
        airflow_requests_per_job: airflow.requests as f64 / jobs as f64,
        airflow,
        cycles,
        cpu,
        peak_rss_kib,
    })
}

/// Submits `count` distinct jobs of [`JOB_TYPE`] on [`COLLECTION`] (payload ids from
/// `first_id`) from [`CLIENTS`] clients.
async fn submit(
    client: reqwest::Client,
    base: String,
    token: String,
    (first_id, count): (u64, u64),
) -> anyhow::Result<load::Sample> {
    let url = Arc::new(format!("{base}/api/jobs"));
    let auth = Arc::new(api::bearer(&token));
    let request: Request = Arc::new(move |n| {
        let body = json!({
            "type": JOB_TYPE,
            "inputPayload": {"id": first_id + n},
            "collection": COLLECTION,
        });
        let sent = client
            .post(url.as_str())
            .header("authorization", auth.as_str())
            .json(&body);
        Box::pin(async move { load::outcome(sent.send().await).await })
    });
    load::for_count(CLIENTS, count, request).await
}

/// [`IDLE_CYCLES`] dispatcher cycles from one sync to another, with no job submitted;
/// `batch_done` is when the last batch finished and whether [`SETTLE`] has passed since.
async fn idle_phase(
    fake: &FakeAirflow,
    finished_before: u64,
    batch_done: Option<(Instant, bool)>,
) -> anyhow::Result<IdleFigures> {
    let after_batch_seconds = batch_done.map(|(done, _)| done.elapsed().as_secs_f64());
    let settled = batch_done.is_none_or(|(_, settled)| settled);
    let from = wait_for_syncs(fake, 1).await?;
    let to = wait_for_syncs(fake, IDLE_CYCLES).await?;
    Ok(IdleFigures {
        finished_before,
        after_batch_seconds,
        settled,
        airflow: fake.window(from, to),
    })
}

/// Waits until `count` more syncs reached the fake; the log's end then.
async fn wait_for_syncs(fake: &FakeAirflow, count: u64) -> anyhow::Result<fake_airflow::Mark> {
    let from = fake.mark();
    let deadline = Instant::now() + Duration::from_millis(SYNC_INTERVAL_MS * count * 20 + 10_000);
    while fake.syncs_since(from) < count {
        if Instant::now() > deadline {
            bail!("the dispatcher ran fewer than {count} syncs in time");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(fake.mark())
}

/// One number from SQL.
async fn scalar_i64(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .context("no row")?;
    Ok(row.try_get_by_index(0)?)
}

/// The instants (epoch seconds) a query returns, as seconds after `epoch`.
async fn seconds_since(db: &DatabaseConnection, sql: &str, epoch: f64) -> anyhow::Result<Vec<f64>> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .iter()
        .map(|row| Ok(row.try_get_by_index::<f64>(0)? - epoch))
        .collect()
}

/// The jobs by status, for an error message.
async fn statuses(db: &DatabaseConnection) -> anyhow::Result<String> {
    let sql = "SELECT string_agg(status || ' ' || n, ', ') FROM \
               (SELECT status, count(*) AS n FROM jobs GROUP BY status ORDER BY status) s";
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .context("no row")?;
    Ok(row
        .try_get_by_index::<Option<String>>(0)?
        .unwrap_or_default())
}

/// The user's SUCCEEDED jobs as the API counts them (`total` of the listing).
async fn listed_succeeded(
    client: &reqwest::Client,
    base: &str,
    token: &str,
) -> anyhow::Result<u64> {
    let reply: serde_json::Value = client
        .get(format!("{base}/api/jobs?status=SUCCEEDED&limit=1"))
        .header("authorization", api::bearer(token))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    reply["total"].as_u64().context("the listing has no total")
}

/// The routes shown as columns (the others are in the results file).
const SHOWN: [Route; 4] = [
    Route::Trigger,
    Route::ListRuns,
    Route::GetRun,
    Route::PatchDag,
];

/// The phase tables.
fn print_tables(batches: &[BatchFigures], idle: &[IdleFigures]) {
    let rows: Vec<Vec<String>> = batches
        .iter()
        .map(|b| {
            vec![
                format!("batch, {} finished before", b.finished_before),
                b.succeeded.to_string(),
                format!("{:.2}", b.seconds),
                number(b.jobs_per_second),
                number(b.submit.per_second),
                format!("{:.2}/{:.2}", b.first_trigger_s, b.last_trigger_s),
                format!("{:.3}", b.airflow_requests_per_job),
                number(b.latency_p50_ms),
                number(b.latency_p99_ms),
                (b.attempts - b.succeeded).to_string(),
                b.not_succeeded.to_string(),
                format!("{:.1}", b.peak_rss_kib as f64 * 1024.0 / 1e6),
                b.cpu.cell(),
            ]
        })
        .collect();
    table(
        &format!(
            "workflows: {BATCH} Airflow jobs submitted ({CLIENTS} clients) until all SUCCEEDED, \
             fake Airflow (runs take {} ms), sync every {SYNC_INTERVAL_MS} ms",
            RUN_TIME.as_millis()
        ),
        &[
            "phase",
            "jobs",
            "s",
            "jobs/s",
            "submit/s",
            "trigger first/last s",
            "Airflow req/job",
            "e2e p50 ms",
            "e2e p99 ms",
            "re-tries",
            "unfinished",
            "peak MB",
            "cpu % srv/pg/gen/all",
        ],
        &rows,
    );
    let mut header = vec![
        "phase",
        "cycles",
        "requests",
        "req/cycle",
        "max list pages/cycle",
    ];
    header.extend(SHOWN.iter().map(|route| route.name()));
    header.extend(["409", "other non-2xx"]);
    let window_row = |phase: String, w: &Window| {
        let mut row = vec![
            phase,
            w.sync_cycles.to_string(),
            w.requests.to_string(),
            format!("{:.2}", w.per_cycle()),
            w.max_list_pages_per_cycle.to_string(),
        ];
        row.extend(
            SHOWN
                .iter()
                .map(|route| format!("{} ({:.2})", w.route(*route), w.route_per_cycle(*route))),
        );
        row.extend([w.conflicts.to_string(), w.errors.to_string()]);
        row
    };
    let mut rows = Vec::new();
    let mut idle_phases = idle.iter();
    if let Some(first) = idle_phases.next() {
        rows.push(window_row(idle_label(first), &first.airflow));
    }
    for batch in batches {
        rows.push(window_row(
            format!("batch, {} finished before", batch.finished_before),
            &batch.airflow,
        ));
        for phase in idle_phases.by_ref().take(2) {
            rows.push(window_row(idle_label(phase), &phase.airflow));
        }
    }
    for batch in batches {
        print_cycles(batch);
    }
    table(
        "workflows: Airflow requests by phase (route columns: requests (per cycle); a cycle = one \
         sync of the DAG)",
        &header,
        &rows,
    );
}

/// The cycles of a batch.
fn print_cycles(batch: &BatchFigures) {
    let seconds = |at: Option<f64>| at.map_or_else(|| "-".to_owned(), |at| format!("{at:.2}"));
    let span = |span: &Span| {
        if span.count == 0 {
            "0".to_owned()
        } else {
            format!(
                "{} ({}–{})",
                span.count,
                seconds(span.first_s),
                seconds(span.last_s)
            )
        }
    };
    let rows: Vec<Vec<String>> = batch
        .cycles
        .iter()
        .enumerate()
        .map(|(index, cycle)| {
            let airflow = &cycle.airflow;
            vec![
                (index + 1).to_string(),
                span(&cycle.starts),
                format!(
                    "{} ({}–{})",
                    airflow.triggers,
                    seconds(airflow.first_trigger_s),
                    seconds(airflow.last_trigger_s)
                ),
                format!(
                    "{}–{}",
                    seconds(airflow.sync_s),
                    seconds(airflow.sync_end_s)
                ),
                airflow.list_pages.to_string(),
                span(&cycle.finishes),
                airflow.other.to_string(),
            ]
        })
        .collect();
    table(
        &format!(
            "workflows: the dispatcher cycles of the batch after {} finished jobs (seconds from \
             the first submission; starts and finishes from the stored timestamps)",
            batch.finished_before
        ),
        &[
            "cycle",
            "attempts started",
            "triggers",
            "sync",
            "list pages",
            "jobs finished",
            "other requests",
        ],
        &rows,
    );
}

fn idle_label(phase: &IdleFigures) -> String {
    match phase.after_batch_seconds {
        None => format!("idle, {} finished", phase.finished_before),
        Some(after) => format!(
            "idle, {} finished, {:.0} s after",
            phase.finished_before, after
        ),
    }
}

/// The phases and the summary figures.
fn record(bench: &mut Bench, batches: &[BatchFigures], idle: &[IdleFigures]) {
    for batch in batches {
        let phase = format!("batch, {} finished before", batch.finished_before);
        bench.report.phase("workflows", &phase, batch);
        let key = ("workflows", phase.as_str());
        bench.report.check(
            key,
            "jobs/s",
            batch.jobs_per_second,
            Some(Goal::AtLeast(JOBS_PER_SECOND_GOAL)),
            None,
        );
        bench.report.check(
            key,
            "Airflow requests/cycle",
            batch.airflow.per_cycle(),
            None,
            None,
        );
        bench.report.check(
            key,
            "jobs not SUCCEEDED",
            batch.not_succeeded as f64,
            Some(Goal::AtMost(0.0)),
            None,
        );
        bench.report.check(
            key,
            "repeated triggers (409)",
            batch.airflow.conflicts as f64,
            Some(Goal::AtMost(0.0)),
            None,
        );
        bench
            .report
            .check_no_errors(key, batch.submit.errors + batch.airflow.errors);
    }
    for phase in idle {
        let label = idle_label(phase);
        bench.report.phase("workflows", &label, phase);
        // Settled idle cycles read one empty page of changed runs per DAG, whatever the history.
        bench.report.check(
            ("workflows", label.as_str()),
            "Airflow requests/cycle",
            phase.airflow.per_cycle(),
            phase.settled.then_some(Goal::AtMost(1.0)),
            None,
        );
    }
    if let [first, second] = batches {
        let change = (second.jobs_per_second / first.jobs_per_second - 1.0) * 100.0;
        println!(
            "  jobs/s change from {} to {} finished jobs: {change:+.1} %",
            first.finished_before, second.finished_before
        );
        bench.report.check(
            ("workflows", "batch 1 → batch 2"),
            "jobs/s change %",
            change,
            None,
            None,
        );
    }
}
