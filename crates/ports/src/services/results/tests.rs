//! Unit tests of [`ResultFileService`] against a mocked job store and object store.

use mockall::predicate::eq;
use reefguide_domain::Role;
use reefguide_domain::job::{JobDetails, JobResultId, JobState};
use rstest::rstest;

use super::*;
use crate::object_store::{Listing, MockObjectStore, StoredObject};
use crate::repositories::jobs::MockJobRepository;
use crate::services::jobs::tests::{
    ADMIN, ASSIGNMENT, FixedClock, JOB, OTHER, OWNER, WORKER_ACCOUNT, aid, assignment_of, jid,
    running, running_since, state_of, store_with_assignment, test_job, worker_account,
};
use crate::services::test_support::{now, user_with};

type Service = ResultFileService<MockJobRepository, FixedClock>;

fn service(store: MockJobRepository, objects: MockObjectStore) -> Service {
    ResultFileService::new(
        store,
        Arc::new(objects),
        FixedClock,
        ResultFileLimits {
            max_download_files: 3,
            max_upload_files: 2,
            upload_expiry: PresignExpiry::from_seconds(600).expect("in range"),
        },
    )
}

fn path(raw: &str) -> RelativePath {
    RelativePath::parse(raw).expect("valid path")
}

fn listing(paths: &[&str], truncated: bool) -> Listing {
    Listing {
        objects: paths
            .iter()
            .map(|raw| StoredObject {
                path: path(raw),
                size: 1,
            })
            .collect(),
        truncated,
    }
}

/// A job of `status` owned by [`OWNER`] whose one assignment reported a result.
fn finished_job(status: JobStatus) -> JobDetails {
    let job = test_job(state_of(status));
    let assignment = assignment_of(&job);
    let result = JobResult {
        id: JobResultId::new(30).expect("positive"),
        job_id: job.id,
        assignment_id: assignment.id,
        created_at: now(),
        result_payload: None,
        storage: assignment.storage.clone(),
        metadata: None,
        cache_valid: true,
    };
    JobDetails {
        job,
        assignments: vec![(assignment, Some(result))],
    }
}

fn store_with_job(details: JobDetails) -> MockJobRepository {
    let mut store = MockJobRepository::new();
    store
        .expect_find_job()
        .with(eq(jid(JOB)))
        .returning(move |_| Ok(Some(details.clone())));
    store.expect_has_requested().returning(|_, _| Ok(false));
    store
}

// ---------------------------------------------------------------------------------------------
// download

#[rstest]
#[case::owner(OWNER, &[])]
#[case::admin(ADMIN, &[Role::Admin])]
#[tokio::test]
async fn a_succeeded_job_lists_and_presigns_every_file(#[case] id: i64, #[case] roles: &[Role]) {
    let details = finished_job(JobStatus::Succeeded);
    let location = details.assignments[0].0.storage.clone();
    let filter = FilterPrefix::parse("maps/").expect("valid");
    let expiry = PresignExpiry::from_seconds(60).expect("in range");
    let mut objects = MockObjectStore::new();
    objects
        .expect_list()
        .with(eq(location.clone()), eq(Some(filter.clone())), eq(3))
        .times(1)
        .returning(|_, _, _| Ok(listing(&["maps/a.tif", "maps/b.tif"], false)));
    objects
        .expect_presign_get()
        .withf(move |at, _, lifetime| *at == location && *lifetime == expiry)
        .times(2)
        .returning(|_, file, _| Ok(format!("https://signed/{file}")));
    let got = service(store_with_job(details), objects)
        .download(
            &user_with(id, roles),
            jid(JOB),
            DownloadRequest {
                expiry,
                filter: Some(filter),
            },
        )
        .await
        .expect("download");
    assert_eq!(got.job.id, jid(JOB));
    assert_eq!(
        got.files.into_iter().collect::<Vec<_>>(),
        vec![
            (path("maps/a.tif"), "https://signed/maps/a.tif".to_owned()),
            (path("maps/b.tif"), "https://signed/maps/b.tif".to_owned()),
        ]
    );
}

#[tokio::test]
async fn a_stranger_may_not_download() {
    let details = finished_job(JobStatus::Succeeded);
    let mut objects = MockObjectStore::new();
    objects.expect_list().never();
    let got = service(store_with_job(details), objects)
        .download(&user_with(OTHER, &[]), jid(JOB), DownloadRequest::default())
        .await;
    assert!(
        matches!(got, Err(DownloadError::Access(JobAccessError::Forbidden))),
        "{got:?}"
    );
}

