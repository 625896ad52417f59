//! Unit tests of [`JobService`] against a mocked [`JobRepository`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use chrono::Duration;
use mockall::predicate::eq;
use reefguide_domain::job::registry::{JobTypeName, JobTypeOverride, JobTypeRegistry};
use reefguide_domain::job::{JobRequestId, RetryPolicy, StorageScheme};
use reefguide_domain::{Role, User, UserId};
use rstest::rstest;
use serde_json::json;
use tokio::time::Instant;

use super::*;
use crate::repositories::jobs::MockJobRepository;
use crate::repositories::jobs::{WorkflowJobs, WorkflowStart};
use crate::services::test_support::{now, user_with};

pub(crate) const OWNER: i64 = 1;
pub(crate) const OTHER: i64 = 2;
pub(crate) const ADMIN: i64 = 3;
pub(crate) const JOB: i64 = 10;
pub(crate) const ASSIGNMENT: i64 = 20;
const VERSION: i64 = 5;
pub(crate) const WORKER_ACCOUNT: i64 = 4;

/// A clock stopped at [`now`].
pub(crate) struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        now()
    }
}

type Service = JobService<MockJobRepository, FixedClock>;

fn service(store: MockJobRepository) -> Service {
    service_with(store, builtin(), JobSignal::new())
}

fn service_with(store: MockJobRepository, registry: JobTypeRegistry, signal: JobSignal) -> Service {
    JobService::new(store, FixedClock, registry, storage(), signal)
}

/// A valid job type name.
fn type_name(raw: &str) -> JobTypeName {
    JobTypeName::parse(raw).expect("valid name")
}

fn builtin() -> JobTypeRegistry {
    JobTypeRegistry::builtin().expect("built-in types compile")
}

/// The built-in types with `TEST` changed by `change`.
fn test_type_with(change: JobTypeOverride) -> JobTypeRegistry {
    let name = JobTypeName::parse("TEST").expect("valid name");
    JobTypeRegistry::with_overrides([(name, change)]).expect("valid override")
}

pub(crate) fn jid(raw: i64) -> JobId {
    JobId::new(raw).expect("positive")
}

pub(crate) fn aid(raw: i64) -> AssignmentId {
    AssignmentId::new(raw).expect("positive")
}

pub(crate) fn uid(raw: i64) -> UserId {
    UserId::new(raw).expect("positive")
}

pub(crate) fn policy() -> RetryPolicy {
    RetryPolicy::new(3, Duration::minutes(60)).expect("valid policy")
}

pub(crate) fn storage() -> StorageBase {
    StorageBase::new(StorageScheme::Local, "file:///tmp/results")
}

/// The worker account that holds the assignments below.
pub(crate) fn worker_account() -> User {
    user_with(WORKER_ACCOUNT, &[Role::Worker])
}

/// How storage records the worker account working under [`arns`].
fn worker() -> WorkerTag {
    WorkerTag {
        user_id: worker_account().id,
        ecs_task_arn: Some("arn:aws:ecs:task/1".into()),
        ecs_cluster_arn: Some("arn:aws:ecs:cluster/c".into()),
    }
}

/// The ARNs the worker account names itself by.
fn arns() -> WorkerArns {
    let arn = |raw: &str| Some(EcsArn::new(raw.to_owned()).expect("valid ARN"));
    WorkerArns {
        task: arn("arn:aws:ecs:task/1"),
        cluster: arn("arn:aws:ecs:cluster/c"),
    }
}

/// The built-in types called `names`, to claim.
fn claim_types(names: &[&str]) -> ClaimTypes {
    let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    ClaimTypes::parse(&names, &builtin()).expect("known types")
}

/// An administrator.
fn admin() -> User {
    user_with(ADMIN, &[Role::Admin])
}

/// An `IN_PROGRESS` state claimed `minutes_ago` (its 60-minute lease ends 60 - `minutes_ago`
/// minutes from now).
pub(crate) fn running_since(minutes_ago: i64) -> JobState {
    JobState::new_pending()
        .claim(now() - Duration::minutes(minutes_ago), &policy())
        .expect("claimable")
}

/// An `IN_PROGRESS` state with a lease 50 minutes from its end.
pub(crate) fn running() -> JobState {
    running_since(10)
}

/// A state with this status (one attempt once claimed; a lease 50 minutes long when running).
pub(crate) fn state_of(status: JobStatus) -> JobState {
    match status {
        JobStatus::Pending => JobState::new_pending(),
        JobStatus::InProgress => running(),
        JobStatus::Cancelled => JobState::new_pending().cancel().expect("cancellable"),
        other => JobState::restore(other, 1, None).expect("consistent state"),
    }
}

/// Job 10 of type `job_type`, owned by user 1, at version 5, held by assignment 20 once claimed.
pub(crate) fn job(job_type: &str, state: JobState) -> Job {
    let payload = json!({ "id": 1 });
    Job {
        id: jid(JOB),
        job_type: type_name(job_type),
        owner: uid(OWNER),
        hash: PayloadHash::compute(job_type, &payload),
        input_payload: payload,
        created_at: now() - Duration::hours(2),
        updated_at: now() - Duration::hours(1),
        state,
        policy: policy(),
        current_assignment: (state.attempts() > 0).then(|| aid(ASSIGNMENT)),
        version: VERSION,
        workflow: None,
    }
}

pub(crate) fn test_job(state: JobState) -> Job {
    job("TEST", state)
}

/// Assignment 20 of `job`, claimed ten minutes ago, with the job's lease.
pub(crate) fn assignment_of(job: &Job) -> Assignment {
    let claimed_at = now() - Duration::minutes(10);
    Assignment {
        id: aid(ASSIGNMENT),
        job_id: job.id,
        worker_id: uid(WORKER_ACCOUNT),
        created_at: claimed_at,
        updated_at: claimed_at,
        ecs_task_arn: worker().ecs_task_arn,
        ecs_cluster_arn: worker().ecs_cluster_arn,
        expires_at: job.state.lease_expires_at().unwrap_or(claimed_at),
        storage: storage().location_for(&job.job_type, job.id, claimed_at),
        heartbeat_at: None,
        completed_at: None,
        progress: None,
        message: None,
        engine_run_id: None,
    }
}

pub(crate) fn details(job: Job) -> JobDetails {
    JobDetails {
        job,
        assignments: vec![],
    }
}

fn claimed() -> Claimed {
    let job = test_job(
        JobState::new_pending()
            .claim(now(), &policy())
            .expect("claimable"),
    );
    Claimed {
        assignment: assignment_of(&job),
        job,
    }
}

fn submission(cached: bool) -> Submission {
    Submission {
        job_id: jid(JOB),
        cached,
        request_id: JobRequestId::new(9).expect("positive"),
    }
}

/// A store whose `find_assignment` always answers with this assignment and job.
pub(crate) fn store_with_assignment(assignment: Assignment, job: Job) -> MockJobRepository {
    let mut store = MockJobRepository::new();
    store
        .expect_find_assignment()
        .with(eq(assignment.id))
        .returning(move |_| Ok(Some((assignment.clone(), job.clone()))));
    store
}

// ---------------------------------------------------------------------------------------------
// submit

#[tokio::test]
async fn an_unknown_type_is_refused_without_storing() {
    let mut store = MockJobRepository::new();
    store.expect_submit_job().never();
    let got = service(store)
        .submit(&user_with(OWNER, &[]), "NOPE", json!({ "id": 1 }), None)
        .await;
    assert!(
        matches!(&got, Err(SubmitJobError::UnknownType(name)) if name == "NOPE"),
        "{got:?}"
    );
}

