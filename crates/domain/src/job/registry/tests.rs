use rstest::rstest;
use serde_json::{Value, json};

use super::*;
use crate::user::{Roles, UserId};

fn registry() -> JobTypeRegistry {
    JobTypeRegistry::builtin().expect("the built-in types compile")
}

fn job_type<'a>(registry: &'a JobTypeRegistry, name: &str) -> &'a JobType {
    registry.get(name).expect("a built-in type")
}

fn name(raw: &str) -> JobTypeName {
    JobTypeName::parse(raw).expect("a valid name")
}

fn email(raw: &str) -> Email {
    Email::parse(raw).expect("a valid email")
}

fn input_errors(type_name: &str, payload: &Value) -> PayloadErrors {
    job_type(&registry(), type_name)
        .validate_input(payload)
        .expect_err("the payload is invalid")
}

fn has_error(errors: &PayloadErrors, path: &str, message_part: &str) -> bool {
    errors
        .errors
        .iter()
        .any(|error| error.path == path && error.message.contains(message_part))
}

fn criteria() -> Value {
    json!({
        "region": "Cairns-Cooktown",
        "reef_type": "slopes",
        "depth_min": -10.1,
        "depth_max": -2,
        "slope_min": 0,
        "slope_max": 40,
        "rugosity_min": 0,
        "rugosity_max": 6,
        "waves_period_min": 1.94,
        "waves_period_max": 9.25,
        "waves_height_min": 0,
        "waves_height_max": 1
    })
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    if let Value::Object(fields) = &mut base {
        fields.insert(key.to_owned(), value);
    }
    base
}

fn without(mut base: Value, key: &str) -> Value {
    if let Value::Object(fields) = &mut base {
        fields.remove(key);
    }
    base
}

fn valid_input(type_name: &str) -> Value {
    match type_name {
        "TEST" => json!({"id": 1}),
        "SUITABILITY_ASSESSMENT" => with(
            with(with(criteria(), "x_dist", json!(450)), "y_dist", json!(20)),
            "threshold",
            json!(95),
        ),
        "REGIONAL_ASSESSMENT" => with(criteria(), "cogColor", json!("greyscale")),
        "DATA_SPECIFICATION_UPDATE" => json!({"cache_buster": 1_700_000_000}),
        "ADRIA_MODEL_RUN" => json!({
            "data_package": "MOORE",
            "num_scenarios": 64,
            "model_params": [
                {"param_name": "N_seed_TA", "third_param_flag": false, "lower": 0, "upper": 1_000_000},
                {"param_name": "fogging", "third_param_flag": true, "lower": 0, "upper": 0.3, "optional_third": 0.1}
            ],
            "rcp_scenario": "45"
        }),
        other => panic!("no example for {other}"),
    }
}

fn adria_result() -> Value {
    json!({
        "spatial_metrics_path": "spatial_metrics.geojson",
        "reef_boundaries_path": "reef_boundaries.geojson",
        "output_result_set_path": "result_set",
        "available_charts": {"relative_cover": "charts/relative_cover.vega.json"},
        "chart_metadata": {
            "relative_cover": {
                "metric_name": "relative_cover",
                "filename": "relative_cover.vega.json",
                "y_label": "Relative cover",
                "description": "Coral cover relative to the reef area",
                "generation_time_seconds": 1.5
            }
        }
    })
}

const BUILTIN_NAMES: [&str; 5] = [
    "ADRIA_MODEL_RUN",
    "DATA_SPECIFICATION_UPDATE",
    "REGIONAL_ASSESSMENT",
    "SUITABILITY_ASSESSMENT",
    "TEST",
];

// ---- the built-ins ----------------------------------------------------------------------------

#[test]
fn builtins_compile_into_exactly_five_sorted_types() {
    assert_eq!(JobTypeSpec::builtins().len(), 5);
    let registry = registry();
    assert_eq!(registry.names(), BUILTIN_NAMES);
    assert_eq!(registry.len(), 5);
    assert!(!registry.is_empty());
    let iterated: Vec<&str> = registry.iter().map(|t| t.name().as_str()).collect();
    assert_eq!(iterated, BUILTIN_NAMES);
}

#[test]
fn builtin_names_follow_the_naming_rule() {
    for spec in JobTypeSpec::builtins() {
        assert_eq!(
            JobTypeName::parse(spec.name.as_str()),
            Ok(spec.name.clone())
        );
    }
}

