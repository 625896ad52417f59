//! The dispatcher's decisions, with mocked storage, engine and object store: what it triggers
//! and with which conf, adoption of a run that exists, back-off while the engine fails, and
//! finishing a job whose run ended.

use std::sync::Arc;

use reefguide_domain::job::registry::{JobTypeName, JobTypeOverride, JobTypeRegistry};
use reefguide_domain::job::{JobState, JobStatus};
use reefguide_domain::workflow::{
    AirflowRunState, Collection, CollectionId, Collections, DagId, DataLocation, Engine, LocalRoot,
    WorkflowRun,
};
use serde_json::json;

use super::*;
use crate::object_store::MockObjectStore;
use crate::repositories::jobs::MockJobRepository;
use crate::services::jobs::tests::{FixedClock, JOB, assignment_of, jid, job};
use crate::services::test_support::now;
use crate::workflow_engine::MockWorkflowEngine;

fn name(raw: &str) -> JobTypeName {
    JobTypeName::parse(raw).expect("name")
}

/// ECHO runs the DAG `echo`.
fn registry() -> JobTypeRegistry {
    JobTypeRegistry::with_overrides([(
        name("ECHO"),
        JobTypeOverride {
            input_schema: Some(json!({"type": "object"})),
            engine: Some(Engine::Airflow {
                dag_id: DagId::parse("echo").expect("dag"),
            }),
            ..JobTypeOverride::default()
        },
    )])
    .expect("registry")
}

fn workflows() -> Workflows {
    let images = Collection {
        id: CollectionId::parse("images").expect("id"),
        description: String::new(),
        location: DataLocation::parse("s3://archive/images/").expect("location"),
        workflows: [name("ECHO")].into_iter().collect(),
    };
    Workflows {
        collections: Collections::new([images], &registry()).expect("collections"),
        staging: DataLocation::parse("local://labcas/").expect("staging"),
    }
}

/// A workflow job of ECHO in `state`.
fn echo_job(state: JobState) -> Job {
    Job {
        workflow: Some(
            WorkflowRun::new(
                CollectionId::parse("images").expect("id"),
                "ana@example.com",
                &workflows().staging,
                now(),
            )
            .expect("run"),
        ),
        ..job("ECHO", state)
    }
}

fn dispatcher(
    store: MockJobRepository,
    engine: MockWorkflowEngine,
) -> WorkflowDispatcher<MockJobRepository, FixedClock> {
    let mut objects = MockObjectStore::new();
    objects.expect_create_folder().returning(|_| Ok(()));
    WorkflowDispatcher::new(
        store,
        FixedClock,
        Arc::new(engine),
        Arc::new(objects),
        registry(),
        workflows(),
        LocalRoot::new("/srv/results"),
    )
}

/// A store whose queue holds `pending` and nothing else to follow.
fn store_with_pending(pending: Vec<Job>) -> MockJobRepository {
    let mut store = MockJobRepository::new();
    store
        .expect_workflow_jobs()
        .returning(|_, _| Ok(Vec::new()));
    store
        .expect_pending_workflow_jobs()
        .times(1)
        .return_once(move |_| Ok(pending));
    store
}

