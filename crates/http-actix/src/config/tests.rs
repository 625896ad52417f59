//! The loading of settings: sources, names and the errors that stop start-up.

// figment's `Jail` closures return figment's own (large) error type; that is its API, not ours.
#![allow(clippy::result_large_err)]

use super::*;
use figment::Jail;
use reefguide_domain::Role;

#[test]
fn defaults_are_the_embedded_setup() {
    Jail::expect_with(|_| {
        let settings = Settings::from_figment(Settings::figment("none.toml")).expect("defaults");
        assert_eq!(settings.server.port, 5000);
        assert_eq!(settings.server.host.to_string(), "127.0.0.1");
        assert!(settings.effective_database_url().starts_with("sqlite://"));
        Ok(())
    });
}

#[test]
fn storage_is_local_by_default_and_s3_needs_a_bucket() {
    Jail::expect_with(|jail| {
        let settings = Settings::from_figment(Settings::figment("none.toml")).expect("ok");
        assert_eq!(settings.storage.kind, StorageKind::Local);
        assert_eq!(settings.storage.download_max_files, 25);
        jail.set_env("REEFGUIDE_STORAGE", "s3");
        let error = Settings::from_figment(Settings::figment("none.toml"))
            .expect_err("no bucket")
            .to_string();
        assert!(error.contains("s3_bucket"), "{error}");
        jail.set_env("REEFGUIDE_S3_BUCKET", "reef-results");
        jail.set_env("REEFGUIDE_S3_ENDPOINT_URL", "http://127.0.0.1:9000");
        jail.set_env("REEFGUIDE_S3_FORCE_PATH_STYLE", "true");
        let settings = Settings::from_figment(Settings::figment("none.toml")).expect("ok");
        assert_eq!(settings.storage.kind, StorageKind::S3);
        assert_eq!(settings.storage.s3_bucket.as_deref(), Some("reef-results"));
        assert!(settings.storage.s3_force_path_style);
        jail.set_env("REEFGUIDE_UPLOAD_URL_EXPIRY_SECONDS", "604801");
        let error = Settings::from_figment(Settings::figment("none.toml"))
            .expect_err("too long")
            .to_string();
        assert!(error.contains("upload_url_expiry_seconds"), "{error}");
        Ok(())
    });
}

#[test]
fn r1_names_and_prefixed_names_apply_prefixed_last() {
    Jail::expect_with(|jail| {
        jail.set_env("PORT", "6000");
        jail.set_env("DATABASE_URL", "postgres://db/r1");
        jail.set_env("REEFGUIDE_DATABASE_URL", "postgres://db/ours");
        jail.set_env("REEFGUIDE_RATE_LIMIT_ENABLED", "false");
        let settings = Settings::from_figment(Settings::figment("none.toml")).expect("valid");
        assert_eq!(settings.server.port, 6000);
        assert_eq!(
            settings.database.database_url.as_deref(),
            Some("postgres://db/ours")
        );
        assert!(!settings.limits.rate_limit_enabled);
        Ok(())
    });
}

#[test]
fn api_domain_is_unset_by_default_and_read_from_r1_name() {
    Jail::expect_with(|jail| {
        let settings = Settings::from_figment(Settings::figment("none.toml")).expect("ok");
        assert_eq!(settings.server.api_domain, None);
        jail.set_env("API_DOMAIN", "https://reef.example.org");
        let settings = Settings::from_figment(Settings::figment("none.toml")).expect("ok");
        assert_eq!(
            settings.server.api_domain.as_deref(),
            Some("https://reef.example.org")
        );
        jail.set_env("API_DOMAIN", "reef.example.org");
        let error = Settings::from_figment(Settings::figment("none.toml"))
            .expect_err("no scheme")
            .to_string();
        assert!(error.contains("api_domain"), "{error}");
        Ok(())
    });
}

