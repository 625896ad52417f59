//! Scenario `submit`: job submission (`POST /api/jobs`), 16 concurrent clients submitting
//! distinct `TEST` jobs, first on an empty queue (after 1,000 unmeasured warm-up submissions) and
//! again after 100,000 more jobs were inserted directly in SQL, so that the figure shows whether
//! submission stays flat as the table grows.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use sea_orm::ConnectionTrait as _;
use serde_json::json;

use super::load::{self, Request, Sample, Stats};
use super::report::{Goal, load_table};
use super::{Bench, Observed, api};

/// Concurrent submitting clients.
pub const CLIENTS: usize = 16;
/// Submissions measured per phase.
const SUBMISSIONS: u64 = 8_000;
/// Jobs added between the two phases.
const BACKGROUND_JOBS: u64 = 100_000;
/// Unmeasured submissions first, so that the first phase does not pay for cold caches and pools.
const WARM_UP: u64 = 1_000;
/// Payload ids of the warm-up, the first and the second phase (distinct, so never cache hits).
const FIRST_IDS: [u64; 3] = [2_000_000, 0, 1_000_000];

/// Runs the scenario.
pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    bench.reset_jobs().await?;
    let client = load::client(CLIENTS)?;
    let (base, token) = (bench.base.clone(), bench.admin_token.clone());
    submit(&client, &base, &token, FIRST_IDS[0], WARM_UP).await?;
    let empty = bench
        .observe(
            "submit, empty queue",
            submit(&client, &base, &token, FIRST_IDS[1], SUBMISSIONS),
        )
        .await?;
    insert_background_jobs(bench).await?;
    let grown = bench
        .observe(
            "submit, 100k stored",
            submit(&client, &base, &token, FIRST_IDS[2], SUBMISSIONS),
        )
        .await?;
    let phases = [
        (WARM_UP, empty.0.stats(), empty.1),
        (
            WARM_UP + SUBMISSIONS + BACKGROUND_JOBS,
            grown.0.stats(),
            grown.1,
        ),
    ];
    let change = (phases[1].1.per_second / phases[0].1.per_second - 1.0) * 100.0;
    for (stored, stats, observed) in &phases {
        record(bench, *stored, stats, observed);
    }
    let labelled: Vec<_> = phases
        .into_iter()
        .map(|(stored, stats, observed)| (stored.to_string(), stats, observed))
        .collect();
    load_table(
        &format!("submit: POST /api/jobs, {CLIENTS} concurrent clients; phase = stored jobs"),
        "jobs",
        "jobs/s",
        &labelled,
    );
    println!("  throughput change after {BACKGROUND_JOBS} more jobs: {change:+.1} %");
    bench.report.check(
        ("submit", "0 → 100k stored"),
        "|change| %",
        change.abs(),
        Some(Goal::AtMost(20.0)),
        None,
    );
    Ok(())
}

/// The summary figures of one phase.
fn record(bench: &mut Bench, stored: u64, stats: &Stats, observed: &Observed) {
    let phase = format!("{stored} stored jobs");
    bench.report.phase(
        "submit",
        &phase,
        json!({"clients": CLIENTS, "stored_jobs_before": stored, "load": stats,
               "cpu": observed.cpu, "peak_rss_kib": observed.peak_rss_kib}),
    );
    let key = ("submit", phase.as_str());
    bench.report.check(
        key,
        "jobs/s",
        stats.per_second,
        Some(Goal::AtLeast(2000.0)),
        Some("133"),
    );
    bench.report.check(key, "p99 ms", stats.p99_ms, None, None);
    bench.report.check_no_errors(key, stats.errors);
}

/// Submits `count` distinct TEST jobs (payload ids from `first_id`) as the holder of `token`
/// from [`CLIENTS`] clients.
pub async fn submit(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    first_id: u64,
    count: u64,
) -> anyhow::Result<Sample> {
    let url = Arc::new(format!("{base}/api/jobs"));
    let auth = Arc::new(api::bearer(token));
    let client = client.clone();
    let request: Request = Arc::new(move |n| {
        let body = json!({"type": "TEST", "inputPayload": {"id": first_id + n}});
        let sent = client
            .post(url.as_str())
            .header("authorization", auth.as_str())
            .json(&body);
        Box::pin(async move { load::outcome(sent.send().await).await })
    });
    load::for_count(CLIENTS, count, request).await
}

/// Inserts [`BACKGROUND_JOBS`] finished TEST jobs (each with its own hash) in one statement, then
/// vacuums and analyses the table.
async fn insert_background_jobs(bench: &Bench) -> anyhow::Result<()> {
    let started = Instant::now();
    bench
        .db
        .execute_unprepared(&format!(
            "INSERT INTO jobs (created_at, updated_at, type, status, user_id, input_payload, \
             hash, attempts, max_attempts, lease_seconds, lease_expires_at, \
             current_assignment_id, version) \
             SELECT now(), now(), 'TEST', 'SUCCEEDED', (SELECT min(id) FROM users), \
             jsonb_build_object('id', -n), md5(n::text) || md5((n + 1)::text), 1, 3, 3600, \
             NULL, NULL, 1 FROM generate_series(1, {BACKGROUND_JOBS}) AS n"
        ))
        .await
        .context("cannot insert the background jobs")?;
    // What autovacuum does over the days a real table takes to grow: done now, so that the
    // vacuum a bulk insert triggers does not run during the measured phase.
    bench.db.execute_unprepared("VACUUM (ANALYZE) jobs").await?;
    eprintln!(
        "xtask: inserted {BACKGROUND_JOBS} jobs in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
