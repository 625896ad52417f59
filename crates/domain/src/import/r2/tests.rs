use std::collections::HashMap;

use chrono::{DateTime, TimeZone as _, Utc};
use serde_json::json;

use super::*;
use crate::import::report::{ImportReport, RowOutcome, TableCount};
use crate::import::source::Release;
use crate::user::pre_approval::PreApprovalRole;

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 9, day, 0, 0, 0)
        .single()
        .expect("a time")
}

fn project(id: i64, owner: i64, name: &str) -> SourceProject {
    SourceProject {
        id,
        name: name.to_owned(),
        description: None,
        kind: "SITE_SELECTION".to_owned(),
        project_state: json!({"step": id}),
        is_public: false,
        created_at: at(1),
        updated_at: at(2),
        user_id: owner,
    }
}

fn group(id: i64, owner: i64, name: &str) -> SourceGroup {
    SourceGroup {
        id,
        name: name.to_owned(),
        description: Some("  field staff  ".to_owned()),
        created_at: at(1),
        updated_at: at(2),
        owner_id: owner,
    }
}

fn link(id: i64, parent_id: i64, holder_id: i64) -> Link {
    Link {
        id,
        parent_id,
        holder_id,
        created_at: at(3),
        updated_at: at(3),
    }
}

fn pre_approval(id: i64, email: &str, roles: &[&str]) -> SourcePreApproval {
    SourcePreApproval {
        id,
        email: email.to_owned(),
        roles: roles.iter().map(|role| (*role).to_owned()).collect(),
        created_at: at(1),
        updated_at: at(1),
        created_by_user_id: Some(5),
        used: false,
        used_at: None,
    }
}

/// User 5 was merged into user 3.
fn merged() -> HashMap<i64, i64> {
    HashMap::from([(5, 3)])
}

fn planned(source: &R2Source) -> (R2Plan, ImportReport) {
    let mut report = ImportReport::new(Release::R2, false);
    let plan = plan_r2(source, &merged(), &mut report);
    (plan, report)
}

fn notes_of<'a>(report: &'a ImportReport, table: &str, id: i64) -> Vec<&'a str> {
    report
        .rows
        .iter()
        .filter(|row| row.table == table && row.id == Some(id))
        .map(|row| row.reason.as_str())
        .collect()
}

#[test]
fn a_merged_users_rows_follow_them_and_what_the_merge_doubles_is_kept_once() {
    let source = R2Source {
        groups: vec![group(1, 5, "Reef team")],
        group_managers: vec![link(1, 1, 3)],
        group_members: vec![link(1, 1, 3), link(2, 1, 5), link(3, 1, 7)],
        projects: vec![project(1, 3, "Survey"), project(2, 5, "Survey")],
        project_user_shares: vec![link(1, 1, 5), link(2, 1, 3)],
        project_group_shares: vec![link(1, 2, 1)],
        ..R2Source::default()
    };
    let (plan, report) = planned(&source);

    assert_eq!(plan.groups[0].owner_id, 3);
    assert_eq!(
        plan.group_members
            .iter()
            .map(|seat| (seat.id, seat.holder_id))
            .collect::<Vec<_>>(),
        [(1, 3), (3, 7)]
    );
    let dropped = report
        .rows
        .iter()
        .find(|row| row.table == "group_members" && row.id == Some(2))
        .expect("a row for the doubled seat");
    assert_eq!(dropped.outcome, RowOutcome::Merged);
    assert!(dropped.reason.contains("merged into user 3"), "{dropped:?}");
    assert_eq!(
        report.tables["group_members"],
        TableCount {
            read: 3,
            imported: 2
        }
    );

    // Both projects are user 3's now: the second one's name is made unique, and said so.
    assert_eq!(plan.projects[1].owner_id, 3);
    assert_eq!(plan.projects[0].name.as_str(), "Survey");
    assert_eq!(plan.projects[1].name.as_str(), "Survey (2)");
    assert!(
        notes_of(&report, "projects", 2)
            .iter()
            .any(|reason| reason.contains("renamed")),
        "{report:?}"
    );
    // The share with user 5 became one with user 3, who already had one.
    assert_eq!(plan.project_user_shares.len(), 1);
    assert_eq!(plan.project_user_shares[0].holder_id, 3);
    assert_eq!(plan.project_group_shares, source.project_group_shares);
}