#[test]
fn cors_origins_are_any_by_default_a_list_from_env_or_file() {
    Jail::expect_with(|jail| {
        let load = |file: &str| Settings::from_figment(Settings::figment(file));
        assert_eq!(
            load("none.toml").expect("ok").server.cors_allowed_origins,
            CorsOrigins::Any
        );
        jail.set_env("REEFGUIDE_CORS_ALLOWED_ORIGINS", "*");
        assert_eq!(
            load("none.toml").expect("ok").server.cors_allowed_origins,
            CorsOrigins::Any
        );
        jail.set_env(
            "REEFGUIDE_CORS_ALLOWED_ORIGINS",
            "http://127.0.0.1:4200, HTTPS://App.Example.org:443,http://[::1]:80",
        );
        let origins = match load("none.toml").expect("ok").server.cors_allowed_origins {
            CorsOrigins::List(origins) => origins,
            CorsOrigins::Any => panic!("a list was configured"),
        };
        assert_eq!(
            origins.iter().map(Origin::as_str).collect::<Vec<_>>(),
            [
                "http://127.0.0.1:4200",
                "https://app.example.org",
                "http://[::1]"
            ]
        );
        jail.clear_env();
        jail.create_file(
            "r.toml",
            "cors_allowed_origins = [\"https://app.example.org\", \"http://localhost:4200\"]",
        )?;
        assert_eq!(
            load("r.toml").expect("ok").server.cors_allowed_origins,
            CorsOrigins::List(vec![
                Origin::parse("https://app.example.org").expect("origin"),
                Origin::parse("http://localhost:4200").expect("origin"),
            ])
        );
        jail.create_file("s.toml", "cors_allowed_origins = \"*\"")?;
        assert_eq!(
            load("s.toml").expect("ok").server.cors_allowed_origins,
            CorsOrigins::Any
        );
        Ok(())
    });
}

#[test]
fn bad_cors_origins_stop_start_up_naming_the_setting() {
    // What is an origin is pinned in `config::cors`; here, that a bad one stops start-up.
    for bad in [
        "https://app.example.org/",
        "http://*.example.org",
        "*,http://localhost:4200",
    ] {
        assert!(CorsOrigins::parse(bad).is_err(), "{bad} accepted");
        Jail::expect_with(|jail| {
            jail.set_env("REEFGUIDE_CORS_ALLOWED_ORIGINS", bad);
            let error = Settings::from_figment(Settings::figment("none.toml"))
                .expect_err("invalid")
                .to_string();
            // Named as the variable is (`CORS_ALLOWED_ORIGINS` in `REEFGUIDE_` variables).
            assert!(
                error.to_lowercase().contains("cors_allowed_origins"),
                "{bad}: {error}"
            );
            assert!(!error.contains('\n'), "{error}");
            Ok(())
        });
    }
    Jail::expect_with(|jail| {
        jail.create_file("r.toml", "cors_allowed_origins = 5")?;
        let error = Settings::from_figment(Settings::figment("r.toml")).expect_err("invalid");
        assert!(
            error.to_string().contains("cors_allowed_origins"),
            "{error}"
        );
        Ok(())
    });
}

#[test]
fn file_is_read() {
    Jail::expect_with(|jail| {
        jail.create_file("r.toml", "port = 7000\nlog_level = \"warn\"")?;
        let settings = Settings::from_figment(Settings::figment("r.toml")).expect("valid");
        assert_eq!(
            (settings.server.port, settings.server.log_level.as_str()),
            (7000, "warn")
        );
        Ok(())
    });
}

#[test]
fn bad_value_names_the_setting() {
    Jail::expect_with(|jail| {
        jail.set_env("REEFGUIDE_PORT", "not-a-port");
        let error = Settings::from_figment(Settings::figment("none.toml")).expect_err("invalid");
        let text = error.to_string();
        assert!(text.contains("port"), "{text}");
        assert!(!text.contains('\n'));
        Ok(())
    });
}

