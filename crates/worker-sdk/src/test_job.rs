//! A ready-made handler for ReefGuide's built-in `TEST` job type, to smoke-test a deployment end
//! to end: it writes `result.json` (`{"id": <input id>, "finished_at": <RFC 3339>}`) to the
//! assignment's storage and succeeds with an empty result payload.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use reefguide_worker_sdk::{Worker, test_job};
//!
//! let summary = Worker::builder()
//!     .api_url("http://127.0.0.1:5000")
//!     .credentials("worker@example.com", "a long password")
//!     .handler(test_job::JOB_TYPE, test_job::handler())
//!     .build()?
//!     .run()
//!     .await?;
//! # let _ = summary; Ok(()) }
//! ```

use serde::Deserialize;
use serde_json::{Number, Value, json};

use crate::{HandlerError, JobContext, JobHandler, handler_fn};

/// The job type this handler serves.
pub const JOB_TYPE: &str = "TEST";

/// The file each job writes, relative to its storage prefix.
pub const RESULT_FILE: &str = "result.json";

/// A `TEST` job's input: any number, to tell jobs apart.
#[derive(Debug, Clone, Deserialize)]
pub struct TestInput {
    /// The number, kept exactly as sent.
    pub id: Number,
}

/// Runs one `TEST` job: reports progress, writes [`RESULT_FILE`], succeeds with `{}`.
///
/// # Errors
/// When the result file cannot be uploaded.
pub async fn run(input: TestInput, ctx: JobContext) -> Result<Value, HandlerError> {
    ctx.progress(50.0, "writing result.json");
    let report = json!({
        "id": input.id,
        "finished_at": chrono::Utc::now().to_rfc3339(),
    });
    ctx.upload_bytes(RESULT_FILE, serde_json::to_vec_pretty(&report)?)
        .await?;
    Ok(json!({}))
}

/// The `TEST` handler, for [`crate::WorkerBuilder::handler`].
#[must_use]
pub fn handler() -> impl JobHandler<Input = TestInput, Output = Value> {
    handler_fn(run)
}
