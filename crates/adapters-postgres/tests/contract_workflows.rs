//! The storage contract of workflow jobs (labcas-contract §2), on SQLite and Postgres: workers
//! never see them (claim, poll, assign, pending counts, lease sweeps), the dispatcher's queue and
//! followed attempts, the compare-and-set start of an attempt and the record of its run.

#[allow(dead_code)] // Not every suite uses every shared helper.
mod common;

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use common::{database, user_id};
use reefguide_adapters_postgres::SeaOrmStore;
use reefguide_adapters_postgres::test_support::TestBackend;
use reefguide_domain::UserId;
use reefguide_domain::job::registry::JobTypeName;
use reefguide_domain::job::{
    Assignment, Job, JobId, JobStatus, PayloadHash, RetryPolicy, StorageBase, StorageScheme,
};
use reefguide_domain::workflow::{CollectionId, DataLocation, LocalRoot, WorkflowRun};
use reefguide_ports::JobRepository;
use reefguide_ports::repositories::{
    AssignOutcome, ClaimRequest, JobChange, NewJob, WorkerTag, WorkflowJobs, WorkflowStart,
};
use rstest::rstest;
use serde_json::json;

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("valid date")
        + Duration::seconds(seconds)
}

fn run(seconds: i64) -> WorkflowRun {
    WorkflowRun::new(
        CollectionId::parse("images").expect("id"),
        "ana@example.com",
        &DataLocation::parse("local://labcas/").expect("location"),
        at(seconds),
    )
    .expect("run")
}

/// A job of type `job_type`, a workflow job when `workflow`; created at `at(n)`.
async fn submit(store: &SeaOrmStore, job_type: &str, n: i64, workflow: bool) -> JobId {
    let payload = json!({ "n": n });
    store
        .submit_job(NewJob {
            owner: user_id(7),
            job_type: JobTypeName::parse(job_type).expect("name"),
            hash: PayloadHash::compute(job_type, &payload),
            input_payload: payload,
            policy: RetryPolicy::new(2, Duration::seconds(60)).expect("policy"),
            use_cache: false,
            now: at(n),
            workflow: workflow.then(|| run(n)),
        })
        .await
        .expect("submitted")
        .job_id
}

async fn job(store: &SeaOrmStore, id: JobId) -> Job {
    store.find_job(id).await.expect("read").expect("exists").job
}

fn worker() -> WorkerTag {
    WorkerTag {
        user_id: UserId::new(1).expect("positive"),
        ecs_task_arn: None,
        ecs_cluster_arn: None,
    }
}

fn storage() -> StorageBase {
    StorageBase::new(StorageScheme::Local, "file:///results")
}

/// Starts the next attempt of the job as the dispatcher does; the assignment, if stored.
async fn start(store: &SeaOrmStore, id: JobId, now: DateTime<Utc>) -> Option<Assignment> {
    let decided = start_of(store, id, now).await;
    let mut started = store
        .start_workflow_runs(vec![decided])
        .await
        .expect("stored");
    assert!(started.len() <= 1, "{started:?}");
    started.pop()
}

/// The start of the job's next attempt as the dispatcher decides it, on its current version.
async fn start_of(store: &SeaOrmStore, id: JobId, now: DateTime<Utc>) -> WorkflowStart {
    let current = job(store, id).await;
    let state = current
        .state
        .claim(now, &current.policy)
        .expect("claimable");
    let output = current
        .workflow
        .as_ref()
        .expect("a workflow job")
        .output
        .clone();
    WorkflowStart {
        job_id: id,
        expected_version: current.version,
        state,
        worker: current.owner,
        storage: output.storage_location(&LocalRoot::new("/srv/results")),
        now,
    }
}

