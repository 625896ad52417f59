//! The storage contract for jobs: every promise of `JobRepository`, held against both backends,
//! including the concurrency guarantees (claims never granted twice, concurrent identical
//! submissions create one job; at full scale on Postgres, where connections really race, smaller
//! on SQLite) and, on Postgres, cross-instance wake-ups (`listen_for_changes`).
//!
//! Like `contract.rs`, each test runs once on a fresh SQLite file and once on a fresh Postgres
//! database (see `reefguide_adapters_postgres::test_support`). Postgres must be reachable: without
//! it the Postgres cases fail, they are not skipped.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use common::{database, execute, user_id};
use reefguide_adapters_postgres::test_support::TestBackend;
use reefguide_adapters_postgres::{SeaOrmStore, StoreOptions};
use reefguide_domain::job::registry::JobTypeName;
use reefguide_domain::job::{
    Job, JobId, JobRequest, JobState, JobStatus, Outcome, PayloadHash, RetryPolicy, StorageBase,
    StorageScheme,
};
use reefguide_domain::{Email, PasswordHash, Roles, User, UserId};
use reefguide_ports::repositories::{
    AssignOutcome, AssignmentUpdate, ClaimRequest, Claimed, JobChange, JobQuery, JobScope, NewJob,
    NewResult, QueueCensus, Submission, WorkerTag,
};
use reefguide_ports::{JobRepository, NewUser, SystemClock, UserRepository};
use rstest::rstest;
use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Fixtures and builders

const TEST: &str = "TEST";
const OTHER: &str = "SUITABILITY_ASSESSMENT";

async fn create_user(store: &SeaOrmStore, address: &str) -> User {
    store
        .create_user(NewUser {
            email: Email::parse(address).expect("valid email"),
            password_hash: PasswordHash::from_phc(
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$hash".to_owned(),
            ),
            roles: Roles::none(),
        })
        .await
        .expect("user created")
}

/// A fixed instant (whole seconds, so both backends store it exactly) plus `seconds`.
/// A valid job type name.
fn type_name(raw: &str) -> JobTypeName {
    JobTypeName::parse(raw).expect("valid name")
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("valid date")
        + Duration::seconds(seconds)
}

fn policy(max_attempts: u32, lease_seconds: i64) -> RetryPolicy {
    RetryPolicy::new(max_attempts, Duration::seconds(lease_seconds)).expect("valid policy")
}

fn new_job(owner: UserId, job_type: &str, payload: Value, now: DateTime<Utc>) -> NewJob {
    NewJob {
        owner,
        job_type: type_name(job_type),
        hash: PayloadHash::compute(job_type, &payload),
        input_payload: payload,
        policy: policy(3, 60),
        use_cache: true,
        now,
        workflow: None,
    }
}

async fn submit(store: &SeaOrmStore, job: NewJob) -> Submission {
    store.submit_job(job).await.expect("submitted")
}

/// Submits a job that is never a cache hit.
async fn submit_fresh(store: &SeaOrmStore, owner: UserId, job_type: &str, n: i64) -> JobId {
    let job = NewJob {
        use_cache: false,
        ..new_job(owner, job_type, json!({ "n": n }), at(n))
    };
    submit(store, job).await.job_id
}

fn storage() -> StorageBase {
    StorageBase::new(StorageScheme::S3, "s3://bucket/results")
}

fn worker() -> WorkerTag {
    WorkerTag {
        user_id: UserId::new(1).expect("positive"),
        ecs_task_arn: Some("arn:aws:ecs:task/1".to_owned()),
        ecs_cluster_arn: Some("arn:aws:ecs:cluster/reef".to_owned()),
    }
}

fn claim_request(job_types: Option<&[&str]>, limit: u64, now: DateTime<Utc>) -> ClaimRequest {
    ClaimRequest {
        job_types: job_types.map(|types| types.iter().map(|t| type_name(t)).collect()),
        worker: worker(),
        storage: storage(),
        limit,
        now,
    }
}

async fn claim(store: &SeaOrmStore, limit: u64, now: DateTime<Utc>) -> Vec<Claimed> {
    store
        .claim_jobs(claim_request(None, limit, now))
        .await
        .expect("claimed")
}

async fn claim_one(store: &SeaOrmStore, now: DateTime<Utc>) -> Claimed {
    let mut claimed = claim(store, 1, now).await;
    assert_eq!(claimed.len(), 1, "one job claimed");
    claimed.remove(0)
}

async fn job(store: &SeaOrmStore, id: JobId) -> Job {
    store
        .find_job(id)
        .await
        .expect("query")
        .expect("job exists")
        .job
}

/// The change reporting `outcome` for a claimed job at `now`, with its result.
fn completion(claimed: &Claimed, outcome: Outcome, now: DateTime<Utc>) -> JobChange {
    JobChange {
        job_id: claimed.job.id,
        expected_version: claimed.job.version,
        state: claimed
            .job
            .state
            .complete(outcome, now)
            .expect("live lease"),
        now,
        assignment: Some(AssignmentUpdate {
            id: claimed.assignment.id,
            expires_at: None,
            heartbeat_at: None,
            completed_at: Some(now),
            progress: None,
            message: None,
        }),
        result: Some(NewResult {
            assignment_id: claimed.assignment.id,
            result_payload: Some(json!({ "outcome": format!("{outcome:?}") })),
            storage: claimed.assignment.storage.clone(),
        }),
    }
}

/// A change without assignment or result, to `state` of `job`.
fn bare_change(job: &Job, state: JobState, now: DateTime<Utc>) -> JobChange {
    JobChange {
        job_id: job.id,
        expected_version: job.version,
        state,
        now,
        assignment: None,
        result: None,
    }
}

async fn apply(store: &SeaOrmStore, change: JobChange) {
    assert!(
        store.apply_change(change).await.expect("query"),
        "change applied"
    );
}

fn ids(jobs: &[Job]) -> Vec<JobId> {
    jobs.iter().map(|job| job.id).collect()
}

fn claimed_ids(claimed: &[Claimed]) -> Vec<JobId> {
    claimed.iter().map(|c| c.job.id).collect()
}

fn query(scope: JobScope, limit: u64) -> JobQuery {
    JobQuery {
        scope,
        status: None,
        job_type: None,
        limit,
        before: None,
        offset: 0,
    }
}

async fn listed(store: &SeaOrmStore, query: JobQuery) -> (Vec<JobId>, u64) {
    let page = store.list_jobs(query).await.expect("query");
    (page.jobs.iter().map(|d| d.job.id).collect(), page.total)
}

