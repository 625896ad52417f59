use std::collections::BTreeMap;

use chrono::{TimeZone as _, Utc};
use reefguide_domain::import::{ImportRules, R2Source, Release, SourceSnapshot, SourceUser};

use super::*;
use crate::import::{MockImportTarget, MockReefGuideSource};

fn rules() -> ImportRules {
    ImportRules {
        now: Utc
            .with_ymd_and_hms(2025, 5, 1, 0, 0, 0)
            .single()
            .expect("a time"),
        merge_case_duplicates: false,
        policies: BTreeMap::new(),
    }
}

fn snapshot(emails: &[&str]) -> SourceSnapshot {
    SourceSnapshot {
        release: Release::R1,
        users: emails
            .iter()
            .zip(1..)
            .map(|(email, id)| SourceUser {
                id,
                email: (*email).to_owned(),
                password: "$2b$10$hash".to_owned(),
                roles: vec![],
            })
            .collect(),
        user_logs: vec![],
        polygons: vec![],
        notes: vec![],
        jobs: vec![],
        job_requests: vec![],
        assignments: vec![],
        results: vec![],
        r2: R2Source::default(),
        counted_only: vec![],
    }
}

fn source(emails: &'static [&'static str]) -> MockReefGuideSource {
    let mut source = MockReefGuideSource::new();
    source
        .expect_snapshot()
        .times(1)
        .returning(move || Ok(snapshot(emails)));
    source
}

fn service_account() -> Vec<Email> {
    vec![Email::parse("admin@example.com").expect("email")]
}

#[tokio::test]
async fn an_import_checks_the_target_then_writes_every_planned_row() {
    let source = source(&["a@example.com", "b@example.com"]);
    let mut target = MockImportTarget::new();
    target
        .expect_check_empty()
        .withf(|accounts| accounts.len() == 1)
        .times(1)
        .returning(|_| Ok(()));
    target
        .expect_write()
        .withf(|plan, _| plan.users.len() == 2)
        .times(1)
        .returning(|_, _| Ok(()));
    let report = ImportService::new(&source, &target)
        .run(&rules(), &service_account(), false)
        .await
        .expect("imported");
    assert!(report.imported);
    assert!(!report.dry_run);
}

#[tokio::test]
async fn a_dry_run_checks_the_target_and_writes_nothing() {
    let source = source(&["a@example.com"]);
    let mut target = MockImportTarget::new();
    target.expect_check_empty().times(1).returning(|_| Ok(()));
    target.expect_write().times(0);
    let report = ImportService::new(&source, &target)
        .run(&rules(), &service_account(), true)
        .await
        .expect("planned");
    assert!(report.dry_run);
    assert!(!report.imported);
}

#[tokio::test]
async fn a_target_holding_data_refuses_before_any_write() {
    let source = source(&["a@example.com"]);
    let mut target = MockImportTarget::new();
    target
        .expect_check_empty()
        .returning(|_| Err(ImportWriteError::NotEmpty("3 polygon(s)".into())));
    target.expect_write().times(0);
    let refused = ImportService::new(&source, &target)
        .run(&rules(), &service_account(), false)
        .await
        .expect_err("refused");
    assert!(
        matches!(&refused, ImportError::Refused { reason, .. } if reason.contains("3 polygon(s)")),
        "{refused}"
    );
    assert!(refused.report().is_some());
}

#[tokio::test]
async fn conflicts_in_the_source_refuse_before_the_target_is_touched() {
    let source = source(&["Ana@example.com", "ana@example.com"]);
    let mut target = MockImportTarget::new();
    target.expect_check_empty().times(0);
    target.expect_write().times(0);
    let refused = ImportService::new(&source, &target)
        .run(&rules(), &service_account(), false)
        .await
        .expect_err("refused");
    let report = refused.report().expect("a report");
    assert_eq!(report.conflicts.len(), 1);
    assert_eq!(report.conflicts[0].ids, [1, 2]);
}

#[tokio::test]
async fn a_failed_write_names_the_row_and_reports_nothing_imported() {
    let source = source(&["a@example.com"]);
    let mut target = MockImportTarget::new();
    target.expect_check_empty().returning(|_| Ok(()));
    target.expect_write().returning(|_, _| {
        Err(ImportWriteError::Row {
            table: "users",
            id: 1,
            message: "duplicate key".into(),
        })
    });
    let failed = ImportService::new(&source, &target)
        .run(&rules(), &service_account(), false)
        .await
        .expect_err("failed");
    assert!(failed.to_string().contains("users row 1"), "{failed}");
    assert!(!failed.report().expect("a report").imported);
}