#[test]
fn names_and_descriptions_are_stored_as_the_routes_store_them() {
    let long_name = format!("  {}  ", "n".repeat(250));
    let mut wordy = project(3, 7, "Wordy");
    wordy.description = Some("d".repeat(2_500));
    let source = R2Source {
        groups: vec![group(4, 7, "   ")],
        projects: vec![
            project(1, 7, "  Spaced  "),
            project(2, 7, &long_name),
            wordy,
        ],
        ..R2Source::default()
    };
    let (plan, report) = planned(&source);

    assert_eq!(plan.groups[0].name.as_str(), "Group 4");
    assert_eq!(
        plan.groups[0].description.as_ref().map(Description::as_str),
        Some("field staff")
    );
    assert!(notes_of(&report, "groups", 4)[0].contains("blank"));
    assert_eq!(plan.projects[0].name.as_str(), "Spaced");
    assert!(notes_of(&report, "projects", 1).is_empty());
    assert_eq!(plan.projects[1].name.as_str(), "n".repeat(200));
    assert!(notes_of(&report, "projects", 2)[0].contains("longer than 200"));
    let description = plan.projects[2].description.as_ref().expect("kept");
    assert_eq!(description.as_str().chars().count(), 2_000);
    assert!(notes_of(&report, "projects", 3)[0].contains("description"));
    assert_eq!(plan.projects[2].kind, ProjectType::SiteSelection);
    assert_eq!(plan.projects[2].state.as_json(), &json!({"step": 3}));
}

#[test]
fn pre_approvals_keep_their_roles_and_one_address_each() {
    let mut used = pre_approval(1, "Ana@Example.com", &["ANALYST", "ADMIN"]);
    used.used = true;
    used.used_at = Some(at(4));
    let source = R2Source {
        pre_approvals: vec![
            used,
            pre_approval(2, "ana@example.com", &["ANALYST"]),
            pre_approval(3, "newcomer@example.com", &[]),
            pre_approval(4, "not an address", &["ANALYST"]),
        ],
        ..R2Source::default()
    };
    let (plan, report) = planned(&source);

    let ids: Vec<i64> = plan.pre_approvals.iter().map(|p| p.id).collect();
    assert_eq!(ids, [1, 3]);
    let first = &plan.pre_approvals[0];
    assert_eq!(first.email.as_str(), "ana@example.com");
    assert_eq!(
        first.roles.as_slice(),
        [PreApprovalRole::Admin, PreApprovalRole::Analyst]
    );
    assert!(first.used);
    assert_eq!(first.used_at, Some(at(4)));
    assert_eq!(first.created_by, Some(3), "the merged creator is followed");
    assert_eq!(
        plan.pre_approvals[1].roles.as_slice(),
        [PreApprovalRole::Default]
    );
    for (id, outcome, phrase) in [
        (2, RowOutcome::NotImported, "only by case"),
        (3, RowOutcome::ImportedWithWarning, "DEFAULT"),
        (4, RowOutcome::NotImported, "not one this service accepts"),
    ] {
        let row = report
            .rows
            .iter()
            .find(|row| row.table == "pre_approved_users" && row.id == Some(id))
            .unwrap_or_else(|| panic!("a row for pre-approval {id}: {report:?}"));
        assert_eq!(row.outcome, outcome, "{row:?}");
        assert!(row.reason.contains(phrase), "{row:?}");
    }
    assert_eq!(
        report.tables["pre_approved_users"],
        TableCount {
            read: 4,
            imported: 2
        }
    );
}

#[test]
fn the_data_specification_comes_over_as_it_is() {
    let source = R2Source {
        regions: vec![SourceRegion {
            id: 4,
            name: "Cairns-Cooktown".to_owned(),
            display_name: "Cairns - Cooktown".to_owned(),
            description: None,
            created_at: at(1),
            updated_at: at(1),
        }],
        criteria: vec![SourceCriterion {
            id: 9,
            name: "Depth".to_owned(),
            display_title: "Depth".to_owned(),
            display_subtitle: None,
            units: Some("m".to_owned()),
            min_tooltip: None,
            max_tooltip: None,
            payload_prefix: "depth".to_owned(),
            created_at: at(1),
            updated_at: at(1),
        }],
        regional_criteria: vec![SourceRegionalCriterion {
            id: 2,
            region_id: 4,
            criteria_id: 9,
            min_val: -39.5,
            max_val: 0.0,
            default_min_val: -10.0,
            default_max_val: -2.0,
            created_at: at(1),
            updated_at: at(1),
        }],
        ..R2Source::default()
    };
    let (plan, report) = planned(&source);
    assert_eq!(plan.regions, source.regions);
    assert_eq!(plan.criteria, source.criteria);
    assert_eq!(plan.regional_criteria, source.regional_criteria);
    assert!(report.rows.is_empty(), "{report:?}");
    assert_eq!(
        report.tables["regional_criteria"],
        TableCount {
            read: 1,
            imported: 1
        }
    );
}
