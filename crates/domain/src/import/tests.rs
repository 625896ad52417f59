use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use serde_json::{Value, json};

use super::*;
use crate::audit::UserAction;
use crate::job::JobStatus;
use crate::job::registry::JobTypeSpec;
use crate::user::Role;

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 5, 1, 12, 0, 0)
        .single()
        .expect("a time")
        + Duration::minutes(minute)
}

fn rules(merge: bool) -> ImportRules {
    ImportRules {
        now: at(1_000),
        merge_case_duplicates: merge,
        policies: JobTypeSpec::builtins()
            .into_iter()
            .map(|spec| (spec.name, spec.policy))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn user(id: i64, email: &str, roles: &[&str]) -> SourceUser {
    SourceUser {
        id,
        email: email.to_owned(),
        password: "$2a$10$abcdefghijklmnopqrstuu5Vh0aMpeWkA7FAZTJcPg9wG0iS2Tm6K".to_owned(),
        roles: roles.iter().map(|role| (*role).to_owned()).collect(),
    }
}

fn square() -> Value {
    json!({"type": "Polygon", "coordinates": [[[146.0, -18.0], [146.1, -18.0], [146.1, -18.1], [146.0, -18.1], [146.0, -18.0]]]})
}

fn polygon(id: i64, user_id: i64, polygon: Value) -> SourcePolygon {
    SourcePolygon {
        id,
        created_at: at(id),
        user_id,
        polygon,
        project_id: None,
    }
}

fn job(id: i64, user_id: i64, status: &str) -> SourceJob {
    SourceJob {
        id,
        created_at: at(id),
        updated_at: at(id + 1),
        job_type: "TEST".to_owned(),
        status: status.to_owned(),
        hash: format!("hash-{id}"),
        user_id,
        input_payload: json!({"id": id}),
    }
}

fn assignment(id: i64, job_id: i64) -> SourceAssignment {
    SourceAssignment {
        id,
        created_at: at(id),
        updated_at: at(id),
        job_id,
        ecs_task_arn: "arn:aws:ecs:ap-southeast-2:1:task/c/t".to_owned(),
        ecs_cluster_arn: "arn:aws:ecs:ap-southeast-2:1:cluster/c".to_owned(),
        expires_at: at(id + 60),
        storage_scheme: "S3".to_owned(),
        storage_uri: format!("s3://reefguide/jobs/{job_id}"),
        heartbeat_at: None,
        completed_at: Some(at(id + 5)),
    }
}

fn snapshot() -> SourceSnapshot {
    SourceSnapshot {
        release: Release::R1,
        users: vec![
            user(1, "admin@example.com", &["ADMIN"]),
            user(2, "Ana@Example.com", &[]),
        ],
        user_logs: vec![SourceUserLog {
            id: 1,
            time: at(3),
            action: "LOGIN".to_owned(),
            metadata: None,
            user_id: 2,
        }],
        polygons: vec![polygon(1, 2, square())],
        notes: vec![SourceNote {
            id: 1,
            created_at: at(4),
            content: "a reef".to_owned(),
            user_id: 2,
            polygon_id: 1,
        }],
        jobs: vec![job(1, 2, "SUCCEEDED"), job(2, 2, "PENDING")],
        job_requests: vec![SourceJobRequest {
            id: 1,
            created_at: at(1),
            user_id: 2,
            job_type: "TEST".to_owned(),
            input_payload: json!({"id": 1}),
            cache_hit: false,
            job_id: 1,
        }],
        assignments: vec![assignment(1, 1)],
        results: vec![SourceResult {
            id: 1,
            created_at: at(7),
            job_id: 1,
            assignment_id: 1,
            result_payload: Some(json!({"ok": true})),
            storage_scheme: "S3".to_owned(),
            storage_uri: "s3://reefguide/jobs/1".to_owned(),
            metadata: None,
            cache_valid: true,
        }],
        r2: R2Source::default(),
        counted_only: vec![("refresh_tokens".to_owned(), 3)],
    }
}

#[test]
fn the_releases_are_told_apart_by_their_tables() {
    let r1 = [
        "User",
        "Polygon",
        "PolygonNote",
        "Job",
        "JobAssignment",
        "JobResult",
    ];
    assert_eq!(Release::detect(&r1), Some(Release::R1));
    let mut r2 = r1.to_vec();
    r2.push("projects");
    assert_eq!(Release::detect(&r2), Some(Release::R2));
    assert_eq!(Release::detect(&["users", "jobs"]), None);
}

#[test]
fn everything_comes_over_with_its_ids_and_the_report_counts_it() {
    let plan = plan_import(snapshot(), &rules(false), false).expect("a plan");
    assert_eq!(plan.users.len(), 2);
    assert_eq!(plan.users[1].email.as_str(), "ana@example.com");
    assert!(plan.users[0].roles.contains(Role::Admin));
    assert!(plan.users[1].password_hash.needs_rehash(), "bcrypt kept");
    assert_eq!(plan.polygons[0].id, 1);
    assert_eq!(plan.notes[0].polygon_id, 1);
    let succeeded = &plan.jobs[0];
    assert_eq!(succeeded.state.status(), JobStatus::Succeeded);
    assert_eq!(succeeded.state.attempts(), 1);
    assert_eq!(succeeded.current_assignment, Some(1));
    assert_eq!(succeeded.hash.as_str(), "hash-1");
    assert_eq!(plan.jobs[1].state.status(), JobStatus::Pending);
    assert_eq!(
        plan.assignments[0].worker_id, 1,
        "attributed to the first ADMIN"
    );
    assert_eq!(plan.results[0].storage_uri, "s3://reefguide/jobs/1");
    let count = |table: &str| plan.report.tables.get(table).copied().unwrap_or_default();
    assert_eq!(
        count("users"),
        TableCount {
            read: 2,
            imported: 2
        }
    );
    assert_eq!(
        count("jobs"),
        TableCount {
            read: 2,
            imported: 2
        }
    );
    assert_eq!(
        count("refresh_tokens"),
        TableCount {
            read: 3,
            imported: 0
        }
    );
    assert!(
        plan.report
            .rows
            .iter()
            .any(|row| row.table == "refresh_tokens"
                && row.id.is_none()
                && row.outcome == RowOutcome::NotImported)
    );
    assert!(plan.report.conflicts.is_empty());
}

#[test]
fn emails_differing_only_by_case_stop_the_import_unless_merged() {
    let mut source = snapshot();
    source.users.push(user(3, "ana@example.com", &[]));
    source.polygons.push(polygon(2, 3, square()));
    source.jobs.push(job(3, 3, "PENDING"));
    let refused = plan_import(source.clone(), &rules(false), false).expect_err("refused");
    assert_eq!(refused.conflicts.len(), 1);
    assert_eq!(refused.conflicts[0].ids, [2, 3]);
    assert!(
        refused.conflicts[0]
            .reason
            .contains("--merge-case-duplicates")
    );

    let merged = plan_import(source, &rules(true), false).expect("merged");
    assert_eq!(merged.users.len(), 2, "user 3 folded into user 2");
    assert_eq!(merged.polygons[1].user_id, 2);
    assert_eq!(merged.jobs[2].user_id, 2);
    assert!(
        merged.report.rows.iter().any(|row| row.table == "users"
            && row.id == Some(3)
            && row.outcome == RowOutcome::Merged)
    );
}

#[test]
fn roles_map_and_default_is_no_role() {
    let mut source = snapshot();
    source.users = vec![
        user(1, "a@example.com", &["ADMIN", "ANALYST"]),
        user(2, "b@example.com", &["DEFAULT"]),
        user(3, "c@example.com", &["SUPERUSER"]),
    ];
    source.user_logs.clear();
    source.polygons.clear();
    source.notes.clear();
    let plan = plan_import(source, &rules(false), false).expect("a plan");
    assert!(plan.users[0].roles.contains(Role::Analyst));
    assert!(plan.users[1].roles.as_slice().is_empty());
    assert!(plan.users[2].roles.as_slice().is_empty());
    assert!(
        plan.report
            .rows
            .iter()
            .any(|row| row.id == Some(3) && row.reason.contains("SUPERUSER"))
    );
}

#[test]
fn refused_geometry_is_kept_marked_and_reported() {
    let mut source = snapshot();
    let bow_tie = json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]]});
    source.polygons = vec![
        polygon(1, 2, square()),
        polygon(2, 2, bow_tie),
        polygon(3, 2, json!({"type": "Polygon", "coordinates": [[]]})),
        polygon(4, 2, Value::String(square().to_string())),
    ];
    let plan = plan_import(source, &rules(false), false).expect("a plan");
    assert_eq!(plan.polygons.len(), 4, "nothing dropped");
    assert!(plan.polygons[0].shape.invalid_reason().is_none());
    assert!(plan.polygons[1].shape.invalid_reason().is_some());
    assert!(plan.polygons[2].shape.invalid_reason().is_some());
    assert!(
        plan.polygons[3].shape.invalid_reason().is_none(),
        "unwrapped"
    );
    let noted: Vec<i64> = plan
        .report
        .rows
        .iter()
        .filter(|row| row.table == "polygons")
        .filter_map(|row| row.id)
        .collect();
    assert_eq!(noted, [2, 3, 4]);
}