async fn count(store: &SeaOrmStore, sql: &str) -> i64 {
    let row = store
        .connection()
        .query_one_raw(Statement::from_string(
            store.connection().get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
        .expect("one row");
    row.try_get_by_index::<i64>(0).expect("a count")
}

// ---------------------------------------------------------------------------------------------
// Submission and the cache

#[rstest]
#[tokio::test]
async fn submission_creates_a_pending_job_and_a_request(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "owner@example.com").await;
    let other = create_user(store, "other@example.com").await;
    let payload = json!({"region": "Cairns", "threshold": 0.5});

    let submission = submit(store, new_job(owner.id, TEST, payload.clone(), at(0))).await;
    assert!(!submission.cached);

    let details = store
        .find_job(submission.job_id)
        .await
        .expect("query")
        .expect("found");
    assert!(details.assignments.is_empty());
    let job = details.job;
    assert_eq!(job.id, submission.job_id);
    assert_eq!(job.job_type.as_str(), TEST);
    assert_eq!(job.owner, owner.id);
    assert_eq!(job.input_payload, payload);
    assert_eq!(job.hash, PayloadHash::compute(TEST, &payload));
    assert_eq!(job.created_at, at(0));
    assert_eq!(job.updated_at, at(0));
    assert_eq!(job.state.status(), JobStatus::Pending);
    assert_eq!(job.state.attempts(), 0);
    assert_eq!(job.state.lease_expires_at(), None);
    assert_eq!(job.policy, policy(3, 60));
    assert_eq!(job.current_assignment, None);
    assert_eq!(job.version, 0);

    let requests = store.list_requests(None, 10).await.expect("query");
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.id, submission.request_id);
    assert_eq!(request.user_id, owner.id);
    assert_eq!(request.job_type.as_str(), TEST);
    assert_eq!(request.input_payload, payload);
    assert!(!request.cache_hit);
    assert_eq!(request.job_id, job.id);
    assert_eq!(request.created_at, at(0));

    assert!(store.has_requested(owner.id, job.id).await.expect("query"));
    assert!(!store.has_requested(other.id, job.id).await.expect("query"));
    assert!(
        !store
            .has_requested(user_id(999), job.id)
            .await
            .expect("query")
    );
    assert_eq!(
        store
            .find_job(JobId::new(999).expect("positive"))
            .await
            .expect("query"),
        None
    );
}

#[rstest]
#[tokio::test]
async fn identical_submissions_reuse_live_jobs(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "owner@example.com").await;
    let other = create_user(store, "other@example.com").await;
    let payload = json!({"region": "Cairns"});

    let first = submit(store, new_job(owner.id, TEST, payload.clone(), at(0))).await;
    // Keys in another order and extra whitespace hash the same.
    let again = submit(
        store,
        new_job(other.id, TEST, json!({"region": "  Cairns "}), at(1)),
    )
    .await;
    assert!(again.cached);
    assert_eq!(again.job_id, first.job_id);
    assert_ne!(again.request_id, first.request_id);
    assert!(
        store
            .has_requested(other.id, first.job_id)
            .await
            .expect("query")
    );
    let requests = store
        .list_requests(Some(other.id), 10)
        .await
        .expect("query");
    assert_eq!(requests.len(), 1);
    assert!(requests[0].cache_hit);
    assert_eq!(requests[0].job_id, first.job_id);

    // Without the cache, a new job.
    let uncached = submit(
        store,
        NewJob {
            use_cache: false,
            ..new_job(owner.id, TEST, payload.clone(), at(2))
        },
    )
    .await;
    assert!(!uncached.cached);
    assert_ne!(uncached.job_id, first.job_id);

    // The newest live job is reused; an in-progress one is live.
    let claimed = claim(store, 2, at(3)).await;
    assert_eq!(claimed_ids(&claimed), vec![first.job_id, uncached.job_id]);
    let reused = submit(store, new_job(other.id, TEST, payload.clone(), at(4))).await;
    assert!(reused.cached);
    assert_eq!(reused.job_id, uncached.job_id);

    // Another type with the same payload is another job.
    let other_type = submit(store, new_job(owner.id, OTHER, payload, at(5))).await;
    assert!(!other_type.cached);
    assert_eq!(
        store.list_requests(None, 100).await.expect("query").len(),
        5
    );
}

/// How a job ends without success.
#[derive(Debug, Clone, Copy)]
enum Unsuccessful {
    Failed,
    Cancelled,
    TimedOut,
}

#[rstest]
#[tokio::test]
async fn unsuccessful_jobs_are_never_reused(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
    #[values(Unsuccessful::Failed, Unsuccessful::Cancelled, Unsuccessful::TimedOut)]
    ending: Unsuccessful,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "owner@example.com").await;
    let payload = json!({"id": 1});
    let first = submit(
        store,
        NewJob {
            policy: policy(1, 60),
            ..new_job(owner.id, TEST, payload.clone(), at(0))
        },
    )
    .await;
    match ending {
        Unsuccessful::Failed => {
            let claimed = claim_one(store, at(1)).await;
            // Even with a (cache-valid) result stored.
            apply(store, completion(&claimed, Outcome::Failed, at(2))).await;
        }
        Unsuccessful::Cancelled => {
            let pending = job(store, first.job_id).await;
            let state = pending.state.cancel().expect("cancellable");
            apply(store, bare_change(&pending, state, at(2))).await;
        }
        Unsuccessful::TimedOut => {
            let claimed = claim_one(store, at(1)).await;
            let state = claimed
                .job
                .state
                .expire(at(61), &claimed.job.policy)
                .expect("expired");
            assert_eq!(state.status(), JobStatus::TimedOut);
            apply(store, bare_change(&claimed.job, state, at(61))).await;
        }
    }
    assert!(job(store, first.job_id).await.state.status().is_terminal());

    let again = submit(store, new_job(owner.id, TEST, payload, at(100))).await;
    assert!(!again.cached);
    assert_ne!(again.job_id, first.job_id);
}

#[rstest]
#[tokio::test]
async fn succeeded_jobs_are_reused_while_their_result_is_valid(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "owner@example.com").await;
    let payload = json!({"id": 7});
    let fresh = |now| NewJob {
        use_cache: false,
        ..new_job(owner.id, TEST, payload.clone(), now)
    };

    // A SUCCEEDED job without a result is not reusable.
    let no_result = submit(store, fresh(at(0))).await.job_id;
    let claimed = claim_one(store, at(1)).await;
    let mut done = completion(&claimed, Outcome::Succeeded, at(2));
    done.result = None;
    apply(store, done).await;
    // A SUCCEEDED job with a result, older than a pending one: preferred to it.
    let succeeded = submit(store, fresh(at(3))).await.job_id;
    let claimed = claim_one(store, at(4)).await;
    assert_eq!(claimed.job.id, succeeded);
    apply(store, completion(&claimed, Outcome::Succeeded, at(5))).await;
    let pending = submit(store, fresh(at(6))).await.job_id;
    assert!(no_result < succeeded && succeeded < pending);

    let hit = submit(store, new_job(owner.id, TEST, payload.clone(), at(7))).await;
    assert!(hit.cached);
    assert_eq!(hit.job_id, succeeded);

    // Invalidating another type changes nothing.
    assert_eq!(
        store
            .invalidate_cache(type_name(OTHER))
            .await
            .expect("query"),
        0
    );
    assert_eq!(
        store
            .invalidate_cache(type_name(TEST))
            .await
            .expect("query"),
        1
    );
    assert_eq!(
        store
            .invalidate_cache(type_name(TEST))
            .await
            .expect("query"),
        0,
        "already invalid"
    );
    let details = store
        .find_job(succeeded)
        .await
        .expect("query")
        .expect("found");
    let result = details.assignments[0].1.as_ref().expect("a result");
    assert!(!result.cache_valid);

    // Now the newest live job serves the request.
    let after = submit(store, new_job(owner.id, TEST, payload, at(8))).await;
    assert!(after.cached);
    assert_eq!(after.job_id, pending);
}

