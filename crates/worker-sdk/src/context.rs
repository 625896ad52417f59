//! [`JobContext`]: what a handler knows about its job and what it can do besides computing.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

use crate::handler::HandlerError;
use crate::lease::Lease;
use crate::upload::{Source, Uploader};

/// The latest progress a handler recorded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Progress {
    pub percent: f64,
    pub message: String,
}

/// A running job as its handler sees it. Cheap to clone; every clone refers to the same job.
#[derive(Clone)]
pub struct JobContext {
    inner: Arc<Inner>,
}

struct Inner {
    job_id: i64,
    job_type: String,
    assignment_id: i64,
    storage_scheme: Option<String>,
    storage_uri: String,
    scratch_dir: PathBuf,
    cancel: CancellationToken,
    progress: Mutex<Option<Progress>>,
    uploader: Arc<Uploader>,
    lease: Arc<Lease>,
}

/// What the runner knows about a job when it builds its context.
pub(crate) struct ContextParts {
    pub job_id: i64,
    pub job_type: String,
    pub assignment_id: i64,
    pub storage_scheme: Option<String>,
    pub storage_uri: String,
    pub scratch_dir: PathBuf,
    /// The assignment's lease, which bounds how long uploads retry during outages.
    pub lease: Arc<Lease>,
}

impl JobContext {
    pub(crate) fn new(parts: ContextParts, uploader: Arc<Uploader>) -> Self {
        Self {
            inner: Arc::new(Inner {
                job_id: parts.job_id,
                job_type: parts.job_type,
                assignment_id: parts.assignment_id,
                storage_scheme: parts.storage_scheme,
                storage_uri: parts.storage_uri,
                scratch_dir: parts.scratch_dir,
                cancel: CancellationToken::new(),
                progress: Mutex::new(None),
                uploader,
                lease: parts.lease,
            }),
        }
    }

    /// The job's id.
    pub fn job_id(&self) -> i64 {
        self.inner.job_id
    }

    /// The job's type, e.g. `TEST`.
    pub fn job_type(&self) -> &str {
        &self.inner.job_type
    }

    /// The id of this worker's assignment (its lease on the job).
    pub fn assignment_id(&self) -> i64 {
        self.inner.assignment_id
    }

    /// Where the job's result files go, e.g. `s3://bucket/results/test/12/1700000000000` or
    /// `file:///…/test/12/1700000000000`. Use [`upload_bytes`](Self::upload_bytes) or
    /// [`upload_file`](Self::upload_file) to write there.
    pub fn storage_uri(&self) -> &str {
        &self.inner.storage_uri
    }

    /// True once the job was cancelled, its lease was lost, or shutdown ran out of time: stop
    /// working, the result would be refused anyway.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Resolves when [`is_cancelled`](Self::is_cancelled) becomes true, e.g. for `tokio::select!`.
    pub async fn cancelled(&self) {
        self.inner.cancel.cancelled().await;
    }

    /// Records progress (clamped to 0..=100) and a message; both go to the server with the
    /// next heartbeat. Only the latest call counts.
    pub fn progress(&self, percent: f64, message: impl Into<String>) {
        let percent = if percent.is_nan() {
            0.0
        } else {
            percent.clamp(0.0, 100.0)
        };
        let progress = Progress {
            percent,
            message: message.into(),
        };
        *self
            .inner
            .progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(progress);
    }

    /// Stores `bytes` as the result file `relative_path` (e.g. `"result.json"` or
    /// `"maps/site.tif"`) below the job's [`storage_uri`](Self::storage_uri).
    ///
    /// The path must be relative, use `/` as separator and contain no `..`, empty segments or
    /// backslashes. The bytes go through a presigned upload URL from the API (which works for
    /// S3 and the server's local store alike). On servers without that route (ReefGuide R1) a
    /// `file://` store reachable from this machine is written directly, and an `s3://` one with
    /// the AWS SDK and the standard credential chain (feature `s3`, on by default).
    ///
    /// Network errors and 5xx answers are retried with back-off while the job's lease lasts. If
    /// the lease ends first (a long outage), the error is returned and the job is abandoned
    /// whatever the handler then returns: it is not reported FAILED, the server re-queues it.
    pub async fn upload_bytes(
        &self,
        relative_path: &str,
        bytes: Vec<u8>,
    ) -> Result<(), HandlerError> {
        self.upload(relative_path, Source::Bytes(bytes)).await
    }

    /// Stores the local file `local` as the result file `relative_path`; see
    /// [`upload_bytes`](Self::upload_bytes). The file is streamed, not read into memory.
    pub async fn upload_file(&self, local: &Path, relative_path: &str) -> Result<(), HandlerError> {
        self.upload(relative_path, Source::File(local.to_path_buf()))
            .await
    }

    async fn upload(&self, relative_path: &str, source: Source) -> Result<(), HandlerError> {
        self.inner
            .uploader
            .upload(
                self.inner.assignment_id,
                self.inner.storage_scheme.as_deref(),
                &self.inner.storage_uri,
                relative_path,
                source,
                &self.inner.lease,
            )
            .await
    }

    /// A fresh, empty directory for this job's temporary files; it is removed when the job ends.
    pub fn scratch_dir(&self) -> &Path {
        &self.inner.scratch_dir
    }

    /// Cancels the job (the handler sees `is_cancelled`).
    pub(crate) fn cancel(&self) {
        self.inner.cancel.cancel();
    }

    /// The latest recorded progress.
    pub(crate) fn latest_progress(&self) -> Option<Progress> {
        self.inner
            .progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl fmt::Debug for JobContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobContext")
            .field("job_id", &self.inner.job_id)
            .field("job_type", &self.inner.job_type)
            .field("assignment_id", &self.inner.assignment_id)
            .field("storage_uri", &self.inner.storage_uri)
            .field("scratch_dir", &self.inner.scratch_dir)
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}
