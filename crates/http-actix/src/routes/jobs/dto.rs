//! The wire shapes of jobs, assignments, results and requests, as R1 serialises them
//! (snake_case database objects, contract §7).

use reefguide_domain::job::{Assignment, Job, JobDetails, JobRequest, JobResult};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::wire::timestamp;

/// A job status on the wire.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatusName {
    /// Waiting for a worker.
    Pending,
    /// Claimed by a worker holding a lease.
    InProgress,
    /// Finished with a result.
    Succeeded,
    /// Finished with a failure.
    Failed,
    /// Cancelled by a user.
    Cancelled,
    /// Every attempt's lease expired.
    TimedOut,
}

impl From<reefguide_domain::job::JobStatus> for JobStatusName {
    fn from(status: reefguide_domain::job::JobStatus) -> Self {
        use reefguide_domain::job::JobStatus as S;
        match status {
            S::Pending => Self::Pending,
            S::InProgress => Self::InProgress,
            S::Succeeded => Self::Succeeded,
            S::Failed => Self::Failed,
            S::Cancelled => Self::Cancelled,
            S::TimedOut => Self::TimedOut,
        }
    }
}

/// A job. `assignments` (each with its `result`) is present where R1 includes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobDto {
    /// Id.
    pub id: i32,
    /// Submission time.
    #[schema(example = "2026-01-02T03:04:05.678Z")]
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Job type name.
    #[serde(rename = "type")]
    #[schema(example = "SUITABILITY_ASSESSMENT")]
    pub job_type: String,
    /// Status.
    pub status: JobStatusName,
    /// The user who first submitted it.
    pub user_id: i32,
    /// The input payload.
    #[schema(value_type = Value)]
    pub input_payload: Value,
    /// The content hash used for caching.
    pub hash: String,
    /// The data collection of a workflow (Airflow) job; absent for other jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// Its assignments, oldest first, each with its result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignments: Option<Vec<AssignmentDto>>,
}

impl JobDto {
    /// The job alone (as R1's `poll` and `assign` return it).
    pub fn bare(job: &Job) -> Self {
        Self {
            id: job.id.get(),
            created_at: timestamp(job.created_at),
            updated_at: timestamp(job.updated_at),
            job_type: job.job_type.to_string(),
            status: job.state.status().into(),
            user_id: job.owner.get(),
            input_payload: job.input_payload.clone(),
            hash: job.hash.as_str().to_owned(),
            collection: job.workflow.as_ref().map(|run| run.collection.to_string()),
            assignments: None,
        }
    }

    /// The job with its assignments and results.
    pub fn detailed(details: &JobDetails) -> Self {
        Self {
            assignments: Some(
                details
                    .assignments
                    .iter()
                    .map(|(assignment, result)| {
                        AssignmentDto::with_result(assignment, result.as_ref())
                    })
                    .collect(),
            ),
            ..Self::bare(&details.job)
        }
    }
}

/// One claim of a job by a worker.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentDto {
    /// Id.
    pub id: i32,
    /// Claim time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// The job.
    pub job_id: i32,
    /// The worker's ECS task ARN.
    pub ecs_task_arn: Option<String>,
    /// The worker's ECS cluster ARN.
    pub ecs_cluster_arn: Option<String>,
    /// When the lease ends unless a heartbeat extends it.
    pub expires_at: String,
    /// `S3` or `LOCAL`.
    #[schema(example = "S3")]
    pub storage_scheme: String,
    /// Where the worker writes its result files.
    #[schema(example = "s3://bucket/results/test/12/1767323045678")]
    pub storage_uri: String,
    /// The last heartbeat.
    pub heartbeat_at: Option<String>,
    /// When a result was reported.
    pub completed_at: Option<String>,
    /// Progress last reported by a heartbeat (0..100).
    pub progress: Option<f64>,
    /// Message last reported by a heartbeat.
    pub message: Option<String>,
    /// The Airflow `dag_run_id` of a workflow job's attempt, once triggered; absent for other
    /// jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "reefguide-12-1")]
    pub engine_run_id: Option<String>,
    /// Its result (present inside a job's `assignments`; `null` until reported).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable, value_type = Option<ResultDto>)]
    pub result: Option<Option<ResultDto>>,
}

impl AssignmentDto {
    /// The assignment alone.
    pub fn bare(assignment: &Assignment) -> Self {
        Self {
            id: assignment.id.get(),
            created_at: timestamp(assignment.created_at),
            updated_at: timestamp(assignment.updated_at),
            job_id: assignment.job_id.get(),
            ecs_task_arn: assignment.ecs_task_arn.clone(),
            ecs_cluster_arn: assignment.ecs_cluster_arn.clone(),
            expires_at: timestamp(assignment.expires_at),
            storage_scheme: assignment.storage.scheme.as_str().to_owned(),
            storage_uri: assignment.storage.uri.clone(),
            heartbeat_at: assignment.heartbeat_at.map(timestamp),
            completed_at: assignment.completed_at.map(timestamp),
            progress: assignment.progress,
            message: assignment.message.clone(),
            engine_run_id: assignment.engine_run_id.clone(),
            result: None,
        }
    }

    fn with_result(assignment: &Assignment, result: Option<&JobResult>) -> Self {
        Self {
            result: Some(result.map(ResultDto::from)),
            ..Self::bare(assignment)
        }
    }
}

/// A worker's result.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultDto {
    /// Id.
    pub id: i32,
    /// When it was reported.
    pub created_at: String,
    /// The job.
    pub job_id: i32,
    /// The assignment that produced it.
    pub assignment_id: i32,
    /// The result payload, validated against the type's result schema.
    #[schema(value_type = Option<Value>)]
    pub result_payload: Option<Value>,
    /// `S3` or `LOCAL`.
    pub storage_scheme: String,
    /// Where its files are.
    pub storage_uri: String,
    /// Free-form metadata.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// Whether identical submissions may still reuse it.
    pub cache_valid: bool,
}

impl From<&JobResult> for ResultDto {
    fn from(result: &JobResult) -> Self {
        Self {
            id: result.id.get(),
            created_at: timestamp(result.created_at),
            job_id: result.job_id.get(),
            assignment_id: result.assignment_id.get(),
            result_payload: result.result_payload.clone(),
            storage_scheme: result.storage.scheme.as_str().to_owned(),
            storage_uri: result.storage.uri.clone(),
            metadata: result.metadata.clone(),
            cache_valid: result.cache_valid,
        }
    }
}

/// One submission by a user.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobRequestDto {
    /// Id.
    pub id: i32,
    /// When it was made.
    pub created_at: String,
    /// Who made it.
    pub user_id: i32,
    /// The job type asked for.
    #[serde(rename = "type")]
    pub job_type: String,
    /// The payload sent.
    #[schema(value_type = Value)]
    pub input_payload: Value,
    /// Whether an existing job was reused.
    pub cache_hit: bool,
    /// The job serving it.
    pub job_id: i32,
}

impl From<&JobRequest> for JobRequestDto {
    fn from(request: &JobRequest) -> Self {
        Self {
            id: request.id.get(),
            created_at: timestamp(request.created_at),
            user_id: request.user_id.get(),
            job_type: request.job_type.to_string(),
            input_payload: request.input_payload.clone(),
            cache_hit: request.cache_hit,
            job_id: request.job_id.get(),
        }
    }
}