// ---------------------------------------------------------------------------------------------
// Claims

#[rstest]
#[tokio::test]
async fn claims_take_the_oldest_jobs_first(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "owner@example.com").await;
    // Ids and submission times disagree: claim order is by submission time.
    let late = submit_fresh(store, owner.id, TEST, 30).await;
    let early = submit_fresh(store, owner.id, TEST, 10).await;
    let middle = submit_fresh(store, owner.id, OTHER, 20).await;

    let now = at(100) + Duration::milliseconds(123);
    let claimed = claim(store, 2, now).await;
    assert_eq!(claimed_ids(&claimed), vec![early, middle]);

    let first = &claimed[0];
    let job = &first.job;
    assert_eq!(job.state.status(), JobStatus::InProgress);
    assert_eq!(job.state.attempts(), 1);
    assert_eq!(
        job.state.lease_expires_at(),
        Some(now + Duration::seconds(60))
    );
    assert_eq!(job.current_assignment, Some(first.assignment.id));
    assert_eq!(job.version, 1);
    assert_eq!(job.updated_at, now);
    assert_eq!(job.created_at, at(10));
    let assignment = &first.assignment;
    assert_eq!(assignment.job_id, early);
    assert_eq!(assignment.created_at, now);
    assert_eq!(assignment.updated_at, now);
    assert_eq!(assignment.expires_at, now + Duration::seconds(60));
    assert_eq!(assignment.worker_id, worker().user_id);
    assert_eq!(assignment.ecs_task_arn, worker().ecs_task_arn);
    assert_eq!(assignment.ecs_cluster_arn, worker().ecs_cluster_arn);
    assert_eq!(
        assignment.storage,
        storage().location_for(&type_name(TEST), early, now)
    );
    assert_eq!(
        assignment.storage.uri,
        format!(
            "s3://bucket/results/test/{early}/{}",
            now.timestamp_millis()
        )
    );
    assert_eq!(
        claimed[1].assignment.storage,
        storage().location_for(&type_name(OTHER), middle, now)
    );
    assert_eq!(
        (
            assignment.heartbeat_at,
            assignment.completed_at,
            assignment.progress,
            assignment.message.clone()
        ),
        (None, None, None, None)
    );

    // What the claim returned is what is stored.
    let details = store.find_job(early).await.expect("query").expect("found");
    assert_eq!(details.job, first.job);
    assert_eq!(details.assignments, vec![(first.assignment.clone(), None)]);
    let (found_assignment, found_job) = store
        .find_assignment(assignment.id)
        .await
        .expect("query")
        .expect("found");
    assert_eq!(found_assignment, first.assignment);
    assert_eq!(found_job, first.job);

    assert_eq!(claimed_ids(&claim(store, 5, now).await), vec![late]);
    assert!(claim(store, 5, now).await.is_empty());
}

#[rstest]
#[tokio::test]
async fn claims_filter_by_type_and_honour_the_limit(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "owner@example.com").await;
    let t1 = submit_fresh(store, owner.id, TEST, 1).await;
    let o1 = submit_fresh(store, owner.id, OTHER, 2).await;
    let t2 = submit_fresh(store, owner.id, TEST, 3).await;
    let o2 = submit_fresh(store, owner.id, OTHER, 4).await;

    let none = store
        .claim_jobs(claim_request(Some(&[]), 5, at(10)))
        .await
        .expect("query");
    assert!(none.is_empty());
    let none = store
        .claim_jobs(claim_request(None, 0, at(10)))
        .await
        .expect("query");
    assert!(none.is_empty());

    let others = store
        .claim_jobs(claim_request(Some(&[OTHER, "UNKNOWN"]), 5, at(10)))
        .await
        .expect("query");
    assert_eq!(claimed_ids(&others), vec![o1, o2]);
    let tests = store
        .claim_jobs(claim_request(Some(&[TEST]), 1, at(10)))
        .await
        .expect("query");
    assert_eq!(claimed_ids(&tests), vec![t1]);
    assert_eq!(
        ids(&store.pending_jobs(None, 10).await.expect("query")),
        vec![t2]
    );
}

#[rstest]
#[tokio::test]
async fn jobs_out_of_attempts_are_not_claimable(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "owner@example.com").await;
    let id = submit(
        store,
        NewJob {
            policy: policy(2, 60),
            ..new_job(owner.id, TEST, json!({}), at(0))
        },
    )
    .await
    .job_id;

    // First attempt expires: re-queued with one attempt left, and claimable again.
    let first = claim_one(store, at(1)).await;
    let state = first
        .job
        .state
        .expire(at(61), &first.job.policy)
        .expect("expired");
    assert_eq!(state.status(), JobStatus::Pending);
    apply(store, bare_change(&first.job, state, at(61))).await;
    let requeued = job(store, id).await;
    assert_eq!(requeued.state.attempts(), 1);
    assert_eq!(requeued.current_assignment, Some(first.assignment.id));
    let second = claim_one(store, at(62)).await;
    assert_eq!(second.job.state.attempts(), 2);
    assert_ne!(second.assignment.id, first.assignment.id);
    assert_eq!(second.job.current_assignment, Some(second.assignment.id));
    assert_eq!(second.job.version, 3);
    let details = store.find_job(id).await.expect("query").expect("found");
    assert_eq!(
        details
            .assignments
            .iter()
            .map(|(a, _)| a.id)
            .collect::<Vec<_>>(),
        vec![first.assignment.id, second.assignment.id]
    );

    // A PENDING job whose attempts are used up (planted: the state machine never makes one).
    let spent = submit_fresh(store, owner.id, TEST, 100).await;
    execute(
        store,
        &format!("UPDATE jobs SET attempts = max_attempts WHERE id = {spent}"),
    )
    .await;
    assert!(
        store
            .pending_jobs(None, 10)
            .await
            .expect("query")
            .is_empty()
    );
    assert!(claim(store, 10, at(200)).await.is_empty());
    assert_eq!(
        store
            .assign_job(spent, worker(), storage(), at(200))
            .await
            .expect("query"),
        AssignOutcome::NotAvailable
    );
}

#[rstest]
#[tokio::test]
async fn assigning_one_job_reports_the_outcome(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "owner@example.com").await;
    let older = submit_fresh(store, owner.id, TEST, 1).await;
    let id = submit_fresh(store, owner.id, OTHER, 2).await;

    let missing = JobId::new(9_999).expect("positive");
    assert_eq!(
        store
            .assign_job(missing, worker(), storage(), at(10))
            .await
            .expect("query"),
        AssignOutcome::NotFound
    );

    // Not the oldest: assignment is by id.
    let outcome = store
        .assign_job(id, WorkerTag::account(worker().user_id), storage(), at(10))
        .await
        .expect("query");
    let AssignOutcome::Assigned(claimed) = outcome else {
        panic!("expected Assigned, got {outcome:?}");
    };
    assert_eq!(claimed.job.id, id);
    assert_eq!(claimed.job.state.status(), JobStatus::InProgress);
    assert_eq!(claimed.job.state.attempts(), 1);
    assert_eq!(claimed.job.version, 1);
    assert_eq!(claimed.assignment.ecs_task_arn, None);
    assert_eq!(claimed.assignment.expires_at, at(70));
    assert_eq!(
        claimed.assignment.storage,
        storage().location_for(&type_name(OTHER), id, at(10))
    );
    assert_eq!(job(store, id).await, claimed.job);

    assert_eq!(
        store
            .assign_job(id, worker(), storage(), at(11))
            .await
            .expect("query"),
        AssignOutcome::NotAvailable
    );
    assert_eq!(
        ids(&store.pending_jobs(None, 10).await.expect("query")),
        vec![older]
    );
}

