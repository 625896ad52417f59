//! Scenario `polygons`: authenticated `GET /api/polygons/:id`, the typical read of a signed-in
//! user (token verification, the caller's roles, one row, JSON out).
//!
//! A user registers and logs in through the API and creates 64 polygons; then 32 and 256
//! concurrent connections (one task each, closed loop) read them in turn (request `n` reads
//! polygon `n mod 64`, so concurrent reads are of different rows), each phase for 10 s after a
//! 2 s unmeasured warm-up, on a fresh connection pool.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::load::{self, Request, Stats};
use super::report::{Goal, load_table};
use super::{Bench, api};

/// Connection counts of the phases.
const CONNECTIONS: [usize; 2] = [32, 256];
/// Unmeasured warm-up per phase.
const WARM_UP: Duration = Duration::from_secs(2);
/// Measured time per phase.
const DURATION: Duration = Duration::from_secs(10);
/// Polygons read in turn.
const POLYGONS: usize = 64;
/// The polygon owner.
const USER: (&str, &str) = ("bench-polygons@reefguide.test", "bench-polygons-password");

/// Runs the scenario.
pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    let setup = load::client(4)?;
    api::register(&setup, &bench.base, USER.0, USER.1).await?;
    let token = api::login(&setup, &bench.base, USER.0, USER.1).await?;
    let mut urls = Vec::with_capacity(POLYGONS);
    for _ in 0..POLYGONS {
        let id = api::create_polygon(&setup, &bench.base, &token).await?;
        urls.push(format!("{}/api/polygons/{id}", bench.base));
    }
    let urls = Arc::new(urls);
    let auth = Arc::new(api::bearer(&token));
    let mut phases = Vec::new();
    for connections in CONNECTIONS {
        let client = load::client(connections)?;
        let request: Request = {
            let (urls, auth) = (urls.clone(), auth.clone());
            Arc::new(move |n| {
                let url = &urls[(n % POLYGONS as u64) as usize];
                let sent = client
                    .get(url.as_str())
                    .header("authorization", auth.as_str());
                Box::pin(async move { load::outcome(sent.send().await).await })
            })
        };
        let phase = format!("{connections} connections");
        let (sample, observed) = bench
            .observe(
                &format!("polygons, {phase}"),
                load::for_duration(connections, WARM_UP, DURATION, request),
            )
            .await?;
        let stats = sample.stats();
        bench.report.phase(
            "polygons",
            &phase,
            json!({"connections": connections, "load": stats, "cpu": observed.cpu,
                   "peak_rss_kib": observed.peak_rss_kib}),
        );
        record(bench, &phase, connections, &stats);
        phases.push((phase, stats, observed));
    }
    load_table(
        &format!(
            "polygons: authenticated GET /api/polygons/:id, {} s per phase after {} s warm-up",
            DURATION.as_secs(),
            WARM_UP.as_secs()
        ),
        "requests",
        "req/s",
        &phases,
    );
    Ok(())
}

/// The summary figures; issue 9 sets targets at 32 connections (and zero errors everywhere).
fn record(bench: &mut Bench, phase: &str, connections: usize, stats: &Stats) {
    let at_32 = connections == 32;
    let key = ("polygons", phase);
    bench.report.check(
        key,
        "requests/s",
        stats.per_second,
        at_32.then_some(Goal::AtLeast(8000.0)),
        at_32.then_some("365"),
    );
    bench
        .report
        .check(key, "p50 ms", stats.p50_ms, None, at_32.then_some("87"));
    bench.report.check(
        key,
        "p99 ms",
        stats.p99_ms,
        at_32.then_some(Goal::Below(20.0)),
        None,
    );
    bench.report.check_no_errors(key, stats.errors);
}