#[test]
fn builtin_policies_and_defaults() {
    for spec in JobTypeSpec::builtins() {
        let lease = if spec.name.as_str() == "ADRIA_MODEL_RUN" {
            240
        } else {
            60
        };
        assert_eq!(
            spec.policy.lease(),
            Duration::minutes(lease),
            "{}",
            spec.name
        );
        assert_eq!(spec.policy.max_attempts(), 3, "{}", spec.name);
        assert!(spec.cache, "{}", spec.name);
        assert!(spec.access.is_open(), "{}", spec.name);
        assert_eq!(spec.compute_target, None, "{}", spec.name);
        assert!(!spec.description.is_empty(), "{}", spec.name);
        assert!(spec.result_schema.is_some(), "{}", spec.name);
    }
}

#[test]
fn builtin_schemas_declare_draft_type_and_title() {
    for spec in JobTypeSpec::builtins() {
        let schemas = [
            ("input", Some(&spec.input_schema)),
            ("result", spec.result_schema.as_ref()),
        ];
        for (which, schema) in schemas {
            let schema = schema.expect("every built-in has both schemas");
            assert_eq!(
                schema["$schema"],
                "https://json-schema.org/draft/2020-12/schema"
            );
            assert_eq!(schema["type"], "object");
            assert_eq!(schema["title"], format!("{} {which}", spec.name));
            assert_eq!(schema["additionalProperties"], false);
        }
    }
}

#[test]
fn test_type_has_the_documented_description() {
    assert_eq!(
        job_type(&registry(), "TEST").spec().description,
        "Test job: does nothing but complete (used to exercise workers)"
    );
}

#[test]
fn job_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<JobType>();
    assert_send_sync::<JobTypeRegistry>();
}

// ---- input validation ---------------------------------------------------------------------------

#[rstest]
fn a_valid_example_input_passes(
    #[values(
        "TEST",
        "SUITABILITY_ASSESSMENT",
        "REGIONAL_ASSESSMENT",
        "DATA_SPECIFICATION_UPDATE",
        "ADRIA_MODEL_RUN"
    )]
    type_name: &str,
) {
    assert_eq!(
        job_type(&registry(), type_name).validate_input(&valid_input(type_name)),
        Ok(())
    );
}

#[rstest]
fn an_unknown_field_is_refused(
    #[values(
        "TEST",
        "SUITABILITY_ASSESSMENT",
        "REGIONAL_ASSESSMENT",
        "DATA_SPECIFICATION_UPDATE",
        "ADRIA_MODEL_RUN"
    )]
    type_name: &str,
) {
    let errors = input_errors(type_name, &with(valid_input(type_name), "extra", json!(1)));
    assert_eq!(errors.job_type, type_name);
    assert!(
        has_error(
            &errors,
            "inputPayload",
            "Additional properties are not allowed"
        ),
        "{errors:?}"
    );
    assert!(errors.errors[0].message.contains("'extra'"), "{errors:?}");
}

#[rstest]
#[case("TEST", "id")]
#[case("SUITABILITY_ASSESSMENT", "region")]
#[case("SUITABILITY_ASSESSMENT", "reef_type")]
#[case("SUITABILITY_ASSESSMENT", "x_dist")]
#[case("SUITABILITY_ASSESSMENT", "y_dist")]
#[case("REGIONAL_ASSESSMENT", "region")]
#[case("REGIONAL_ASSESSMENT", "reef_type")]
#[case("ADRIA_MODEL_RUN", "data_package")]
#[case("ADRIA_MODEL_RUN", "num_scenarios")]
#[case("ADRIA_MODEL_RUN", "model_params")]
fn a_missing_required_field_is_named(#[case] type_name: &str, #[case] field: &str) {
    let errors = input_errors(type_name, &without(valid_input(type_name), field));
    assert!(
        has_error(
            &errors,
            "inputPayload",
            &format!("\"{field}\" is a required property")
        ),
        "{errors:?}"
    );
}

