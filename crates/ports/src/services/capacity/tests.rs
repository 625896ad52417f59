//! Unit tests of [`CapacityManager`] against a mocked store and cluster.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex as StdMutex};

use chrono::{DateTime, Duration, Utc};
use mockall::predicate::{always, eq};
use reefguide_domain::capacity::ScalingSettings;
use reefguide_domain::job::registry::{DEFAULT_COMPUTE_TARGET, JobTypeName, JobTypeOverride};
use rstest::rstest;

use super::*;
use crate::compute::{MockComputeCluster, TaskInfo};
use crate::repositories::jobs::MockJobRepository;
use crate::services::test_support::now;

const DEFAULT: &str = DEFAULT_COMPUTE_TARGET;
const GPU: &str = "gpu";

/// A clock the test moves forward; clones share the time.
#[derive(Clone)]
struct ManualClock(Arc<StdMutex<DateTime<Utc>>>);

impl ManualClock {
    fn new() -> Self {
        Self(Arc::new(StdMutex::new(now())))
    }

    fn advance(&self, seconds: i64) {
        let mut time = self.0.lock().expect("clock lock");
        *time += Duration::seconds(seconds);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

type Manager = CapacityManager<MockJobRepository, MockComputeCluster, ManualClock>;

/// ReefGuide's worked example (sensitivity 1.5, factor 2, 0 to 10 workers), with a 60-second
/// cooldown and at most 5 launches per cycle, adjusted by `change`.
fn policy_with(change: impl FnOnce(&mut ScalingSettings)) -> ScalingPolicy {
    let mut settings = ScalingSettings {
        sensitivity: 1.5,
        factor: 2.0,
        min_workers: 0,
        max_workers: 10,
        cooldown: Duration::seconds(60),
        max_launch_per_cycle: 5,
    };
    change(&mut settings);
    ScalingPolicy::new(settings).expect("valid policy")
}

fn example() -> ScalingPolicy {
    policy_with(|_| {})
}

fn builtin() -> JobTypeRegistry {
    JobTypeRegistry::builtin().expect("built-in types compile")
}

/// The built-in types, with `TEST` on the `gpu` target.
fn test_on_gpu() -> JobTypeRegistry {
    let name = JobTypeName::parse("TEST").expect("valid name");
    let change = JobTypeOverride {
        compute_target: Some(GPU.to_owned()),
        ..JobTypeOverride::default()
    };
    JobTypeRegistry::with_overrides([(name, change)]).expect("valid override")
}

/// A valid job type name.
fn type_name(raw: &str) -> JobTypeName {
    JobTypeName::parse(raw).expect("valid name")
}

/// A store whose queue holds `counts` (job type, claimable jobs) on every cycle.
fn store_with(counts: &[(&str, u64)]) -> MockJobRepository {
    let counts: BTreeMap<JobTypeName, u64> = counts
        .iter()
        .map(|(job_type, pending)| (type_name(job_type), *pending))
        .collect();
    let mut store = MockJobRepository::new();
    store
        .expect_pending_counts()
        .returning(move || Ok(counts.clone()));
    store
}

/// Ids `task-1`, `task-2`, … in launch order, as many as asked.
fn starts_every_task(cluster: &mut MockComputeCluster, target: &'static str) {
    let next = Arc::new(AtomicUsize::new(1));
    cluster
        .expect_run_tasks()
        .with(eq(target), always())
        .returning(move |target, wanted| {
            Ok((0..wanted)
                .map(|_| format!("{target}-task-{}", next.fetch_add(1, SeqCst)))
                .collect())
        });
}

/// Every described task is running.
fn all_running(cluster: &mut MockComputeCluster) {
    cluster.expect_describe_tasks().returning(|ids| {
        Ok(ids
            .iter()
            .map(|id| TaskInfo {
                id: id.clone(),
                state: TaskState::Running,
            })
            .collect())
    });
}

fn manager(
    store: MockJobRepository,
    cluster: MockComputeCluster,
    clock: &ManualClock,
    registry: &JobTypeRegistry,
    policies: &[(&str, ScalingPolicy)],
) -> Manager {
    let policies = policies
        .iter()
        .map(|(target, policy)| ((*target).to_owned(), *policy))
        .collect();
    CapacityManager::new(store, cluster, clock.clone(), registry, policies).expect("valid config")
}

/// A manager of the built-in types, all on the default target with `policy`.
fn default_manager(
    store: MockJobRepository,
    cluster: MockComputeCluster,
    clock: &ManualClock,
    policy: ScalingPolicy,
) -> Manager {
    manager(store, cluster, clock, &builtin(), &[(DEFAULT, policy)])
}

/// A manager of ten queued TEST jobs under the example policy, keeping its tasks in `ledger`
/// (another instance's, when shared).
fn ten_tests_keeping_tasks_in<L: CapacityLedger>(
    cluster: MockComputeCluster,
    clock: &ManualClock,
    ledger: L,
) -> CapacityManager<MockJobRepository, MockComputeCluster, ManualClock, L> {
    default_manager(store_with(&[("TEST", 10)]), cluster, clock, example()).with_ledger(ledger)
}

async fn cycle(manager: &Manager) -> CycleReport {
    manager.run_cycle().await.expect("cycle ran")
}

fn report<'a>(report: &'a CycleReport, target: &str) -> &'a TargetReport {
    report.target(target).expect("target reported")
}