// ---------------------------------------------------------------------------------------------
// Changes

#[rstest]
#[tokio::test]
async fn changes_apply_only_at_the_expected_version(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "owner@example.com").await;
    let id = submit_fresh(store, owner.id, TEST, 0).await;
    let claimed = claim_one(store, at(10)).await;
    let before = store.find_job(id).await.expect("query").expect("found");

    // A heartbeat computed from a stale version changes nothing, assignment included.
    let beat_at = at(20);
    let state = claimed
        .job
        .state
        .heartbeat(beat_at, &claimed.job.policy)
        .expect("live lease");
    let heartbeat = JobChange {
        job_id: id,
        expected_version: claimed.job.version,
        state,
        now: beat_at,
        assignment: Some(AssignmentUpdate {
            id: claimed.assignment.id,
            expires_at: state.lease_expires_at(),
            heartbeat_at: Some(beat_at),
            completed_at: None,
            progress: Some(42.5),
            message: Some("halfway".to_owned()),
        }),
        result: None,
    };
    let stale = JobChange {
        expected_version: claimed.job.version - 1,
        ..heartbeat.clone()
    };
    assert!(!store.apply_change(stale).await.expect("query"));
    assert_eq!(
        store.find_job(id).await.expect("query").expect("found"),
        before
    );

    apply(store, heartbeat).await;
    let details = store.find_job(id).await.expect("query").expect("found");
    assert_eq!(details.job.version, claimed.job.version + 1);
    assert_eq!(details.job.updated_at, beat_at);
    assert_eq!(details.job.state.lease_expires_at(), Some(at(80)));
    let (assignment, result) = &details.assignments[0];
    assert_eq!(result, &None);
    assert_eq!(assignment.expires_at, at(80));
    assert_eq!(assignment.heartbeat_at, Some(beat_at));
    assert_eq!(assignment.updated_at, beat_at);
    assert_eq!(assignment.progress, Some(42.5));
    assert_eq!(assignment.message.as_deref(), Some("halfway"));
    assert_eq!(assignment.completed_at, None);

    // The same change again is stale now.
    let replay = JobChange {
        expected_version: claimed.job.version,
        ..bare_change(&claimed.job, state, beat_at)
    };
    assert!(!store.apply_change(replay).await.expect("query"));

    // Completion with a result, from the current version.
    let current = Claimed {
        job: details.job.clone(),
        assignment: assignment.clone(),
    };
    apply(store, completion(&current, Outcome::Succeeded, at(30))).await;
    let done = store.find_job(id).await.expect("query").expect("found");
    assert_eq!(done.job.state.status(), JobStatus::Succeeded);
    assert_eq!(done.job.state.lease_expires_at(), None);
    assert_eq!(done.job.state.attempts(), 1);
    assert_eq!(done.job.version, claimed.job.version + 2);
    let (assignment, result) = &done.assignments[0];
    assert_eq!(assignment.completed_at, Some(at(30)));
    assert_eq!(assignment.progress, Some(42.5), "fields not given are kept");
    let result = result.as_ref().expect("a result");
    assert_eq!(result.job_id, id);
    assert_eq!(result.assignment_id, assignment.id);
    assert_eq!(result.created_at, at(30));
    assert_eq!(result.result_payload, Some(json!({"outcome": "Succeeded"})));
    assert_eq!(result.storage, assignment.storage);
    assert_eq!(result.metadata, None);
    assert!(result.cache_valid);
}