#[rstest]
#[case("TEST", "id", json!("one"), "inputPayload.id")]
#[case("SUITABILITY_ASSESSMENT", "x_dist", json!("wide"), "inputPayload.x_dist")]
#[case("SUITABILITY_ASSESSMENT", "depth_min", json!(null), "inputPayload.depth_min")]
#[case("SUITABILITY_ASSESSMENT", "threshold", json!([95]), "inputPayload.threshold")]
#[case("REGIONAL_ASSESSMENT", "region", json!(7), "inputPayload.region")]
#[case("REGIONAL_ASSESSMENT", "cogColor", json!("rainbow"), "inputPayload.cogColor")]
#[case("DATA_SPECIFICATION_UPDATE", "cache_buster", json!("x"), "inputPayload.cache_buster")]
#[case("ADRIA_MODEL_RUN", "data_package", json!("REEF"), "inputPayload.data_package")]
#[case("ADRIA_MODEL_RUN", "num_scenarios", json!(0), "inputPayload.num_scenarios")]
#[case("ADRIA_MODEL_RUN", "num_scenarios", json!(1.5), "inputPayload.num_scenarios")]
#[case("ADRIA_MODEL_RUN", "rcp_scenario", json!(45), "inputPayload.rcp_scenario")]
#[case("ADRIA_MODEL_RUN", "model_params", json!({}), "inputPayload.model_params")]
fn a_wrong_value_is_reported_at_its_path(
    #[case] type_name: &str,
    #[case] field: &str,
    #[case] value: Value,
    #[case] path: &str,
) {
    let errors = input_errors(type_name, &with(valid_input(type_name), field, value));
    assert!(errors.errors.iter().any(|e| e.path == path), "{errors:?}");
}

#[test]
fn nested_errors_have_bracketed_indices() {
    let mut payload = valid_input("ADRIA_MODEL_RUN");
    payload["model_params"][0]["lower"] = json!("low");
    payload["model_params"][1]["surprise"] = json!(true);
    payload["model_params"][1]
        .as_object_mut()
        .expect("an object")
        .remove("param_name");
    let errors = input_errors("ADRIA_MODEL_RUN", &payload);
    assert!(
        has_error(
            &errors,
            "inputPayload.model_params[0].lower",
            "is not of type \"number\""
        ),
        "{errors:?}"
    );
    assert!(
        has_error(
            &errors,
            "inputPayload.model_params[1]",
            "\"param_name\" is a required property"
        ),
        "{errors:?}"
    );
    assert!(
        has_error(
            &errors,
            "inputPayload.model_params[1]",
            "'surprise' was unexpected"
        ),
        "{errors:?}"
    );
}

#[test]
fn a_non_object_payload_is_reported_at_the_root() {
    let errors = input_errors("TEST", &json!([1]));
    assert_eq!(errors.errors.len(), 1);
    assert_eq!(errors.errors[0].path, "inputPayload");
}

#[test]
fn display_names_the_type_and_the_first_problem() {
    let errors = input_errors("TEST", &json!({}));
    assert_eq!(
        errors.to_string(),
        "payload does not match the schema of job type TEST: \"id\" is a required property"
    );
}

#[test]
fn payload_errors_serialise_as_path_and_message() {
    let errors = input_errors("TEST", &json!({}));
    assert_eq!(
        serde_json::to_value(&errors.errors).expect("serialisable"),
        json!([{"path": "inputPayload", "message": "\"id\" is a required property"}])
    );
}

#[test]
fn at_most_twenty_errors_are_kept() {
    let strict_array = json!({
        "type": "object",
        "properties": {"xs": {"type": "array", "items": {"type": "string"}}}
    });
    let registry = JobTypeRegistry::with_overrides([(
        name("MANY"),
        JobTypeOverride {
            input_schema: Some(strict_array),
            ..JobTypeOverride::default()
        },
    )])
    .expect("compiles");
    let payload = json!({"xs": (0..50).collect::<Vec<i32>>()});
    let errors = job_type(&registry, "MANY")
        .validate_input(&payload)
        .expect_err("fifty wrong items");
    assert_eq!(errors.errors.len(), MAX_PAYLOAD_ERRORS);
    assert_eq!(errors.errors.len(), 20);
    assert_eq!(errors.errors[0].path, "inputPayload.xs[0]");
    assert_eq!(errors.errors[19].path, "inputPayload.xs[19]");
}

// ---- paths --------------------------------------------------------------------------------------

#[rstest]
#[case("", json!({}), "inputPayload")]
#[case("/region", json!({"region": 1}), "inputPayload.region")]
#[case("/model_params/0/lower", json!({"model_params": [{"lower": "x"}]}), "inputPayload.model_params[0].lower")]
#[case("/0", json!({"0": 1}), "inputPayload[\"0\"]")]
#[case("/a b/c~1d/e~0f", json!({"a b": {"c/d": {"e~f": 1}}}), "inputPayload[\"a b\"][\"c/d\"][\"e~f\"]")]
#[case("/", json!({"": 1}), "inputPayload[\"\"]")]
#[case("/xs/3", json!({"xs": [[0], [1], [2], [3]]}), "inputPayload.xs[3]")]
fn pointers_become_api_paths(
    #[case] pointer: &str,
    #[case] payload: Value,
    #[case] expected: &str,
) {
    assert_eq!(display_path("inputPayload", pointer, &payload), expected);
}

