//! Write ReefGuide workers in Rust.
//!
//! A worker takes jobs of one or more types from a reefguide (or ReefGuide R1) server, runs
//! them, and reports their results. With this crate a worker is a [`JobHandler`] per job type
//! (often just an async closure via [`handler_fn`]) plus a [`Worker`]; everything else is done
//! for you:
//!
//! - login, token refresh ahead of expiry, and re-login when the refresh token is refused;
//! - long-poll claims (`POST /api/jobs/claim`), with a fallback to `poll` + `assign` on R1
//!   servers, `concurrency` jobs at a time, ECS task detection;
//! - typed input (a payload that does not parse is reported FAILED), heartbeats that extend the
//!   lease and carry [`JobContext::progress`], and cancellation: when the job is cancelled or its
//!   lease lost the handler's [`JobContext`] is cancelled and its task aborted;
//! - result files through presigned upload URLs ([`JobContext::upload_bytes`],
//!   [`JobContext::upload_file`]), which work for S3 and the server's local store alike;
//! - result reports with retries, errors and panics turned into FAILED results;
//! - graceful shutdown on SIGINT/SIGTERM ([`Worker::run`]) or any future
//!   ([`Worker::run_until`]), and an optional idle timeout.
//!
//! The SDK talks to the server over HTTP only.
//!
//! # Example
//!
//! A worker for `TEST` jobs (input `{"id": <number>}`, result `{}`):
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use reefguide_worker_sdk::{handler_fn, HandlerError, JobContext, Worker};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct TestInput {
//!     id: u64,
//! }
//!
//! #[derive(Serialize)]
//! struct TestResult {}
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let handler = handler_fn(|input: TestInput, ctx: JobContext| async move {
//!         ctx.progress(50.0, "halfway");
//!         let report = serde_json::to_vec(&serde_json::json!({ "id": input.id }))?;
//!         ctx.upload_bytes("result.json", report).await?;
//!         if ctx.is_cancelled() {
//!             return Err(HandlerError::new("cancelled"));
//!         }
//!         Ok(TestResult {})
//!     });
//!
//!     let worker = Worker::builder()
//!         .api_url("http://127.0.0.1:5000")
//!         .credentials("worker@example.com", "a-long-password")
//!         .handler("TEST", handler)
//!         .concurrency(2)
//!         .idle_timeout(Duration::from_secs(300))
//!         .build()?;
//!
//!     let summary = worker.run().await?; // until SIGINT/SIGTERM or 5 idle minutes
//!     println!("{} succeeded, {} failed", summary.succeeded, summary.failed);
//!     Ok(())
//! }
//! ```

mod client;
mod context;
mod ecs;
mod error;
mod handler;
mod lease;
mod runner;
mod s3;
pub mod test_job;
mod upload;
mod wire;
mod worker;

pub use context::JobContext;
pub use error::{BuildError, WorkerError};
pub use handler::{HandlerError, JobHandler, handler_fn};
pub use worker::{RunSummary, Worker, WorkerBuilder};