#[test]
fn log_format_is_text_or_json() {
    Jail::expect_with(|jail| {
        let settings = Settings::from_figment(Settings::figment("none.toml")).expect("valid");
        assert_eq!(settings.server.log_format, LogFormat::Text);
        jail.set_env("REEFGUIDE_LOG_FORMAT", "json");
        let settings = Settings::from_figment(Settings::figment("none.toml")).expect("valid");
        assert_eq!(settings.server.log_format, LogFormat::Json);
        jail.set_env("REEFGUIDE_LOG_FORMAT", "xml");
        let error = Settings::from_figment(Settings::figment("none.toml")).expect_err("invalid");
        let text = error.to_string().to_lowercase();
        assert!(
            text.contains("log_format") && text.contains("xml"),
            "{error}"
        );
        Ok(())
    });
}

#[test]
fn shutdown_timings_default_and_are_bounded() {
    Jail::expect_with(|jail| {
        let settings = Settings::from_figment(Settings::figment("none.toml")).expect("valid");
        let plan = settings.server.shutdown_plan();
        assert_eq!(plan.delay, std::time::Duration::ZERO);
        assert_eq!(plan.grace, std::time::Duration::from_secs(25));
        jail.set_env("REEFGUIDE_SHUTDOWN_DELAY_SECONDS", "10");
        jail.set_env("REEFGUIDE_SHUTDOWN_GRACE_SECONDS", "600");
        let settings = Settings::from_figment(Settings::figment("none.toml")).expect("valid");
        assert_eq!(
            settings.server.shutdown_plan().delay,
            std::time::Duration::from_secs(10)
        );
        jail.set_env("REEFGUIDE_SHUTDOWN_GRACE_SECONDS", "601");
        let error = Settings::from_figment(Settings::figment("none.toml")).expect_err("invalid");
        assert!(
            error.to_string().contains("shutdown_grace_seconds"),
            "{error}"
        );
        Ok(())
    });
}

#[test]
fn unknown_setting_is_refused() {
    Jail::expect_with(|jail| {
        jail.create_file("r.toml", "prot = 7000")?;
        let error = Settings::from_figment(Settings::figment("r.toml")).expect_err("invalid");
        assert!(error.to_string().contains("prot"), "{error}");
        Ok(())
    });
}

#[test]
fn half_a_service_account_is_refused() {
    Jail::expect_with(|jail| {
        jail.set_env("ADMIN_USERNAME", "admin@example.com");
        let error = Settings::from_figment(Settings::figment("none.toml")).expect_err("invalid");
        assert!(error.to_string().contains("admin_password"), "{error}");
        Ok(())
    });
}

#[test]
fn job_types_are_configured_in_the_file() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "r.toml",
            r#"
[job_types.TEST]
lease_seconds = 2
max_attempts = 1
allowed_roles = ["ANALYST"]

[job_types.HABITAT_REPORT]
cache = false
allowed_emails = ["ana@example.com"]
input_schema = { type = "object", required = ["region"], additionalProperties = false, properties = { region = { type = "string" } } }
"#,
        )?;
        let settings = Settings::from_figment(Settings::figment("r.toml")).expect("valid");
        let registry = settings.jobs.registry().expect("registry");
        let test = registry.get("TEST").expect("TEST").spec();
        assert_eq!(test.policy.lease(), chrono::Duration::seconds(2));
        assert_eq!(test.policy.max_attempts(), 1);
        assert_eq!(test.access.roles, vec![Role::Analyst]);
        let habitat = registry.get("HABITAT_REPORT").expect("new type");
        assert!(!habitat.spec().cache);
        assert!(
            habitat
                .validate_input(&serde_json::json!({"region": "GBR"}))
                .is_ok()
        );
        assert!(
            habitat
                .validate_input(&serde_json::json!({"region": 1}))
                .is_err()
        );
        Ok(())
    });
}

#[test]
fn a_bad_job_type_stops_start_up_naming_the_setting() {
    Jail::expect_with(|jail| {
        jail.create_file("r.toml", "[job_types.NEW_TYPE]\ncache = true\n")?;
        let error = Settings::from_figment(Settings::figment("r.toml")).expect_err("invalid");
        assert!(error.to_string().contains("job_types"), "{error}");
        jail.create_file("s.toml", "[job_types.TEST]\nlease_seconds = 0\n")?;
        let error = Settings::from_figment(Settings::figment("s.toml")).expect_err("invalid");
        assert!(error.to_string().contains("job_types"), "{error}");
        Ok(())
    });
}

