use chrono::TimeZone as _;
use rstest::rstest;
use serde_json::json;

use super::*;

#[rstest]
#[case::s3_folder(
    "s3://labcas-archive/nebraska/images/",
    "s3://labcas-archive/nebraska/images/"
)]
#[case::s3_slash_added(
    "s3://labcas-archive/nebraska/images",
    "s3://labcas-archive/nebraska/images/"
)]
#[case::s3_whole_bucket("s3://labcas-archive", "s3://labcas-archive/")]
#[case::s3_whole_bucket_slash("s3://labcas-archive/", "s3://labcas-archive/")]
#[case::local_folder("local://archive/nebraska/", "local://archive/nebraska/")]
#[case::local_root("local://", "local://")]
fn locations_parse_and_print_back(#[case] raw: &str, #[case] printed: &str) {
    assert_eq!(
        DataLocation::parse(raw).expect("valid").to_string(),
        printed
    );
}

#[rstest]
#[case::no_scheme("labcas-archive/images/", InvalidLocation::Scheme)]
#[case::other_scheme("gs://bucket/x/", InvalidLocation::Scheme)]
#[case::upper_case_scheme("S3://bucket/x/", InvalidLocation::Scheme)]
#[case::empty_bucket("s3:///x/", InvalidLocation::Bucket)]
#[case::short_bucket("s3://ab/x/", InvalidLocation::Bucket)]
#[case::upper_case_bucket("s3://Labcas/x/", InvalidLocation::Bucket)]
#[case::bucket_ending_in_dash("s3://labcas-/x/", InvalidLocation::Bucket)]
#[case::dot_dot("s3://labcas/a/../b/", InvalidLocation::Path)]
#[case::empty_segment("s3://labcas/a//b/", InvalidLocation::Path)]
#[case::absolute_local("local:///etc/", InvalidLocation::Path)]
#[case::local_escape("local://../secrets/", InvalidLocation::Path)]
#[case::backslash("local://a\\b/", InvalidLocation::Path)]
fn bad_locations_are_refused_with_the_reason(#[case] raw: &str, #[case] reason: InvalidLocation) {
    assert_eq!(DataLocation::parse(raw), Err(reason));
}

#[test]
fn a_run_folder_joins_below_a_location() {
    let staging = DataLocation::parse("s3://labcas-staging/").expect("valid");
    assert_eq!(
        staging.join("ana/20250403T191112825218/").to_string(),
        "s3://labcas-staging/ana/20250403T191112825218/"
    );
}

#[test]
fn run_folders_are_named_like_labcas_with_microseconds_in_utc() {
    let created = Utc
        .with_ymd_and_hms(2025, 4, 3, 19, 11, 12)
        .single()
        .expect("valid")
        + chrono::Duration::microseconds(825_218);
    assert_eq!(run_folder(created), "20250403T191112825218");
    let on_the_second = Utc
        .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
        .single()
        .expect("valid");
    assert_eq!(run_folder(on_the_second), "20260102T030405000000");
}

#[rstest]
#[case::none(json!({"tile_size": 4}), None)]
#[case::not_an_object(json!([1, 2]), None)]
#[case::in_bucket(json!({"in_bucket": "x"}), Some("in_bucket"))]
#[case::job_id_even_null(json!({"job_id": null}), Some("job_id"))]
#[case::first_in_list_order(json!({"username": "x", "out_prefix": "y"}), Some("out_prefix"))]
#[case::case_matters(json!({"Username": "x"}), None)]
fn reserved_parameters_are_refused(#[case] payload: Value, #[case] refused: Option<&str>) {
    let outcome = check_reserved_parameters(&payload)
        .err()
        .map(|error| error.key);
    assert_eq!(outcome, refused);
}

#[test]
fn dag_run_ids_round_trip() {
    let id = DagRunId {
        job: JobId::new(42).expect("positive"),
        attempt: 3,
    };
    assert_eq!(id.to_string(), "reefguide-42-3");
    assert_eq!(DagRunId::parse("reefguide-42-3"), Some(id));
}

#[rstest]
#[case::manual("manual__2025-04-03T19:11:12+00:00")]
#[case::scheduled("scheduled__2025-04-03T00:00:00+00:00")]
#[case::zero_attempt("reefguide-42-0")]
#[case::zero_job("reefguide-0-1")]
#[case::leading_zero("reefguide-042-1")]
#[case::signed("reefguide-+42-1")]
#[case::missing_attempt("reefguide-42")]
#[case::extra_part("reefguide-42-1-2")]
#[case::job_id_too_large("reefguide-99999999999-1")]
fn other_run_ids_are_not_ours(#[case] raw: &str) {
    assert_eq!(DagRunId::parse(raw), None);
}