// ---- result validation --------------------------------------------------------------------------

#[test]
fn test_result_must_be_an_empty_object_if_sent() {
    let registry = registry();
    let test = job_type(&registry, "TEST");
    assert_eq!(test.validate_result(Some(&json!({}))), Ok(()));
    assert_eq!(test.validate_result(None), Ok(()));
    let errors = test
        .validate_result(Some(&json!({"x": 1})))
        .expect_err("no property allowed");
    assert!(
        has_error(&errors, "resultPayload", "'x' was unexpected"),
        "{errors:?}"
    );
}

#[test]
fn suitability_result_needs_a_geojson_path() {
    let registry = registry();
    let suitability = job_type(&registry, "SUITABILITY_ASSESSMENT");
    assert_eq!(
        suitability.validate_result(Some(&json!({"geojson_path": "sites.geojson"}))),
        Ok(())
    );
    let errors = suitability
        .validate_result(Some(&json!({})))
        .expect_err("geojson_path is required");
    assert!(
        has_error(
            &errors,
            "resultPayload",
            "\"geojson_path\" is a required property"
        ),
        "{errors:?}"
    );
}

#[test]
fn regional_result_needs_a_cog_path() {
    let registry = registry();
    let regional = job_type(&registry, "REGIONAL_ASSESSMENT");
    assert_eq!(
        regional.validate_result(Some(&json!({"cog_path": "a.tif"}))),
        Ok(())
    );
    assert!(
        regional
            .validate_result(Some(&json!({"cog_path": 3})))
            .is_err()
    );
}

#[test]
fn adria_result_full_example_passes_and_is_strict() {
    let registry = registry();
    let adria = job_type(&registry, "ADRIA_MODEL_RUN");
    assert_eq!(adria.validate_result(Some(&adria_result())), Ok(()));

    let mut bad = adria_result();
    bad["available_charts"]["relative_cover"] = json!(1);
    bad["chart_metadata"]["relative_cover"]["extra"] = json!(1);
    bad["chart_metadata"]["relative_cover"]
        .as_object_mut()
        .expect("an object")
        .remove("y_label");
    let errors = adria
        .validate_result(Some(&bad))
        .expect_err("three problems");
    assert!(
        has_error(
            &errors,
            "resultPayload.available_charts.relative_cover",
            "is not of type"
        ),
        "{errors:?}"
    );
    assert!(
        has_error(
            &errors,
            "resultPayload.chart_metadata.relative_cover",
            "'extra' was unexpected"
        ),
        "{errors:?}"
    );
    assert!(
        has_error(
            &errors,
            "resultPayload.chart_metadata.relative_cover",
            "\"y_label\" is a required property"
        ),
        "{errors:?}"
    );

    for field in [
        "spatial_metrics_path",
        "reef_boundaries_path",
        "output_result_set_path",
        "available_charts",
        "chart_metadata",
    ] {
        let errors = adria
            .validate_result(Some(&without(adria_result(), field)))
            .expect_err("every field is required");
        assert!(
            has_error(
                &errors,
                "resultPayload",
                &format!("\"{field}\" is a required property")
            ),
            "{errors:?}"
        );
    }
}

#[test]
fn without_a_result_schema_any_result_is_accepted() {
    let registry = JobTypeRegistry::with_overrides([(
        name("FREE"),
        JobTypeOverride {
            input_schema: Some(json!({"type": "object"})),
            ..JobTypeOverride::default()
        },
    )])
    .expect("compiles");
    let free = job_type(&registry, "FREE");
    assert_eq!(free.spec().result_schema, None);
    assert_eq!(free.validate_result(Some(&json!([1, "anything"]))), Ok(()));
    assert_eq!(free.validate_result(None), Ok(()));
}

// ---- access -------------------------------------------------------------------------------------

#[test]
fn open_access_permits_everyone() {
    let access = SubmitAccess::default();
    assert!(access.is_open());
    assert!(access.permits(&local("a@example.com", Roles::none())));
}

#[test]
fn access_by_role() {
    let access = SubmitAccess {
        roles: vec![Role::Analyst],
        emails: vec![],
        usernames: Vec::new(),
    };
    assert!(!access.is_open());
    assert!(access.permits(&local("a@example.com", Roles::from_iter([Role::Analyst]))));
    assert!(!access.permits(&local("a@example.com", Roles::from_iter([Role::Worker]))));
    assert!(!access.permits(&local("a@example.com", Roles::none())));
}

