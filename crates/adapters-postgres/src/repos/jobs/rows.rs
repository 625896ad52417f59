//! Stored job rows as domain values, and domain values as column values.

use anyhow::Context as _;
use chrono::Duration;
use reefguide_domain::job::registry::JobTypeName;
use reefguide_domain::job::{
    Assignment, Job, JobRequest, JobResult, JobState, JobStatus, PayloadHash, RetryPolicy,
    StorageLocation, StorageScheme,
};

use reefguide_domain::workflow::{CollectionId, DataLocation, WorkflowRun};
use sea_orm::{FromQueryResult as _, Iterable as _, QueryResult};

use crate::entities::{job_assignments, job_requests, job_results, jobs};
use crate::errors::DbContext as _;
use crate::repos::{assignment_id, job_id, job_request_id, job_result_id, stored_time, user_id};

/// A stored job as a domain job; a row whose state or policy breaks the domain's rules is an
/// error naming the job.
pub(super) fn to_job(row: jobs::Model) -> anyhow::Result<Job> {
    let stored_id = row.id;
    let parse = move || -> anyhow::Result<Job> {
        let status = row.status.parse::<JobStatus>()?;
        let attempts = u32::try_from(row.attempts)
            .with_context(|| format!("attempts {} is negative", row.attempts))?;
        Ok(Job {
            id: job_id(row.id)?,
            job_type: to_job_type(&row.job_type)?,
            owner: user_id(row.user_id)?,
            input_payload: row.input_payload,
            hash: PayloadHash::from_stored(row.hash),
            created_at: row.created_at,
            updated_at: row.updated_at,
            state: JobState::restore(status, attempts, row.lease_expires_at)?,
            policy: to_policy(row.max_attempts, row.lease_seconds)?,
            current_assignment: row.current_assignment_id.map(assignment_id).transpose()?,
            version: row.version,
            workflow: row.workflow.map(to_workflow).transpose()?,
        })
    };
    parse().with_context(|| format!("stored job {stored_id} cannot be read"))
}

/// The `workflow` column value of a workflow job.
pub(super) fn stored_workflow(run: &WorkflowRun) -> serde_json::Value {
    serde_json::json!({
        "collection": run.collection.as_str(),
        "username": run.username,
        "output": run.output.to_string(),
    })
}

/// A stored `workflow` column value.
fn to_workflow(stored: serde_json::Value) -> anyhow::Result<WorkflowRun> {
    let text = |key: &str| {
        stored
            .get(key)
            .and_then(serde_json::Value::as_str)
            .with_context(|| format!("workflow.{key} is missing or not text"))
    };
    Ok(WorkflowRun {
        collection: CollectionId::parse(text("collection")?)
            .context("workflow.collection is not a collection id")?,
        username: text("username")?.to_owned(),
        output: DataLocation::parse(text("output")?)
            .context("workflow.output is not a location")?,
    })
}

/// A stored job type name; one that breaks the naming rule is an error quoting it.
pub(super) fn to_job_type(stored: &str) -> anyhow::Result<JobTypeName> {
    JobTypeName::parse(stored).with_context(|| format!("job type {stored:?} is not a valid name"))
}

/// A stored retry policy.
fn to_policy(max_attempts: i32, lease_seconds: i64) -> anyhow::Result<RetryPolicy> {
    let max_attempts = u32::try_from(max_attempts)
        .with_context(|| format!("max attempts {max_attempts} is negative"))?;
    let lease = Duration::try_seconds(lease_seconds)
        .with_context(|| format!("lease of {lease_seconds} s is out of range"))?;
    Ok(RetryPolicy::new(max_attempts, lease)?)
}

/// Every column of `jobs` (aliased `j`) and `job_assignments` (aliased `a`) as `j_<column>` and
/// `a_<column>`, the names [`job_and_assignment`] reads.
pub(super) fn prefixed_columns() -> String {
    let job = jobs::Column::iter().map(|column| {
        let name = sea_orm::IdenStatic::as_str(&column);
        format!("j.\"{name}\" AS \"j_{name}\"")
    });
    let assignment = job_assignments::Column::iter().map(|column| {
        let name = sea_orm::IdenStatic::as_str(&column);
        format!("a.\"{name}\" AS \"a_{name}\"")
    });
    job.chain(assignment).collect::<Vec<_>>().join(", ")
}