#[rstest]
#[case::one_job(&[("TEST", 1)], 1, 1)]
#[case::four_jobs(&[("TEST", 4)], 4, 2)]
#[case::ten_jobs_over_types(&[("TEST", 4), ("ADRIA_MODEL_RUN", 6)], 10, 3)]
#[case::far_beyond_a_page_of_ten(&[("REGIONAL_ASSESSMENT", 100)], 100, 5)]
#[tokio::test]
async fn the_worked_example_through_the_manager(
    #[case] counts: &[(&str, u64)],
    #[case] pending: u64,
    #[case] launched: u32,
) {
    let mut cluster = MockComputeCluster::new();
    cluster.expect_describe_tasks().never();
    cluster
        .expect_run_tasks()
        .with(eq(DEFAULT), eq(launched))
        .times(1)
        .returning(|_, wanted| Ok((0..wanted).map(|n| format!("task-{n}")).collect()));
    let clock = ManualClock::new();
    let manager = default_manager(store_with(counts), cluster, &clock, example());

    let cycle = cycle(&manager).await;
    let target = report(&cycle, DEFAULT);
    assert_eq!(target.pending, pending);
    assert_eq!(target.live, 0);
    assert_eq!(target.launched, launched);
    assert!(target.error.is_none());
    assert_eq!(
        target.reason,
        Some(PlanReason::ScaleUp {
            shortfall: target.desired
        })
    );
    assert_eq!(cycle.launched(), launched);
    assert_eq!(cycle.unrouted_pending, 0);
}

#[tokio::test]
async fn the_worked_example_desires_three_for_ten() {
    let mut cluster = MockComputeCluster::new();
    starts_every_task(&mut cluster, DEFAULT);
    let clock = ManualClock::new();
    let manager = default_manager(store_with(&[("TEST", 10)]), cluster, &clock, example());
    assert_eq!(report(&cycle(&manager).await, DEFAULT).desired, 3);
}

#[tokio::test]
async fn live_workers_are_not_started_twice() {
    let mut cluster = MockComputeCluster::new();
    starts_every_task(&mut cluster, DEFAULT);
    all_running(&mut cluster);
    let clock = ManualClock::new();
    let manager = default_manager(store_with(&[("TEST", 10)]), cluster, &clock, example());

    assert_eq!(cycle(&manager).await.launched(), 3);
    clock.advance(3600);
    let second = cycle(&manager).await;
    let target = report(&second, DEFAULT);
    assert_eq!((target.live, target.desired, target.launched), (3, 3, 0));
    assert_eq!(target.reason, Some(PlanReason::Enough));
}

#[tokio::test]
async fn the_minimum_is_kept_when_the_queue_is_empty() {
    let mut cluster = MockComputeCluster::new();
    cluster
        .expect_run_tasks()
        .with(eq(DEFAULT), eq(2))
        .times(1)
        .returning(|_, _| Ok(vec!["a".to_owned(), "b".to_owned()]));
    all_running(&mut cluster);
    let clock = ManualClock::new();
    let policy = policy_with(|settings| settings.min_workers = 2);
    let manager = default_manager(store_with(&[]), cluster, &clock, policy);

    let first = cycle(&manager).await;
    let target = report(&first, DEFAULT);
    assert_eq!((target.pending, target.desired, target.launched), (0, 2, 2));
    // Still idle later: the two are alive, nothing more is started (run_tasks once only).
    clock.advance(3600);
    let second = cycle(&manager).await;
    assert_eq!(report(&second, DEFAULT).live, 2);
    assert_eq!(second.launched(), 0);
}