#[test]
fn every_name_belongs_to_one_section_and_is_accepted() {
    let names = keys::known_names();
    let unique: std::collections::BTreeSet<_> = names.iter().collect();
    assert_eq!(
        unique.len(),
        names.len(),
        "a name in two sections: {names:?}"
    );
    // Every name the defaults serialize (all but the unset ones and the secrets) is known.
    let defaults = figment::value::Value::serialize(Settings::default()).expect("serializes");
    let dict = defaults.into_dict().expect("a table");
    assert!(dict.len() > 30, "{dict:?}");
    for name in dict.keys() {
        assert!(names.contains(&name.as_str()), "{name}");
    }
    // Setting each name on its own never reads as unknown.
    for name in names {
        Jail::expect_with(|jail| {
            jail.create_file("r.toml", &format!("{name} = []"))?;
            let error = Settings::from_figment(Settings::figment("r.toml"))
                .map(|_| String::new())
                .unwrap_or_else(|e| e.to_string());
            assert!(!error.contains("unknown field"), "{name}: {error}");
            Ok(())
        });
    }
}

#[test]
fn unknown_names_are_refused_naming_them_and_their_source() {
    Jail::expect_with(|jail| {
        jail.set_env("REEFGUIDE_FOO", "1");
        let error = Settings::from_figment(Settings::figment("none.toml"))
            .expect_err("unknown")
            .to_string();
        assert!(
            error.starts_with("invalid configuration: unknown field: found `foo`"),
            "{error}"
        );
        assert!(
            error.ends_with("for key \"FOO\" in `REEFGUIDE_` environment variable(s)"),
            "{error}"
        );
        assert!(
            error.contains("`host`, `port`") && error.contains("`capacity_targets`"),
            "{error}"
        );
        Ok(())
    });
}

#[test]
fn of_several_bad_names_the_first_in_order_is_reported() {
    Jail::expect_with(|jail| {
        let first = |file: &str| {
            Settings::from_figment(Settings::figment(file))
                .expect_err("invalid")
                .to_string()
        };
        jail.create_file("a.toml", "aaa = 1\nport = \"x\"")?;
        assert!(
            first("a.toml").contains("found `aaa`"),
            "{}",
            first("a.toml")
        );
        jail.create_file("z.toml", "zzz = 1\nport = \"x\"")?;
        assert!(
            first("z.toml").contains("for key \"default.port\""),
            "{}",
            first("z.toml")
        );
        jail.create_file("h.toml", "port = \"x\"\nhost = \"y\"")?;
        assert!(
            first("h.toml").contains("for key \"default.host\""),
            "{}",
            first("h.toml")
        );
        Ok(())
    });
}

/// A configuration with Airflow, one workflow type and one collection, after `extra`.
fn workflow_toml(extra: &str) -> String {
    format!(
        r#"{extra}
[airflow]
url = "http://127.0.0.1:8080"
username = "admin"
password = "admin"

[job_types.NEBRASKA]
engine = "airflow"
dag_id = "nebraska"
allowed_users = ["thomas", "ana@example.com"]
input_schema = {{ type = "object" }}

[collections.nebraska_images]
description = "Images"
location = "s3://labcas-archive/nebraska/images/"
workflows = ["NEBRASKA"]
"#
    )
}

