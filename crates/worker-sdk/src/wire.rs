//! The server's JSON shapes, as far as a worker needs them (unknown fields are ignored).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /api/auth/login` body.
#[derive(Debug, Serialize)]
pub(crate) struct LoginRequest<'a> {
    pub email: &'a str,
    pub password: &'a str,
}

/// `POST /api/auth/login` answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoginResponse {
    pub token: String,
    pub refresh_token: String,
}

/// `POST /api/auth/token` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefreshRequest<'a> {
    pub refresh_token: &'a str,
}

/// `POST /api/auth/token` answer (a new refresh token only when the server rotates them).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefreshResponse {
    pub token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// The error body of every failed call.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
}

/// A job as the server serialises it (snake_case).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Job {
    pub id: i64,
    #[serde(rename = "type")]
    pub job_type: String,
    #[serde(default)]
    pub input_payload: Value,
}

/// An assignment: one worker's lease on a job.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Assignment {
    pub id: i64,
    #[serde(default)]
    pub storage_scheme: Option<String>,
    #[serde(default)]
    pub storage_uri: Option<String>,
    /// When the lease ends unless extended (RFC 3339).
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// `POST /api/jobs/claim` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClaimRequest<'a> {
    pub job_types: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecs_task_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecs_cluster_arn: Option<&'a str>,
    pub wait_seconds: u64,
}

/// `POST /api/jobs/claim` answer (200).
#[derive(Debug, Deserialize)]
pub(crate) struct ClaimResponse {
    pub job: Job,
    pub assignment: Assignment,
}

/// `GET /api/jobs/poll` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct PollResponse {
    #[serde(default)]
    pub jobs: Vec<Job>,
}

/// `POST /api/jobs/assign` body. R1 requires both ARNs as strings.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AssignRequest<'a> {
    pub job_id: i64,
    pub ecs_task_arn: &'a str,
    pub ecs_cluster_arn: &'a str,
}

/// `POST /api/jobs/assign` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct AssignResponse {
    pub assignment: Assignment,
}

/// `POST /api/jobs/assignments/{id}/heartbeat` body.
#[derive(Debug, Default, Serialize)]
pub(crate) struct HeartbeatRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `POST /api/jobs/assignments/{id}/heartbeat` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct HeartbeatResponse {
    #[serde(default)]
    pub cancelled: bool,
    /// The assignment with its extended lease.
    #[serde(default)]
    pub assignment: Option<LeaseView>,
}

/// The part of an assignment a heartbeat answer is read for.
#[derive(Debug, Deserialize)]
pub(crate) struct LeaseView {
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// `POST /api/jobs/assignments/{id}/result` body.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResultRequest {
    pub status: ResultStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_payload: Option<Value>,
}

/// The final status a worker reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum ResultStatus {
    Succeeded,
    Failed,
}

/// `POST /api/jobs/assignments/{id}/upload-urls` body.
#[derive(Debug, Serialize)]
pub(crate) struct UploadUrlsRequest<'a> {
    pub files: [&'a str; 1],
}

/// `POST /api/jobs/assignments/{id}/upload-urls` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct UploadUrlsResponse {
    pub files: std::collections::HashMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_response_ignores_unknown_fields() {
        let body = r#"{"job":{"id":12,"type":"TEST","status":"IN_PROGRESS","input_payload":{"id":3},
            "user_id":1,"hash":"ab","created_at":"x","updated_at":"y","extra":1},
            "assignment":{"id":7,"job_id":12,"expires_at":"z","storage_scheme":"LOCAL",
            "storage_uri":"file:///tmp/r/test/12/1","ecs_task_arn":null,"ecs_cluster_arn":null,
            "heartbeat_at":null,"completed_at":null,"created_at":"a","updated_at":"b","more":true}}"#;
        let parsed: ClaimResponse = serde_json::from_str(body).expect("parses");
        assert_eq!(parsed.job.id, 12);
        assert_eq!(parsed.job.job_type, "TEST");
        assert_eq!(parsed.job.input_payload, serde_json::json!({"id": 3}));
        assert_eq!(parsed.assignment.id, 7);
        assert_eq!(parsed.assignment.storage_scheme.as_deref(), Some("LOCAL"));
    }

    #[test]
    fn result_request_shape() {
        let body = ResultRequest {
            status: ResultStatus::Succeeded,
            result_payload: Some(serde_json::json!({})),
        };
        assert_eq!(
            serde_json::to_value(&body).expect("serialises"),
            serde_json::json!({"status": "SUCCEEDED", "resultPayload": {}})
        );
        let claim = ClaimRequest {
            job_types: &["TEST".to_owned()],
            ecs_task_arn: None,
            ecs_cluster_arn: None,
            wait_seconds: 20,
        };
        assert_eq!(
            serde_json::to_value(&claim).expect("serialises"),
            serde_json::json!({"jobTypes": ["TEST"], "waitSeconds": 20})
        );
        let assign = AssignRequest {
            job_id: 4,
            ecs_task_arn: "task",
            ecs_cluster_arn: "cluster",
        };
        assert_eq!(
            serde_json::to_value(&assign).expect("serialises"),
            serde_json::json!({"jobId": 4, "ecsTaskArn": "task", "ecsClusterArn": "cluster"})
        );
    }

    #[test]
    fn heartbeat_answer_carries_the_new_expiry() {
        let body =
            r#"{"assignment":{"id":7,"expires_at":"2026-01-01T00:10:00.000Z"},"cancelled":false}"#;
        let parsed: HeartbeatResponse = serde_json::from_str(body).expect("parses");
        assert!(!parsed.cancelled);
        assert_eq!(
            parsed.assignment.and_then(|a| a.expires_at).as_deref(),
            Some("2026-01-01T00:10:00.000Z")
        );
    }
}