#[rstest]
#[tokio::test]
async fn workers_never_see_workflow_jobs(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let workflow = submit(store, "ECHO", 1, true).await;
    let worker_job = submit(store, "TEST", 2, false).await;

    let pending = store.pending_jobs(None, 10).await.expect("listed");
    assert_eq!(
        pending.iter().map(|j| j.id).collect::<Vec<_>>(),
        [worker_job]
    );
    let counts = store.pending_counts().await.expect("counted");
    assert_eq!(
        counts.keys().map(JobTypeName::as_str).collect::<Vec<_>>(),
        ["TEST"]
    );
    let outcome = store
        .assign_job(workflow, worker(), storage(), at(3))
        .await
        .expect("answered");
    assert!(
        matches!(outcome, AssignOutcome::NotAvailable),
        "{outcome:?}"
    );
    for job_types in [None, Some(vec![JobTypeName::parse("ECHO").expect("name")])] {
        let claimed = store
            .claim_jobs(ClaimRequest {
                job_types: job_types.clone(),
                worker: worker(),
                storage: storage(),
                limit: 10,
                now: at(3),
            })
            .await
            .expect("claimed");
        let ids: Vec<JobId> = claimed.iter().map(|c| c.job.id).collect();
        assert!(
            !ids.contains(&workflow),
            "{job_types:?} claimed the workflow job"
        );
    }

    // The dispatcher's queue holds it, with its run; started, its lease never expires for the
    // sweeper.
    let queued = store.pending_workflow_jobs(10).await.expect("listed");
    assert_eq!(queued.iter().map(|j| j.id).collect::<Vec<_>>(), [workflow]);
    assert_eq!(queued[0].workflow, Some(run(1)));
    start(store, workflow, at(4)).await.expect("started");
    let long_after = at(4) + Duration::days(2);
    let expired = store.expired_leases(long_after, 10).await.expect("listed");
    assert!(expired.iter().all(|j| j.id != workflow), "{expired:?}");
}

#[rstest]
#[tokio::test]
async fn an_attempt_starts_once_and_records_its_run(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let id = submit(store, "ECHO", 1, true).await;
    let before = job(store, id).await;

    let assignment = start(store, id, at(2)).await.expect("started");
    assert_eq!(assignment.engine_run_id, None);
    assert_eq!(
        assignment.storage.uri,
        "file:///srv/results/labcas/ana@example.com/20260301T120001000000"
    );
    let started = job(store, id).await;
    assert_eq!(started.state.status(), JobStatus::InProgress);
    assert_eq!(started.state.attempts(), 1);
    assert_eq!(started.current_assignment, Some(assignment.id));

    // A start decided on the old version changes nothing.
    let stale = store
        .start_workflow_runs(vec![WorkflowStart {
            job_id: id,
            expected_version: before.version,
            state: before
                .state
                .claim(at(3), &before.policy)
                .expect("claimable"),
            worker: before.owner,
            storage: assignment.storage.clone(),
            now: at(3),
        }])
        .await
        .expect("answered");
    assert_eq!(stale, []);
    assert_eq!(
        store
            .find_job(id)
            .await
            .expect("read")
            .expect("exists")
            .assignments
            .len(),
        1
    );

    let untriggered = store
        .workflow_jobs(WorkflowJobs::Untriggered, 10)
        .await
        .expect("listed");
    assert_eq!(untriggered.len(), 1);
    assert_eq!(untriggered[0].1.id, assignment.id);
    assert!(
        store
            .workflow_jobs(WorkflowJobs::Running, 10)
            .await
            .expect("listed")
            .is_empty()
    );

    store
        .record_engine_runs(vec![(assignment.id, format!("reefguide-{id}-1"))], at(5))
        .await
        .expect("recorded");
    assert!(
        store
            .workflow_jobs(WorkflowJobs::Untriggered, 10)
            .await
            .expect("listed")
            .is_empty()
    );
    let running = store
        .workflow_jobs(WorkflowJobs::Running, 10)
        .await
        .expect("listed");
    assert_eq!(
        running[0].1.engine_run_id.as_deref(),
        Some(format!("reefguide-{id}-1").as_str())
    );

    // Cancelled while running: followed until its run is stopped (the assignment completed).
    let current = job(store, id).await;
    let cancelled = current.state.cancel().expect("cancellable");
    let change = |assignment_update| JobChange {
        job_id: id,
        expected_version: current.version,
        state: cancelled,
        now: at(6),
        assignment: assignment_update,
        result: None,
    };
    assert!(store.apply_change(change(None)).await.expect("applied"));
    let cancelling = store
        .workflow_jobs(WorkflowJobs::Cancelling, 10)
        .await
        .expect("listed");
    assert_eq!(
        cancelling.iter().map(|(j, _)| j.id).collect::<Vec<_>>(),
        [id]
    );
}