/// A job and an assignment from a row of [`prefixed_columns`].
pub(super) fn job_and_assignment(row: &QueryResult) -> anyhow::Result<(Job, Assignment)> {
    let job = jobs::Model::from_query_result(row, "j_").db_context("cannot read a job")?;
    let assignment = job_assignments::Model::from_query_result(row, "a_")
        .db_context("cannot read an assignment")?;
    Ok((to_job(job)?, to_assignment(assignment)?))
}

/// A stored assignment as a domain assignment.
pub(super) fn to_assignment(row: job_assignments::Model) -> anyhow::Result<Assignment> {
    let stored_id = row.id;
    let parse = move || -> anyhow::Result<Assignment> {
        Ok(Assignment {
            id: assignment_id(row.id)?,
            job_id: job_id(row.job_id)?,
            worker_id: user_id(row.worker_id)?,
            created_at: row.created_at,
            updated_at: row.updated_at,
            ecs_task_arn: row.ecs_task_arn,
            ecs_cluster_arn: row.ecs_cluster_arn,
            expires_at: row.expires_at,
            storage: to_location(&row.storage_scheme, row.storage_uri)?,
            heartbeat_at: row.heartbeat_at,
            completed_at: row.completed_at,
            progress: row.progress,
            message: row.message,
            engine_run_id: row.engine_run_id,
        })
    };
    parse().with_context(|| format!("stored job assignment {stored_id} cannot be read"))
}

/// A stored result as a domain result.
pub(super) fn to_result(row: job_results::Model) -> anyhow::Result<JobResult> {
    let stored_id = row.id;
    let parse = move || -> anyhow::Result<JobResult> {
        Ok(JobResult {
            id: job_result_id(row.id)?,
            job_id: job_id(row.job_id)?,
            assignment_id: assignment_id(row.assignment_id)?,
            created_at: row.created_at,
            result_payload: row.result_payload,
            storage: to_location(&row.storage_scheme, row.storage_uri)?,
            metadata: row.metadata,
            cache_valid: row.cache_valid,
        })
    };
    parse().with_context(|| format!("stored job result {stored_id} cannot be read"))
}

/// A stored request as a domain request.
pub(super) fn to_request(row: job_requests::Model) -> anyhow::Result<JobRequest> {
    let stored_id = row.id;
    let parse = move || -> anyhow::Result<JobRequest> {
        Ok(JobRequest {
            id: job_request_id(row.id)?,
            created_at: row.created_at,
            user_id: user_id(row.user_id)?,
            job_type: to_job_type(&row.job_type)?,
            input_payload: row.input_payload,
            cache_hit: row.cache_hit,
            job_id: job_id(row.job_id)?,
        })
    };
    parse().with_context(|| format!("stored job request {stored_id} cannot be read"))
}

/// A stored storage location.
fn to_location(scheme: &str, uri: String) -> anyhow::Result<StorageLocation> {
    Ok(StorageLocation {
        scheme: scheme.parse::<StorageScheme>()?,
        uri,
    })
}

/// The `attempts` column value of a state.
pub(super) fn stored_attempts(state: &JobState) -> anyhow::Result<i32> {
    i32::try_from(state.attempts())
        .with_context(|| format!("{} attempts do not fit the column", state.attempts()))
}

/// The `max_attempts` and `lease_seconds` column values of a policy. Leases are stored in whole
/// seconds; a fraction of a second rounds up, so a positive lease stays positive.
pub(super) fn stored_policy(policy: &RetryPolicy) -> anyhow::Result<(i32, i64)> {
    let max_attempts = i32::try_from(policy.max_attempts()).with_context(|| {
        format!(
            "max attempts {} do not fit the column",
            policy.max_attempts()
        )
    })?;
    let lease = policy.lease();
    let seconds = lease
        .num_seconds()
        .saturating_add(i64::from(lease.subsec_nanos() > 0));
    Ok((max_attempts, seconds))
}

/// The `lease_expires_at` column value of a state.
pub(super) fn stored_lease(state: &JobState) -> Option<chrono::DateTime<chrono::Utc>> {
    state.lease_expires_at().map(stored_time)
}