#[test]
fn workflows_are_configured_in_the_file() {
    Jail::expect_with(|jail| {
        jail.create_file("r.toml", &workflow_toml(""))?;
        let settings = Settings::from_figment(Settings::figment("r.toml")).expect("valid");
        let registry = settings.jobs.registry().expect("registry");
        let nebraska = registry.get("NEBRASKA").expect("NEBRASKA").spec();
        assert_eq!(nebraska.engine.name(), "airflow");
        assert_eq!(
            nebraska.engine.dag_id().map(|d| d.as_str()),
            Some("nebraska")
        );
        assert_eq!(nebraska.access.usernames, ["thomas"]);
        assert_eq!(
            nebraska.access.emails,
            [reefguide_domain::Email::parse("ana@example.com").expect("email")]
        );
        let collections = settings
            .workflows
            .collections(&registry)
            .expect("collections");
        assert!(collections.get("nebraska_images").is_some());
        // The staging area follows the result store unless set.
        assert_eq!(
            settings
                .workflows
                .staging(&settings.storage)
                .expect("staging")
                .to_string(),
            "local://labcas/"
        );
        let airflow = settings.workflows.airflow.as_ref().expect("airflow");
        assert_eq!(airflow.sync_interval_ms, 2_000);
        assert_eq!(settings.workflows.labcas.base_path, "/labcas");
        Ok(())
    });
}

#[test]
fn the_default_staging_area_follows_an_s3_result_store() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "r.toml",
            &workflow_toml("storage = \"s3\"\ns3_bucket = \"reef\"\n"),
        )?;
        let settings = Settings::from_figment(Settings::figment("r.toml")).expect("valid");
        assert_eq!(
            settings
                .workflows
                .staging(&settings.storage)
                .expect("staging")
                .to_string(),
            "s3://reef/results/labcas/"
        );
        Ok(())
    });
}

#[rstest::rstest]
#[case::unknown_type_in_a_collection(
    "[collections.more]\nlocation = \"local://x/\"\nworkflows = [\"NOPE\"]\n",
    "collections"
)]
#[case::a_worker_type_in_a_collection(
    "[collections.more]\nlocation = \"local://x/\"\nworkflows = [\"TEST\"]\n",
    "collections"
)]
#[case::a_location_of_another_scheme(
    "[collections.more]\nlocation = \"gs://bucket/x/\"\n",
    "collections"
)]
#[case::airflow_without_a_dag(
    "[job_types.OTHER]\nengine = \"airflow\"\ninput_schema = { type = \"object\" }\n",
    "dag_id"
)]
#[case::a_dag_run_by_two_types(
    "[job_types.OTHER]\nengine = \"airflow\"\ndag_id = \"nebraska\"\ninput_schema = { type = \"object\" }\n",
    "job_types"
)]
#[case::a_dag_without_airflow(
    "[job_types.OTHER]\ndag_id = \"other\"\ninput_schema = { type = \"object\" }\n",
    "dag_id"
)]
#[case::staging_on_s3_with_a_local_store(
    "[labcas]\nstaging = \"s3://reef/labcas/\"\n",
    "labcas.staging"
)]
#[case::staging_elsewhere("[labcas]\nstaging = \"ftp://x/\"\n", "labcas.staging")]
#[case::a_bad_base_path("[labcas]\nbase_path = \"labcas/\"\n", "labcas.base_path")]
#[case::a_base_path_of_the_api("[labcas]\nbase_path = \"/api\"\n", "labcas.base_path")]
#[case::a_base_path_below_the_api("[labcas]\nbase_path = \"/api/labcas\"\n", "labcas.base_path")]
fn bad_workflow_settings_stop_start_up_naming_the_setting(
    #[case] extra: &str,
    #[case] setting: &str,
) {
    Jail::expect_with(|jail| {
        jail.create_file("r.toml", &workflow_toml(extra))?;
        let error = Settings::from_figment(Settings::figment("r.toml")).expect_err("invalid");
        let text = error.to_string();
        assert!(text.contains(setting), "{text}");
        assert!(!text.contains('\n'), "{text}");
        Ok(())
    });
}

