//! Unit tests of [`DataSpecificationService`] against mocked repositories.

use mockall::predicate::eq;
use reefguide_domain::data_specification::{
    Criterion, CriterionInput, CriterionName, CriterionRange, RegionInput,
};
use reefguide_domain::job::errors::SubmitJobError;
use reefguide_domain::job::registry::{JobTypeName, JobTypeRegistry};
use reefguide_domain::job::{JobRequestId, StorageBase, StorageScheme};
use reefguide_domain::{PasswordHash, Role, UserCredentials};
use serde_json::json;

use super::*;
use crate::repositories::data_specification::MockDataSpecificationRepository;
use crate::repositories::jobs::{MockJobRepository, Submission};
use crate::services::test_support::{MockStore, now, user_with};
use crate::wakeup::JobSignal;

/// A clock stopped at [`now`].
struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        now()
    }
}

const ADMIN: i64 = 3;
const SERVICE_ACCOUNT: i64 = 9;

fn spec() -> DataSpecification {
    DataSpecification::parse(vec![RegionInput {
        name: "Townsville-Whitsunday".into(),
        display_name: "Townsville/Whitsunday".into(),
        description: None,
        criteria: vec![CriterionInput {
            name: "Depth".into(),
            display_title: "Depth".into(),
            display_subtitle: None,
            units: Some("m".into()),
            min_tooltip: None,
            max_tooltip: None,
            payload_prefix: "depth_".into(),
            min_val: -50.0,
            max_val: -2.0,
            default_min_val: -30.0,
            default_max_val: -5.0,
        }],
    }])
    .expect("valid")
}

fn spec_service(
    store: MockDataSpecificationRepository,
) -> DataSpecificationService<MockDataSpecificationRepository, FixedClock> {
    DataSpecificationService::new(store, FixedClock, None)
}

#[tokio::test]
async fn only_workers_and_admins_replace_and_the_store_gets_the_spec_at_now() {
    for roles in [&[][..], &[Role::Analyst]] {
        let mut store = MockDataSpecificationRepository::new();
        store.expect_replace_data_specification().never();
        let refused = spec_service(store)
            .replace(&user_with(1, roles), &spec())
            .await;
        assert!(
            matches!(refused, Err(ReplaceSpecificationError::Forbidden)),
            "{roles:?}"
        );
    }

    let mut store = MockDataSpecificationRepository::new();
    store
        .expect_replace_data_specification()
        .with(eq(spec()), eq(now()))
        .times(2)
        .returning(|_, _| Ok(()));
    let service = spec_service(store);
    service
        .replace(&user_with(4, &[Role::Worker]), &spec())
        .await
        .expect("a worker posts what it computed");
    let counts = service
        .replace(&user_with(ADMIN, &[Role::Admin]), &spec())
        .await
        .expect("replaced");
    assert_eq!(
        counts,
        SpecificationCounts {
            criteria: 1,
            regions: 1,
            regional_criteria: 1
        }
    );

    let mut failing = MockDataSpecificationRepository::new();
    failing
        .expect_replace_data_specification()
        .returning(|_, _| Err(anyhow::anyhow!("disk full")));
    let failed = spec_service(failing)
        .replace(&user_with(ADMIN, &[Role::Admin]), &spec())
        .await;
    assert!(matches!(
        failed,
        Err(ReplaceSpecificationError::Unexpected(_))
    ));
}

fn depth_ranges() -> CriterionRanges {
    CriterionRanges {
        criterion: Criterion {
            name: CriterionName::from_stored("Depth".into()),
            display_title: "Depth".into(),
            display_subtitle: None,
            units: Some("m".into()),
            min_tooltip: None,
            max_tooltip: None,
            payload_prefix: "depth_".into(),
        },
        range: CriterionRange {
            min: -50.0,
            max: -2.0,
            default_min: -30.0,
            default_max: -5.0,
        },
    }
}

#[tokio::test]
async fn criteria_ranges_of_a_region_or_not_found() {
    let mut store = MockDataSpecificationRepository::new();
    store
        .expect_region_criteria()
        .with(eq(RegionName::parse("Known").expect("name")))
        .returning(|_| Ok(Some(vec![depth_ranges()])));
    store
        .expect_region_criteria()
        .with(eq(RegionName::parse("Unknown").expect("name")))
        .returning(|_| Ok(None));
    let service = spec_service(store);
    assert_eq!(
        service.criteria_ranges("Known").await.expect("found"),
        vec![depth_ranges()]
    );
    assert!(matches!(
        service.criteria_ranges("Unknown").await,
        Err(CriteriaRangesError::RegionNotFound)
    ));
    // Names no region can have are not looked up (the mock would panic on an unexpected call).
    for impossible in ["", " padded", "a/b", &"x".repeat(1_000)] {
        assert!(
            matches!(
                service.criteria_ranges(impossible).await,
                Err(CriteriaRangesError::RegionNotFound)
            ),
            "{impossible:?}"
        );
    }
}

