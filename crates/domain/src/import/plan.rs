//! From a ReefGuide snapshot to the rows this service stores: every rule of the import in one
//! place (issue 26), with what the operator must know written into the report.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::r2::{R2Plan, plan_r2};
use super::report::{Conflict, ImportReport, RowOutcome};
use super::source::{SourceJob, SourceSnapshot, SourceUser};
use crate::audit::UserAction;
use crate::job::registry::JobTypeName;
use crate::job::{JobState, JobStatus, PayloadHash, RetryPolicy};
use crate::polygon::PolygonShape;
use crate::user::{Email, PasswordHash, Role, Roles};

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportRules {
    /// When the import runs (the creation time of accounts: ReefGuide keeps none).
    pub now: DateTime<Utc>,
    /// Fold each group of users whose emails differ only by case into its lowest id (else such
    /// groups stop the import).
    pub merge_case_duplicates: bool,
    /// The retry policy of every configured job type; a job of a type not here stops the import.
    pub policies: BTreeMap<JobTypeName, RetryPolicy>,
}

/// An account to create.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedUser {
    /// Its ReefGuide id.
    pub id: i64,
    /// The email, normalised.
    pub email: Email,
    /// ReefGuide's bcrypt hash (replaced at the first login).
    pub password_hash: PasswordHash,
    /// Its roles.
    pub roles: Roles,
    /// When it was created here.
    pub created_at: DateTime<Utc>,
}

/// An audit-log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedUserLog {
    /// Its ReefGuide id.
    pub id: i64,
    /// Whose.
    pub user_id: i64,
    /// When.
    pub time: DateTime<Utc>,
    /// What.
    pub action: UserAction,
    /// Details.
    pub metadata: Option<Value>,
}

/// A polygon, valid or kept with the reason it is not.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedPolygon {
    /// Its ReefGuide id.
    pub id: i64,
    /// The owner.
    pub user_id: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Its geometry.
    pub shape: PolygonShape,
    /// R2's project it belongs to.
    pub project_id: Option<i64>,
}

/// A note.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedNote {
    /// Its ReefGuide id.
    pub id: i64,
    /// The author.
    pub user_id: i64,
    /// The polygon.
    pub polygon_id: i64,
    /// The text as written.
    pub content: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A job with its state.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedJob {
    /// Its ReefGuide id.
    pub id: i64,
    /// Submitted.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Its type.
    pub job_type: JobTypeName,
    /// The owner.
    pub user_id: i64,
    /// The payload.
    pub input_payload: Value,
    /// The cache hash, as ReefGuide computed it (the same function as ours).
    pub hash: PayloadHash,
    /// Status, attempts (its assignments) and lease.
    pub state: JobState,
    /// The type's policy, with room for the attempts already made.
    pub policy: RetryPolicy,
    /// Its latest assignment.
    pub current_assignment: Option<i64>,
}

/// A job request.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedJobRequest {
    /// Its ReefGuide id.
    pub id: i64,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Who asked.
    pub user_id: i64,
    /// The type.
    pub job_type: JobTypeName,
    /// The payload.
    pub input_payload: Value,
    /// Whether it was a cache hit.
    pub cache_hit: bool,
    /// The job answering it.
    pub job_id: i64,
}

/// An assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedAssignment {
    /// Its ReefGuide id.
    pub id: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// The job.
    pub job_id: i64,
    /// The account it is attributed to (ReefGuide records none: its first ADMIN).
    pub worker_id: i64,
    /// The ECS task.
    pub ecs_task_arn: Option<String>,
    /// Its cluster.
    pub ecs_cluster_arn: Option<String>,
    /// Lease end.
    pub expires_at: DateTime<Utc>,
    /// `S3`.
    pub storage_scheme: String,
    /// `s3://…`.
    pub storage_uri: String,
    /// Last heartbeat.
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// Completed.
    pub completed_at: Option<DateTime<Utc>>,
}