#[rstest]
#[tokio::test]
async fn an_assignment_of_another_job_is_refused(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "owner@example.com").await;
    submit_fresh(store, owner.id, TEST, 0).await;
    submit_fresh(store, owner.id, TEST, 1).await;
    let claimed = claim(store, 2, at(10)).await;
    let (a, b) = (&claimed[0], &claimed[1]);
    let mut change = completion(a, Outcome::Succeeded, at(20));
    if let Some(update) = change.assignment.as_mut() {
        update.id = b.assignment.id;
    }
    assert!(store.apply_change(change).await.is_err());
    // Rolled back: the job is unchanged.
    assert_eq!(job(store, a.job.id).await, a.job);
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_get_their_own_types_and_limits(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    // On Postgres concurrent claims share statements: each must still get only jobs of its
    // types, at most its limit, and no job twice.
    let db = database(backend).await;
    let store = wide_store(db.url()).await;
    let owner = create_user(&store, "owner@example.com").await;
    let mut tests = HashSet::new();
    let mut others = HashSet::new();
    for n in 0..40 {
        let (kind, set) = match n % 2 {
            0 => (TEST, &mut tests),
            _ => (OTHER, &mut others),
        };
        set.insert(submit_fresh(&store, owner.id, kind, n).await);
    }
    let requests: Vec<(Option<&[&str]>, u64)> = vec![
        (Some(&[TEST]), 3),
        (Some(&[OTHER]), 2),
        (Some(&[TEST]), 1),
        (None, 2),
        (Some(&[OTHER]), 4),
        (Some(&[TEST]), 2),
        (None, 1),
        (Some(&[OTHER]), 1),
    ];
    let tasks: Vec<_> = requests
        .iter()
        .map(|&(types, limit)| {
            let store = store.clone();
            let request = claim_request(types, limit, at(100));
            tokio::spawn(async move { store.claim_jobs(request).await })
        })
        .collect();
    let mut granted = HashSet::new();
    for (task, (types, limit)) in tasks.into_iter().zip(&requests) {
        let claimed = task.await.expect("task").expect("claimed");
        assert_eq!(claimed.len(), usize::try_from(*limit).expect("small"));
        for one in &claimed {
            assert!(
                granted.insert(one.job.id),
                "job {} granted twice",
                one.job.id
            );
            assert_eq!(one.assignment.job_id, one.job.id);
            assert_eq!(one.job.current_assignment, Some(one.assignment.id));
            assert_eq!(one.job.state.status(), JobStatus::InProgress);
            match types {
                Some([TEST]) => assert!(tests.contains(&one.job.id)),
                Some([OTHER]) => assert!(others.contains(&one.job.id)),
                _ => {}
            }
        }
        let ids = claimed_ids(&claimed);
        let mut oldest_first = ids.clone();
        oldest_first.sort();
        assert_eq!(ids, oldest_first, "each claim's jobs come oldest first");
    }
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM job_assignments").await,
        16
    );
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_submissions_are_answered_one_by_one(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    // On Postgres concurrent submissions share transactions and statements: cache hits, new
    // payloads, identical new payloads and types that do not cache, submitted together, must
    // each get the answer a lone submission would.
    let db = database(backend).await;
    let store = wide_store(db.url()).await;
    let owner = create_user(&store, "owner@example.com").await.id;
    let stored = submit(&store, new_job(owner, TEST, json!({"stored": 1}), at(0))).await;
    let mut jobs: Vec<(&str, NewJob)> = Vec::new();
    for _ in 0..3 {
        jobs.push(("hit", new_job(owner, TEST, json!({"stored": 1}), at(1))));
        jobs.push(("same", new_job(owner, OTHER, json!({"same": 1}), at(1))));
    }
    for n in 0..8 {
        jobs.push(("new", new_job(owner, TEST, json!({"new": n}), at(1))));
    }
    for n in 0..4 {
        let job = NewJob {
            use_cache: false,
            ..new_job(owner, TEST, json!({"stored": 1, "uncached": n}), at(1))
        };
        jobs.push(("uncached", job));
    }
    let tasks: Vec<_> = jobs
        .iter()
        .map(|(_, job)| {
            let (store, job) = (store.clone(), job.clone());
            tokio::spawn(async move { store.submit_job(job).await })
        })
        .collect();
    let mut answers = Vec::new();
    for (task, (kind, _)) in tasks.into_iter().zip(&jobs) {
        answers.push((*kind, task.await.expect("task").expect("submitted")));
    }

    let of = |wanted: &str| -> Vec<Submission> {
        answers
            .iter()
            .filter(|(kind, _)| *kind == wanted)
            .map(|(_, answer)| *answer)
            .collect()
    };
    for hit in of("hit") {
        assert_eq!((hit.job_id, hit.cached), (stored.job_id, true));
    }
    let same = of("same");
    assert_eq!(
        same.iter().map(|s| s.job_id).collect::<HashSet<_>>().len(),
        1
    );
    assert_eq!(
        same.iter().filter(|s| !s.cached).count(),
        1,
        "one created it"
    );
    let fresh: Vec<Submission> = of("new").into_iter().chain(of("uncached")).collect();
    assert!(fresh.iter().all(|s| !s.cached));
    let fresh_jobs: HashSet<JobId> = fresh.iter().map(|s| s.job_id).collect();
    assert_eq!(
        fresh_jobs.len(),
        12,
        "each new payload has a job of its own"
    );
    assert!(!fresh_jobs.contains(&stored.job_id) && !fresh_jobs.contains(&same[0].job_id));
    let requests: HashSet<_> = answers.iter().map(|(_, s)| s.request_id).collect();
    assert_eq!(requests.len(), answers.len(), "a request per submission");

    assert_eq!(count(&store, "SELECT COUNT(*) FROM jobs").await, 14);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM job_requests").await, 19);
    let mismatched = "SELECT COUNT(*) FROM job_requests r JOIN jobs j ON j.id = r.job_id \
        WHERE r.input_payload <> j.input_payload OR r.\"type\" <> j.\"type\"";
    assert_eq!(
        count(&store, mismatched).await,
        0,
        "each request's job has its payload"
    );
    for (_, answer) in &answers {
        let sql = format!(
            "SELECT COUNT(*) FROM job_requests WHERE id = {} AND job_id = {} AND cache_hit = {}",
            answer.request_id.get(),
            answer.job_id.get(),
            answer.cached,
        );
        assert_eq!(
            count(&store, &sql).await,
            1,
            "request {:?} as answered",
            answer
        );
    }
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_are_answered_one_by_one(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    // On Postgres concurrent changes share statements: a change that fails, or that lost its
    // race, must not affect the others.
    let db = database(backend).await;
    let store = wide_store(db.url()).await;
    let owner = create_user(&store, "owner@example.com").await;
    for n in 0..12 {
        submit_fresh(&store, owner.id, TEST, n).await;
    }
    let claimed = claim(&store, 12, at(10)).await;
    assert_eq!(claimed.len(), 12);
    let mut changes: Vec<JobChange> = claimed
        .iter()
        .map(|one| completion(one, Outcome::Succeeded, at(20)))
        .collect();
    // Change 3 names the assignment of job 4; change 5 was decided on an old version; changes
    // 6, 7 and 8 are three competing changes of job 6 (at the same version: one wins).
    if let Some(update) = changes[3].assignment.as_mut() {
        update.id = claimed[4].assignment.id;
    }
    changes[5].expected_version -= 1;
    changes[7] = completion(&claimed[6], Outcome::Failed, at(21));
    changes[8] = completion(&claimed[6], Outcome::Failed, at(22));
    let tasks: Vec<_> = changes
        .iter()
        .cloned()
        .map(|change| {
            let store = store.clone();
            tokio::spawn(async move { store.apply_change(change).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task"));
    }
    assert!(answers[3].is_err(), "{:?}", answers[3]);
    assert!(!answers[5].as_ref().expect("answered"));
    let job6_wins = [6, 7, 8]
        .iter()
        .filter(|&&n| *answers[n].as_ref().expect("answered"))
        .count();
    assert_eq!(job6_wins, 1, "one change of job 6 applies");
    for n in [0, 1, 2, 4, 9, 10, 11] {
        assert!(
            *answers[n].as_ref().expect("answered"),
            "change {n} applied"
        );
        let stored = job(&store, claimed[n].job.id).await;
        assert_eq!(stored.state.status(), JobStatus::Succeeded);
        assert_eq!(stored.version, claimed[n].job.version + 1);
    }
    for n in [3, 5] {
        assert_eq!(job(&store, claimed[n].job.id).await, claimed[n].job);
    }
    // Eight results: the seven plain completions and job 6's winner, each with its payload.
    assert_eq!(count(&store, "SELECT COUNT(*) FROM job_results").await, 8);
    let details = store
        .find_job(claimed[0].job.id)
        .await
        .expect("query")
        .expect("job");
    let (assignment, result) = &details.assignments[0];
    let result = result.as_ref().expect("a result");
    assert_eq!(
        result.result_payload,
        Some(json!({ "outcome": "Succeeded" }))
    );
    assert_eq!(assignment.completed_at, Some(at(20)));
}

#[rstest]
#[tokio::test]
async fn expired_leases_lists_only_expired_running_jobs(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "owner@example.com").await;
    for n in 0..4 {
        submit_fresh(store, owner.id, TEST, n).await;
    }
    // Claimed at 10, 5 and 20 (leases end at 70, 65 and 80); the fourth stays pending.
    let a = claim_one(store, at(10)).await;
    let b = claim_one(store, at(5)).await;
    let c = claim_one(store, at(20)).await;

    let expired =
        |now, limit| async move { ids(&store.expired_leases(now, limit).await.expect("query")) };
    assert_eq!(expired(at(64), 10).await, Vec::<JobId>::new());
    assert_eq!(
        expired(at(65), 10).await,
        vec![b.job.id],
        "expiry instant included"
    );
    assert_eq!(expired(at(75), 10).await, vec![b.job.id, a.job.id]);
    assert_eq!(expired(at(75), 1).await, vec![b.job.id]);

    // Completed jobs hold no lease.
    apply(store, completion(&c, Outcome::Failed, at(30))).await;
    assert_eq!(expired(at(1_000), 10).await, vec![b.job.id, a.job.id]);
}

// ---------------------------------------------------------------------------------------------
// Listings

#[rstest]
#[tokio::test]
async fn job_listings_follow_scope_and_filters(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let alice = create_user(store, "alice@example.com").await.id;
    let bob = create_user(store, "bob@example.com").await.id;
    let carol = create_user(store, "carol@example.com").await.id;

    let a_test = submit(store, new_job(alice, TEST, json!({"a": 1}), at(0)))
        .await
        .job_id;
    let a_other = submit(store, new_job(alice, OTHER, json!({"a": 2}), at(1)))
        .await
        .job_id;
    let b_test = submit(store, new_job(bob, TEST, json!({"b": 1}), at(2)))
        .await
        .job_id;
    // Bob hits Alice's cache.
    let hit = submit(store, new_job(bob, TEST, json!({"a": 1}), at(3))).await;
    assert!(hit.cached);
    claim_one(store, at(4)).await; // a_test is now IN_PROGRESS

    assert_eq!(
        listed(store, query(JobScope::All, 10)).await,
        (vec![b_test, a_other, a_test], 3)
    );
    assert_eq!(
        listed(store, query(JobScope::OwnedBy(bob), 10)).await,
        (vec![b_test], 1)
    );
    assert_eq!(
        listed(store, query(JobScope::VisibleTo(bob), 10)).await,
        (vec![b_test, a_test], 2)
    );
    assert_eq!(
        listed(store, query(JobScope::VisibleTo(alice), 10)).await,
        (vec![a_other, a_test], 2)
    );
    assert_eq!(
        listed(store, query(JobScope::VisibleTo(carol), 10)).await,
        (vec![], 0)
    );
    let by_status = JobQuery {
        status: Some(JobStatus::InProgress),
        ..query(JobScope::All, 10)
    };
    assert_eq!(listed(store, by_status).await, (vec![a_test], 1));
    let by_type = JobQuery {
        job_type: Some(type_name(TEST)),
        ..query(JobScope::VisibleTo(alice), 10)
    };
    assert_eq!(listed(store, by_type).await, (vec![a_test], 1));
    let both = JobQuery {
        status: Some(JobStatus::Pending),
        job_type: Some(type_name(TEST)),
        ..query(JobScope::All, 10)
    };
    assert_eq!(listed(store, both).await, (vec![b_test], 1));

    // Listed jobs carry their assignments and results, as find_job does.
    let page = store
        .list_jobs(query(JobScope::All, 10))
        .await
        .expect("query");
    for details in &page.jobs {
        let found = store
            .find_job(details.job.id)
            .await
            .expect("query")
            .expect("found");
        assert_eq!(details, &found);
    }
    assert_eq!(page.jobs[2].assignments.len(), 1);
}

#[rstest]
#[tokio::test]
async fn job_pages_cover_every_job_once(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "owner@example.com").await.id;
    let mut all = Vec::new();
    for n in 0..7 {
        all.push(submit_fresh(store, owner, TEST, n).await);
    }
    // Give some jobs assignments and results, so pages carry them.
    for claimed in claim(store, 3, at(100)).await {
        apply(store, completion(&claimed, Outcome::Succeeded, at(101))).await;
    }
    claim(store, 1, at(102)).await;

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_jobs(JobQuery {
                before: cursor,
                ..query(JobScope::OwnedBy(owner), 3)
            })
            .await
            .expect("query");
        pages += 1;
        assert_eq!(page.total, 7, "the total ignores the cursor");
        if cursor.is_none() {
            // Offset paging gives the same jobs as the cursor.
            let skipped = store
                .list_jobs(JobQuery {
                    offset: 3,
                    ..query(JobScope::OwnedBy(owner), 3)
                })
                .await
                .expect("query");
            assert_eq!(skipped.total, 7, "the total ignores the offset");
            let second_page: Vec<_> = skipped.jobs.iter().map(|j| j.job.id).collect();
            let via_cursor: Vec<_> = store
                .list_jobs(JobQuery {
                    before: page.next,
                    ..query(JobScope::OwnedBy(owner), 3)
                })
                .await
                .expect("query")
                .jobs
                .iter()
                .map(|j| j.job.id)
                .collect();
            assert_eq!(second_page, via_cursor);
        }
        assert!(page.jobs.len() <= 3);
        for details in &page.jobs {
            let found = store
                .find_job(details.job.id)
                .await
                .expect("query")
                .expect("found");
            assert_eq!(details, &found);
        }
        seen.extend(page.jobs.iter().map(|d| d.job.id));
        match page.next {
            Some(next) => {
                assert_eq!(Some(&next), seen.last(), "the cursor is the last id");
                cursor = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    all.reverse();
    assert_eq!(seen, all, "newest first, each once");

    // A page that ends exactly at the last job has no next cursor.
    let exact = store
        .list_jobs(query(JobScope::All, 7))
        .await
        .expect("query");
    assert_eq!(exact.jobs.len(), 7);
    assert_eq!(exact.next, None);
}

#[rstest]
#[tokio::test]
async fn requests_and_pending_jobs_are_listed_in_order(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let alice = create_user(store, "alice@example.com").await.id;
    let bob = create_user(store, "bob@example.com").await.id;
    let r1 = submit(store, new_job(alice, TEST, json!({"n": 1}), at(30))).await;
    let r2 = submit(store, new_job(bob, OTHER, json!({"n": 2}), at(10))).await;
    let r3 = submit(store, new_job(alice, TEST, json!({"n": 3}), at(20))).await;
    let r4 = submit(store, new_job(bob, TEST, json!({"n": 1}), at(40))).await;
    assert!(r4.cached);

    let request_ids =
        |requests: Vec<JobRequest>| requests.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        request_ids(store.list_requests(None, 10).await.expect("query")),
        vec![r4.request_id, r3.request_id, r2.request_id, r1.request_id]
    );
    assert_eq!(
        request_ids(store.list_requests(None, 2).await.expect("query")),
        vec![r4.request_id, r3.request_id]
    );
    assert_eq!(
        request_ids(store.list_requests(Some(alice), 10).await.expect("query")),
        vec![r3.request_id, r1.request_id]
    );

    // Oldest submission first, optionally of one type, at most `limit`.
    assert_eq!(
        ids(&store.pending_jobs(None, 10).await.expect("query")),
        vec![r2.job_id, r3.job_id, r1.job_id]
    );
    assert_eq!(
        ids(&store
            .pending_jobs(Some(type_name(TEST)), 10)
            .await
            .expect("query")),
        vec![r3.job_id, r1.job_id]
    );
    assert_eq!(
        ids(&store.pending_jobs(None, 1).await.expect("query")),
        vec![r2.job_id]
    );
    claim_one(store, at(50)).await;
    assert_eq!(
        ids(&store.pending_jobs(None, 10).await.expect("query")),
        vec![r3.job_id, r1.job_id]
    );
}

#[rstest]
#[tokio::test]
async fn pending_counts_and_the_census_are_true_counts_per_type(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    assert!(store.pending_counts().await.expect("query").is_empty());

    let owner = create_user(store, "owner@example.com").await.id;
    // More jobs of one type than any page of `pending_jobs` would show.
    let mut tests = Vec::new();
    for n in 0..13 {
        tests.push(submit_fresh(store, owner, TEST, n).await);
    }
    let mut others = Vec::new();
    for n in 100..103 {
        others.push(submit_fresh(store, owner, OTHER, n).await);
    }
    let spent = submit_fresh(store, owner, "REGIONAL_ASSESSMENT", 200).await;
    // A cache hit creates no job.
    submit(store, new_job(owner, TEST, json!({ "n": 1 }), at(300))).await;
    assert_eq!(
        store.pending_counts().await.expect("query"),
        [(TEST, 13), (OTHER, 3), ("REGIONAL_ASSESSMENT", 1)]
            .map(|(job_type, pending)| (type_name(job_type), pending))
            .into()
    );

    // Claimed (the oldest, a TEST job), cancelled and out-of-attempts jobs are not claimable.
    let claimed = claim_one(store, at(400)).await;
    assert_eq!(claimed.job.id, tests[0]);
    let cancelled = job(store, tests[1]).await;
    let state = cancelled.state.cancel().expect("cancellable");
    apply(store, bare_change(&cancelled, state, at(401))).await;
    for id in [spent, others[0]] {
        execute(
            store,
            &format!("UPDATE jobs SET attempts = max_attempts WHERE id = {id}"),
        )
        .await;
    }
    assert_eq!(
        store.pending_counts().await.expect("query"),
        [(TEST, 11), (OTHER, 2)]
            .map(|(job_type, pending)| (type_name(job_type), pending))
            .into()
    );

    // The census counts every job by state (out-of-attempts jobs are still PENDING, just not
    // queued), and its queues are the claimable jobs with their oldest submission.
    let census = store.job_census().await.expect("census");
    assert_eq!(
        census.by_state,
        [
            (TEST, JobStatus::Pending, 11),
            (TEST, JobStatus::InProgress, 1),
            (TEST, JobStatus::Cancelled, 1),
            (OTHER, JobStatus::Pending, 3),
            ("REGIONAL_ASSESSMENT", JobStatus::Pending, 1),
        ]
        .map(|(job_type, status, count)| ((type_name(job_type), status), count))
        .into()
    );
    assert_eq!(
        census.queues,
        [(TEST, 11, at(2)), (OTHER, 2, at(101))]
            .map(|(job_type, depth, oldest_created_at)| {
                let queue = QueueCensus {
                    depth,
                    oldest_created_at,
                };
                (type_name(job_type), queue)
            })
            .into()
    );
}

// ---------------------------------------------------------------------------------------------
// Storage rules

#[rstest]
#[tokio::test]
async fn jobs_and_requests_outlive_their_user(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "owner@example.com").await.id;
    let id = submit_fresh(store, owner, TEST, 0).await;
    let claimed = claim_one(store, at(1)).await;
    apply(store, completion(&claimed, Outcome::Succeeded, at(2))).await;
    let before = store.find_job(id).await.expect("query").expect("found");

    assert!(store.delete_user(owner).await.expect("query"));
    assert_eq!(
        store.find_job(id).await.expect("query"),
        Some(before),
        "the job, its assignment and result stay"
    );
    assert!(store.has_requested(owner, id).await.expect("query"));
    // A new user never inherits the old one's id.
    let newcomer = create_user(store, "new@example.com").await.id;
    assert_ne!(newcomer, owner);
}

#[rstest]
#[case::unknown_status("UPDATE jobs SET status = 'PAUSED'")]
#[case::running_without_lease("UPDATE jobs SET lease_expires_at = NULL")]
#[case::negative_attempts("UPDATE jobs SET attempts = -1")]
#[case::no_attempts_allowed("UPDATE jobs SET max_attempts = 0")]
#[case::unknown_storage_scheme("UPDATE job_assignments SET storage_scheme = 'FTP'")]
#[tokio::test]
async fn unreadable_rows_are_errors(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
    #[case] damage: &str,
) {
    let db = database(backend).await;
    let store = db.store();
    let owner = create_user(store, "owner@example.com").await.id;
    let id = submit_fresh(store, owner, TEST, 0).await;
    submit_fresh(store, owner, TEST, 1).await;
    claim_one(store, at(1)).await;
    execute(store, damage).await;

    let err = store.find_job(id).await.expect_err("unreadable");
    let message = format!("{err:#}");
    assert!(message.contains("cannot be read"), "{message}");
}

#[rstest]
#[tokio::test]
async fn the_queue_has_its_indexes(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let catalogue = match backend {
        TestBackend::Postgres => "SELECT COUNT(*) FROM pg_indexes WHERE indexname IN",
        TestBackend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN"
        }
    };
    let names = [
        "idx_jobs_hash",
        "idx_jobs_pending",
        "idx_jobs_pending_type",
        "idx_jobs_lease",
        "idx_jobs_user_id_id",
        "idx_job_requests_user_id_id",
        "idx_job_requests_job_id",
        "idx_job_assignments_job_id",
        "idx_job_results_job_id",
        "idx_job_results_assignment_id",
    ];
    let list = names.map(|name| format!("'{name}'")).join(", ");
    let found = count(store, &format!("{catalogue} ({list})")).await;
    assert_eq!(found, i64::try_from(names.len()).expect("small"));
}

// ---------------------------------------------------------------------------------------------
// Concurrency (Postgres: many connections racing for real)

/// A store on the test database with its own, larger pool.
async fn wide_store(url: &str) -> SeaOrmStore {
    SeaOrmStore::connect(
        url,
        StoreOptions {
            max_connections: 16,
            connect_timeout: StdDuration::from_secs(30),
            ..StoreOptions::default()
        },
        Arc::new(SystemClock),
    )
    .await
    .expect("connected")
}

/// Submits `jobs` distinct jobs through the port, from 16 tasks.
async fn submit_many(store: &SeaOrmStore, owner: UserId, jobs: usize) {
    let submitters: Vec<_> = (0..16)
        .map(|lane| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in (lane..jobs).step_by(16) {
                    submit_fresh(&store, owner, TEST, i64::try_from(n).expect("small")).await;
                }
            })
        })
        .collect();
    for submitter in submitters {
        submitter.await.expect("submitted");
    }
}