#[test]
fn an_airflow_type_needs_the_airflow_section() {
    Jail::expect_with(|jail| {
        let toml = workflow_toml("");
        let without = toml
            .replace("[airflow]\nurl = \"http://127.0.0.1:8080\"\nusername = \"admin\"\npassword = \"admin\"\n", "");
        jail.create_file("r.toml", &without)?;
        let error = Settings::from_figment(Settings::figment("r.toml")).expect_err("invalid");
        assert!(error.to_string().contains("airflow"), "{error}");
        jail.create_file("s.toml", &toml.replace("username = \"admin\"\n", ""))?;
        let error = Settings::from_figment(Settings::figment("s.toml")).expect_err("invalid");
        assert!(error.to_string().contains("airflow.username"), "{error}");
        Ok(())
    });
}

#[test]
fn the_test_suites_names_are_not_settings() {
    Jail::expect_with(|jail| {
        jail.set_env("REEFGUIDE_TEST_DATABASE_URL", "postgres://db/admin");
        jail.set_env("REEFGUIDE_TEST_AIRFLOW_PASSWORD", "secret");
        Settings::from_figment(Settings::figment("none.toml")).expect("valid");
        jail.set_env("REEFGUIDE_TESTS", "1");
        let error = Settings::from_figment(Settings::figment("none.toml")).expect_err("unknown");
        assert!(error.to_string().contains("TESTS"), "{error}");
        Ok(())
    });
}

/// A LabCAS issuer table with `extra` lines (the key settings among them).
fn external_toml(extra: &str) -> String {
    format!(
        r#"[[external_jwt]]
issuer = "LabCAS"
audience = "LabCAS"
{extra}
"#
    )
}

#[test]
fn external_issuers_are_configured_in_the_file() {
    Jail::expect_with(|jail| {
        let secret = r#"hs256_secret = "a-long-enough-shared-secret""#;
        jail.create_file("r.toml", &external_toml(secret))?;
        let settings = Settings::from_figment(Settings::figment("r.toml")).expect("valid");
        let issuers =
            check_issuers(&settings.auth.external_jwt, Some("http://127.0.0.1:5000")).expect("ok");
        assert_eq!(issuers.len(), 1);
        assert_eq!(issuers[0].issuer.as_str(), "LabCAS");
        assert_eq!(issuers[0].username_claim, "username");
        // The issuer of our own tokens cannot be trusted as an external one.
        let own = check_issuers(&settings.auth.external_jwt, Some("LabCAS"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(own.contains("own tokens"), "{own}");
        // Nothing configured: no issuer.
        let none = Settings::from_figment(Settings::figment("none.toml")).expect("valid");
        assert!(none.auth.external_jwt.is_empty());
        Ok(())
    });
}

#[test]
fn an_external_issuer_needs_exactly_one_key_and_sound_values() {
    let cases = [
        ("", "exactly one of"),
        (
            "hs256_secret = \"a-long-enough-shared-secret\"\njwks_url = \"https://x/jwks\"",
            "exactly one of",
        ),
        ("hs256_secret = \"short\"", "at least 16 bytes"),
        ("jwks_url = \"ftp://x/jwks\"", "external_jwt.jwks_url"),
        (
            "hs256_secret = \"a-long-enough-shared-secret\"\nusername_claim = \" \"",
            "username_claim",
        ),
        (
            "hs256_secret = \"a-long-enough-shared-secret\"\nkid = \"x\"",
            "kid",
        ),
    ];
    for (extra, expected) in cases {
        Jail::expect_with(|jail| {
            jail.create_file("r.toml", &external_toml(extra))?;
            let error = Settings::from_figment(Settings::figment("r.toml"))
                .expect_err(extra)
                .to_string();
            assert!(error.contains(expected), "{extra:?}: {error}");
            Ok(())
        });
    }
    Jail::expect_with(|jail| {
        let twice = format!(
            "{}\n{}",
            external_toml("hs256_secret = \"a-long-enough-shared-secret\""),
            external_toml("hs256_secret = \"another-long-enough-secret\"")
        );
        jail.create_file("r.toml", &twice)?;
        let error = Settings::from_figment(Settings::figment("r.toml"))
            .expect_err("twice")
            .to_string();
        assert!(error.contains("twice"), "{error}");
        Ok(())
    });
}