#[rstest]
#[case::no_role(&[], false)]
#[case::other_role(&[Role::Worker], false)]
#[case::permitted_role(&[Role::Analyst], true)]
#[case::admin(&[Role::Admin], true)]
#[tokio::test]
async fn a_restricted_type_needs_a_permitted_role(#[case] roles: &[Role], #[case] permitted: bool) {
    let registry = test_type_with(JobTypeOverride {
        allowed_roles: Some(vec![Role::Analyst]),
        ..JobTypeOverride::default()
    });
    let mut store = MockJobRepository::new();
    store
        .expect_submit_job()
        .times(usize::from(permitted))
        .returning(|_| Ok(submission(false)));
    let service = service_with(store, registry, JobSignal::new());
    let got = service
        .submit(&user_with(OTHER, roles), "TEST", json!({ "id": 1 }), None)
        .await;
    if permitted {
        assert_eq!(got.expect("permitted"), submission(false));
    } else {
        assert!(
            matches!(&got, Err(SubmitJobError::NotPermitted(name)) if name == "TEST"),
            "{got:?}"
        );
    }
}

#[rstest]
#[case::missing_id(json!({}), "inputPayload")]
#[case::wrong_type(json!({ "id": "one" }), "inputPayload.id")]
#[case::unknown_field(json!({ "id": 1, "extra": true }), "inputPayload")]
#[tokio::test]
async fn an_invalid_payload_is_refused_with_its_path(#[case] payload: Value, #[case] path: &str) {
    let mut store = MockJobRepository::new();
    store.expect_submit_job().never();
    let got = service(store)
        .submit(&user_with(OWNER, &[]), "TEST", payload, None)
        .await;
    let Err(SubmitJobError::InvalidPayload(errors)) = got else {
        panic!("expected InvalidPayload, got {got:?}");
    };
    assert_eq!(errors.job_type, "TEST");
    assert!(
        errors.errors.iter().any(|error| error.path == path),
        "{errors:?}"
    );
}

#[rstest]
#[case::builtin_policy(JobTypeOverride::default(), 3, 60, true)]
#[case::configured_policy(
    JobTypeOverride {
        cache: Some(false),
        max_attempts: Some(5),
        lease: Some(Duration::minutes(7)),
        ..JobTypeOverride::default()
    },
    5,
    7,
    false
)]
#[tokio::test]
async fn a_valid_submission_is_stored_with_the_types_policy(
    #[case] change: JobTypeOverride,
    #[case] max_attempts: u32,
    #[case] lease_minutes: i64,
    #[case] cache: bool,
) {
    let payload = json!({ "id": 42 });
    let expected = NewJob {
        owner: uid(OTHER),
        job_type: type_name("TEST"),
        input_payload: payload.clone(),
        hash: PayloadHash::compute("TEST", &payload),
        policy: RetryPolicy::new(max_attempts, Duration::minutes(lease_minutes))
            .expect("valid policy"),
        use_cache: cache,
        now: now(),
        workflow: None,
    };
    let mut store = MockJobRepository::new();
    store
        .expect_submit_job()
        .with(eq(expected))
        .times(1)
        .returning(|_| Ok(submission(false)));
    let service = service_with(store, test_type_with(change), JobSignal::new());
    let got = service
        .submit(&user_with(OTHER, &[]), "TEST", payload, None)
        .await
        .expect("submitted");
    assert_eq!(got, submission(false));
}

#[rstest]
#[case::new_job(false, true)]
#[case::cache_hit(true, false)]
#[tokio::test(start_paused = true)]
async fn only_a_new_job_wakes_waiting_claimers(#[case] cached: bool, #[case] wakes: bool) {
    let mut store = MockJobRepository::new();
    store
        .expect_submit_job()
        .times(1)
        .returning(move |_| Ok(submission(cached)));
    let signal = JobSignal::new();
    let mut waiter = signal.subscribe();
    waiter.arm();
    let service = service_with(store, builtin(), signal.clone());
    let got = service
        .submit(&user_with(OWNER, &[]), "TEST", json!({ "id": 1 }), None)
        .await
        .expect("submitted");
    assert_eq!(got.cached, cached);
    let woke = tokio::time::timeout(
        StdDuration::from_secs(1),
        waiter.wait(StdDuration::from_secs(60)),
    )
    .await
    .is_ok();
    assert_eq!(woke, wakes);
}

#[tokio::test]
async fn a_storage_failure_is_unexpected() {
    let mut store = MockJobRepository::new();
    store
        .expect_submit_job()
        .returning(|_| Err(anyhow::anyhow!("connection lost")));
    let got = service(store)
        .submit(&user_with(OWNER, &[]), "TEST", json!({ "id": 1 }), None)
        .await;
    assert!(matches!(got, Err(SubmitJobError::Unexpected(_))), "{got:?}");
}

// ---------------------------------------------------------------------------------------------
// get

#[rstest]
#[case::owner(user_with(OWNER, &[]), None, true)]
#[case::admin(user_with(ADMIN, &[Role::Admin]), None, true)]
#[case::requester(user_with(OTHER, &[]), Some(true), true)]
#[case::stranger(user_with(OTHER, &[Role::Analyst]), Some(false), false)]
#[tokio::test]
async fn who_may_view_a_job(
    #[case] actor: User,
    #[case] requested: Option<bool>,
    #[case] visible: bool,
) {
    let mut store = MockJobRepository::new();
    store
        .expect_find_job()
        .with(eq(jid(JOB)))
        .returning(|_| Ok(Some(details(test_job(JobState::new_pending())))));
    match requested {
        None => {
            store.expect_has_requested().never();
        }
        Some(answer) => {
            store
                .expect_has_requested()
                .with(eq(actor.id), eq(jid(JOB)))
                .times(1)
                .returning(move |_, _| Ok(answer));
        }
    }
    let got = service(store).get(&actor, jid(JOB)).await;
    if visible {
        assert_eq!(got.expect("visible").job.id, jid(JOB));
    } else {
        assert!(matches!(got, Err(JobAccessError::Forbidden)), "{got:?}");
    }
}