/// A result.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedResult {
    /// Its ReefGuide id.
    pub id: i64,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The job.
    pub job_id: i64,
    /// The assignment.
    pub assignment_id: i64,
    /// The payload.
    pub result_payload: Option<Value>,
    /// `S3`.
    pub storage_scheme: String,
    /// `s3://…`.
    pub storage_uri: String,
    /// Metadata.
    pub metadata: Option<Value>,
    /// Whether a cache lookup may return it.
    pub cache_valid: bool,
}

/// Everything to write, in dependency order, and the report.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportPlan {
    /// Accounts.
    pub users: Vec<ImportedUser>,
    /// Audit log.
    pub user_logs: Vec<ImportedUserLog>,
    /// Polygons.
    pub polygons: Vec<ImportedPolygon>,
    /// Notes.
    pub notes: Vec<ImportedNote>,
    /// Jobs.
    pub jobs: Vec<ImportedJob>,
    /// Job requests.
    pub job_requests: Vec<ImportedJobRequest>,
    /// Assignments.
    pub assignments: Vec<ImportedAssignment>,
    /// Results.
    pub results: Vec<ImportedResult>,
    /// R2's own tables (empty for R1).
    pub r2: R2Plan,
    /// What the operator must know.
    pub report: ImportReport,
}

/// Why the rows of a counted-only source table are not imported.
fn not_imported_reason(table: &str) -> String {
    match table {
        "refresh_tokens" => {
            "ReefGuide stores refresh tokens in clear; users log in again".to_owned()
        }
        "password_reset_codes" => "a pending reset code is short-lived and R2 hashes it \
                                   differently: a user who needs one asks again"
            .to_owned(),
        _ => "nothing here uses it".to_owned(),
    }
}

/// Plans the import of `snapshot`: the rows to write and the report, or the report of the
/// conflicts that stop it (case-only duplicate emails without merging, invalid emails, job types
/// not configured).
///
/// # Errors
/// The report, with its `conflicts`, when the import cannot go ahead.
pub fn plan_import(
    snapshot: SourceSnapshot,
    rules: &ImportRules,
    dry_run: bool,
) -> Result<ImportPlan, ImportReport> {
    let mut report = ImportReport::new(snapshot.release, dry_run);
    let (users, owner_of) = plan_users(&snapshot.users, rules, &mut report);
    let user_logs = plan_user_logs(&snapshot, &owner_of, &mut report);
    let r2 = plan_r2(&snapshot.r2, &owner_of, &mut report);
    let polygons = plan_polygons(&snapshot, &owner_of, &mut report);
    let notes: Vec<ImportedNote> = snapshot
        .notes
        .iter()
        .map(|note| ImportedNote {
            id: note.id,
            user_id: owner(&owner_of, note.user_id),
            polygon_id: note.polygon_id,
            content: note.content.clone(),
            created_at: note.created_at,
        })
        .collect();
    report.count("notes", snapshot.notes.len(), notes.len());
    let worker_id = users
        .iter()
        .find(|user| user.roles.contains(Role::Admin))
        .map(|user| user.id);
    let (jobs, assignments) = plan_jobs(&snapshot, rules, worker_id, &owner_of, &mut report);
    let job_requests = plan_job_requests(&snapshot, &owner_of, &mut report);
    let results: Vec<ImportedResult> = snapshot
        .results
        .iter()
        .map(|result| ImportedResult {
            id: result.id,
            created_at: result.created_at,
            job_id: result.job_id,
            assignment_id: result.assignment_id,
            result_payload: result.result_payload.clone(),
            storage_scheme: result.storage_scheme.clone(),
            storage_uri: result.storage_uri.clone(),
            metadata: result.metadata.clone(),
            cache_valid: result.cache_valid,
        })
        .collect();
    report.count("job_results", snapshot.results.len(), results.len());
    for (table, rows) in &snapshot.counted_only {
        let table = static_table_name(table);
        report.count(table, usize::try_from(*rows).unwrap_or(usize::MAX), 0);
        if *rows > 0 {
            report.note(
                table,
                None,
                RowOutcome::NotImported,
                not_imported_reason(table),
            );
        }
    }
    if !report.conflicts.is_empty() {
        return Err(report);
    }
    Ok(ImportPlan {
        users,
        user_logs,
        polygons,
        notes,
        jobs,
        job_requests,
        assignments,
        results,
        r2,
        report,
    })
}

