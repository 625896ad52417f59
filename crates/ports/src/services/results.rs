//! Result files: users download a succeeded job's files through presigned URLs; workers ask for
//! presigned upload URLs below their assignment's storage prefix.

use std::collections::BTreeMap;
use std::sync::Arc;

use reefguide_domain::User;
use reefguide_domain::job::errors::{AssignmentError, JobAccessError};
use reefguide_domain::job::{AssignmentId, Job, JobId, JobResult, JobStatus};
use reefguide_domain::storage::{FilterPrefix, PresignExpiry, RelativePath};
use thiserror::Error;

use super::jobs::{held_assignment, lease_lost, require_worker, visible_job};
use crate::clock::Clock;
use crate::object_store::{ObjectStore, ObjectStoreError};
use crate::repositories::jobs::JobRepository;

/// Limits of the result-file use cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultFileLimits {
    /// Most files one download may list (R2's default: 25).
    pub max_download_files: usize,
    /// Most files one upload-URL request may name.
    pub max_upload_files: usize,
    /// Lifetime of upload URLs.
    pub upload_expiry: PresignExpiry,
}

impl Default for ResultFileLimits {
    fn default() -> Self {
        Self {
            max_download_files: 25,
            max_upload_files: 100,
            upload_expiry: PresignExpiry::DEFAULT,
        }
    }
}

/// What a download asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DownloadRequest {
    /// Lifetime of the URLs.
    pub expiry: PresignExpiry,
    /// Only files whose path starts with this.
    pub filter: Option<FilterPrefix>,
}

/// A succeeded job's files, each with a presigned GET URL.
#[derive(Debug, Clone, PartialEq)]
pub struct Download {
    /// The job.
    pub job: Job,
    /// Relative path → presigned URL, in path order.
    pub files: BTreeMap<RelativePath, String>,
}

/// Why a download was refused.
#[derive(Debug, Error)]
pub enum DownloadError {
    /// The job does not exist, the caller may not see it, or it could not be read.
    #[error(transparent)]
    Access(#[from] JobAccessError),
    /// Only succeeded jobs have files to download.
    #[error("Job {0} has not succeeded (status {1}); only succeeded jobs have results")]
    NotSucceeded(JobId, JobStatus),
    /// The job succeeded but no result was recorded.
    #[error("Job {0} has no results")]
    NoResult(JobId),
    /// More files match than one download may list.
    #[error("More than {0} result files match; narrow the download with filterPrefix")]
    TooManyFiles(usize),
    /// The object store refused or failed.
    #[error(transparent)]
    Storage(#[from] ObjectStoreError),
}

/// Why upload URLs were refused.
#[derive(Debug, Error)]
pub enum UploadUrlError {
    /// The caller may not work the queue, or the assignment does not exist, belongs to another
    /// worker, is completed, or lost its lease.
    #[error(transparent)]
    Assignment(#[from] AssignmentError),
    /// No file was named.
    #[error("Name at least one file")]
    NoFiles,
    /// More files than one request may name.
    #[error("At most {0} files per request")]
    TooManyFiles(usize),
    /// The object store refused or failed.
    #[error(transparent)]
    Storage(#[from] ObjectStoreError),
}

/// Upload URLs for an assignment's files.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadUrls {
    /// Relative path → presigned PUT URL.
    pub files: BTreeMap<RelativePath, String>,
    /// Lifetime of the URLs.
    pub expiry: PresignExpiry,
}

/// The result-file use cases.
pub struct ResultFileService<S, C> {
    store: S,
    objects: Arc<dyn ObjectStore>,
    clock: C,
    limits: ResultFileLimits,
}

impl<S: JobRepository, C: Clock> ResultFileService<S, C> {
    /// A service over the job store and the object store.
    pub fn new(
        store: S,
        objects: Arc<dyn ObjectStore>,
        clock: C,
        limits: ResultFileLimits,
    ) -> Self {
        Self {
            store,
            objects,
            clock,
            limits,
        }
    }

    /// Presigned GET URLs for every file of a succeeded job the caller may see.
    pub async fn download(
        &self,
        actor: &User,
        id: JobId,
        request: DownloadRequest,
    ) -> Result<Download, DownloadError> {
        let details = visible_job(&self.store, actor, id).await?;
        let status = details.job.state.status();
        if status != JobStatus::Succeeded {
            return Err(DownloadError::NotSucceeded(id, status));
        }
        let result = latest_result(details.assignments.iter().filter_map(|(_, r)| r.as_ref()))
            .ok_or(DownloadError::NoResult(id))?;
        let limit = self.limits.max_download_files;
        let listing = self
            .objects
            .list(&result.storage, request.filter, limit)
            .await?;
        if listing.truncated {
            return Err(DownloadError::TooManyFiles(limit));
        }
        let mut files = BTreeMap::new();
        for object in listing.objects {
            let url = self
                .objects
                .presign_get(&result.storage, &object.path, request.expiry)
                .await?;
            files.insert(object.path, url);
        }
        Ok(Download {
            job: details.job,
            files,
        })
    }

    /// Presigned PUT URLs below the assignment's storage prefix, for the worker holding its
    /// lease (or an administrator).
    pub async fn upload_urls(
        &self,
        actor: &User,
        id: AssignmentId,
        paths: Vec<RelativePath>,
    ) -> Result<UploadUrls, UploadUrlError> {
        require_worker(actor).map_err(AssignmentError::from)?;
        if paths.is_empty() {
            return Err(UploadUrlError::NoFiles);
        }
        if paths.len() > self.limits.max_upload_files {
            return Err(UploadUrlError::TooManyFiles(self.limits.max_upload_files));
        }
        let (assignment, job) = held_assignment(&self.store, actor, id).await?;
        if assignment.completed_at.is_some() {
            return Err(AssignmentError::AlreadyCompleted.into());
        }
        job.state
            .require_live_lease(self.clock.now())
            .map_err(lease_lost)?;
        let expiry = self.limits.upload_expiry;
        let mut files = BTreeMap::new();
        for path in paths {
            if files.contains_key(&path) {
                continue;
            }
            let url = self
                .objects
                .presign_put(&assignment.storage, &path, expiry)
                .await?;
            files.insert(path, url);
        }
        Ok(UploadUrls { files, expiry })
    }
}

/// The most recent of a job's results (a re-queued job may have results of earlier attempts only
/// if they failed; the succeeded one is the last).
fn latest_result<'a>(results: impl Iterator<Item = &'a JobResult>) -> Option<&'a JobResult> {
    results.max_by_key(|result| (result.created_at, result.id))
}

#[cfg(test)]
mod tests;