#[rstest]
#[case::queued("queued", JobStatus::InProgress, false)]
#[case::running("running", JobStatus::InProgress, false)]
#[case::success("success", JobStatus::Succeeded, true)]
#[case::failed("failed", JobStatus::Failed, true)]
fn airflow_run_states_map_to_job_states(
    #[case] raw: &str,
    #[case] status: JobStatus,
    #[case] is_final: bool,
) {
    let state = AirflowRunState::parse(raw).expect("known");
    assert_eq!(state.as_str(), raw);
    assert_eq!(state.job_status(), status);
    assert_eq!(state.is_final(), is_final);
}

#[test]
fn an_unknown_run_state_is_an_error_not_a_guess() {
    assert_eq!(
        AirflowRunState::parse("up_for_retry"),
        Err(UnknownRunState("up_for_retry".into()))
    );
}

#[rstest]
#[case::plain("nebraska", true)]
#[case::dots_dashes_underscores("labcas.nebraska-v2_x", true)]
#[case::empty("", false)]
#[case::space("nebraska images", false)]
#[case::slash("a/b", false)]
#[case::non_ascii("néb", false)]
fn dag_ids_follow_airflows_key_rule(#[case] raw: &str, #[case] valid: bool) {
    assert_eq!(DagId::parse(raw).is_ok(), valid);
    assert_eq!(CollectionId::parse(raw).is_ok(), valid);
}

#[test]
fn ids_have_a_length_limit() {
    assert!(DagId::parse(&"d".repeat(DAG_ID_MAX_LEN)).is_ok());
    assert!(DagId::parse(&"d".repeat(DAG_ID_MAX_LEN + 1)).is_err());
    assert!(CollectionId::parse(&"c".repeat(COLLECTION_ID_MAX_LEN)).is_ok());
    assert!(CollectionId::parse(&"c".repeat(COLLECTION_ID_MAX_LEN + 1)).is_err());
}

#[test]
fn the_engine_names_itself_and_its_dag() {
    let airflow = Engine::Airflow {
        dag_id: DagId::parse("nebraska").expect("valid"),
    };
    assert_eq!(airflow.name(), "airflow");
    assert_eq!(airflow.dag_id().map(DagId::as_str), Some("nebraska"));
    assert_eq!(Engine::default().name(), "worker");
    assert_eq!(Engine::Worker.dag_id(), None);
}

#[test]
fn a_collection_offers_only_its_workflows() {
    let collection = Collection {
        id: CollectionId::parse("nebraska_images").expect("valid"),
        description: String::new(),
        location: DataLocation::parse("local://archive/").expect("valid"),
        workflows: [JobTypeName::parse("NEBRASKA").expect("valid")]
            .into_iter()
            .collect(),
    };
    assert!(collection.offers(&JobTypeName::parse("NEBRASKA").expect("valid")));
    assert!(!collection.offers(&JobTypeName::parse("OTHER").expect("valid")));
}

fn type_name(raw: &str) -> JobTypeName {
    JobTypeName::parse(raw).expect("name")
}

fn location(raw: &str) -> DataLocation {
    DataLocation::parse(raw).expect("location")
}

fn created() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 4, 3, 19, 11, 12)
        .single()
        .expect("valid")
        + chrono::Duration::microseconds(825_218)
}

/// NEBRASKA runs the DAG `nebraska`; TEST is a worker type.
fn registry() -> JobTypeRegistry {
    use crate::job::registry::JobTypeOverride;
    JobTypeRegistry::with_overrides([(
        type_name("NEBRASKA"),
        JobTypeOverride {
            input_schema: Some(json!({"type": "object"})),
            engine: Some(Engine::Airflow {
                dag_id: DagId::parse("nebraska").expect("valid"),
            }),
            ..JobTypeOverride::default()
        },
    )])
    .expect("registry")
}

fn collection(workflows: &[&str]) -> Collection {
    Collection {
        id: CollectionId::parse("images").expect("valid"),
        description: String::new(),
        location: location("s3://labcas-archive/images/"),
        workflows: workflows.iter().map(|w| type_name(w)).collect(),
    }
}

#[rstest]
#[case::an_airflow_type(&["NEBRASKA"], Ok(()))]
#[case::no_workflow(&[], Ok(()))]
#[case::a_worker_type(&["TEST"], Err("not an Airflow job type"))]
#[case::an_unknown_type(&["NOPE"], Err("which is not a job type"))]
fn collections_list_only_airflow_types(
    #[case] workflows: &[&str],
    #[case] expected: Result<(), &str>,
) {
    let outcome = Collections::new([collection(workflows)], &registry());
    match (outcome, expected) {
        (Ok(collections), Ok(())) => assert!(collections.get("images").is_some()),
        (Err(error), Err(words)) => assert!(error.to_string().contains(words), "{error}"),
        (outcome, expected) => panic!("{outcome:?} but expected {expected:?}"),
    }
}