/// Inserts `jobs` pending jobs, as `submit_job` would, in one Postgres statement.
async fn plant_pending_jobs(store: &SeaOrmStore, owner: UserId, jobs: usize) {
    execute(
        store,
        &format!(
            "INSERT INTO jobs (created_at, updated_at, type, status, user_id, input_payload, hash, \
                 attempts, max_attempts, lease_seconds, version) \
             SELECT t, t, '{TEST}', 'PENDING', {owner}, jsonb_build_object('n', i), \
                 encode(sha256(i::text::bytea), 'hex'), 0, 3, 60, 0 \
             FROM generate_series(1, {jobs}) AS i, \
                 LATERAL (SELECT TIMESTAMPTZ '2026-03-01 12:00:00+00' \
                     + i * INTERVAL '1 millisecond' AS t) AS times"
        ),
    )
    .await;
}

/// Completes a claimed job; the change must apply (nobody else holds the job).
async fn finish(store: &SeaOrmStore, claimed: &Claimed, now: DateTime<Utc>) {
    let applied = store
        .apply_change(completion(claimed, Outcome::Succeeded, now))
        .await
        .expect("query");
    assert!(applied, "job {} completed by its claimer", claimed.job.id);
}

/// Claims with `claim_jobs` until nothing is left; what it got.
async fn claim_loop(store: SeaOrmStore, now: DateTime<Utc>) -> Vec<Claimed> {
    let mut mine = Vec::new();
    loop {
        let claimed = claim(&store, 1, now).await;
        let Some(claimed) = claimed.into_iter().next() else {
            return mine;
        };
        finish(&store, &claimed, now).await;
        mine.push(claimed);
    }
}