#[test]
fn job_states_are_rebuilt_from_their_assignments() {
    let mut source = snapshot();
    source.jobs = vec![
        job(1, 2, "IN_PROGRESS"),
        job(2, 2, "FAILED"),
        job(3, 2, "CANCELLED"),
    ];
    source.assignments = vec![assignment(1, 1), assignment(2, 1)];
    source.results.clear();
    source.job_requests.clear();
    let plan = plan_import(source, &rules(false), false).expect("a plan");
    let running = &plan.jobs[0];
    assert_eq!(running.state.status(), JobStatus::InProgress);
    assert_eq!(running.state.attempts(), 2);
    assert_eq!(
        running.state.lease_expires_at(),
        Some(at(62)),
        "the latest assignment's"
    );
    assert_eq!(running.current_assignment, Some(2));
    assert_eq!(
        plan.jobs[1].state.attempts(),
        1,
        "FAILED counts one attempt"
    );
    assert_eq!(plan.jobs[2].state.attempts(), 0);
    let warned: Vec<i64> = plan.report.rows.iter().filter_map(|row| row.id).collect();
    assert_eq!(warned, [1, 2]);
}

#[test]
fn unconfigured_job_types_and_unknown_statuses_stop_the_import() {
    let mut source = snapshot();
    source.jobs[1].job_type = "NOT_CONFIGURED".to_owned();
    source.jobs[0].status = "PAUSED".to_owned();
    let refused = plan_import(source, &rules(false), false).expect_err("refused");
    let ids: Vec<Vec<i64>> = refused.conflicts.iter().map(|c| c.ids.clone()).collect();
    assert_eq!(ids, [vec![1], vec![2]]);
}

#[test]
fn r2_log_actions_come_over_and_unknown_ones_are_said() {
    let mut source = snapshot();
    for (id, action) in [(2, "CREATE_GROUP"), (3, "NOT_AN_ACTION")] {
        source.user_logs.push(SourceUserLog {
            id,
            time: at(9),
            action: action.to_owned(),
            metadata: None,
            user_id: 2,
        });
    }
    let plan = plan_import(source, &rules(false), false).expect("a plan");
    assert_eq!(plan.user_logs.len(), 2);
    assert_eq!(plan.user_logs[1].action, UserAction::CreateGroup);
    assert_eq!(
        plan.report.tables.get("user_logs").copied(),
        Some(TableCount {
            read: 3,
            imported: 2
        })
    );
    let text = plan.report.to_string();
    assert!(text.contains("user_logs 3: not imported"), "{text}");
}