fn jobs(store: MockJobRepository) -> JobService<MockJobRepository, FixedClock> {
    JobService::new(
        store,
        FixedClock,
        JobTypeRegistry::builtin().expect("built-in types"),
        StorageBase::new(StorageScheme::Local, "file:///tmp/results"),
        JobSignal::new(),
    )
}

/// A job store expecting one update job owned by `owner`.
fn job_store_expecting(owner: i64, cached: bool) -> MockJobRepository {
    let mut store = MockJobRepository::new();
    store
        .expect_submit_job()
        .withf(move |job| {
            job.owner == UserId::new(owner).expect("id")
                && job.job_type == JobTypeName::parse(UPDATE_JOB_TYPE).expect("name")
                && job.input_payload == json!({"cache_buster": now().timestamp_millis()})
                && job.use_cache
                && job.workflow.is_none()
        })
        .times(1)
        .returning(move |_| {
            Ok(Submission {
                job_id: JobId::new(41).expect("id"),
                cached,
                request_id: JobRequestId::new(5).expect("id"),
            })
        });
    store
}

fn account(id: i64, roles: &[Role]) -> Option<UserCredentials> {
    Some(UserCredentials {
        user: user_with(id, roles),
        password_hash: PasswordHash::from_phc("$argon2id$h".into()),
    })
}

fn service_account() -> Email {
    Email::parse("admin@reefguide.test").expect("email")
}

#[tokio::test]
async fn the_update_job_is_owned_by_the_admin_service_account() {
    let mut users = MockStore::new();
    users
        .expect_find_credentials_by_email()
        .with(eq(service_account()))
        .returning(|_| Ok(account(SERVICE_ACCOUNT, &[Role::Admin])));
    let service = DataSpecificationService::new(users, FixedClock, Some(service_account()));
    let requested = service
        .request_update(
            &user_with(ADMIN, &[Role::Admin]),
            &jobs(job_store_expecting(SERVICE_ACCOUNT, false)),
        )
        .await
        .expect("requested");
    assert_eq!(
        requested,
        UpdateRequested {
            job_id: JobId::new(41).expect("id"),
            cached: false,
            owner: UserId::new(SERVICE_ACCOUNT).expect("id"),
        }
    );
}

#[tokio::test]
async fn without_a_usable_service_account_the_requesting_admin_owns_the_job() {
    // None configured: nothing is looked up.
    let mut users = MockStore::new();
    users.expect_find_credentials_by_email().never();
    let requested = DataSpecificationService::new(users, FixedClock, None)
        .request_update(
            &user_with(ADMIN, &[Role::Admin]),
            &jobs(job_store_expecting(ADMIN, true)),
        )
        .await
        .expect("requested");
    assert_eq!(requested.owner, UserId::new(ADMIN).expect("id"));
    assert!(requested.cached);

    // Configured but missing, or no longer an administrator.
    for found in [None, account(SERVICE_ACCOUNT, &[Role::Analyst])] {
        let mut users = MockStore::new();
        users
            .expect_find_credentials_by_email()
            .returning(move |_| Ok(found.clone()));
        let requested = DataSpecificationService::new(users, FixedClock, Some(service_account()))
            .request_update(
                &user_with(ADMIN, &[Role::Admin]),
                &jobs(job_store_expecting(ADMIN, false)),
            )
            .await
            .expect("requested");
        assert_eq!(requested.owner, UserId::new(ADMIN).expect("id"));
    }
}

#[tokio::test]
async fn only_admins_request_an_update() {
    for roles in [&[][..], &[Role::Analyst], &[Role::Worker]] {
        let mut users = MockStore::new();
        users.expect_find_credentials_by_email().never();
        let mut job_store = MockJobRepository::new();
        job_store.expect_submit_job().never();
        let refused = DataSpecificationService::new(users, FixedClock, Some(service_account()))
            .request_update(&user_with(1, roles), &jobs(job_store))
            .await;
        assert!(
            matches!(refused, Err(RequestUpdateError::Forbidden)),
            "{roles:?}"
        );
    }
}

#[tokio::test]
async fn a_failed_submission_is_the_job_services_error() {
    let mut job_store = MockJobRepository::new();
    job_store
        .expect_submit_job()
        .returning(|_| Err(anyhow::anyhow!("database gone")));
    let failed = DataSpecificationService::new(MockStore::new(), FixedClock, None)
        .request_update(&user_with(ADMIN, &[Role::Admin]), &jobs(job_store))
        .await;
    assert!(
        matches!(
            failed,
            Err(RequestUpdateError::Submit(SubmitJobError::Unexpected(_)))
        ),
        "{failed:?}"
    );
}