#[rstest]
#[case(JobStatus::Failed)]
#[case(JobStatus::InProgress)]
#[case(JobStatus::Cancelled)]
#[tokio::test]
async fn only_succeeded_jobs_have_downloads(#[case] status: JobStatus) {
    let mut objects = MockObjectStore::new();
    objects.expect_list().never();
    let got = service(store_with_job(finished_job(status)), objects)
        .download(&user_with(OWNER, &[]), jid(JOB), DownloadRequest::default())
        .await;
    assert!(
        matches!(got, Err(DownloadError::NotSucceeded(_, s)) if s == status),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_succeeded_job_without_a_result_has_nothing_to_download() {
    let mut details = finished_job(JobStatus::Succeeded);
    details.assignments[0].1 = None;
    let got = service(store_with_job(details), MockObjectStore::new())
        .download(&user_with(OWNER, &[]), jid(JOB), DownloadRequest::default())
        .await;
    assert!(matches!(got, Err(DownloadError::NoResult(_))), "{got:?}");
}

#[tokio::test]
async fn more_files_than_the_limit_are_refused_before_presigning() {
    let mut objects = MockObjectStore::new();
    objects
        .expect_list()
        .returning(|_, _, _| Ok(listing(&["a", "b", "c"], true)));
    objects.expect_presign_get().never();
    let got = service(store_with_job(finished_job(JobStatus::Succeeded)), objects)
        .download(&user_with(OWNER, &[]), jid(JOB), DownloadRequest::default())
        .await;
    assert!(
        matches!(got, Err(DownloadError::TooManyFiles(3))),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_store_failure_is_reported_as_such() {
    let mut objects = MockObjectStore::new();
    objects
        .expect_list()
        .returning(|_, _, _| Err(ObjectStoreError::Backend(anyhow::anyhow!("bucket gone"))));
    let got = service(store_with_job(finished_job(JobStatus::Succeeded)), objects)
        .download(&user_with(OWNER, &[]), jid(JOB), DownloadRequest::default())
        .await;
    assert!(
        matches!(
            got,
            Err(DownloadError::Storage(ObjectStoreError::Backend(_)))
        ),
        "{got:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// upload URLs

#[tokio::test]
async fn the_holder_gets_one_put_url_per_distinct_file() {
    let job = test_job(running());
    let assignment = assignment_of(&job);
    let location = assignment.storage.clone();
    let mut objects = MockObjectStore::new();
    objects
        .expect_presign_put()
        .withf(move |at, _, expiry| *at == location && expiry.seconds() == 600)
        .times(1)
        .returning(|_, file, _| Ok(format!("https://put/{file}")));
    let got = service(store_with_assignment(assignment, job), objects)
        .upload_urls(
            &worker_account(),
            aid(ASSIGNMENT),
            vec![path("out.json"), path("out.json")],
        )
        .await
        .expect("upload urls");
    assert_eq!(
        got.files.into_iter().collect::<Vec<_>>(),
        vec![(path("out.json"), "https://put/out.json".to_owned())]
    );
    assert_eq!(got.expiry.seconds(), 600);
}

#[tokio::test]
async fn an_admin_may_ask_for_a_workers_upload_urls() {
    let job = test_job(running());
    let mut objects = MockObjectStore::new();
    objects
        .expect_presign_put()
        .times(1)
        .returning(|_, _, _| Ok("https://put".to_owned()));
    let got = service(store_with_assignment(assignment_of(&job), job), objects)
        .upload_urls(
            &user_with(ADMIN, &[Role::Admin]),
            aid(ASSIGNMENT),
            vec![path("a")],
        )
        .await;
    assert!(got.is_ok(), "{got:?}");
}

/// What an upload-URL request is refused with, with no URL signed.
async fn refusal(job: Job, actor: &User, paths: Vec<RelativePath>) -> UploadUrlError {
    let mut assignment = assignment_of(&job);
    if job.state.status().is_terminal() && job.state.status() != JobStatus::Cancelled {
        assignment.completed_at = Some(now());
    }
    let mut objects = MockObjectStore::new();
    objects.expect_presign_put().never();
    service(store_with_assignment(assignment, job), objects)
        .upload_urls(actor, aid(ASSIGNMENT), paths)
        .await
        .expect_err("refused")
}

#[tokio::test]
async fn an_account_that_is_not_a_worker_may_not_ask() {
    // Refused before the files are counted or the assignment is read.
    let mut objects = MockObjectStore::new();
    objects.expect_presign_put().never();
    let got = service(MockJobRepository::new(), objects)
        .upload_urls(&user_with(OWNER, &[Role::Analyst]), aid(ASSIGNMENT), vec![])
        .await;
    assert!(
        matches!(
            got,
            Err(UploadUrlError::Assignment(AssignmentError::NotAWorker(_)))
        ),
        "{got:?}"
    );
}

#[tokio::test]
async fn another_worker_may_not_ask() {
    let got = refusal(
        test_job(running()),
        &user_with(WORKER_ACCOUNT + 1, &[Role::Worker]),
        vec![path("a")],
    )
    .await;
    assert!(
        matches!(got, UploadUrlError::Assignment(AssignmentError::NotHolder)),
        "{got:?}"
    );
}

#[rstest]
#[case::expired(running_since(61))]
#[case::cancelled(state_of(JobStatus::Cancelled))]
#[tokio::test]
async fn a_lost_lease_gets_no_urls(#[case] state: JobState) {
    let got = refusal(test_job(state), &worker_account(), vec![path("a")]).await;
    assert!(
        matches!(
            got,
            UploadUrlError::Assignment(AssignmentError::LeaseLost(_))
        ),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_completed_assignment_gets_no_urls() {
    let got = refusal(
        test_job(state_of(JobStatus::Succeeded)),
        &worker_account(),
        vec![path("a")],
    )
    .await;
    assert!(
        matches!(
            got,
            UploadUrlError::Assignment(AssignmentError::AlreadyCompleted)
        ),
        "{got:?}"
    );
}

#[rstest]
#[case::none(vec![], 0)]
#[case::too_many(vec!["a", "b", "c"], 2)]
#[tokio::test]
async fn the_number_of_files_is_bounded(#[case] raw: Vec<&str>, #[case] limit: usize) {
    let paths = raw.into_iter().map(path).collect();
    let got = refusal(test_job(running()), &worker_account(), paths).await;
    match got {
        UploadUrlError::NoFiles => assert_eq!(limit, 0),
        UploadUrlError::TooManyFiles(n) => assert_eq!(n, limit),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn the_default_limits_follow_r2() {
    let limits = ResultFileLimits::default();
    assert_eq!(limits.max_download_files, 25);
    assert_eq!(limits.upload_expiry, PresignExpiry::DEFAULT);
}