#[tokio::test]
async fn a_missing_job_is_not_found() {
    let mut store = MockJobRepository::new();
    store.expect_find_job().returning(|_| Ok(None));
    store.expect_has_requested().never();
    let got = service(store).get(&user_with(OWNER, &[]), jid(11)).await;
    assert!(
        matches!(got, Err(JobAccessError::NotFound(id)) if id == jid(11)),
        "{got:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// listings

#[rstest]
#[case::user(user_with(OTHER, &[Role::Analyst]), JobScope::VisibleTo(uid(OTHER)))]
#[case::admin(user_with(ADMIN, &[Role::Admin]), JobScope::All)]
#[tokio::test]
async fn listings_are_scoped_to_the_caller_unless_admin(
    #[case] actor: User,
    #[case] scope: JobScope,
) {
    let expected = JobQuery {
        scope,
        status: Some(JobStatus::Pending),
        job_type: Some(type_name("TEST")),
        limit: 25,
        before: Some(jid(100)),
        offset: 0,
    };
    let mut store = MockJobRepository::new();
    store
        .expect_list_jobs()
        .with(eq(expected))
        .times(1)
        .returning(|_| {
            Ok(JobPage {
                jobs: vec![],
                total: 0,
                next: None,
            })
        });
    let listing = JobListing {
        status: Some(JobStatus::Pending),
        job_type: Some(type_name("TEST")),
        limit: 25,
        before: Some(jid(100)),
        offset: 0,
    };
    service(store)
        .list_visible(&actor, listing)
        .await
        .expect("listed");
}

#[tokio::test]
async fn own_listing_is_owned_jobs_even_for_admins() {
    let mut store = MockJobRepository::new();
    store
        .expect_list_jobs()
        .withf(|query| query.scope == JobScope::OwnedBy(uid(ADMIN)))
        .times(1)
        .returning(|_| {
            Ok(JobPage {
                jobs: vec![],
                total: 0,
                next: None,
            })
        });
    service(store)
        .list_own(&user_with(ADMIN, &[Role::Admin]), JobListing::default())
        .await
        .expect("listed");
}

#[rstest]
#[case::user(user_with(OTHER, &[]), Some(uid(OTHER)))]
#[case::admin(user_with(ADMIN, &[Role::Admin]), None)]
#[tokio::test]
async fn requests_are_the_callers_unless_admin(
    #[case] actor: User,
    #[case] filter: Option<UserId>,
) {
    let mut store = MockJobRepository::new();
    store
        .expect_list_requests()
        .with(eq(filter), eq(50))
        .times(1)
        .returning(|_, _| Ok(vec![]));
    service(store).requests(&actor, 50).await.expect("listed");
}

// ---------------------------------------------------------------------------------------------
// cancel

#[rstest]
#[case::pending(JobStatus::Pending)]
#[case::running(JobStatus::InProgress)]
#[tokio::test]
async fn a_live_job_is_cancelled_at_its_version(#[case] status: JobStatus) {
    let before = test_job(state_of(status));
    let attempts = before.state.attempts();
    let cancelled = JobState::restore(JobStatus::Cancelled, attempts, None).expect("consistent");
    let after = Job {
        state: cancelled,
        version: VERSION + 1,
        ..before.clone()
    };
    let expected = JobChange {
        job_id: jid(JOB),
        expected_version: VERSION,
        state: cancelled,
        now: now(),
        assignment: None,
        result: None,
    };
    let mut store = MockJobRepository::new();
    let mut reads = 0;
    store
        .expect_find_job()
        .with(eq(jid(JOB)))
        .times(2)
        .returning(move |_| {
            reads += 1;
            Ok(Some(details(if reads == 1 {
                before.clone()
            } else {
                after.clone()
            })))
        });
    store
        .expect_apply_change()
        .with(eq(expected))
        .times(1)
        .returning(|_| Ok(true));
    let got = service(store)
        .cancel(&user_with(OWNER, &[]), jid(JOB))
        .await
        .expect("cancelled");
    assert_eq!(got.job.state.status(), JobStatus::Cancelled);
    assert_eq!(got.job.version, VERSION + 1);
}

#[tokio::test]
async fn an_admin_cancels_anyones_job() {
    let mut store = MockJobRepository::new();
    store
        .expect_find_job()
        .returning(|_| Ok(Some(details(test_job(JobState::new_pending())))));
    store.expect_apply_change().times(1).returning(|_| Ok(true));
    service(store)
        .cancel(&user_with(ADMIN, &[Role::Admin]), jid(JOB))
        .await
        .expect("cancelled");
}

#[tokio::test]
async fn a_stale_version_is_read_again_and_decided_again() {
    // Between the first read and the write a worker claimed the job (version 6).
    let pending = test_job(JobState::new_pending());
    let claimed = Job {
        state: running(),
        current_assignment: Some(aid(ASSIGNMENT)),
        version: VERSION + 1,
        ..pending.clone()
    };
    let done = Job {
        state: JobState::restore(JobStatus::Cancelled, 1, None).expect("consistent"),
        version: VERSION + 2,
        ..claimed.clone()
    };
    let mut store = MockJobRepository::new();
    let mut reads = 0;
    store.expect_find_job().times(3).returning(move |_| {
        reads += 1;
        Ok(Some(details(match reads {
            1 => pending.clone(),
            2 => claimed.clone(),
            _ => done.clone(),
        })))
    });
    store
        .expect_apply_change()
        .withf(|change| change.expected_version == VERSION)
        .times(1)
        .returning(|_| Ok(false));
    store
        .expect_apply_change()
        .withf(|change| {
            change.expected_version == VERSION + 1
                && change.state
                    == JobState::restore(JobStatus::Cancelled, 1, None).expect("consistent")
        })
        .times(1)
        .returning(|_| Ok(true));
    let got = service(store)
        .cancel(&user_with(OWNER, &[]), jid(JOB))
        .await
        .expect("cancelled");
    assert_eq!(got.job.version, VERSION + 2);
}

#[tokio::test]
async fn endless_contention_gives_up() {
    let mut store = MockJobRepository::new();
    store
        .expect_find_job()
        .times(MAX_CHANGE_ATTEMPTS)
        .returning(|_| Ok(Some(details(test_job(JobState::new_pending())))));
    store
        .expect_apply_change()
        .times(MAX_CHANGE_ATTEMPTS)
        .returning(|_| Ok(false));
    let got = service(store)
        .cancel(&user_with(OWNER, &[]), jid(JOB))
        .await;
    assert!(matches!(got, Err(CancelJobError::Unexpected(_))), "{got:?}");
}

#[rstest]
#[case(JobStatus::Succeeded)]
#[case(JobStatus::Failed)]
#[case(JobStatus::Cancelled)]
#[case(JobStatus::TimedOut)]
#[tokio::test]
async fn a_finished_job_is_not_cancellable(#[case] status: JobStatus) {
    let mut store = MockJobRepository::new();
    store
        .expect_find_job()
        .returning(move |_| Ok(Some(details(test_job(state_of(status))))));
    store.expect_apply_change().never();
    let got = service(store)
        .cancel(&user_with(OWNER, &[]), jid(JOB))
        .await;
    assert!(
        matches!(got, Err(CancelJobError::NotCancellable(s)) if s == status),
        "{got:?}"
    );
}

#[tokio::test]
async fn only_the_owner_or_an_admin_cancels() {
    let mut store = MockJobRepository::new();
    store
        .expect_find_job()
        .returning(|_| Ok(Some(details(test_job(JobState::new_pending())))));
    store.expect_has_requested().never();
    store.expect_apply_change().never();
    let got = service(store)
        .cancel(&user_with(OTHER, &[Role::Analyst]), jid(JOB))
        .await;
    assert!(matches!(got, Err(CancelJobError::Forbidden)), "{got:?}");
}

#[tokio::test]
async fn cancelling_a_missing_job_is_not_found() {
    let mut store = MockJobRepository::new();
    store.expect_find_job().returning(|_| Ok(None));
    store.expect_apply_change().never();
    let got = service(store).cancel(&user_with(OWNER, &[]), jid(11)).await;
    assert!(
        matches!(got, Err(CancelJobError::NotFound(id)) if id == jid(11)),
        "{got:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// heartbeat

#[tokio::test]
async fn a_heartbeat_extends_the_lease_and_records_progress() {
    let job = test_job(running());
    let before = assignment_of(&job);
    let lease_end = now() + Duration::minutes(60);
    let extended = JobState::restore(JobStatus::InProgress, 1, Some(lease_end)).expect("valid");
    let after = Assignment {
        updated_at: now(),
        expires_at: lease_end,
        heartbeat_at: Some(now()),
        progress: Some(42.0),
        message: Some("halfway".into()),
        ..before.clone()
    };
    let expected = JobChange {
        job_id: jid(JOB),
        expected_version: VERSION,
        state: extended,
        now: now(),
        assignment: Some(AssignmentUpdate {
            id: aid(ASSIGNMENT),
            expires_at: Some(lease_end),
            heartbeat_at: Some(now()),
            completed_at: None,
            progress: Some(42.0),
            message: Some("halfway".into()),
        }),
        result: None,
    };
    // One read; the reply is the assignment as the change left it.
    let mut store = MockJobRepository::new();
    store
        .expect_find_assignment()
        .with(eq(aid(ASSIGNMENT)))
        .times(1)
        .returning(move |_| Ok(Some((before.clone(), job.clone()))));
    let reply_assignment = after;
    store
        .expect_apply_change()
        .with(eq(expected))
        .times(1)
        .returning(|_| Ok(true));
    let reply = service(store)
        .heartbeat(
            &worker_account(),
            aid(ASSIGNMENT),
            Progress {
                percent: ProgressPercent::new(42.0).ok(),
                message: ProgressMessage::new("halfway".into()).ok(),
            },
        )
        .await
        .expect("heartbeat");
    assert_eq!(
        reply,
        HeartbeatReply {
            assignment: reply_assignment,
            cancelled: false,
        }
    );
}

#[tokio::test]
async fn a_heartbeat_of_a_cancelled_job_tells_the_worker_to_stop() {
    let job = Job {
        current_assignment: Some(aid(ASSIGNMENT)),
        ..test_job(JobState::restore(JobStatus::Cancelled, 1, None).expect("consistent"))
    };
    let assignment = assignment_of(&test_job(running()));
    let mut store = store_with_assignment(assignment.clone(), job);
    store.expect_apply_change().never();
    let reply = service(store)
        .heartbeat(&worker_account(), aid(ASSIGNMENT), Progress::default())
        .await
        .expect("heartbeat");
    assert_eq!(
        reply,
        HeartbeatReply {
            assignment,
            cancelled: true,
        }
    );
}

#[rstest]
#[case::exactly_at_expiry(60)]
#[case::after_expiry(61)]
#[tokio::test]
async fn a_heartbeat_after_the_lease_ended_is_refused(#[case] claimed_minutes_ago: i64) {
    let job = test_job(running_since(claimed_minutes_ago));
    let mut store = store_with_assignment(assignment_of(&job), job);
    store.expect_apply_change().never();
    let got = service(store)
        .heartbeat(&worker_account(), aid(ASSIGNMENT), Progress::default())
        .await;
    assert!(matches!(got, Err(AssignmentError::LeaseLost(_))), "{got:?}");
}

#[tokio::test]
async fn a_heartbeat_one_instant_before_expiry_still_counts() {
    let job = Job {
        state: JobState::restore(
            JobStatus::InProgress,
            1,
            Some(now() + Duration::milliseconds(1)),
        )
        .expect("valid"),
        ..test_job(running())
    };
    let mut store = store_with_assignment(assignment_of(&job), job);
    store.expect_apply_change().times(1).returning(|_| Ok(true));
    let reply = service(store)
        .heartbeat(&worker_account(), aid(ASSIGNMENT), Progress::default())
        .await
        .expect("heartbeat");
    assert!(!reply.cancelled);
}

#[tokio::test]
async fn only_the_claiming_account_or_an_admin_works_an_assignment() {
    let job = test_job(running());
    let stranger = user_with(WORKER_ACCOUNT + 1, &[Role::Worker]);
    let mut store = store_with_assignment(assignment_of(&job), job.clone());
    store.expect_apply_change().never();
    let service = service(store);
    let beat = service
        .heartbeat(&stranger, aid(ASSIGNMENT), Progress::default())
        .await;
    assert!(matches!(beat, Err(AssignmentError::NotHolder)), "{beat:?}");
    let report = service
        .report(&stranger, aid(ASSIGNMENT), Outcome::Failed, None)
        .await;
    assert!(
        matches!(report, Err(AssignmentError::NotHolder)),
        "{report:?}"
    );

    let mut store = store_with_assignment(assignment_of(&job), job);
    store.expect_apply_change().times(1).returning(|_| Ok(true));
    let admin = user_with(ADMIN, &[Role::Admin]);
    let reply = self::service(store)
        .heartbeat(&admin, aid(ASSIGNMENT), Progress::default())
        .await
        .expect("an administrator may act for a worker");
    assert!(!reply.cancelled);
}

#[tokio::test]
async fn a_heartbeat_of_a_superseded_assignment_is_refused() {
    // The job was re-queued and claimed again: assignment 21 holds it now.
    let job = Job {
        current_assignment: Some(aid(ASSIGNMENT + 1)),
        ..test_job(running())
    };
    let mut store = store_with_assignment(assignment_of(&job), job);
    store.expect_apply_change().never();
    let got = service(store)
        .heartbeat(&worker_account(), aid(ASSIGNMENT), Progress::default())
        .await;
    assert!(matches!(got, Err(AssignmentError::LeaseLost(_))), "{got:?}");
}

#[tokio::test]
async fn a_heartbeat_of_an_unknown_assignment_is_not_found() {
    let mut store = MockJobRepository::new();
    store.expect_find_assignment().returning(|_| Ok(None));
    store.expect_apply_change().never();
    let got = service(store)
        .heartbeat(&worker_account(), aid(99), Progress::default())
        .await;
    assert!(
        matches!(got, Err(AssignmentError::NotFound(id)) if id == aid(99)),
        "{got:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// report

#[rstest]
#[case::missing_path(json!({}), "resultPayload")]
#[case::wrong_type(json!({ "geojson_path": 3 }), "resultPayload.geojson_path")]
#[tokio::test]
async fn a_success_must_match_the_result_schema(#[case] payload: Value, #[case] path: &str) {
    let job = job("SUITABILITY_ASSESSMENT", running());
    let mut store = store_with_assignment(assignment_of(&job), job);
    store.expect_apply_change().never();
    let got = service(store)
        .report(
            &worker_account(),
            aid(ASSIGNMENT),
            Outcome::Succeeded,
            Some(payload),
        )
        .await;
    let Err(AssignmentError::InvalidResult(errors)) = got else {
        panic!("expected InvalidResult, got {got:?}");
    };
    assert_eq!(errors.job_type, "SUITABILITY_ASSESSMENT");
    assert!(
        errors.errors.iter().any(|error| error.path == path),
        "{errors:?}"
    );
}

#[tokio::test]
async fn a_success_stores_its_result_and_completes_the_assignment() {
    let job = job("SUITABILITY_ASSESSMENT", running());
    let assignment = assignment_of(&job);
    let payload = json!({ "geojson_path": "sites.geojson" });
    let expected = JobChange {
        job_id: jid(JOB),
        expected_version: VERSION,
        state: JobState::restore(JobStatus::Succeeded, 1, None).expect("consistent"),
        now: now(),
        assignment: Some(AssignmentUpdate {
            id: aid(ASSIGNMENT),
            expires_at: None,
            heartbeat_at: None,
            completed_at: Some(now()),
            progress: None,
            message: None,
        }),
        result: Some(NewResult {
            assignment_id: aid(ASSIGNMENT),
            result_payload: Some(payload.clone()),
            storage: assignment.storage.clone(),
        }),
    };
    let mut store = store_with_assignment(assignment, job);
    store
        .expect_apply_change()
        .with(eq(expected))
        .times(1)
        .returning(|_| Ok(true));
    service(store)
        .report(
            &worker_account(),
            aid(ASSIGNMENT),
            Outcome::Succeeded,
            Some(payload),
        )
        .await
        .expect("reported");
}

#[tokio::test]
async fn a_failure_keeps_any_payload_as_sent() {
    let job = job("SUITABILITY_ASSESSMENT", running());
    let payload = json!({ "error": "out of memory", "trace": [1, 2] });
    let sent = payload.clone();
    let mut store = store_with_assignment(assignment_of(&job), job);
    store
        .expect_apply_change()
        .withf(move |change| {
            change.state.status() == JobStatus::Failed
                && change.state.lease_expires_at().is_none()
                && change
                    .result
                    .as_ref()
                    .is_some_and(|result| result.result_payload.as_ref() == Some(&sent))
        })
        .times(1)
        .returning(|_| Ok(true));
    service(store)
        .report(
            &worker_account(),
            aid(ASSIGNMENT),
            Outcome::Failed,
            Some(payload),
        )
        .await
        .expect("reported");
}

#[tokio::test]
async fn a_second_result_is_refused() {
    let job = test_job(JobState::restore(JobStatus::Succeeded, 1, None).expect("consistent"));
    let assignment = Assignment {
        completed_at: Some(now() - Duration::minutes(1)),
        ..assignment_of(&test_job(running()))
    };
    let mut store = store_with_assignment(assignment, job);
    store.expect_apply_change().never();
    let got = service(store)
        .report(&worker_account(), aid(ASSIGNMENT), Outcome::Succeeded, None)
        .await;
    assert!(
        matches!(got, Err(AssignmentError::AlreadyCompleted)),
        "{got:?}"
    );
}

#[rstest]
#[case::cancelled(JobState::restore(JobStatus::Cancelled, 1, None).expect("consistent"))]
#[case::expired(running_since(60))]
#[case::requeued(JobState::restore(JobStatus::Pending, 1, None).expect("consistent"))]
#[tokio::test]
async fn a_result_without_a_live_lease_is_refused(#[case] state: JobState) {
    let job = Job {
        current_assignment: Some(aid(ASSIGNMENT)),
        ..test_job(state)
    };
    let assignment = assignment_of(&test_job(running()));
    let mut store = store_with_assignment(assignment, job);
    store.expect_apply_change().never();
    let got = service(store)
        .report(&worker_account(), aid(ASSIGNMENT), Outcome::Succeeded, None)
        .await;
    assert!(matches!(got, Err(AssignmentError::LeaseLost(_))), "{got:?}");
}

#[tokio::test]
async fn a_result_of_a_superseded_assignment_is_refused() {
    let job = Job {
        current_assignment: Some(aid(ASSIGNMENT + 1)),
        ..test_job(running())
    };
    let mut store = store_with_assignment(assignment_of(&job), job);
    store.expect_apply_change().never();
    let got = service(store)
        .report(&worker_account(), aid(ASSIGNMENT), Outcome::Failed, None)
        .await;
    assert!(matches!(got, Err(AssignmentError::LeaseLost(_))), "{got:?}");
}

// ---------------------------------------------------------------------------------------------
// claim and assign

/// A store whose `claim_jobs` answers nothing until `available` is set, counting its calls.
fn claim_store(available: Arc<AtomicBool>, calls: Arc<AtomicUsize>) -> MockJobRepository {
    let mut store = MockJobRepository::new();
    store.expect_claim_jobs().returning(move |_| {
        calls.fetch_add(1, SeqCst);
        Ok(if available.load(SeqCst) {
            vec![claimed()]
        } else {
            vec![]
        })
    });
    store
}

#[tokio::test(start_paused = true)]
async fn a_claimable_job_is_returned_at_once() {
    let expected = ClaimRequest {
        job_types: Some(vec![type_name("TEST")]),
        worker: worker(),
        storage: storage(),
        limit: 1,
        now: now(),
    };
    let mut store = MockJobRepository::new();
    store
        .expect_claim_jobs()
        .with(eq(expected))
        .times(1)
        .returning(|_| Ok(vec![claimed()]));
    let started = Instant::now();
    let got = service(store)
        .claim(
            &worker_account(),
            Some(claim_types(&["TEST"])),
            arns(),
            StdDuration::from_secs(20),
        )
        .await
        .expect("claimed");
    assert_eq!(got, Some(claimed()));
    assert_eq!(started.elapsed(), StdDuration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn without_a_wait_an_empty_queue_is_checked_once() {
    let calls = Arc::new(AtomicUsize::new(0));
    let store = claim_store(Arc::new(AtomicBool::new(false)), calls.clone());
    let started = Instant::now();
    let got = service(store)
        .claim(&worker_account(), None, arns(), StdDuration::ZERO)
        .await
        .expect("claimed");
    assert_eq!(got, None);
    assert_eq!(calls.load(SeqCst), 1);
    assert_eq!(started.elapsed(), StdDuration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_notification_ends_a_waiting_claim_early() {
    let available = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let signal = JobSignal::new();
    let service = service_with(
        claim_store(available.clone(), calls.clone()),
        builtin(),
        signal.clone(),
    );
    let notifier = tokio::spawn(async move {
        tokio::time::sleep(StdDuration::from_millis(200)).await;
        available.store(true, SeqCst);
        signal.notify();
    });
    let started = Instant::now();
    let got = service
        .claim(&worker_account(), None, arns(), StdDuration::from_secs(20))
        .await
        .expect("claimed");
    notifier.await.expect("notifier ran");
    assert_eq!(got, Some(claimed()));
    assert_eq!(calls.load(SeqCst), 2);
    let waited = started.elapsed();
    assert!(
        waited >= StdDuration::from_millis(200) && waited < CLAIM_RECHECK,
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn draining_ends_a_waiting_claim_with_no_job_and_later_claims_wait_no_more() {
    let calls = Arc::new(AtomicUsize::new(0));
    let signal = JobSignal::new();
    let service = service_with(
        claim_store(Arc::new(AtomicBool::new(false)), calls.clone()),
        builtin(),
        signal.clone(),
    );
    let drainer = tokio::spawn(async move {
        tokio::time::sleep(StdDuration::from_millis(300)).await;
        signal.drain();
    });
    let started = Instant::now();
    let got = service
        .claim(&worker_account(), None, arns(), StdDuration::from_secs(20))
        .await
        .expect("answered");
    drainer.await.expect("drainer ran");
    assert_eq!(got, None);
    assert_eq!(started.elapsed(), StdDuration::from_millis(300));
    // The queue was checked once more after the drain, then never waited on again.
    assert_eq!(calls.load(SeqCst), 2);
    let later = Instant::now();
    let got = service
        .claim(&worker_account(), None, arns(), StdDuration::from_secs(20))
        .await
        .expect("answered");
    assert_eq!(got, None);
    assert_eq!(later.elapsed(), StdDuration::ZERO);
    assert_eq!(calls.load(SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_waiting_claim_rechecks_every_second_until_its_wait_ends() {
    let calls = Arc::new(AtomicUsize::new(0));
    let store = claim_store(Arc::new(AtomicBool::new(false)), calls.clone());
    let started = Instant::now();
    let got = service(store)
        .claim(
            &worker_account(),
            None,
            arns(),
            StdDuration::from_millis(2_500),
        )
        .await
        .expect("claimed");
    assert_eq!(got, None);
    // At 0 s, 1 s, 2 s and 2.5 s.
    assert_eq!(calls.load(SeqCst), 4);
    let waited = started.elapsed();
    assert!(
        waited >= StdDuration::from_millis(2_500) && waited < StdDuration::from_secs(3),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_long_wait_is_capped() {
    let calls = Arc::new(AtomicUsize::new(0));
    let store = claim_store(Arc::new(AtomicBool::new(false)), calls.clone());
    let started = Instant::now();
    let got = service(store)
        .claim(&worker_account(), None, arns(), StdDuration::from_secs(120))
        .await
        .expect("claimed");
    assert_eq!(got, None);
    let waited = started.elapsed();
    assert!(
        waited >= MAX_CLAIM_WAIT && waited < MAX_CLAIM_WAIT + CLAIM_RECHECK,
        "{waited:?}"
    );
    // Once at the start and after every one-second re-check.
    assert_eq!(calls.load(SeqCst), 31);
}

#[tokio::test]
async fn assign_maps_every_outcome() {
    let outcomes = [
        AssignOutcome::Assigned(Box::new(claimed())),
        AssignOutcome::NotFound,
        AssignOutcome::NotAvailable,
    ];
    for outcome in outcomes {
        let mut store = MockJobRepository::new();
        let answer = outcome.clone();
        store
            .expect_assign_job()
            .with(eq(jid(JOB)), eq(worker()), eq(storage()), eq(now()))
            .times(1)
            .returning(move |_, _, _, _| Ok(answer.clone()));
        let got = service(store)
            .assign(&worker_account(), jid(JOB), arns())
            .await;
        match outcome {
            AssignOutcome::Assigned(_) => assert_eq!(got.expect("assigned"), claimed()),
            AssignOutcome::NotFound => assert!(
                matches!(got, Err(AssignJobError::NotFound(id)) if id == jid(JOB)),
                "{got:?}"
            ),
            AssignOutcome::NotAvailable => {
                assert!(matches!(got, Err(AssignJobError::NotAvailable)), "{got:?}")
            }
        }
    }
}

#[tokio::test]
async fn poll_asks_for_at_most_ten_claimable_jobs() {
    let mut store = MockJobRepository::new();
    store
        .expect_pending_jobs()
        .with(eq(Some(type_name("TEST"))), eq(POLL_LIMIT))
        .times(1)
        .returning(|_, _| Ok(vec![test_job(JobState::new_pending())]));
    let got = service(store)
        .poll(&worker_account(), Some("TEST"))
        .await
        .expect("polled");
    assert_eq!(got.len(), 1);
}

/// A store whose queue holds pending jobs `1..=waiting` (oldest first by id), answering every
/// listing with as many of them as asked for.
fn queue_of(waiting: i64) -> MockJobRepository {
    let mut store = MockJobRepository::new();
    store.expect_pending_jobs().returning(move |_, limit| {
        let limit = i64::try_from(limit).expect("small");
        Ok((1..=waiting.min(limit)).map(pending_job).collect())
    });
    store
}

/// The ids of a poll's answer.
async fn polled_ids<C: Clock>(service: &JobService<MockJobRepository, C>) -> Vec<i32> {
    let jobs = service.poll(&worker_account(), None).await.expect("polled");
    jobs.iter().map(|job| job.id.get()).collect()
}

#[tokio::test]
async fn each_poller_meets_a_different_job_first() {
    let service = service(queue_of(20));
    assert_eq!(polled_ids(&service).await, (1..=10).collect::<Vec<_>>());
    assert_eq!(polled_ids(&service).await, (2..=11).collect::<Vec<_>>());
    assert_eq!(polled_ids(&service).await, (3..=12).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_poll_lists_jobs_on_offer_when_nothing_else_waits() {
    let service = service(queue_of(2));
    assert_eq!(polled_ids(&service).await, [1, 2]);
    assert_eq!(polled_ids(&service).await, [2]);
    assert_eq!(polled_ids(&service).await, [1, 2]);
}

#[tokio::test]
async fn an_offer_ends_with_an_assign_of_its_job() {
    let mut store = queue_of(20);
    store
        .expect_assign_job()
        .returning(|_, _, _, _| Ok(AssignOutcome::NotAvailable));
    let service = service(store);
    assert_eq!(polled_ids(&service).await[0], 1);
    let lost = service.assign(&worker_account(), jid(1), arns()).await;
    assert!(
        matches!(lost, Err(AssignJobError::NotAvailable)),
        "{lost:?}"
    );
    // The store still lists job 1 (as if another instance had re-queued it): offered again.
    assert_eq!(polled_ids(&service).await[0], 1);
}

#[tokio::test]
async fn a_poll_leaves_out_a_job_this_instance_leased_since_the_listing_was_read() {
    let mut store = MockJobRepository::new();
    // A listing read before the claim's commit: the claimed job still looks pending.
    let leased = i64::from(claimed().job.id.get());
    store
        .expect_pending_jobs()
        .returning(move |_, _| Ok(vec![pending_job(leased), pending_job(2)]));
    let service = service_after_claim(store, ManualClock::starting_now()).await;
    assert_eq!(polled_ids(&service).await, [2]);
}

#[tokio::test]
async fn an_offer_ends_after_the_hold() {
    let clock = ManualClock::starting_now();
    let service = service_on(queue_of(20), clock.clone());
    assert_eq!(polled_ids(&service).await[0], 1);
    clock.set(now() + OFFER_HOLD - Duration::milliseconds(1));
    assert_eq!(polled_ids(&service).await[0], 2);
    clock.set(now() + OFFER_HOLD);
    assert_eq!(polled_ids(&service).await[0], 1);
}

// ---------------------------------------------------------------------------------------------
// leases remembered from claims and heartbeats

/// A clock the test moves.
#[derive(Clone)]
struct ManualClock(Arc<std::sync::Mutex<DateTime<Utc>>>);

impl ManualClock {
    fn starting_now() -> Self {
        Self(Arc::new(std::sync::Mutex::new(now())))
    }

    fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().expect("clock") = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock")
    }
}

/// A service on `clock`.
fn service_on(
    store: MockJobRepository,
    clock: ManualClock,
) -> JobService<MockJobRepository, ManualClock> {
    JobService::new(store, clock, builtin(), storage(), JobSignal::new())
}

/// A service on `clock` that has just handed out [`claimed`] through `claim`.
async fn service_after_claim(
    mut store: MockJobRepository,
    clock: ManualClock,
) -> JobService<MockJobRepository, ManualClock> {
    store
        .expect_claim_jobs()
        .times(1)
        .returning(|_| Ok(vec![claimed()]));
    let service = service_on(store, clock);
    let got = service
        .claim(&worker_account(), None, arns(), StdDuration::ZERO)
        .await;
    assert_eq!(got.expect("claim"), Some(claimed()));
    service
}

/// The running state of [`claimed`] (claimed at `now()`), its lease extended to `minutes`
/// after `now()`.
fn claimed_state_until(minutes: i64) -> JobState {
    JobState::restore(
        JobStatus::InProgress,
        1,
        Some(now() + Duration::minutes(minutes)),
    )
    .expect("valid")
}

#[tokio::test]
async fn a_claimed_jobs_heartbeat_and_result_read_nothing() {
    let mut store = MockJobRepository::new();
    store.expect_find_assignment().never();
    let mut changes = mockall::Sequence::new();
    store
        .expect_apply_change()
        .withf(|change| {
            change.expected_version == VERSION && change.state == claimed_state_until(60)
        })
        .times(1)
        .in_sequence(&mut changes)
        .returning(|_| Ok(true));
    // The heartbeat bumped the version: the result is compared against the next one.
    store
        .expect_apply_change()
        .withf(|change| {
            change.expected_version == VERSION + 1
                && change.state.status() == JobStatus::Succeeded
                && change.result.is_some()
        })
        .times(1)
        .in_sequence(&mut changes)
        .returning(|_| Ok(true));
    let service = service_after_claim(store, ManualClock::starting_now()).await;
    let reply = service
        .heartbeat(&worker_account(), aid(ASSIGNMENT), Progress::default())
        .await
        .expect("heartbeat");
    assert!(!reply.cancelled);
    assert_eq!(reply.assignment.heartbeat_at, Some(now()));
    service
        .report(&worker_account(), aid(ASSIGNMENT), Outcome::Succeeded, None)
        .await
        .expect("reported");
}

#[tokio::test]
async fn a_change_refused_by_storage_is_decided_again_on_fresh_rows() {
    // The job was cancelled meanwhile (through another instance): the remembered copy is stale.
    let mut store = MockJobRepository::new();
    store
        .expect_apply_change()
        .times(1)
        .returning(|_| Ok(false));
    let cancelled = Job {
        state: JobState::restore(JobStatus::Cancelled, 1, None).expect("valid"),
        version: VERSION + 1,
        ..claimed().job
    };
    let assignment = claimed().assignment;
    store
        .expect_find_assignment()
        .times(1)
        .returning(move |_| Ok(Some((assignment.clone(), cancelled.clone()))));
    let service = service_after_claim(store, ManualClock::starting_now()).await;
    let got = service
        .report(&worker_account(), aid(ASSIGNMENT), Outcome::Succeeded, None)
        .await;
    assert!(
        matches!(
            got,
            Err(AssignmentError::LeaseLost("the job was cancelled"))
        ),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_refusal_on_a_remembered_lease_is_decided_again_on_fresh_rows() {
    // Here the lease ended an hour after the claim, but another instance took a heartbeat that
    // extended it: only the fresh rows know.
    let clock = ManualClock::starting_now();
    let mut store = MockJobRepository::new();
    let extended = Job {
        state: claimed_state_until(90),
        version: VERSION + 1,
        ..claimed().job
    };
    let assignment = Assignment {
        expires_at: now() + Duration::minutes(90),
        ..claimed().assignment
    };
    store
        .expect_find_assignment()
        .times(1)
        .returning(move |_| Ok(Some((assignment.clone(), extended.clone()))));
    store
        .expect_apply_change()
        .withf(|change| change.expected_version == VERSION + 1)
        .times(1)
        .returning(|_| Ok(true));
    let service = service_after_claim(store, clock.clone()).await;
    clock.set(now() + Duration::minutes(61));
    let reply = service
        .heartbeat(&worker_account(), aid(ASSIGNMENT), Progress::default())
        .await
        .expect("heartbeat");
    assert_eq!(
        reply.assignment.expires_at,
        now() + Duration::minutes(61 + 60)
    );
}

#[tokio::test]
async fn a_strangers_heartbeat_is_refused_on_fresh_rows_too() {
    let mut store = MockJobRepository::new();
    let claimed = claimed();
    store
        .expect_find_assignment()
        .times(1)
        .returning(move |_| Ok(Some((claimed.assignment.clone(), claimed.job.clone()))));
    store.expect_apply_change().never();
    let service = service_after_claim(store, ManualClock::starting_now()).await;
    let got = service
        .heartbeat(
            &user_with(OTHER, &[Role::Worker]),
            aid(ASSIGNMENT),
            Progress::default(),
        )
        .await;
    assert!(matches!(got, Err(AssignmentError::NotHolder)), "{got:?}");
}

#[tokio::test]
async fn a_job_leased_here_is_not_assignable_until_its_lease_ends() {
    let clock = ManualClock::starting_now();
    let mut store = MockJobRepository::new();
    store
        .expect_assign_job()
        .with(
            eq(jid(JOB)),
            eq(worker()),
            eq(storage()),
            eq(now() + Duration::minutes(60)),
        )
        .times(1)
        .returning(|_, _, _, _| Ok(AssignOutcome::NotAvailable));
    store.expect_apply_change().times(1).returning(|_| Ok(true));
    let service = service_after_claim(store, clock.clone()).await;
    let got = service.assign(&worker_account(), jid(JOB), arns()).await;
    assert!(matches!(got, Err(AssignJobError::NotAvailable)), "{got:?}");
    // Still after its result: a finished job never becomes assignable again.
    service
        .report(&worker_account(), aid(ASSIGNMENT), Outcome::Failed, None)
        .await
        .expect("reported");
    let got = service.assign(&worker_account(), jid(JOB), arns()).await;
    assert!(matches!(got, Err(AssignJobError::NotAvailable)), "{got:?}");
    // Once the lease has ended, only storage knows (the sweeper may have re-queued it).
    clock.set(now() + Duration::minutes(60));
    let got = service.assign(&worker_account(), jid(JOB), arns()).await;
    assert!(matches!(got, Err(AssignJobError::NotAvailable)), "{got:?}");
}

// ---------------------------------------------------------------------------------------------
// assignments under way

/// A store whose `assign_job` waits for `gate` before answering with the mock's answer, and
/// whose every other method is the mock's.
struct GatedAssigns {
    mock: MockJobRepository,
    gate: Arc<tokio::sync::Notify>,
}

#[async_trait::async_trait]
impl JobRepository for GatedAssigns {
    async fn submit_job(&self, new_job: NewJob) -> anyhow::Result<Submission> {
        self.mock.submit_job(new_job).await
    }
    async fn find_job(&self, id: JobId) -> anyhow::Result<Option<JobDetails>> {
        self.mock.find_job(id).await
    }
    async fn find_assignment(&self, id: AssignmentId) -> anyhow::Result<Option<(Assignment, Job)>> {
        self.mock.find_assignment(id).await
    }
    async fn has_requested(&self, user: UserId, job: JobId) -> anyhow::Result<bool> {
        self.mock.has_requested(user, job).await
    }
    async fn list_jobs(&self, query: JobQuery) -> anyhow::Result<JobPage> {
        self.mock.list_jobs(query).await
    }
    async fn list_requests(
        &self,
        user: Option<UserId>,
        limit: u64,
    ) -> anyhow::Result<Vec<JobRequest>> {
        self.mock.list_requests(user, limit).await
    }
    async fn pending_jobs(
        &self,
        job_type: Option<JobTypeName>,
        limit: u64,
    ) -> anyhow::Result<Vec<Job>> {
        self.mock.pending_jobs(job_type, limit).await
    }
    async fn pending_counts(&self) -> anyhow::Result<std::collections::BTreeMap<JobTypeName, u64>> {
        self.mock.pending_counts().await
    }
    async fn job_census(&self) -> anyhow::Result<crate::repositories::jobs::JobCensus> {
        self.mock.job_census().await
    }
    async fn assign_job(
        &self,
        id: JobId,
        worker: WorkerTag,
        storage: StorageBase,
        now: DateTime<Utc>,
    ) -> anyhow::Result<AssignOutcome> {
        self.gate.notified().await;
        self.mock.assign_job(id, worker, storage, now).await
    }
    async fn claim_jobs(&self, request: ClaimRequest) -> anyhow::Result<Vec<Claimed>> {
        self.mock.claim_jobs(request).await
    }
    async fn apply_change(&self, change: JobChange) -> anyhow::Result<bool> {
        self.mock.apply_change(change).await
    }
    async fn expired_leases(&self, now: DateTime<Utc>, limit: u64) -> anyhow::Result<Vec<Job>> {
        self.mock.expired_leases(now, limit).await
    }
    async fn stale_jobs(
        &self,
        created_before: DateTime<Utc>,
        types: &[JobTypeName],
        limit: u64,
    ) -> anyhow::Result<Vec<Job>> {
        self.mock.stale_jobs(created_before, types, limit).await
    }
    async fn invalidate_cache(&self, job_type: JobTypeName) -> anyhow::Result<u64> {
        self.mock.invalidate_cache(job_type).await
    }

    async fn pending_workflow_jobs(&self, limit: u64) -> anyhow::Result<Vec<Job>> {
        self.mock.pending_workflow_jobs(limit).await
    }

    async fn workflow_jobs(
        &self,
        which: WorkflowJobs,
        limit: u64,
    ) -> anyhow::Result<Vec<(Job, Assignment)>> {
        self.mock.workflow_jobs(which, limit).await
    }

    async fn workflow_attempts(&self, ids: Vec<JobId>) -> anyhow::Result<Vec<(Job, Assignment)>> {
        self.mock.workflow_attempts(ids).await
    }

    async fn start_workflow_runs(
        &self,
        starts: Vec<WorkflowStart>,
    ) -> anyhow::Result<Vec<Assignment>> {
        self.mock.start_workflow_runs(starts).await
    }

    async fn record_engine_runs(
        &self,
        runs: Vec<(AssignmentId, String)>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        self.mock.record_engine_runs(runs, now).await
    }
}

/// Pending job `n` (oldest first by id).
pub(crate) fn pending_job(n: i64) -> Job {
    Job {
        id: jid(n),
        ..test_job(JobState::new_pending())
    }
}

#[tokio::test]
async fn a_job_being_assigned_is_neither_assignable_nor_polled() {
    let mut mock = MockJobRepository::new();
    // Only the first assignment of job 1 reaches storage.
    mock.expect_assign_job()
        .with(eq(jid(1)), eq(worker()), eq(storage()), eq(now()))
        .times(1)
        .returning(|_, _, _, _| Ok(AssignOutcome::NotAvailable));
    // The poll asks for one more job than it returns, for the one it leaves out.
    mock.expect_pending_jobs()
        .with(eq(None), eq(POLL_LIMIT + 1))
        .times(1)
        .returning(|_, limit| {
            Ok((1..=i64::try_from(limit).expect("small"))
                .map(pending_job)
                .collect())
        });
    let gate = Arc::new(tokio::sync::Notify::new());
    let service = Arc::new(JobService::new(
        GatedAssigns {
            mock,
            gate: gate.clone(),
        },
        FixedClock,
        builtin(),
        storage(),
        JobSignal::new(),
    ));
    let first = tokio::spawn({
        let service = service.clone();
        async move { service.assign(&worker_account(), jid(1), arns()).await }
    });
    tokio::task::yield_now().await;
    let second = tokio::time::timeout(
        StdDuration::from_secs(5),
        service.assign(&worker_account(), jid(1), arns()),
    )
    .await
    .expect("answered without waiting for the first assignment");
    assert!(
        matches!(second, Err(AssignJobError::NotAvailable)),
        "{second:?}"
    );
    let polled = service.poll(&worker_account(), None).await.expect("polled");
    let ids: Vec<JobId> = polled.iter().map(|job| job.id).collect();
    assert_eq!(ids, (2..=11).map(jid).collect::<Vec<_>>());
    gate.notify_one();
    let first = first.await.expect("task");
    assert!(
        matches!(first, Err(AssignJobError::NotAvailable)),
        "{first:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// expire_leases

#[rstest]
#[case::requeued(1, JobStatus::Pending, SweepSummary { requeued: 1, timed_out: 0 }, true)]
#[case::out_of_attempts(3, JobStatus::TimedOut, SweepSummary { requeued: 0, timed_out: 1 }, false)]
#[tokio::test(start_paused = true)]
async fn an_expired_lease_is_requeued_or_timed_out(
    #[case] attempts: u32,
    #[case] status: JobStatus,
    #[case] summary: SweepSummary,
    #[case] wakes: bool,
) {
    let state = JobState::restore(JobStatus::InProgress, attempts, Some(now())).expect("valid");
    let expected = JobChange {
        job_id: jid(JOB),
        expected_version: VERSION,
        state: JobState::restore(status, attempts, None).expect("consistent"),
        now: now(),
        assignment: None,
        result: None,
    };
    let mut store = MockJobRepository::new();
    store
        .expect_expired_leases()
        .with(eq(now()), eq(SWEEP_BATCH))
        .times(1)
        .returning(move |_, _| Ok(vec![test_job(state)]));
    store
        .expect_apply_change()
        .with(eq(expected))
        .times(1)
        .returning(|_| Ok(true));
    let signal = JobSignal::new();
    let mut waiter = signal.subscribe();
    waiter.arm();
    let got = service_with(store, builtin(), signal.clone())
        .expire_leases()
        .await
        .expect("swept");
    assert_eq!(got, summary);
    let woke = tokio::time::timeout(
        StdDuration::from_secs(1),
        waiter.wait(StdDuration::from_secs(60)),
    )
    .await
    .is_ok();
    assert_eq!(woke, wakes);
}

#[tokio::test(start_paused = true)]
async fn jobs_handled_elsewhere_or_still_leased_are_not_counted() {
    let expired = test_job(running_since(60));
    let lost = Job {
        id: jid(JOB + 1),
        ..expired.clone()
    };
    let still_leased = Job {
        id: jid(JOB + 2),
        ..test_job(running())
    };
    let mut store = MockJobRepository::new();
    store
        .expect_expired_leases()
        .returning(move |_, _| Ok(vec![lost.clone(), expired.clone(), still_leased.clone()]));
    store
        .expect_apply_change()
        .withf(|change| change.job_id == jid(JOB + 1))
        .times(1)
        .returning(|_| Ok(false));
    store
        .expect_apply_change()
        .withf(|change| change.job_id == jid(JOB))
        .times(1)
        .returning(|_| Ok(true));
    store
        .expect_apply_change()
        .withf(|change| change.job_id == jid(JOB + 2))
        .never();
    let got = service(store).expire_leases().await.expect("swept");
    assert_eq!(
        got,
        SweepSummary {
            requeued: 1,
            timed_out: 0,
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_sweep_that_requeues_nothing_wakes_nobody() {
    let mut store = MockJobRepository::new();
    store
        .expect_expired_leases()
        .returning(|_, _| Ok(vec![test_job(running_since(60))]));
    store
        .expect_apply_change()
        .times(1)
        .returning(|_| Ok(false));
    let signal = JobSignal::new();
    let mut waiter = signal.subscribe();
    waiter.arm();
    let got = service_with(store, builtin(), signal.clone())
        .expire_leases()
        .await
        .expect("swept");
    assert_eq!(got, SweepSummary::default());
    let woke = tokio::time::timeout(
        StdDuration::from_secs(1),
        waiter.wait(StdDuration::from_secs(60)),
    )
    .await
    .is_ok();
    assert!(!woke);
}

// ---------------------------------------------------------------------------------------------
// invalidate_cache

#[tokio::test]
async fn invalidating_an_unknown_type_is_refused() {
    let mut store = MockJobRepository::new();
    store.expect_invalidate_cache().never();
    let got = service(store).invalidate_cache(&admin(), "NOPE").await;
    assert!(
        matches!(&got, Err(InvalidateCacheError::UnknownType(name)) if name == "NOPE"),
        "{got:?}"
    );
}

#[tokio::test]
async fn invalidating_a_known_type_counts_the_results() {
    let mut store = MockJobRepository::new();
    store
        .expect_invalidate_cache()
        .with(eq(type_name("TEST")))
        .times(1)
        .returning(|_| Ok(4));
    let got = service(store)
        .invalidate_cache(&admin(), "TEST")
        .await
        .expect("invalidated");
    assert_eq!(got, 4);
}

#[tokio::test]
async fn only_an_administrator_invalidates_the_cache() {
    let mut store = MockJobRepository::new();
    store.expect_invalidate_cache().never();
    let service = service(store);
    for actor in [
        user_with(OWNER, &[]),
        user_with(OWNER, &[Role::Analyst]),
        worker_account(),
    ] {
        // Refused before the type is even looked up.
        let got = service.invalidate_cache(&actor, "NOPE").await;
        assert!(
            matches!(got, Err(InvalidateCacheError::Forbidden)),
            "{got:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// the worker role

#[rstest]
#[case::no_role(&[])]
#[case::analyst(&[Role::Analyst])]
#[tokio::test]
async fn only_workers_and_administrators_work_the_queue(#[case] roles: &[Role]) {
    // A store that must not be asked anything.
    let service = service(MockJobRepository::new());
    let user = user_with(OTHER, roles);
    let polled = service.poll(&user, None).await;
    assert!(
        matches!(polled, Err(PollError::NotAWorker(_))),
        "{polled:?}"
    );
    let assigned = service.assign(&user, jid(JOB), arns()).await;
    assert!(
        matches!(assigned, Err(AssignJobError::NotAWorker(_))),
        "{assigned:?}"
    );
    let claimed = service.claim(&user, None, arns(), StdDuration::ZERO).await;
    assert!(
        matches!(claimed, Err(ClaimError::NotAWorker(_))),
        "{claimed:?}"
    );
    let beat = service
        .heartbeat(&user, aid(ASSIGNMENT), Progress::default())
        .await;
    assert!(
        matches!(beat, Err(AssignmentError::NotAWorker(_))),
        "{beat:?}"
    );
    let reported = service
        .report(&user, aid(ASSIGNMENT), Outcome::Failed, None)
        .await;
    assert!(
        matches!(reported, Err(AssignmentError::NotAWorker(_))),
        "{reported:?}"
    );
}

#[tokio::test]
async fn an_administrator_works_the_queue() {
    let mut store = MockJobRepository::new();
    store
        .expect_pending_jobs()
        .times(1)
        .returning(|_, _| Ok(vec![]));
    let got = service(store).poll(&admin(), None).await;
    assert!(matches!(&got, Ok(jobs) if jobs.is_empty()), "{got:?}");
}

// ---------------------------------------------------------------------------------------------
// which job types exist

#[rstest]
#[case::worker(&[Role::Worker])]
#[case::analyst(&[Role::Analyst])]
#[tokio::test]
async fn polling_an_unknown_type_is_refused_before_the_caller_is_checked(#[case] roles: &[Role]) {
    // A store that must not be asked anything.
    let service = service(MockJobRepository::new());
    let got = service.poll(&user_with(OTHER, roles), Some("NOPE")).await;
    let Err(PollError::UnknownType(unknown)) = got else {
        panic!("expected an unknown type: {got:?}");
    };
    assert_eq!(unknown.name, "NOPE");
    assert_eq!(unknown.known, builtin().names());
}

#[test]
fn the_registry_decides_which_types_exist() {
    let service = service(MockJobRepository::new());
    assert_eq!(service.job_type("TEST"), Ok(type_name("TEST")));
    assert_eq!(
        service.job_type("test").map_err(|unknown| unknown.name),
        Err("test".to_owned())
    );
    let types = service
        .claim_types(&["TEST".to_owned()])
        .expect("a known type");
    assert_eq!(types.names(), [type_name("TEST")]);
    assert!(matches!(
        service.claim_types(&["TEST".to_owned(), "NOPE".to_owned()]),
        Err(InvalidClaimTypes::Unknown(unknown)) if unknown.name == "NOPE"
    ));
}