#[test]
fn access_by_email() {
    let access = SubmitAccess {
        roles: vec![],
        emails: vec![email("ana@example.com")],
        usernames: Vec::new(),
    };
    assert!(!access.is_open());
    assert!(access.permits(&local("Ana@Example.com", Roles::none())));
    assert!(!access.permits(&local("bob@example.com", Roles::none())));
}

#[test]
fn role_or_email_suffices() {
    let access = SubmitAccess {
        roles: vec![Role::Analyst],
        emails: vec![email("ana@example.com")],
        usernames: Vec::new(),
    };
    assert!(access.permits(&local("ana@example.com", Roles::none())));
    assert!(access.permits(&local("bob@example.com", Roles::from_iter([Role::Analyst]))));
    assert!(!access.permits(&local("bob@example.com", Roles::from_iter([Role::Worker]))));
}

#[test]
fn admins_may_always_submit() {
    let access = SubmitAccess {
        roles: vec![Role::Analyst],
        emails: vec![email("ana@example.com")],
        usernames: Vec::new(),
    };
    assert!(access.permits(&local("root@example.com", Roles::from_iter([Role::Admin]))));
}

#[test]
fn submittable_by_filters_the_registry() {
    let registry = JobTypeRegistry::with_overrides([(
        name("ADRIA_MODEL_RUN"),
        JobTypeOverride {
            allowed_roles: Some(vec![Role::Analyst]),
            ..JobTypeOverride::default()
        },
    )])
    .expect("compiles");
    let names = |roles: Roles| -> Vec<String> {
        registry
            .submittable_by(&local("ana@example.com", roles))
            .map(|t| t.name().to_string())
            .collect()
    };
    assert_eq!(names(Roles::none()), &BUILTIN_NAMES[1..]);
    assert_eq!(names(Roles::from_iter([Role::Analyst])), BUILTIN_NAMES);
}

#[test]
fn listed_users_match_an_external_username_or_a_local_email() {
    let access = SubmitAccess {
        roles: vec![],
        emails: vec![email("ana@example.com")],
        usernames: vec!["thomas".to_owned()],
    };
    assert!(access.permits(&external("thomas")));
    assert!(!access.permits(&external("Thomas")), "usernames are exact");
    assert!(!access.permits(&external("mallory")));
    assert!(access.permits(&local("ana@example.com", Roles::none())));
    assert!(!access.permits(&local("thomas@example.com", Roles::none())));
    // An external username that is an email address matches an email entry.
    assert!(access.permits(&external("ana@example.com")));
}

/// A local account holding `roles`.
fn local(raw_email: &str, roles: Roles) -> User {
    User::local(UserId::new(1).expect("id"), email(raw_email), roles)
}

/// An external account of issuer LabCAS with no role.
fn external(username: &str) -> User {
    User {
        id: UserId::new(2).expect("id"),
        identity: crate::user::Identity::External(crate::user::ExternalIdentity {
            issuer: crate::user::IssuerName::parse("LabCAS").expect("issuer"),
            username: crate::user::Username::parse(username).expect("username"),
        }),
        roles: Roles::none(),
    }
}

// ---- overrides ----------------------------------------------------------------------------------

#[test]
fn no_overrides_is_the_builtin_registry() {
    let registry = JobTypeRegistry::with_overrides([]).expect("compiles");
    assert_eq!(registry.names(), BUILTIN_NAMES);
    for spec in JobTypeSpec::builtins() {
        assert_eq!(job_type(&registry, spec.name.as_str()).spec(), &spec);
    }
}

#[test]
fn a_builtin_policy_can_be_overridden() {
    let registry = JobTypeRegistry::with_overrides([(
        name("TEST"),
        JobTypeOverride {
            lease: Some(Duration::minutes(5)),
            max_attempts: Some(7),
            cache: Some(false),
            description: Some("Smoke test".to_owned()),
            allowed_emails: Some(vec![email("ops@example.com")]),
            compute_target: Some("local".to_owned()),
            ..JobTypeOverride::default()
        },
    )])
    .expect("compiles");
    let spec = job_type(&registry, "TEST").spec();
    assert_eq!(spec.policy.lease(), Duration::minutes(5));
    assert_eq!(spec.policy.max_attempts(), 7);
    assert!(!spec.cache);
    assert_eq!(spec.description, "Smoke test");
    assert_eq!(spec.access.emails, vec![email("ops@example.com")]);
    assert_eq!(spec.compute_target.as_deref(), Some("local"));
    assert_eq!(job_type(&registry, "TEST").compute_target(), "local");
    // Types that name no target run on the default one.
    assert_eq!(
        job_type(&registry, "ADRIA_MODEL_RUN").compute_target(),
        DEFAULT_COMPUTE_TARGET
    );
    // The schema is still the built-in one.
    assert!(
        job_type(&registry, "TEST")
            .validate_input(&json!({}))
            .is_err()
    );
    // Other types are untouched.
    let adria = job_type(&registry, "ADRIA_MODEL_RUN").spec();
    assert_eq!(adria.policy.lease(), Duration::minutes(240));
}