#[tokio::test]
async fn stopped_and_unknown_tasks_no_longer_count() {
    let mut cluster = MockComputeCluster::new();
    starts_every_task(&mut cluster, DEFAULT);
    cluster.expect_describe_tasks().returning(|ids| {
        // The first task stopped (its worker idled out), the second is unknown, others run.
        Ok(ids
            .iter()
            .filter(|id| !id.ends_with("-task-2"))
            .map(|id| TaskInfo {
                id: id.clone(),
                state: if id.ends_with("-task-1") {
                    TaskState::Stopped
                } else {
                    TaskState::Starting
                },
            })
            .collect())
    });
    let clock = ManualClock::new();
    let manager = default_manager(store_with(&[("TEST", 10)]), cluster, &clock, example());

    assert_eq!(cycle(&manager).await.launched(), 3);
    clock.advance(60);
    let second = cycle(&manager).await;
    let target = report(&second, DEFAULT);
    assert_eq!((target.live, target.desired, target.launched), (1, 3, 2));
    // The replacements are tracked: task-3, task-4 and task-5 are live now.
    clock.advance(60);
    let third = cycle(&manager).await;
    assert_eq!(report(&third, DEFAULT).live, 3);
    assert_eq!(third.launched(), 0);
}

#[tokio::test]
async fn the_cooldown_holds_back_further_launches() {
    let clock = ManualClock::new();
    let mut cluster = MockComputeCluster::new();
    starts_every_task(&mut cluster, DEFAULT);
    all_running(&mut cluster);
    let counts = Arc::new(StdMutex::new(1_u64));
    let mut store = MockJobRepository::new();
    let queue = Arc::clone(&counts);
    store.expect_pending_counts().returning(move || {
        let pending = *queue.lock().expect("queue lock");
        Ok(BTreeMap::from([(type_name("TEST"), pending)]))
    });
    let manager = default_manager(store, cluster, &clock, example());

    assert_eq!(cycle(&manager).await.launched(), 1);
    // The queue grows right after: 2 more are wanted, but not before 60 seconds.
    *counts.lock().expect("queue lock") = 10;
    clock.advance(59);
    let held = cycle(&manager).await;
    let target = report(&held, DEFAULT);
    assert_eq!((target.live, target.desired, target.launched), (1, 3, 0));
    assert_eq!(
        target.reason,
        Some(PlanReason::CoolingDown {
            until: now() + Duration::seconds(60)
        })
    );
    clock.advance(1);
    assert_eq!(cycle(&manager).await.launched(), 2);
}

#[tokio::test]
async fn launches_per_cycle_are_capped() {
    let clock = ManualClock::new();
    let mut cluster = MockComputeCluster::new();
    cluster
        .expect_run_tasks()
        .with(eq(DEFAULT), eq(2))
        .times(1)
        .returning(|_, _| Ok(vec!["a".to_owned(), "b".to_owned()]));
    let policy = policy_with(|settings| settings.max_launch_per_cycle = 2);
    let manager = default_manager(store_with(&[("TEST", 1_000_000)]), cluster, &clock, policy);

    let cycle = cycle(&manager).await;
    let target = report(&cycle, DEFAULT);
    assert_eq!((target.desired, target.launched), (10, 2));
    assert_eq!(target.reason, Some(PlanReason::ScaleUp { shortfall: 10 }));
}

#[tokio::test]
async fn a_launch_that_starts_nothing_is_retried_after_the_cooldown() {
    let clock = ManualClock::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut cluster = MockComputeCluster::new();
    let counter = Arc::clone(&calls);
    cluster.expect_run_tasks().returning(move |_, _| {
        counter.fetch_add(1, SeqCst);
        Ok(Vec::new())
    });
    cluster.expect_describe_tasks().never();
    let manager = default_manager(store_with(&[("TEST", 4)]), cluster, &clock, example());

    let first = cycle(&manager).await;
    let target = report(&first, DEFAULT);
    assert_eq!((target.desired, target.launched), (2, 0));
    assert!(target.error.is_none());
    assert_eq!(calls.load(SeqCst), 1, "asked once, no loop");

    clock.advance(30);
    let held = cycle(&manager).await;
    assert!(matches!(
        report(&held, DEFAULT).reason,
        Some(PlanReason::CoolingDown { .. })
    ));
    assert_eq!(calls.load(SeqCst), 1, "not asked again during the cooldown");

    clock.advance(30);
    cycle(&manager).await;
    assert_eq!(calls.load(SeqCst), 2, "asked again after the cooldown");
}