#[tokio::test]
async fn a_pending_job_is_started_triggered_with_its_conf_and_recorded() {
    let pending = echo_job(JobState::new_pending());
    let mut store = store_with_pending(vec![pending.clone()]);
    let started = echo_job(running_state());
    let assignment = assignment_of(&started);
    let recorded = assignment.clone();
    store
        .expect_start_workflow_runs()
        .withf(|starts| {
            matches!(starts.as_slice(), [start]
                if start.state.status() == JobStatus::InProgress && start.state.attempts() == 1)
        })
        .times(1)
        .return_once(move |_| Ok(vec![assignment]));
    store
        .expect_record_engine_runs()
        .withf(move |runs, _| runs == &[(recorded.id, format!("reefguide-{}-1", jid(JOB)))])
        .times(1)
        .returning(|_, _| Ok(()));
    let mut engine = MockWorkflowEngine::new();
    engine.expect_unpause().times(1).returning(|_| Ok(()));
    engine
        .expect_trigger()
        .withf(|request| {
            let conf = &request.conf;
            request.dag_id.as_str() == "echo"
                && request.run_id.to_string() == format!("reefguide-{}-1", jid(JOB))
                && conf["in_bucket"] == json!("archive")
                && conf["in_prefix"] == json!("images/")
                && conf["out_bucket"] == json!("")
                && conf["username"] == json!("ana@example.com")
                && conf["job_id"] == json!(JOB)
                && conf["out_prefix"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/srv/results/labcas/ana@example.com/"))
        })
        .times(1)
        .returning(|_| Ok(Triggered::Created));
    engine
        .expect_run()
        .returning(|_, _| Err(EngineError::NotFound("none".into())));

    let report = dispatcher(store, engine).run_cycle().await.expect("cycle");
    assert_eq!(report.triggered, 1, "{report:?}");
}

#[tokio::test]
async fn a_run_that_exists_already_is_adopted() {
    let started = echo_job(running_state());
    let assignment = assignment_of(&started);
    let mut store = MockJobRepository::new();
    store
        .expect_workflow_jobs()
        .withf(|which, _| *which == WorkflowJobs::Untriggered)
        .times(1)
        .return_once(move |_, _| Ok(vec![(started, assignment)]));
    store
        .expect_workflow_jobs()
        .returning(|_, _| Ok(Vec::new()));
    store
        .expect_pending_workflow_jobs()
        .returning(|_| Ok(Vec::new()));
    store
        .expect_record_engine_runs()
        .withf(|runs, _| runs.len() == 1)
        .times(1)
        .returning(|_, _| Ok(()));
    let mut engine = MockWorkflowEngine::new();
    engine.expect_unpause().returning(|_| Ok(()));
    engine
        .expect_trigger()
        .times(1)
        .returning(|_| Ok(Triggered::AlreadyExists));

    let report = dispatcher(store, engine).run_cycle().await.expect("cycle");
    assert_eq!((report.triggered, report.adopted), (0, 1), "{report:?}");
}

#[tokio::test]
async fn an_unreachable_engine_fails_nothing_and_the_next_cycle_backs_off() {
    let pending = echo_job(JobState::new_pending());
    let mut store = store_with_pending(vec![pending.clone()]);
    let assignment = assignment_of(&echo_job(running_state()));
    store
        .expect_start_workflow_runs()
        .times(1)
        .return_once(move |_| Ok(vec![assignment]));
    // Neither recorded nor finished: no expectation for record_engine_runs or apply_change.
    let mut engine = MockWorkflowEngine::new();
    engine
        .expect_unpause()
        .returning(|_| Err(EngineError::Unavailable("connection refused".into())));
    engine
        .expect_trigger()
        .times(1)
        .returning(|_| Err(EngineError::Unavailable("connection refused".into())));
    engine
        .expect_run()
        .returning(|_, _| Err(EngineError::Unavailable("connection refused".into())));

    let dispatcher = dispatcher(store, engine);
    let report = dispatcher.run_cycle().await.expect("cycle");
    assert!(report.engine_error.is_some(), "{report:?}");
    assert_eq!((report.triggered, report.failed), (0, 0));
    // Backing off: the next cycle at the same instant touches neither storage nor the engine
    // (the mocks would refuse a second pending read or trigger).
    let skipped = dispatcher.run_cycle().await.expect("cycle");
    assert_eq!(skipped, DispatchReport::default());
}

#[tokio::test]
async fn a_job_whose_run_succeeded_is_finished_with_the_run_in_its_result() {
    let running = echo_job(running_state());
    let assignment = Assignment {
        engine_run_id: Some(format!("reefguide-{}-1", jid(JOB))),
        ..assignment_of(&running)
    };
    let mut store = MockJobRepository::new();
    let (job, held) = (running.clone(), assignment.clone());
    store
        .expect_workflow_jobs()
        .withf(|which, _| *which == WorkflowJobs::Running)
        .return_once(move |_, _| Ok(vec![(job, held)]));
    store
        .expect_workflow_jobs()
        .returning(|_, _| Ok(Vec::new()));
    store
        .expect_pending_workflow_jobs()
        .returning(|_| Ok(Vec::new()));
    let expected_assignment = assignment.id;
    store
        .expect_apply_change()
        .withf(move |change| {
            let payload = change
                .result
                .as_ref()
                .and_then(|result| result.result_payload.clone())
                .unwrap_or_default();
            change.state.status() == JobStatus::Succeeded
                && change.assignment.as_ref().map(|a| a.id) == Some(expected_assignment)
                && payload["dag_run_id"] == json!(format!("reefguide-{}-1", jid(JOB)))
                && payload["output_location"]
                    .as_str()
                    .is_some_and(|o| o.starts_with("local://labcas/ana@example.com/"))
        })
        .times(1)
        .returning(|_| Ok(true));
    let mut engine = MockWorkflowEngine::new();
    engine.expect_run().times(1).returning(|_, run_id| {
        Ok(RunStatus {
            run_id: run_id.to_owned(),
            state: AirflowRunState::Success,
            start_date: Some(now()),
            end_date: Some(now()),
        })
    });

    // The first cycle of a leadership checks every running attempt by id.
    let report = dispatcher(store, engine).run_cycle().await.expect("cycle");
    assert_eq!(report.succeeded, 1, "{report:?}");
}

#[tokio::test]
async fn the_sync_loads_the_attempts_of_a_listing_together_and_finishes_each_current_one() {
    let recorded = |n: i64| {
        let job = Job {
            id: jid(n),
            ..echo_job(running_state())
        };
        let assignment = Assignment {
            engine_run_id: Some(format!("reefguide-{n}-1")),
            ..assignment_of(&job)
        };
        (job, assignment)
    };
    let (first, second) = (recorded(11), recorded(12));
    // Job 13's run was triggered but its record was lost: adopted by the sync.
    let (unrecorded_job, mut unrecorded) = recorded(13);
    unrecorded.engine_run_id = None;
    let unrecorded_id = unrecorded.id;
    let attempts = vec![first, second, (unrecorded_job, unrecorded)];
    let mut store = MockJobRepository::new();
    store
        .expect_workflow_jobs()
        .returning(|_, _| Ok(Vec::new()));
    store
        .expect_pending_workflow_jobs()
        .returning(|_| Ok(Vec::new()));
    store
        .expect_workflow_attempts()
        .withf(|ids| {
            let mut ids = ids.clone();
            ids.sort();
            ids == [jid(11), jid(12), jid(13), jid(14)]
        })
        .times(1)
        .return_once(move |_| Ok(attempts));
    store
        .expect_record_engine_runs()
        .withf(move |runs, _| runs == &[(unrecorded_id, "reefguide-13-1".to_owned())])
        .times(1)
        .returning(|_, _| Ok(()));
    store
        .expect_apply_change()
        .withf(|change| change.state.status() == JobStatus::Succeeded)
        .times(3)
        .returning(|_| Ok(true));
    let mut engine = MockWorkflowEngine::new();
    engine
        .expect_runs_changed_since()
        .times(1)
        .returning(|_, _| {
            // 11–13 are current attempts; 14 is not a workflow job of ours; the last is no run id
            // of reefguide's.
            let run = |id: &str| RunStatus {
                run_id: id.to_owned(),
                state: AirflowRunState::Success,
                start_date: Some(now()),
                end_date: Some(now()),
            };
            Ok([
                "reefguide-11-1",
                "reefguide-12-1",
                "reefguide-13-1",
                "reefguide-14-1",
                "manual__1",
            ]
            .map(run)
            .to_vec())
        });

    let dispatcher = dispatcher(store, engine);
    // The first cycle of a leadership checks the (no) running attempts and sets the sync's
    // start; the second reads the changed runs.
    dispatcher.run_cycle().await.expect("first cycle");
    let report = dispatcher.run_cycle().await.expect("second cycle");
    assert_eq!(report.succeeded, 3, "{report:?}");
}

/// `IN_PROGRESS` on its first attempt.
fn running_state() -> JobState {
    JobState::new_pending()
        .claim(now(), &crate::services::jobs::tests::policy())
        .expect("claimable")
}