#[test]
fn a_run_folder_is_below_the_staging_area_by_user_and_creation_time() {
    let run = WorkflowRun::new(
        CollectionId::parse("images").expect("valid"),
        "ana@example.com",
        &location("local://labcas/"),
        created(),
    )
    .expect("run");
    assert_eq!(
        run.output.to_string(),
        "local://labcas/ana@example.com/20250403T191112825218/"
    );
}

#[rstest]
#[case::empty("")]
#[case::dot(".")]
#[case::dots("..")]
#[case::slash("a/b")]
#[case::backslash("a\\b")]
fn usernames_that_are_not_one_folder_are_refused(#[case] username: &str) {
    let outcome = WorkflowRun::new(
        CollectionId::parse("images").expect("valid"),
        username,
        &location("local://labcas/"),
        created(),
    );
    assert_eq!(outcome, Err(UnusableUsername(username.to_owned())));
}

#[rstest]
#[case::s3(
    "s3://bucket/staging/ana/",
    "bucket",
    "staging/ana/",
    "s3://bucket/staging/ana",
    StorageScheme::S3
)]
#[case::s3_whole_bucket("s3://bucket/", "bucket", "", "s3://bucket", StorageScheme::S3)]
#[case::local(
    "local://labcas/ana/",
    "",
    "/srv/results/labcas/ana/",
    "file:///srv/results/labcas/ana",
    StorageScheme::Local
)]
#[case::local_root(
    "local://",
    "",
    "/srv/results/",
    "file:///srv/results",
    StorageScheme::Local
)]
fn locations_become_conf_parts_and_storage_locations(
    #[case] raw: &str,
    #[case] bucket: &str,
    #[case] prefix: &str,
    #[case] uri: &str,
    #[case] scheme: StorageScheme,
) {
    let root = LocalRoot::new("/srv/results/");
    let location = location(raw);
    assert_eq!(
        location.conf_parts(&root),
        (bucket.to_owned(), prefix.to_owned())
    );
    let stored = location.storage_location(&root);
    assert_eq!((stored.scheme, stored.uri.as_str()), (scheme, uri));
}

#[test]
fn the_conf_is_the_payload_plus_the_reserved_parameters() {
    let run = WorkflowRun::new(
        CollectionId::parse("images").expect("valid"),
        "ana@example.com",
        &location("local://labcas/"),
        created(),
    )
    .expect("valid");
    let conf = run_conf(
        JobId::new(42).expect("valid"),
        &json!({"tile_size": 3, "in_data_selection": "images"}),
        &run,
        &location("s3://labcas-archive/images/"),
        &LocalRoot::new("/srv/results"),
    );
    assert_eq!(
        Value::Object(conf),
        json!({
            "tile_size": 3,
            "in_data_selection": "images",
            "in_bucket": "labcas-archive",
            "in_prefix": "images/",
            "out_bucket": "",
            "out_prefix": "/srv/results/labcas/ana@example.com/20250403T191112825218/",
            "username": "ana@example.com",
            "job_id": 42,
        })
    );
}

#[test]
fn the_collection_and_the_user_are_part_of_the_cache_hash() {
    let payload = json!({"tile_size": 3});
    let nebraska = type_name("NEBRASKA");
    let hash = |collection: &str, username: &str| {
        let collection = CollectionId::parse(collection).expect("valid");
        workflow_hash(&nebraska, &collection, username, &payload)
    };
    let a = hash("a", "thomas");
    assert_ne!(a, hash("b", "thomas"));
    assert_ne!(a, hash("a", "ana@example.com"));
    assert_eq!(a, hash("a", "thomas"));
    assert_ne!(a, PayloadHash::compute("NEBRASKA", &payload));
}

#[test]
fn two_types_may_not_share_a_dag() {
    use crate::job::registry::{JobTypeOverride, RegistryError};
    let airflow = || JobTypeOverride {
        input_schema: Some(json!({"type": "object"})),
        engine: Some(Engine::Airflow {
            dag_id: DagId::parse("nebraska").expect("valid"),
        }),
        ..JobTypeOverride::default()
    };
    let outcome = JobTypeRegistry::with_overrides([
        (type_name("B_TYPE"), airflow()),
        (type_name("A_TYPE"), airflow()),
    ]);
    assert!(matches!(
        outcome,
        Err(RegistryError::DuplicateDag { ref first, ref second, .. })
            if first.as_str() == "A_TYPE" && second.as_str() == "B_TYPE"
    ));
}

#[test]
fn workers_run_every_type_but_the_airflow_ones() {
    let registry = registry();
    let names = registry
        .worker_run_names()
        .expect("some type is not worker-run");
    assert!(!names.iter().any(|name| name.as_str() == "NEBRASKA"));
    assert!(names.iter().any(|name| name.as_str() == "TEST"));
    assert_eq!(
        JobTypeRegistry::builtin()
            .expect("valid")
            .worker_run_names(),
        None
    );
    let airflow: Vec<_> = registry
        .airflow_types()
        .map(|t| t.name().to_string())
        .collect();
    assert_eq!(airflow, ["NEBRASKA"]);
}
