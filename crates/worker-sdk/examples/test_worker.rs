//! A worker for `TEST` jobs.
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

use reefguide_worker_sdk::{HandlerError, JobContext, Worker, handler_fn};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

/// A TEST job's input.
#[derive(Debug, Deserialize)]
struct TestInput {
    id: i64,
}

async fn run_test_job(input: TestInput, ctx: JobContext) -> Result<Value, HandlerError> {
    let report = json!({
        "id": input.id,
        "finished_at": chrono::Utc::now().to_rfc3339(),
    });
    ctx.upload_bytes("result.json", serde_json::to_vec_pretty(&report)?)
        .await?;
    ctx.progress(50.0, "result.json written");
    Ok(json!({}))
}

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
        .handler("TEST", handler_fn(run_test_job));
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