#[test]
fn a_partial_override_keeps_the_other_builtin_values() {
    let registry = JobTypeRegistry::with_overrides([(
        name("ADRIA_MODEL_RUN"),
        JobTypeOverride {
            max_attempts: Some(1),
            ..JobTypeOverride::default()
        },
    )])
    .expect("compiles");
    let spec = job_type(&registry, "ADRIA_MODEL_RUN").spec();
    assert_eq!(spec.policy.max_attempts(), 1);
    assert_eq!(spec.policy.lease(), Duration::minutes(240));
    assert!(spec.cache);
}

#[test]
fn a_new_type_gets_the_defaults() {
    let schema = json!({
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": false
    });
    let registry = JobTypeRegistry::with_overrides([(
        name("MY_TYPE_2"),
        JobTypeOverride {
            input_schema: Some(schema.clone()),
            ..JobTypeOverride::default()
        },
    )])
    .expect("compiles");
    assert_eq!(registry.len(), 6);
    assert_eq!(
        registry.names(),
        [
            "ADRIA_MODEL_RUN",
            "DATA_SPECIFICATION_UPDATE",
            "MY_TYPE_2",
            "REGIONAL_ASSESSMENT",
            "SUITABILITY_ASSESSMENT",
            "TEST"
        ]
    );
    let my_type = job_type(&registry, "MY_TYPE_2");
    let spec = my_type.spec();
    assert_eq!(spec.description, "");
    assert_eq!(spec.input_schema, schema);
    assert_eq!(spec.result_schema, None);
    assert_eq!(spec.policy.lease(), Duration::minutes(60));
    assert_eq!(spec.policy.max_attempts(), 3);
    assert!(spec.cache);
    assert!(spec.access.is_open());
    assert_eq!(spec.compute_target, None);
    assert_eq!(my_type.validate_input(&json!({"n": 3})), Ok(()));
    let errors = my_type
        .validate_input(&json!({"n": "three"}))
        .expect_err("wrong type");
    assert_eq!(errors.job_type, "MY_TYPE_2");
    assert_eq!(errors.errors[0].path, "inputPayload.n");
}

#[test]
fn a_new_type_with_a_result_schema_validates_results() {
    let registry = JobTypeRegistry::with_overrides([(
        name("WITH_RESULT"),
        JobTypeOverride {
            input_schema: Some(json!({"type": "object"})),
            result_schema: Some(json!({
                "type": "object",
                "properties": {"out": {"type": "string"}},
                "required": ["out"]
            })),
            ..JobTypeOverride::default()
        },
    )])
    .expect("compiles");
    let with_result = job_type(&registry, "WITH_RESULT");
    assert_eq!(
        with_result.validate_result(Some(&json!({"out": "x"}))),
        Ok(())
    );
    let errors = with_result
        .validate_result(Some(&json!({"out": 1})))
        .expect_err("wrong type");
    assert_eq!(errors.errors[0].path, "resultPayload.out");
}

#[test]
fn a_new_type_needs_an_input_schema() {
    let error = JobTypeRegistry::with_overrides([(name("NO_SCHEMA"), JobTypeOverride::default())])
        .expect_err("no input schema");
    assert_eq!(error, RegistryError::MissingInputSchema(name("NO_SCHEMA")));
}

#[rstest]
#[case(JobTypeOverride { input_schema: Some(json!({"type": "object"})), ..JobTypeOverride::default() })]
#[case(JobTypeOverride { result_schema: Some(json!({"type": "object"})), ..JobTypeOverride::default() })]
fn builtin_schemas_cannot_be_replaced(#[case] change: JobTypeOverride) {
    let error = JobTypeRegistry::with_overrides([(name("TEST"), change)])
        .expect_err("built-in schemas are fixed");
    assert_eq!(error, RegistryError::BuiltinSchema(name("TEST")));
}

