//! The queries of ReefGuide's tables and their rows as the domain's source rows.

use chrono::{DateTime, NaiveDateTime, Utc};
use reefguide_domain::import::{
    SourceAssignment, SourceJob, SourceJobRequest, SourceNote, SourcePolygon, SourceResult,
    SourceUser, SourceUserLog,
};
use reefguide_ports::SourceError;
use sea_orm::{QueryResult, TryGetable};
use serde_json::Value;

pub(crate) const USERS: &str = "SELECT id::bigint AS id, email, password, \
     COALESCE(to_jsonb(roles::text[]), '[]'::jsonb) AS roles FROM \"User\" ORDER BY id";
pub(crate) const USER_LOGS: &str = "SELECT id::bigint AS id, time, action::text AS action, \
     metadata, \"userId\"::bigint AS user_id FROM \"UserLog\" ORDER BY id";
/// `"Polygon"`, with R2's `project_id` when the column is there.
pub(crate) fn polygons_sql(has_project: bool) -> String {
    let project = if has_project {
        "project_id::bigint"
    } else {
        "NULL::bigint"
    };
    format!(
        "SELECT id::bigint AS id, created_at, user_id::bigint AS user_id, polygon, {project} AS \
         project_id FROM \"Polygon\" ORDER BY id"
    )
}
pub(crate) const NOTES: &str = "SELECT id::bigint AS id, created_at, content, user_id::bigint \
     AS user_id, polygon_id::bigint AS polygon_id FROM \"PolygonNote\" ORDER BY id";
pub(crate) const JOBS: &str = "SELECT id::bigint AS id, created_at, updated_at, type::text AS \
     job_type, status::text AS status, hash, user_id::bigint AS user_id, input_payload FROM \
     \"Job\" ORDER BY id";
pub(crate) const JOB_REQUESTS: &str = "SELECT id::bigint AS id, created_at, user_id::bigint AS \
     user_id, type::text AS job_type, input_payload, cache_hit, job_id::bigint AS job_id FROM \
     \"JobRequest\" ORDER BY id";
pub(crate) const ASSIGNMENTS: &str = "SELECT id::bigint AS id, created_at, updated_at, \
     job_id::bigint AS job_id, ecs_task_arn, ecs_cluster_arn, expires_at, storage_scheme::text \
     AS storage_scheme, storage_uri, heartbeat_at, completed_at FROM \"JobAssignment\" ORDER BY \
     id";
/// `"JobResult"`, with R2's `cache_valid` when the column is there (R1: always valid).
pub(crate) fn results_sql(has_cache_valid: bool) -> String {
    let cache_valid = if has_cache_valid {
        "cache_valid"
    } else {
        "true"
    };
    format!(
        "SELECT id::bigint AS id, created_at, job_id::bigint AS job_id, assignment_id::bigint AS \
         assignment_id, result_payload, storage_scheme::text AS storage_scheme, storage_uri, \
         metadata, {cache_valid} AS cache_valid FROM \"JobResult\" ORDER BY id"
    )
}

/// One row of `table` being read: its columns by name, failures naming the row.
pub(crate) struct Row<'a> {
    row: &'a QueryResult,
    table: &'static str,
    id: i64,
}

impl<'a> Row<'a> {
    pub(crate) fn new(row: &'a QueryResult, table: &'static str) -> Result<Self, SourceError> {
        let id = row
            .try_get::<i64>("", "id")
            .map_err(|error| SourceError::BadRow {
                table,
                id: 0,
                message: format!("no id: {error}"),
            })?;
        Ok(Self { row, table, id })
    }

    /// The row's id.
    pub(crate) fn id(&self) -> i64 {
        self.id
    }

    pub(crate) fn get<T: TryGetable>(&self, column: &str) -> Result<T, SourceError> {
        self.row
            .try_get::<T>("", column)
            .map_err(|error| SourceError::BadRow {
                table: self.table,
                id: self.id,
                message: format!("column {column}: {error}"),
            })
    }

    pub(crate) fn time(&self, column: &str) -> Result<DateTime<Utc>, SourceError> {
        Ok(self.get::<NaiveDateTime>(column)?.and_utc())
    }

    pub(crate) fn maybe_time(&self, column: &str) -> Result<Option<DateTime<Utc>>, SourceError> {
        Ok(self
            .get::<Option<NaiveDateTime>>(column)?
            .map(|time| time.and_utc()))
    }