#[rstest]
#[tokio::test]
async fn a_set_of_starts_changes_the_jobs_still_at_their_version_and_loads_back_together(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let (a, b, c) = (
        submit(store, "ECHO", 1, true).await,
        submit(store, "ECHO", 2, true).await,
        submit(store, "ECHO", 3, true).await,
    );
    let worker_job = submit(store, "TEST", 4, false).await;
    let decided = vec![
        start_of(store, a, at(5)).await,
        start_of(store, b, at(5)).await,
        start_of(store, c, at(5)).await,
    ];
    // c changes after the set was decided: the set's start of c is stale.
    let c_first = start(store, c, at(4)).await.expect("started alone");

    let started = store.start_workflow_runs(decided).await.expect("answered");
    let mut started_jobs: Vec<JobId> = started.iter().map(|s| s.job_id).collect();
    started_jobs.sort();
    assert_eq!(started_jobs, [a, b]);
    for assignment in &started {
        let current = job(store, assignment.job_id).await;
        assert_eq!(current.current_assignment, Some(assignment.id));
        assert_eq!(current.state.status(), JobStatus::InProgress);
        assert_eq!(current.state.attempts(), 1);
        assert_eq!(assignment.created_at, at(5));
        assert_eq!(
            Some(assignment.expires_at),
            current.state.lease_expires_at()
        );
    }
    let c_now = store.find_job(c).await.expect("read").expect("exists");
    assert_eq!(c_now.assignments.len(), 1, "the stale start added nothing");
    assert_eq!(c_now.job.current_assignment, Some(c_first.id));

    // The runs of a set are recorded together.
    let runs: Vec<_> = started
        .iter()
        .map(|s| (s.id, format!("reefguide-{}-1", s.job_id)))
        .collect();
    store
        .record_engine_runs(runs.clone(), at(6))
        .await
        .expect("recorded");
    let mut running: Vec<_> = store
        .workflow_jobs(WorkflowJobs::Running, 10)
        .await
        .expect("listed")
        .into_iter()
        .map(|(_, assignment)| (assignment.id, assignment.engine_run_id.unwrap_or_default()))
        .collect();
    running.sort();
    let mut expected = runs;
    expected.sort();
    assert_eq!(running, expected);

    // Loaded together: the workflow jobs among the ids with their current attempts; a worker
    // job and an unknown id are absent.
    let unknown = JobId::new(999_999).expect("positive");
    let mut loaded: Vec<_> = store
        .workflow_attempts(vec![a, b, c, worker_job, unknown])
        .await
        .expect("loaded")
        .into_iter()
        .map(|(job, assignment)| (job.id, Some(assignment.id) == job.current_assignment))
        .collect();
    loaded.sort();
    assert_eq!(loaded, [(a, true), (b, true), (c, true)]);

    // One job twice in a set is a mistake of the caller, refused before anything changes.
    let d = submit(store, "ECHO", 7, true).await;
    let twice = vec![
        start_of(store, d, at(8)).await,
        start_of(store, d, at(8)).await,
    ];
    assert!(store.start_workflow_runs(twice).await.is_err());
    assert_eq!(job(store, d).await.state.status(), JobStatus::Pending);
}
