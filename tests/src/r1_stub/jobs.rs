//! R1's worker routes for jobs: poll, assign and result, with the result schemas and the
//! JavaScript semantics they rely on.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use chrono::Utc;
use serde_json::{Value, json};

use super::auth::authenticate;
use super::http::{Answer, Body, query_object};
use super::state::{Assignment, Job, Shared, iso};
use super::zod::{Field, check_object, validation_failure};
use super::{R1_JOB_STATUSES, R1_JOB_TYPES, R1Result};

/// How long an assignment lasts (`jobExpiryMap`: 60 minutes for every type).
const ASSIGNMENT_MINUTES: i64 = 60;

/// `GET /api/jobs/poll?jobType=T`: up to 10 PENDING jobs (of that type), oldest first, that have
/// no assignment still running.
pub(super) fn poll(req: &HttpRequest, shared: &Shared) -> Answer {
    let query = query_object(req);
    let issues = check_object(
        &query,
        &[("jobType", Field::OptionalNativeEnum(&R1_JOB_TYPES))],
    );
    if !issues.is_empty() {
        return validation_failure("Query", issues);
    }
    if let Err(refused) = authenticate(req, shared) {
        return refused;
    }
    let job_type = query["jobType"].as_str();
    let now = Utc::now();
    let state = shared.state();
    let jobs: Vec<&Job> = state
        .jobs
        .values()
        .filter(|job| job.status == "PENDING")
        .filter(|job| job_type.is_none_or(|t| job.job_type == t))
        .filter(|job| {
            !state
                .assignments
                .values()
                .any(|a| a.job_id == job.id && (a.completed_at.is_none() || a.expires > now))
        })
        .take(10)
        .collect();
    Answer::json(StatusCode::OK, &json!({ "jobs": jobs }))
}

/// `POST /api/jobs/assign {jobId, ecsTaskArn, ecsClusterArn}`.
pub(super) fn assign(req: &HttpRequest, shared: &Shared, body: &Value) -> Answer {
    let issues = check_object(
        body,
        &[
            ("jobId", Field::Number),
            ("ecsTaskArn", Field::String),
            ("ecsClusterArn", Field::String),
        ],
    );
    if !issues.is_empty() {
        let answer = validation_failure("Body", issues);
        if let Some(Body::Json(text)) = &answer.body {
            let sent = serde_json::from_str(text).unwrap_or(Value::Null);
            shared.state().refused_assigns.push(sent);
        }
        return answer;
    }
    if let Err(refused) = authenticate(req, shared) {
        return refused;
    }
    // Prisma refuses an id that is no 32-bit integer; R1 does not catch that (500).
    let Some(job_id) = body["jobId"]
        .as_i64()
        .filter(|id| i32::try_from(*id).is_ok())
    else {
        return Answer::unexpected();
    };
    let task_arn = body["ecsTaskArn"].as_str().unwrap_or_default().to_owned();
    let cluster_arn = body["ecsClusterArn"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let bucket = shared.options.bucket.clone();
    let mut state = shared.state();
    let Some(job) = state.jobs.get(&job_id) else {
        return Answer::error(StatusCode::NOT_FOUND, "Job not found");
    };
    if job.status != "PENDING" {
        return Answer::error(
            StatusCode::BAD_REQUEST,
            "Job is not available for assignment",
        );
    }
    let now = Utc::now();
    let storage_uri = format!(
        "s3://{bucket}/results/{}/{job_id}/{}",
        job.job_type.to_lowercase(),
        now.timestamp_millis()
    );
    let expires = now + chrono::Duration::minutes(ASSIGNMENT_MINUTES);
    state.next_assignment += 1;
    let assignment = Assignment {
        id: state.next_assignment,
        created_at: iso(now),
        updated_at: iso(now),
        job_id,
        ecs_task_arn: task_arn,
        ecs_cluster_arn: cluster_arn,
        expires_at: iso(expires),
        storage_scheme: "S3",
        storage_uri,
        heartbeat_at: None,
        completed_at: None,
        expires,
    };
    state.assignments.insert(assignment.id, assignment.clone());
    if let Some(job) = state.jobs.get_mut(&job_id) {
        job.status = "IN_PROGRESS".to_owned();
        job.updated_at = iso(now);
    }
    Answer::json(StatusCode::OK, &json!({ "assignment": assignment }))
}

/// `POST /api/jobs/assignments/:id/result {status, resultPayload?}`.
pub(super) fn submit_result(req: &HttpRequest, shared: &Shared, id: &str, body: &Value) -> Answer {
    let issues = check_object(
        body,
        &[
            ("status", Field::NativeEnum(&R1_JOB_STATUSES)),
            ("resultPayload", Field::Any),
        ],
    );
    if !issues.is_empty() {
        return validation_failure("Body", issues);
    }
    if let Err(refused) = authenticate(req, shared) {
        return refused;
    }
    // parseInt(req.params.id); NaN or a number Prisma refuses ends in a 500.
    let Some(assignment_id) = js_parse_int(id).filter(|id| i32::try_from(*id).is_ok()) else {
        return Answer::unexpected();
    };
    let status = body["status"].as_str().unwrap_or_default().to_owned();
    let payload = body.get("resultPayload").cloned();
    let mut state = shared.state();
    let Some(assignment) = state.assignments.get(&assignment_id) else {
        return Answer::error(StatusCode::NOT_FOUND, "Assignment not found");
    };
    if assignment.completed_at.is_some() {
        return Answer::error(StatusCode::BAD_REQUEST, "Assignment already completed!");
    }
    let job_id = assignment.job_id;
    let job_type = state
        .jobs
        .get(&job_id)
        .map(|job| job.job_type.clone())
        .unwrap_or_default();
    if let Some(payload) = payload.as_ref().filter(|p| js_truthy(p))
        && !result_payload_valid(&job_type, payload)
    {
        return Answer::error(
            StatusCode::BAD_REQUEST,
            &format!("Invalid result payload for job type {job_type}"),
        );
    }
    let now = iso(Utc::now());
    if let Some(assignment) = state.assignments.get_mut(&assignment_id) {
        assignment.completed_at = Some(now.clone());
        assignment.updated_at.clone_from(&now);
    }
    if let Some(job) = state.jobs.get_mut(&job_id) {
        job.status.clone_from(&status);
        job.updated_at = now;
    }
    state.results.push(R1Result {
        assignment_id,
        job_id,
        status,
        result_payload: payload,
    });
    Answer {
        status: StatusCode::OK,
        body: None,
    }
}

/// R1's result schemas (`jobTypeSchemas[type].result`, all `.strict()`).
fn result_payload_valid(job_type: &str, payload: &Value) -> bool {
    let Some(object) = payload.as_object() else {
        return false;
    };
    let only_string =
        |key: &str| object.len() == 1 && object.get(key).is_some_and(Value::is_string);
    match job_type {
        "TEST" => object.is_empty(),
        "SUITABILITY_ASSESSMENT" => only_string("geojson_path"),
        "REGIONAL_ASSESSMENT" => only_string("cog_path"),
        _ => true,
    }
}

/// JavaScript's truthiness of a JSON value.
pub(super) fn js_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// JavaScript's `parseInt(text)` for decimal integers: leading whitespace, a sign, digits; `None`
/// for NaN.
pub(super) fn js_parse_int(text: &str) -> Option<i64> {
    let text = text.trim_start();
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let value: i64 = digits.parse().ok()?;
    Some(if negative { -value } else { value })
}