#[tokio::test]
async fn a_partial_launch_tracks_what_started() {
    let clock = ManualClock::new();
    let mut cluster = MockComputeCluster::new();
    cluster
        .expect_run_tasks()
        .with(eq(DEFAULT), eq(3))
        .times(1)
        .returning(|_, _| Ok(vec!["only".to_owned()]));
    cluster
        .expect_run_tasks()
        .with(eq(DEFAULT), eq(2))
        .times(1)
        .returning(|_, _| Ok(vec!["x".to_owned(), "y".to_owned()]));
    all_running(&mut cluster);
    let manager = default_manager(store_with(&[("TEST", 10)]), cluster, &clock, example());

    assert_eq!(cycle(&manager).await.launched(), 1);
    clock.advance(60);
    let second = cycle(&manager).await;
    let target = report(&second, DEFAULT);
    assert_eq!((target.live, target.launched), (1, 2));
}

#[tokio::test]
async fn an_upstream_error_on_one_target_does_not_block_another() {
    let clock = ManualClock::new();
    let mut cluster = MockComputeCluster::new();
    cluster
        .expect_run_tasks()
        .with(eq(DEFAULT), always())
        .times(2)
        .returning(|_, _| Err(ComputeError::Upstream("capacity unavailable".to_owned())));
    starts_every_task(&mut cluster, GPU);
    all_running(&mut cluster);
    let store = store_with(&[("TEST", 4), ("ADRIA_MODEL_RUN", 1)]);
    let policies = [(DEFAULT, example()), (GPU, example())];
    let manager = manager(store, cluster, &clock, &test_on_gpu(), &policies);

    let first = cycle(&manager).await;
    let failed = report(&first, DEFAULT);
    assert_eq!((failed.pending, failed.desired, failed.launched), (1, 1, 0));
    assert!(matches!(
        &failed.error,
        Some(TargetError::Launch { target, source: ComputeError::Upstream(_) }) if target == DEFAULT
    ));
    let scaled = report(&first, GPU);
    assert_eq!((scaled.pending, scaled.desired, scaled.launched), (4, 2, 2));
    assert!(scaled.error.is_none());

    // The failed target waits for the cooldown, then tries again.
    clock.advance(10);
    let cycle_during_cooldown = cycle(&manager).await;
    assert!(report(&cycle_during_cooldown, DEFAULT).error.is_none());
    clock.advance(50);
    let retried = cycle(&manager).await;
    assert!(report(&retried, DEFAULT).error.is_some());
}

#[tokio::test]
async fn a_describe_error_skips_only_that_target() {
    let clock = ManualClock::new();
    let mut cluster = MockComputeCluster::new();
    starts_every_task(&mut cluster, DEFAULT);
    starts_every_task(&mut cluster, GPU);
    cluster.expect_describe_tasks().returning(|ids| {
        if ids.iter().any(|id| id.starts_with(GPU)) {
            Err(ComputeError::Upstream("throttled".to_owned()))
        } else {
            Ok(Vec::new())
        }
    });
    let store = store_with(&[("TEST", 1), ("ADRIA_MODEL_RUN", 1)]);
    let policies = [(DEFAULT, example()), (GPU, example())];
    let manager = manager(store, cluster, &clock, &test_on_gpu(), &policies);

    assert_eq!(cycle(&manager).await.launched(), 2);
    clock.advance(60);
    let second = cycle(&manager).await;
    let gpu = report(&second, GPU);
    assert!(matches!(gpu.error, Some(TargetError::Describe { .. })));
    assert_eq!((gpu.live, gpu.launched, gpu.reason), (1, 0, None));
    // The default target's task is unknown to the cluster: forgotten and replaced.
    let default = report(&second, DEFAULT);
    assert_eq!((default.live, default.launched), (0, 1));
}

#[tokio::test]
async fn a_store_error_fails_the_cycle() {
    let mut store = MockJobRepository::new();
    store
        .expect_pending_counts()
        .returning(|| Err(anyhow::anyhow!("connection lost")));
    let mut cluster = MockComputeCluster::new();
    cluster.expect_run_tasks().never();
    let clock = ManualClock::new();
    let manager = default_manager(store, cluster, &clock, example());

    let error = manager.run_cycle().await.expect_err("no counts");
    assert!(matches!(error, CapacityError::PendingCounts(_)));
}

#[tokio::test]
async fn pending_jobs_of_unknown_types_are_reported_apart() {
    let mut cluster = MockComputeCluster::new();
    cluster.expect_run_tasks().never();
    let clock = ManualClock::new();
    let manager = default_manager(
        store_with(&[("RETIRED_TYPE", 7)]),
        cluster,
        &clock,
        example(),
    );

    let cycle = cycle(&manager).await;
    assert_eq!(cycle.unrouted_pending, 7);
    assert_eq!(report(&cycle, DEFAULT).pending, 0);
}