#[rstest]
#[case("TEST", None)]
#[case("NEW_TYPE", Some(json!({"type": "object"})))]
fn invalid_policies_are_refused(#[case] type_name: &str, #[case] input_schema: Option<Value>) {
    for (lease, attempts) in [(Some(Duration::zero()), None), (None, Some(0))] {
        let error = JobTypeRegistry::with_overrides([(
            name(type_name),
            JobTypeOverride {
                input_schema: input_schema.clone(),
                lease,
                max_attempts: attempts,
                ..JobTypeOverride::default()
            },
        )])
        .expect_err("invalid policy");
        assert!(
            matches!(&error, RegistryError::InvalidPolicy { job_type, .. } if job_type == type_name),
            "{error:?}"
        );
    }
}

#[test]
fn a_name_overridden_twice_is_refused() {
    let change = JobTypeOverride {
        cache: Some(false),
        ..JobTypeOverride::default()
    };
    let error =
        JobTypeRegistry::with_overrides([(name("TEST"), change.clone()), (name("TEST"), change)])
            .expect_err("duplicate");
    assert_eq!(error, RegistryError::DuplicateType(name("TEST")));
}

#[test]
fn duplicate_specs_are_refused() {
    let mut specs = JobTypeSpec::builtins();
    specs.push(specs[0].clone());
    let error = JobTypeRegistry::new(specs).expect_err("duplicate");
    assert_eq!(error, RegistryError::DuplicateType(name("ADRIA_MODEL_RUN")));
}

fn compile_new(input_schema: Value, result_schema: Option<Value>) -> RegistryError {
    JobTypeRegistry::with_overrides([(
        name("CUSTOM"),
        JobTypeOverride {
            input_schema: Some(input_schema),
            result_schema,
            ..JobTypeOverride::default()
        },
    )])
    .expect_err("the schema must not compile")
}

fn assert_invalid_schema(error: &RegistryError, expected_which: &str, reason_part: &str) {
    match error {
        RegistryError::InvalidSchema {
            job_type,
            which,
            reason,
        } => {
            assert_eq!(job_type, "CUSTOM");
            assert_eq!(*which, expected_which);
            assert!(reason.contains(reason_part), "{reason}");
        }
        other => panic!("expected InvalidSchema, got {other:?}"),
    }
}

#[rstest]
#[case(json!({"$ref": "https://example.com/schema.json"}), "https://example.com/schema.json")]
#[case(json!({"type": "object", "properties": {"a": {"$ref": "http://127.0.0.1:9/a.json"}}}), "http://127.0.0.1:9/a.json")]
#[case(json!({"$ref": "file:///etc/passwd"}), "file:///etc/passwd")]
fn external_refs_are_refused(#[case] schema: Value, #[case] uri: &str) {
    let error = compile_new(schema, None);
    assert_invalid_schema(&error, "input", uri);
}

#[test]
fn local_refs_resolve() {
    let schema = json!({
        "$defs": {"range": {"type": "object", "properties": {"lo": {"type": "number"}}, "additionalProperties": false}},
        "type": "object",
        "properties": {"r": {"$ref": "#/$defs/range"}}
    });
    let registry = JobTypeRegistry::with_overrides([(
        name("LOCAL_REF"),
        JobTypeOverride {
            input_schema: Some(schema),
            ..JobTypeOverride::default()
        },
    )])
    .expect("a local $ref compiles");
    let errors = job_type(&registry, "LOCAL_REF")
        .validate_input(&json!({"r": {"lo": "x"}}))
        .expect_err("wrong type");
    assert_eq!(errors.errors[0].path, "inputPayload.r.lo");
}

#[rstest]
#[case(json!({"type": 12}))]
#[case(json!({"type": "objekt"}))]
#[case(json!({"required": "id"}))]
#[case(json!(12))]
fn schemas_that_break_the_meta_schema_are_refused(#[case] schema: Value) {
    assert!(matches!(
        compile_new(schema, None),
        RegistryError::InvalidSchema { which: "input", .. }
    ));
}