/// Claims like an R1 worker until nothing is pending: `poll`, then `assign` the polled jobs one
/// after another until one is won.
async fn poll_and_assign_loop(store: SeaOrmStore, seed: usize, now: DateTime<Utc>) -> Vec<Claimed> {
    let mut mine = Vec::new();
    loop {
        let mut pending = store.pending_jobs(None, 10).await.expect("polled");
        if pending.is_empty() {
            return mine;
        }
        // Workers start at different candidates, as real ones race on whatever they see.
        let len = pending.len();
        pending.rotate_left((seed + mine.len()) % len);
        for candidate in pending {
            match store
                .assign_job(candidate.id, worker(), storage(), now)
                .await
                .expect("assign")
            {
                AssignOutcome::Assigned(claimed) => {
                    finish(&store, &claimed, now).await;
                    mine.push(*claimed);
                    break;
                }
                AssignOutcome::NotAvailable => {}
                AssignOutcome::NotFound => panic!("job {} vanished", candidate.id),
            }
        }
    }
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_claims_grant_every_job_exactly_once(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    // SQLite serialises writers, so a smaller run proves the same there.
    let (jobs, tasks) = match backend {
        TestBackend::Postgres => (2_000, 32),
        TestBackend::Sqlite => (300, 8),
    };
    let db = database(backend).await;
    let store = wide_store(db.url()).await;
    let owner = create_user(&store, "owner@example.com").await.id;
    let setup = Instant::now();
    match backend {
        // Planted in one statement: the claims are under test here, not the submissions.
        TestBackend::Postgres => plant_pending_jobs(&store, owner, jobs).await,
        TestBackend::Sqlite => submit_many(&store, owner, jobs).await,
    }
    let setup = setup.elapsed();

    let started = Instant::now();
    let now = at(1_000_000);
    let workers: Vec<_> = (0..tasks)
        .map(|index| {
            let store = store.clone();
            if index % 2 == 0 {
                tokio::spawn(claim_loop(store, now))
            } else {
                tokio::spawn(poll_and_assign_loop(store, index, now))
            }
        })
        .collect();
    let mut claimed = Vec::new();
    for worker in workers {
        claimed.extend(worker.await.expect("worker ran"));
    }
    let elapsed = started.elapsed();
    eprintln!(
        "{backend:?}: {jobs} jobs submitted in {setup:?}, claimed and completed by {tasks} \
         tasks in {elapsed:?}"
    );

    let job_ids: HashSet<JobId> = claimed.iter().map(|c| c.job.id).collect();
    let assignment_ids: HashSet<_> = claimed.iter().map(|c| c.assignment.id).collect();
    assert_eq!(claimed.len(), jobs, "every job claimed exactly once");
    assert_eq!(job_ids.len(), jobs, "no job granted twice");
    assert_eq!(assignment_ids.len(), jobs, "no assignment granted twice");
    let total = i64::try_from(jobs).expect("small");
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM job_assignments").await,
        total
    );
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM job_results").await,
        total
    );
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM jobs WHERE status = 'SUCCEEDED' AND attempts = 1"
        )
        .await,
        total
    );
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_identical_submissions_create_one_job(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    // A race is a matter of timing: several rounds, each with its own payload, so that a broken
    // guarantee shows in (nearly) every run rather than in one run of a few.
    let (submissions, rounds) = match backend {
        TestBackend::Postgres => (200, 8),
        TestBackend::Sqlite => (50, 2),
    };
    let db = database(backend).await;
    let store = wide_store(db.url()).await;
    let owner = create_user(&store, "owner@example.com").await.id;
    // An unrelated job with another payload, which must not be touched.
    let unrelated = submit_fresh(&store, owner, TEST, 999).await;

    for round in 0..rounds {
        let started = Instant::now();
        let tasks: Vec<_> = (0..submissions)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    submit(&store, new_job(owner, TEST, json!({"same": round}), at(0))).await
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("task ran"));
        }
        let elapsed = started.elapsed();
        eprintln!("{backend:?}: {submissions} identical submissions in {elapsed:?}");

        let job_ids: HashSet<JobId> = results.iter().map(|s| s.job_id).collect();
        assert_eq!(
            job_ids.len(),
            1,
            "round {round}: one job serves every submission"
        );
        assert!(!job_ids.contains(&unrelated));
        assert_eq!(results.iter().filter(|s| !s.cached).count(), 1);
        let request_ids: HashSet<_> = results.iter().map(|s| s.request_id).collect();
        assert_eq!(request_ids.len(), submissions);
    }
    assert_eq!(
        store
            .list_requests(None, 100_000)
            .await
            .expect("query")
            .len(),
        submissions * rounds + 1
    );
    assert_eq!(
        listed(&store, query(JobScope::All, 10)).await.1,
        1 + rounds as u64
    );
}

