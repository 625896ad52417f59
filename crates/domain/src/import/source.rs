//! The rows of a ReefGuide database (R1 or R2) as an importer reads them
//! (`shared/spec/reefguide-schema.md`): plain values, enums as their names, timestamps in UTC.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Which ReefGuide wrote the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Release {
    /// `open-AIMS/reefguide-web-api`.
    R1,
    /// `open-AIMS/reefguide` (projects, groups, pre-approvals, password resets).
    R2,
}

impl Release {
    /// The release whose tables `tables` are: R2 when R2's tables are there, R1 when R1's core
    /// tables are, else `None` (not a ReefGuide database).
    pub fn detect<S: AsRef<str>>(tables: &[S]) -> Option<Self> {
        let has = |name: &str| tables.iter().any(|table| table.as_ref() == name);
        let r1 = [
            "User",
            "Polygon",
            "PolygonNote",
            "Job",
            "JobAssignment",
            "JobResult",
        ]
        .iter()
        .all(|table| has(table));
        if !r1 {
            return None;
        }
        Some(
            if has("projects") || has("groups") || has("pre_approved_users") {
                Self::R2
            } else {
                Self::R1
            },
        )
    }
}

/// A `"User"` row.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceUser {
    /// Its id.
    pub id: i64,
    /// The email as stored (R1 compares it as is).
    pub email: String,
    /// Its bcrypt hash.
    pub password: String,
    /// `UserRole` names (`ADMIN`, R2's `ANALYST` and `DEFAULT`).
    pub roles: Vec<String>,
}

/// A `"UserLog"` row.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceUserLog {
    /// Its id.
    pub id: i64,
    /// When.
    pub time: DateTime<Utc>,
    /// The `UserAction` name.
    pub action: String,
    /// Its metadata.
    pub metadata: Option<Value>,
    /// Whose.
    pub user_id: i64,
}

/// A `"Polygon"` row.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcePolygon {
    /// Its id.
    pub id: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Its owner.
    pub user_id: i64,
    /// The JSON as stored (anything a client sent).
    pub polygon: Value,
    /// R2's project, if any.
    pub project_id: Option<i64>,
}

/// A `"PolygonNote"` row.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceNote {
    /// Its id.
    pub id: i64,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// The text.
    pub content: String,
    /// Its author.
    pub user_id: i64,
    /// The polygon it is on.
    pub polygon_id: i64,
}

/// A `"Job"` row.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceJob {
    /// Its id.
    pub id: i64,
    /// When it was submitted.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The `JobType` name.
    pub job_type: String,
    /// The `JobStatus` name.
    pub status: String,
    /// The payload hash (contract §7's, the same as ours).
    pub hash: String,
    /// Its owner.
    pub user_id: i64,
    /// The payload.
    pub input_payload: Value,
}

/// A `"JobRequest"` row.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceJobRequest {
    /// Its id.
    pub id: i64,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Who asked.
    pub user_id: i64,
    /// The `JobType` name.
    pub job_type: String,
    /// The payload.
    pub input_payload: Value,
    /// Whether an existing job answered it.
    pub cache_hit: bool,
    /// The job that answered it.
    pub job_id: i64,
}

/// A `"JobAssignment"` row.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceAssignment {
    /// Its id.
    pub id: i64,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// The job.
    pub job_id: i64,
    /// The ECS task that ran it.
    pub ecs_task_arn: String,
    /// Its cluster.
    pub ecs_cluster_arn: String,
    /// When the assignment was meant to end.
    pub expires_at: DateTime<Utc>,
    /// The `StorageScheme` name (`S3`).
    pub storage_scheme: String,
    /// Where its results go (`s3://bucket/prefix`).
    pub storage_uri: String,
    /// Last heartbeat.
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// When it completed.
    pub completed_at: Option<DateTime<Utc>>,
}

/// A `"JobResult"` row.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceResult {
    /// Its id.
    pub id: i64,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The job.
    pub job_id: i64,
    /// The assignment that produced it.
    pub assignment_id: i64,
    /// The worker's payload.
    pub result_payload: Option<Value>,
    /// The `StorageScheme` name.
    pub storage_scheme: String,
    /// Where its files are.
    pub storage_uri: String,
    /// Metadata.
    pub metadata: Option<Value>,
    /// R2's `cache_valid` (R1: always valid).
    pub cache_valid: bool,
}

/// Everything read from one consistent snapshot of a ReefGuide database, ordered by id.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSnapshot {
    /// Which ReefGuide.
    pub release: Release,
    /// `"User"`.
    pub users: Vec<SourceUser>,
    /// `"UserLog"`.
    pub user_logs: Vec<SourceUserLog>,
    /// `"Polygon"`.
    pub polygons: Vec<SourcePolygon>,
    /// `"PolygonNote"`.
    pub notes: Vec<SourceNote>,
    /// `"Job"`.
    pub jobs: Vec<SourceJob>,
    /// `"JobRequest"`.
    pub job_requests: Vec<SourceJobRequest>,
    /// `"JobAssignment"`.
    pub assignments: Vec<SourceAssignment>,
    /// `"JobResult"`.
    pub results: Vec<SourceResult>,
    /// R2's own tables (empty for R1).
    pub r2: super::r2::R2Source,
    /// Tables read only to be counted (not imported): name and number of rows, e.g.
    /// `("refresh_tokens", 3)`, R2's `("password_reset_codes", 1)`.
    pub counted_only: Vec<(String, u64)>,
}
