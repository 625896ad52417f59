//! The stored shapes of the job system: jobs, their assignments to workers, results and the
//! requests that led to them (contract §7).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use super::hash::PayloadHash;
use super::registry::JobTypeName;
use super::state::{JobState, RetryPolicy};
use crate::UserId;
use crate::id::positive_id;
use crate::workflow::WorkflowRun;

positive_id!(
    /// The id of a job.
    JobId
);
positive_id!(
    /// The id of a job assignment (one claim of a job by a worker).
    AssignmentId
);
positive_id!(
    /// The id of a job result.
    JobResultId
);
positive_id!(
    /// The id of a job request (one submission by a user, cached or not).
    JobRequestId
);

/// Where a result's files are kept: `S3` (R1) or `LOCAL` (the embedded default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StorageScheme {
    /// An S3 (or S3-compatible) bucket: `s3://bucket/…`.
    S3,
    /// Files on the server's disk: `file:///…`.
    Local,
}

impl StorageScheme {
    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::S3 => "S3",
            Self::Local => "LOCAL",
        }
    }
}

impl fmt::Display for StorageScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a storage scheme name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown storage scheme {0:?} (expected S3 or LOCAL)")]
pub struct UnknownStorageScheme(pub String);

impl FromStr for StorageScheme {
    type Err = UnknownStorageScheme;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "S3" => Ok(Self::S3),
            "LOCAL" => Ok(Self::Local),
            other => Err(UnknownStorageScheme(other.to_owned())),
        }
    }
}

/// Where one assignment's result files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageLocation {
    /// The kind of store.
    pub scheme: StorageScheme,
    /// The prefix URI, e.g. `s3://bucket/results/test/12/1700000000000`.
    pub uri: String,
}

/// The root under which every assignment's results go, e.g. `s3://bucket/results`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageBase {
    /// The kind of store.
    pub scheme: StorageScheme,
    /// The root URI, without a trailing `/`.
    pub root: String,
}

impl StorageBase {
    /// A base at `root` (a trailing `/` is dropped).
    #[must_use]
    pub fn new(scheme: StorageScheme, root: &str) -> Self {
        Self {
            scheme,
            root: root.trim_end_matches('/').to_owned(),
        }
    }

    /// The location of one assignment's results, as R1 names it:
    /// `<root>/<job type lower-cased>/<job id>/<epoch milliseconds of the claim>`.
    #[must_use]
    pub fn location_for(
        &self,
        job_type: &JobTypeName,
        job: JobId,
        now: DateTime<Utc>,
    ) -> StorageLocation {
        StorageLocation {
            scheme: self.scheme,
            uri: format!(
                "{}/{}/{}/{}",
                self.root,
                job_type.as_str().to_lowercase(),
                job,
                now.timestamp_millis()
            ),
        }
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// The job type name.
    pub job_type: JobTypeName,
    /// The user who first submitted it.
    pub owner: UserId,
    /// The validated input payload, as submitted.
    pub input_payload: Value,
    /// The content hash used for caching.
    pub hash: PayloadHash,
    /// When it was submitted.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Status, attempts and lease.
    pub state: JobState,
    /// The retry policy fixed when it was submitted.
    pub policy: RetryPolicy,
    /// The assignment holding the current lease, or the last one that held it.
    pub current_assignment: Option<AssignmentId>,
    /// Bumped by every change; storage applies a change only if it is unchanged (optimistic
    /// concurrency).
    pub version: i64,
    /// For a job of an Airflow type: its collection, submitter and run folder.
    pub workflow: Option<WorkflowRun>,
}

/// One claim of a job by a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Its id.
    pub id: AssignmentId,
    /// The job.
    pub job_id: JobId,
    /// The account that claimed it: only it (or an administrator) may act on the assignment.
    pub worker_id: UserId,
    /// When the job was claimed.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The worker's ECS task ARN, if it gave one.
    pub ecs_task_arn: Option<String>,
    /// The worker's ECS cluster ARN, if it gave one.
    pub ecs_cluster_arn: Option<String>,
    /// When the lease ends unless a heartbeat extends it.
    pub expires_at: DateTime<Utc>,
    /// Where the worker writes its result files.
    pub storage: StorageLocation,
    /// The last heartbeat, if any.
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// When a result was reported.
    pub completed_at: Option<DateTime<Utc>>,
    /// The progress last reported by a heartbeat (0..=100).
    pub progress: Option<f64>,
    /// The message last reported by a heartbeat.
    pub message: Option<String>,
    /// The workflow engine's run of this attempt (the Airflow `dag_run_id`), once triggered.
    pub engine_run_id: Option<String>,
}

/// A result reported by a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct JobResult {
    /// Its id.
    pub id: JobResultId,
    /// The job.
    pub job_id: JobId,
    /// The assignment that produced it.
    pub assignment_id: AssignmentId,
    /// When it was reported.
    pub created_at: DateTime<Utc>,
    /// The worker's result payload (validated against the type's result schema).
    pub result_payload: Option<Value>,
    /// Where its files are.
    pub storage: StorageLocation,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// Whether it may still satisfy identical submissions (false once invalidated).
    pub cache_valid: bool,
}

/// A job with its assignments and their results, oldest assignment first.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDetails {
    /// The job.
    pub job: Job,
    /// Its assignments, each with its result if one was reported.
    pub assignments: Vec<(Assignment, Option<JobResult>)>,
}

/// One submission by a user, whether it created a job or hit the cache.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRequest {
    /// Its id.
    pub id: JobRequestId,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Who made it.
    pub user_id: UserId,
    /// The job type asked for.
    pub job_type: JobTypeName,
    /// The payload sent.
    pub input_payload: Value,
    /// Whether an existing job was reused.
    pub cache_hit: bool,
    /// The job that serves it.
    pub job_id: JobId,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn storage_locations_follow_r1() {
        let base = StorageBase::new(StorageScheme::S3, "s3://bucket/results/");
        let now = Utc
            .timestamp_millis_opt(1_700_000_000_123)
            .single()
            .expect("valid instant");
        let job = JobId::new(42).expect("positive");
        let job_type = JobTypeName::parse("SUITABILITY_ASSESSMENT").expect("valid name");
        assert_eq!(
            base.location_for(&job_type, job, now),
            StorageLocation {
                scheme: StorageScheme::S3,
                uri: "s3://bucket/results/suitability_assessment/42/1700000000123".into(),
            }
        );
    }

    #[test]
    fn storage_schemes_round_trip() {
        for scheme in [StorageScheme::S3, StorageScheme::Local] {
            assert_eq!(scheme.as_str().parse::<StorageScheme>(), Ok(scheme));
        }
        assert!("s3".parse::<StorageScheme>().is_err());
    }
}