/// The report's name of a counted-only table (the names the source adapter gives).
fn static_table_name(table: &str) -> &'static str {
    const KNOWN: [&str; 3] = ["refresh_tokens", "password_reset_codes", "map_layers"];
    KNOWN
        .into_iter()
        .find(|known| *known == table)
        .unwrap_or("other")
}

/// The account that owns what `user_id` owned (itself, or the user it was merged into).
pub(super) fn owner(owner_of: &HashMap<i64, i64>, user_id: i64) -> i64 {
    owner_of.get(&user_id).copied().unwrap_or(user_id)
}

/// The accounts, and who each merged-away user's rows now belong to.
fn plan_users(
    source: &[SourceUser],
    rules: &ImportRules,
    report: &mut ImportReport,
) -> (Vec<ImportedUser>, HashMap<i64, i64>) {
    let mut by_email: BTreeMap<String, Vec<&SourceUser>> = BTreeMap::new();
    for user in source {
        match Email::parse(&user.email) {
            Ok(email) => by_email
                .entry(email.as_str().to_owned())
                .or_default()
                .push(user),
            Err(error) => report.conflicts.push(Conflict {
                table: "users",
                ids: vec![user.id],
                reason: format!(
                    "email {:?} is not an address this service accepts: {error}",
                    user.email
                ),
            }),
        }
    }
    let mut users = Vec::new();
    let mut owner_of = HashMap::new();
    for (normalised, mut group) in by_email {
        group.sort_by_key(|user| user.id);
        let Some((kept, others)) = group.split_first() else {
            continue;
        };
        if !others.is_empty() {
            let emails: Vec<&str> = group.iter().map(|user| user.email.as_str()).collect();
            if !rules.merge_case_duplicates {
                report.conflicts.push(Conflict {
                    table: "users",
                    ids: group.iter().map(|user| user.id).collect(),
                    reason: format!(
                        "emails differ only by case ({}): this service compares emails without \
                         case; rename them in the source, or import with \
                         --merge-case-duplicates to fold them into user {}",
                        emails.join(", "),
                        kept.id
                    ),
                });
                continue;
            }
            for other in others {
                owner_of.insert(other.id, kept.id);
                report.note(
                    "users",
                    Some(other.id),
                    RowOutcome::Merged,
                    format!(
                        "{:?} differs from {:?} only by case: merged into user {} (its \
                         polygons, notes, jobs and log now belong to that account; its password \
                         no longer works)",
                        other.email, kept.email, kept.id
                    ),
                );
            }
        }
        let Ok(email) = Email::parse(&normalised) else {
            continue;
        };
        let roles = plan_roles(kept, report);
        if !kept.password.starts_with("$2") {
            report.note(
                "users",
                Some(kept.id),
                RowOutcome::ImportedWithWarning,
                "the stored password is not a bcrypt hash: this account cannot log in until an \
                 administrator resets its password",
            );
        }
        users.push(ImportedUser {
            id: kept.id,
            email,
            password_hash: PasswordHash::from_phc(kept.password.clone()),
            roles,
            created_at: rules.now,
        });
    }
    users.sort_by_key(|user| user.id);
    report.count("users", source.len(), users.len());
    (users, owner_of)
}

/// A user's roles: `ADMIN` and `ANALYST` kept, `DEFAULT` is no role, others dropped (noted).
fn plan_roles(user: &SourceUser, report: &mut ImportReport) -> Roles {
    let mut roles = Vec::new();
    for name in &user.roles {
        match name.as_str() {
            "ADMIN" => roles.push(Role::Admin),
            "ANALYST" => roles.push(Role::Analyst),
            "DEFAULT" => {}
            other => report.note(
                "users",
                Some(user.id),
                RowOutcome::ImportedWithWarning,
                format!("role {other:?} has no equivalent here: dropped"),
            ),
        }
    }
    Roles::from_iter(roles)
}