#[tokio::test]
async fn a_target_without_job_types_keeps_its_minimum() {
    let mut cluster = MockComputeCluster::new();
    cluster
        .expect_run_tasks()
        .with(eq("spare"), eq(1))
        .times(1)
        .returning(|_, _| Ok(vec!["spare-1".to_owned()]));
    let clock = ManualClock::new();
    let spare = policy_with(|settings| settings.min_workers = 1);
    let policies = [(DEFAULT, example()), ("spare", spare)];
    let manager = manager(store_with(&[]), cluster, &clock, &builtin(), &policies);

    let cycle = cycle(&manager).await;
    assert_eq!(
        cycle
            .targets
            .iter()
            .map(|target| (target.target.as_str(), target.launched))
            .collect::<Vec<_>>(),
        vec![(DEFAULT, 0), ("spare", 1)]
    );
}

#[test]
fn every_job_type_needs_a_policy_for_its_target() {
    let policies = BTreeMap::from([(DEFAULT.to_owned(), example())]);
    let error = CapacityManager::new(
        MockJobRepository::new(),
        MockComputeCluster::new(),
        ManualClock::new(),
        &test_on_gpu(),
        policies,
    )
    .expect_err("gpu has no policy");
    assert_eq!(
        error,
        CapacityConfigError::NoPolicy {
            job_type: type_name("TEST"),
            target: GPU.to_owned(),
        }
    );
}

#[tokio::test]
async fn an_instance_taking_over_a_shared_ledger_starts_no_extra_task() {
    let shared = Arc::new(MemoryLedger::default());
    let clock = ManualClock::new();
    let mut first_cluster = MockComputeCluster::new();
    starts_every_task(&mut first_cluster, DEFAULT);
    let first = ten_tests_keeping_tasks_in(first_cluster, &clock, shared.clone());
    let first_cycle = first.run_cycle().await.expect("cycle ran");
    assert_eq!(first_cycle.launched(), 3);

    // Another instance acts next, with the same queue: it sees the three tasks as live.
    clock.advance(3600);
    let mut second_cluster = MockComputeCluster::new();
    all_running(&mut second_cluster);
    second_cluster.expect_run_tasks().never();
    let second = ten_tests_keeping_tasks_in(second_cluster, &clock, shared.clone());
    let second_cycle = second.run_cycle().await.expect("cycle ran");
    let target = report(&second_cycle, DEFAULT);
    assert_eq!((target.live, target.launched), (3, 0), "{target:?}");
    assert_eq!(target.reason, Some(PlanReason::Enough));
    let ledger = shared.target_ledger(DEFAULT).await.expect("read");
    assert_eq!(ledger.tasks.len(), 3);
    assert_eq!(ledger.last_launch, Some(now()));
}

#[tokio::test]
async fn an_instance_taking_over_waits_for_the_cooldown_of_the_last_launch() {
    let shared = Arc::new(MemoryLedger::default());
    let clock = ManualClock::new();
    let mut first_cluster = MockComputeCluster::new();
    // The launch started nothing (say, no capacity in the cluster).
    first_cluster
        .expect_run_tasks()
        .returning(|_, _| Ok(Vec::new()));
    let first = ten_tests_keeping_tasks_in(first_cluster, &clock, shared.clone());
    assert_eq!(first.run_cycle().await.expect("cycle ran").launched(), 0);

    let mut second_cluster = MockComputeCluster::new();
    second_cluster.expect_run_tasks().never();
    let second = ten_tests_keeping_tasks_in(second_cluster, &clock, shared);
    let cycle = second.run_cycle().await.expect("cycle ran");
    assert!(
        matches!(
            report(&cycle, DEFAULT).reason,
            Some(PlanReason::CoolingDown { .. })
        ),
        "{cycle:?}"
    );
}

#[tokio::test]
async fn no_task_starts_when_the_launch_cannot_be_recorded_first() {
    let mut ledger = crate::repositories::capacity::MockCapacityLedger::new();
    ledger
        .expect_target_ledger()
        .returning(|_| Ok(TargetLedger::default()));
    ledger
        .expect_record_target_ledger()
        .returning(|_, _| Err(anyhow::anyhow!("database gone")));
    let mut cluster = MockComputeCluster::new();
    cluster.expect_run_tasks().never();
    let clock = ManualClock::new();
    let manager = ten_tests_keeping_tasks_in(cluster, &clock, ledger);
    let cycle = manager.run_cycle().await.expect("cycle ran");
    let target = report(&cycle, DEFAULT);
    assert_eq!(target.launched, 0);
    assert!(
        matches!(target.error, Some(TargetError::Ledger { .. })),
        "{target:?}"
    );
}
