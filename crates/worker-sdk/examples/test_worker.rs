//! A worker for `TEST` jobs, built on [`reefguide_worker_sdk::test_job`].
//!
//! ```sh
//! WORKER_USERNAME=worker@example.com WORKER_PASSWORD=... \
//!   cargo run -p reefguide-worker-sdk --example test_worker
//! ```
//!
//! Environment: `REEFGUIDE_API_URL` (default `http://127.0.0.1:5000`), `WORKER_USERNAME`,
//! `WORKER_PASSWORD`, optional `WORKER_CONCURRENCY` (default 1) and
//! `WORKER_IDLE_TIMEOUT_SECONDS` (default: run until SIGINT/SIGTERM); logging via `RUST_LOG`.

use std::time::Duration;

use reefguide_worker_sdk::{Worker, test_job};
use tracing_subscriber::EnvFilter;

fn env_number<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{name} must be a number, got {text:?}")),
        Err(_) => Ok(None),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let api_url =
        std::env::var("REEFGUIDE_API_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".into());
    let email = std::env::var("WORKER_USERNAME").map_err(|_| "WORKER_USERNAME is not set")?;
    let password = std::env::var("WORKER_PASSWORD").map_err(|_| "WORKER_PASSWORD is not set")?;

    let mut builder = Worker::builder()
        .api_url(api_url)
        .credentials(email, password)
        .handler(test_job::JOB_TYPE, test_job::handler());
    if let Some(concurrency) = env_number::<usize>("WORKER_CONCURRENCY")? {
        builder = builder.concurrency(concurrency);
    }
    if let Some(seconds) = env_number::<u64>("WORKER_IDLE_TIMEOUT_SECONDS")? {
        builder = builder.idle_timeout(Duration::from_secs(seconds));
    }

    let summary = builder.build()?.run().await?;
    tracing::info!(
        succeeded = summary.succeeded,
        failed = summary.failed,
        abandoned = summary.abandoned,
        "done"
    );
    Ok(())
}