// ---------------------------------------------------------------------------------------------
// Wake-ups across instances

#[tokio::test]
async fn listeners_hear_new_and_requeued_jobs_on_postgres() {
    let db = database(TestBackend::Postgres).await;
    let store = db.store();
    let owner = create_user(store, "owner@example.com").await.id;
    let (heard, mut hearing) = tokio::sync::mpsc::unbounded_channel();
    let listener = store
        .listen_for_changes(move || {
            let _ = heard.send(());
        })
        .expect("Postgres listens");
    let wait = StdDuration::from_secs(2);
    // The first call says the listener is subscribed.
    tokio::time::timeout(StdDuration::from_secs(10), hearing.recv())
        .await
        .expect("subscribed")
        .expect("listener alive");

    // Another instance (its own pool) submits.
    let other = SeaOrmStore::connect(db.url(), StoreOptions::default(), Arc::new(SystemClock))
        .await
        .expect("connected");
    let submission = submit(&other, new_job(owner, TEST, json!({"x": 1}), at(0))).await;
    tokio::time::timeout(wait, hearing.recv())
        .await
        .expect("heard the new job within 2 s")
        .expect("listener alive");

    // A re-queue makes the job claimable again: heard too.
    let claimed = claim_one(&other, at(1)).await;
    assert_eq!(claimed.job.id, submission.job_id);
    let state = claimed
        .job
        .state
        .expire(at(61), &claimed.job.policy)
        .expect("expired");
    apply(&other, bare_change(&claimed.job, state, at(61))).await;
    tokio::time::timeout(wait, hearing.recv())
        .await
        .expect("heard the re-queued job within 2 s")
        .expect("listener alive");

    listener.abort();
    let _ = listener.await;
}

#[tokio::test]
async fn sqlite_has_no_listener() {
    let db = database(TestBackend::Sqlite).await;
    assert!(db.store().listen_for_changes(|| {}).is_none());
}
