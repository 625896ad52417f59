//! Scenario `login`: `POST /api/auth/login`, whose cost is dominated by argon2id password
//! verification (deliberately expensive; reported, not tuned). 50 logins one after the other
//! give the latency of one login on an otherwise idle server; 8 concurrent clients for 5 s give
//! logins/s (bounded by the server's cores and its cap on concurrent hashes).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::load::{self, Request, Stats};
use super::report::load_table;
use super::{Bench, api};

/// The account logging in.
const USER: (&str, &str) = ("bench-login@reefguide.test", "bench-login-password");
/// Sequential logins.
const SEQUENTIAL: u64 = 50;
/// Concurrent clients of the throughput phase.
const CONCURRENT: usize = 8;
/// Measured time of the throughput phase.
const DURATION: Duration = Duration::from_secs(5);
/// Its unmeasured warm-up.
const WARM_UP: Duration = Duration::from_secs(1);

/// Runs the scenario.
pub async fn run(bench: &mut Bench) -> anyhow::Result<()> {
    let client = load::client(CONCURRENT)?;
    api::register(&client, &bench.base, USER.0, USER.1).await?;
    let url = Arc::new(format!("{}/api/auth/login", bench.base));
    let request: Request = {
        let client = client.clone();
        Arc::new(move |_| {
            let sent = client
                .post(url.as_str())
                .json(&json!({"email": USER.0, "password": USER.1}));
            Box::pin(async move { load::outcome(sent.send().await).await })
        })
    };
    let (sequential, seq_observed) = bench
        .observe(
            "login, sequential",
            load::for_count(1, SEQUENTIAL, request.clone()),
        )
        .await?;
    let (concurrent, con_observed) = bench
        .observe(
            "login, 8 clients",
            load::for_duration(CONCURRENT, WARM_UP, DURATION, request),
        )
        .await?;
    let phases = [
        (
            format!("{SEQUENTIAL} sequential"),
            sequential.stats(),
            seq_observed,
        ),
        (
            format!("{CONCURRENT} clients, {} s", DURATION.as_secs()),
            concurrent.stats(),
            con_observed,
        ),
    ];
    load_table(
        "login: POST /api/auth/login (argon2id)",
        "logins",
        "logins/s",
        &phases,
    );
    for (phase, stats, observed) in &phases {
        record(bench, phase, stats);
        bench.report.phase(
            "login",
            phase,
            json!({"load": stats, "cpu": observed.cpu, "peak_rss_kib": observed.peak_rss_kib}),
        );
    }
    Ok(())
}

/// The summary figures (issue 9 sets no login target besides zero errors).
fn record(bench: &mut Bench, phase: &str, stats: &Stats) {
    let key = ("login", phase);
    bench
        .report
        .check(key, "logins/s", stats.per_second, None, None);
    bench.report.check(key, "p50 ms", stats.p50_ms, None, None);
    bench.report.check(key, "p99 ms", stats.p99_ms, None, None);
    bench.report.check_no_errors(key, stats.errors);
}