    /// A JSON array of enum names (roles), strings only.
    pub(crate) fn names(&self, column: &str) -> Result<Vec<String>, SourceError> {
        let names = self.get::<Value>(column)?;
        Ok(names
            .as_array()
            .map(|names| {
                names
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }
}

pub(crate) fn users(rows: &[QueryResult]) -> Result<Vec<SourceUser>, SourceError> {
    rows.iter()
        .map(|row| {
            let row = Row::new(row, "User")?;
            Ok(SourceUser {
                id: row.id,
                email: row.get("email")?,
                password: row.get("password")?,
                roles: row.names("roles")?,
            })
        })
        .collect()
}

pub(crate) fn user_logs(rows: &[QueryResult]) -> Result<Vec<SourceUserLog>, SourceError> {
    rows.iter()
        .map(|row| {
            let row = Row::new(row, "UserLog")?;
            Ok(SourceUserLog {
                id: row.id,
                time: row.time("time")?,
                action: row.get("action")?,
                metadata: row.get("metadata")?,
                user_id: row.get("user_id")?,
            })
        })
        .collect()
}

pub(crate) fn polygons(rows: &[QueryResult]) -> Result<Vec<SourcePolygon>, SourceError> {
    rows.iter()
        .map(|row| {
            let row = Row::new(row, "Polygon")?;
            Ok(SourcePolygon {
                id: row.id,
                created_at: row.time("created_at")?,
                user_id: row.get("user_id")?,
                polygon: row.get("polygon")?,
                project_id: row.get("project_id")?,
            })
        })
        .collect()
}

pub(crate) fn notes(rows: &[QueryResult]) -> Result<Vec<SourceNote>, SourceError> {
    rows.iter()
        .map(|row| {
            let row = Row::new(row, "PolygonNote")?;
            Ok(SourceNote {
                id: row.id,
                created_at: row.time("created_at")?,
                content: row.get("content")?,
                user_id: row.get("user_id")?,
                polygon_id: row.get("polygon_id")?,
            })
        })
        .collect()
}

pub(crate) fn jobs(rows: &[QueryResult]) -> Result<Vec<SourceJob>, SourceError> {
    rows.iter()
        .map(|row| {
            let row = Row::new(row, "Job")?;
            Ok(SourceJob {
                id: row.id,
                created_at: row.time("created_at")?,
                updated_at: row.time("updated_at")?,
                job_type: row.get("job_type")?,
                status: row.get("status")?,
                hash: row.get("hash")?,
                user_id: row.get("user_id")?,
                input_payload: row.get("input_payload")?,
            })
        })
        .collect()
}

pub(crate) fn job_requests(rows: &[QueryResult]) -> Result<Vec<SourceJobRequest>, SourceError> {
    rows.iter()
        .map(|row| {
            let row = Row::new(row, "JobRequest")?;
            Ok(SourceJobRequest {
                id: row.id,
                created_at: row.time("created_at")?,
                user_id: row.get("user_id")?,
                job_type: row.get("job_type")?,
                input_payload: row.get("input_payload")?,
                cache_hit: row.get("cache_hit")?,
                job_id: row.get("job_id")?,
            })
        })
        .collect()
}

pub(crate) fn assignments(rows: &[QueryResult]) -> Result<Vec<SourceAssignment>, SourceError> {
    rows.iter()
        .map(|row| {
            let row = Row::new(row, "JobAssignment")?;
            Ok(SourceAssignment {
                id: row.id,
                created_at: row.time("created_at")?,
                updated_at: row.time("updated_at")?,
                job_id: row.get("job_id")?,
                ecs_task_arn: row.get("ecs_task_arn")?,
                ecs_cluster_arn: row.get("ecs_cluster_arn")?,
                expires_at: row.time("expires_at")?,
                storage_scheme: row.get("storage_scheme")?,
                storage_uri: row.get("storage_uri")?,
                heartbeat_at: row.maybe_time("heartbeat_at")?,
                completed_at: row.maybe_time("completed_at")?,
            })
        })
        .collect()
}

pub(crate) fn results(rows: &[QueryResult]) -> Result<Vec<SourceResult>, SourceError> {
    rows.iter()
        .map(|row| {
            let row = Row::new(row, "JobResult")?;
            Ok(SourceResult {
                id: row.id,
                created_at: row.time("created_at")?,
                job_id: row.get("job_id")?,
                assignment_id: row.get("assignment_id")?,
                result_payload: row.get("result_payload")?,
                storage_scheme: row.get("storage_scheme")?,
                storage_uri: row.get("storage_uri")?,
                metadata: row.get("metadata")?,
                cache_valid: row.get("cache_valid")?,
            })
        })
        .collect()
}