fn plan_user_logs(
    snapshot: &SourceSnapshot,
    owner_of: &HashMap<i64, i64>,
    report: &mut ImportReport,
) -> Vec<ImportedUserLog> {
    let mut logs = Vec::new();
    for log in &snapshot.user_logs {
        match log.action.parse::<UserAction>() {
            Ok(action) => logs.push(ImportedUserLog {
                id: log.id,
                user_id: owner(owner_of, log.user_id),
                time: log.time,
                action,
                metadata: log.metadata.clone(),
            }),
            Err(_) => report.note(
                "user_logs",
                Some(log.id),
                RowOutcome::NotImported,
                format!(
                    "action {:?} is not a user action this service knows",
                    log.action
                ),
            ),
        }
    }
    report.count("user_logs", snapshot.user_logs.len(), logs.len());
    logs
}

fn plan_polygons(
    snapshot: &SourceSnapshot,
    owner_of: &HashMap<i64, i64>,
    report: &mut ImportReport,
) -> Vec<ImportedPolygon> {
    let mut polygons = Vec::new();
    for polygon in &snapshot.polygons {
        let (shape, warning) = PolygonShape::from_imported(&polygon.polygon);
        let mut warnings: Vec<String> = warning.into_iter().collect();
        if let Some(reason) = shape.invalid_reason() {
            warnings.push(format!(
                "geometry refused by this service's validation ({reason}): kept, marked invalid; \
                 its next update must be valid"
            ));
        }
        if !warnings.is_empty() {
            report.note(
                "polygons",
                Some(polygon.id),
                RowOutcome::ImportedWithWarning,
                warnings.join("; "),
            );
        }
        polygons.push(ImportedPolygon {
            id: polygon.id,
            user_id: owner(owner_of, polygon.user_id),
            created_at: polygon.created_at,
            shape,
            project_id: polygon.project_id,
        });
    }
    report.count("polygons", snapshot.polygons.len(), polygons.len());
    polygons
}

fn plan_job_requests(
    snapshot: &SourceSnapshot,
    owner_of: &HashMap<i64, i64>,
    report: &mut ImportReport,
) -> Vec<ImportedJobRequest> {
    let mut requests = Vec::new();
    for request in &snapshot.job_requests {
        let Ok(job_type) = JobTypeName::parse(&request.job_type) else {
            report.conflicts.push(Conflict {
                table: "job_requests",
                ids: vec![request.id],
                reason: format!("job type {:?} is not a valid name", request.job_type),
            });
            continue;
        };
        requests.push(ImportedJobRequest {
            id: request.id,
            created_at: request.created_at,
            user_id: owner(owner_of, request.user_id),
            job_type,
            input_payload: request.input_payload.clone(),
            cache_hit: request.cache_hit,
            job_id: request.job_id,
        });
    }
    report.count("job_requests", snapshot.job_requests.len(), requests.len());
    requests
}