#[test]
fn an_invalid_result_schema_is_reported_as_such() {
    let error = compile_new(json!({"type": "object"}), Some(json!({"type": 12})));
    assert!(
        matches!(
            error,
            RegistryError::InvalidSchema {
                which: "result",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn unknown_meta_schemas_are_refused_without_fetching_them() {
    let error = compile_new(
        json!({"$schema": "https://example.com/my-meta-schema", "type": "object"}),
        None,
    );
    assert_invalid_schema(&error, "input", "unsupported $schema");
}

#[test]
fn older_drafts_are_supported() {
    let registry = JobTypeRegistry::with_overrides([(
        name("DRAFT_7"),
        JobTypeOverride {
            input_schema: Some(json!({
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "definitions": {"n": {"type": "integer"}},
                "properties": {"n": {"$ref": "#/definitions/n"}}
            })),
            ..JobTypeOverride::default()
        },
    )])
    .expect("draft 7 compiles");
    assert!(
        job_type(&registry, "DRAFT_7")
            .validate_input(&json!({"n": "x"}))
            .is_err()
    );
}

#[test]
fn formats_are_asserted() {
    let registry = JobTypeRegistry::with_overrides([(
        name("WITH_FORMAT"),
        JobTypeOverride {
            input_schema: Some(json!({
                "type": "object",
                "properties": {"when": {"type": "string", "format": "date"}}
            })),
            ..JobTypeOverride::default()
        },
    )])
    .expect("compiles");
    let with_format = job_type(&registry, "WITH_FORMAT");
    assert_eq!(
        with_format.validate_input(&json!({"when": "2026-01-02"})),
        Ok(())
    );
    assert!(
        with_format
            .validate_input(&json!({"when": "yesterday"}))
            .is_err()
    );
}

#[test]
fn compile_accepts_a_spec_directly() {
    let spec = JobTypeSpec::builtins()
        .into_iter()
        .find(|spec| spec.name.as_str() == "TEST")
        .expect("TEST is built in");
    let compiled = JobType::compile(spec.clone()).expect("compiles");
    assert_eq!(compiled.spec(), &spec);
    assert_eq!(compiled.name(), &name("TEST"));
}

// ---- names --------------------------------------------------------------------------------------

#[rstest]
#[case("TEST")]
#[case("MY_TYPE_2")]
#[case("A")]
#[case("ADRIA_MODEL_RUN")]
#[case("A_")]
fn valid_names(#[case] raw: &str) {
    let parsed = JobTypeName::parse(raw).expect("valid");
    assert_eq!(parsed.as_str(), raw);
    assert_eq!(parsed.to_string(), raw);
    assert_eq!(raw.parse::<JobTypeName>(), Ok(parsed));
}

#[test]
fn a_name_of_exactly_64_characters_is_valid() {
    assert!(JobTypeName::parse(&"A".repeat(64)).is_ok());
}

#[rstest]
#[case("")]
#[case("test")]
#[case("Test")]
#[case("MY-TYPE")]
#[case("MY TYPE")]
#[case(" TEST")]
#[case("2FAST")]
#[case("_TEST")]
#[case("TÉST")]
fn invalid_names(#[case] raw: &str) {
    assert_eq!(JobTypeName::parse(raw), Err(InvalidJobTypeName));
}

#[test]
fn a_name_of_65_characters_is_refused() {
    assert_eq!(JobTypeName::parse(&"A".repeat(65)), Err(InvalidJobTypeName));
}

#[test]
fn names_serialise_as_strings_and_deserialise_with_the_rule() {
    assert_eq!(
        serde_json::to_value(name("TEST")).expect("serialisable"),
        json!("TEST")
    );
    assert_eq!(
        serde_json::from_value::<JobTypeName>(json!("MY_TYPE")).expect("valid"),
        name("MY_TYPE")
    );
    assert!(serde_json::from_value::<JobTypeName>(json!("my_type")).is_err());
}

#[test]
fn the_name_rule_is_in_the_error_message() {
    assert!(
        InvalidJobTypeName
            .to_string()
            .contains("1 to 64 characters")
    );
}

#[test]
fn registry_errors_read_well() {
    assert_eq!(
        RegistryError::MissingInputSchema(name("X")).to_string(),
        "job type X is not built in, so it needs an input schema"
    );
    assert_eq!(
        RegistryError::BuiltinSchema(name("TEST")).to_string(),
        "the schemas of built-in job type TEST cannot be replaced"
    );
}

#[test]
fn resolve_decides_whether_a_type_exists() {
    let registry = registry();
    assert_eq!(registry.resolve("TEST"), Ok(name("TEST")));
    for unknown in ["NOPE", "", "test", "SUITABILITY"] {
        let error = registry.resolve(unknown).expect_err("not a type");
        assert_eq!(error.name, unknown);
        assert_eq!(error.known, registry.names());
    }
    assert_eq!(
        registry
            .resolve("NOPE")
            .expect_err("not a type")
            .to_string(),
        "Unknown job type \"NOPE\"; known types: ADRIA_MODEL_RUN, DATA_SPECIFICATION_UPDATE, \
         REGIONAL_ASSESSMENT, SUITABILITY_ASSESSMENT, TEST"
    );
}