fn plan_jobs(
    snapshot: &SourceSnapshot,
    rules: &ImportRules,
    worker_id: Option<i64>,
    owner_of: &HashMap<i64, i64>,
    report: &mut ImportReport,
) -> (Vec<ImportedJob>, Vec<ImportedAssignment>) {
    let mut assignments_of: HashMap<i64, Vec<&super::source::SourceAssignment>> = HashMap::new();
    for assignment in &snapshot.assignments {
        assignments_of
            .entry(assignment.job_id)
            .or_default()
            .push(assignment);
    }
    let owner_by_job: HashMap<i64, i64> = snapshot
        .jobs
        .iter()
        .map(|job| (job.id, owner(owner_of, job.user_id)))
        .collect();
    let mut jobs = Vec::new();
    for job in &snapshot.jobs {
        let assignments = assignments_of.get(&job.id).map_or(&[][..], Vec::as_slice);
        match plan_job(job, assignments, rules, owner_of) {
            Ok((planned, warning)) => {
                if let Some(warning) = warning {
                    report.note(
                        "jobs",
                        Some(job.id),
                        RowOutcome::ImportedWithWarning,
                        warning,
                    );
                }
                jobs.push(planned);
            }
            Err(reason) => report.conflicts.push(Conflict {
                table: "jobs",
                ids: vec![job.id],
                reason,
            }),
        }
    }
    report.count("jobs", snapshot.jobs.len(), jobs.len());
    if worker_id.is_none() && !snapshot.assignments.is_empty() {
        report.note(
            "job_assignments",
            None,
            RowOutcome::ImportedWithWarning,
            "ReefGuide records no worker per assignment and the source has no ADMIN account: \
             each assignment is attributed to its job's owner",
        );
    }
    let assignments: Vec<ImportedAssignment> = snapshot
        .assignments
        .iter()
        .map(|assignment| ImportedAssignment {
            id: assignment.id,
            created_at: assignment.created_at,
            updated_at: assignment.updated_at,
            job_id: assignment.job_id,
            worker_id: worker_id
                .or_else(|| owner_by_job.get(&assignment.job_id).copied())
                .unwrap_or(assignment.job_id),
            ecs_task_arn: Some(assignment.ecs_task_arn.clone()).filter(|arn| !arn.is_empty()),
            ecs_cluster_arn: Some(assignment.ecs_cluster_arn.clone()).filter(|arn| !arn.is_empty()),
            expires_at: assignment.expires_at,
            storage_scheme: assignment.storage_scheme.clone(),
            storage_uri: assignment.storage_uri.clone(),
            heartbeat_at: assignment.heartbeat_at,
            completed_at: assignment.completed_at,
        })
        .collect();
    report.count(
        "job_assignments",
        snapshot.assignments.len(),
        assignments.len(),
    );
    (jobs, assignments)
}

/// One job: its state rebuilt from its status and assignments; a warning when it had to be
/// adjusted; an error (a conflict) when it cannot be imported.
fn plan_job(
    job: &SourceJob,
    assignments: &[&super::source::SourceAssignment],
    rules: &ImportRules,
    owner_of: &HashMap<i64, i64>,
) -> Result<(ImportedJob, Option<String>), String> {
    let job_type = JobTypeName::parse(&job.job_type)
        .map_err(|_| format!("job type {:?} is not a valid name", job.job_type))?;
    let policy = *rules.policies.get(&job_type).ok_or_else(|| {
        format!(
            "job type {:?} is not configured here: add it to job_types before importing",
            job.job_type
        )
    })?;
    let status: JobStatus = job
        .status
        .parse()
        .map_err(|_| format!("status {:?} is not a job status", job.status))?;
    let latest = assignments.iter().max_by_key(|assignment| assignment.id);
    let mut attempts = u32::try_from(assignments.len()).unwrap_or(u32::MAX);
    let mut warnings = Vec::new();
    let (status, lease) = match (status, latest) {
        (JobStatus::InProgress, Some(latest)) => {
            warnings.push(format!(
                "running at import: retried if no result arrives before its lease ends ({})",
                latest.expires_at
            ));
            (status, Some(latest.expires_at))
        }
        (JobStatus::InProgress, None) => {
            warnings.push("IN_PROGRESS with no assignment: imported as PENDING".to_owned());
            (JobStatus::Pending, None)
        }
        (status, _) => (status, None),
    };
    let needs_attempt = matches!(
        status,
        JobStatus::InProgress | JobStatus::Succeeded | JobStatus::Failed | JobStatus::TimedOut
    );
    if needs_attempt && attempts == 0 {
        attempts = 1;
        warnings.push(format!(
            "{status} with no assignment: counted as one attempt"
        ));
    }
    let state = JobState::restore(status, attempts, lease).map_err(|error| error.to_string())?;
    let policy = if attempts > policy.max_attempts() {
        RetryPolicy::new(attempts, policy.lease()).map_err(|error| error.to_string())?
    } else {
        policy
    };
    let warning = (!warnings.is_empty()).then(|| warnings.join("; "));
    Ok((
        ImportedJob {
            id: job.id,
            created_at: job.created_at,
            updated_at: job.updated_at,
            job_type,
            user_id: owner(owner_of, job.user_id),
            input_payload: job.input_payload.clone(),
            hash: PayloadHash::from_stored(job.hash.clone()),
            state,
            policy,
            current_assignment: latest.map(|assignment| assignment.id),
        },
        warning,
    ))
}
