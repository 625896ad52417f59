//! Issue 26: `reefguide import reefguide --from <ReefGuide database>`.
//!
//! A ReefGuide database of our own making (`reefguide_tests::reefguide_fixture`: ReefGuide's
//! schema written from the facts sheet, filled with realistic rows) is imported by the real
//! binary into a fresh target database of each backend, the way an operator would run it (the
//! target is the configured `DATABASE_URL`, no service accounts configured). Everything is then
//! checked the way users see it: through the HTTP API of an app started on the imported database
//! (SQL only to read what no route shows, such as a stored password hash, and to count rows).
//!
//! The CLI contract: exit 0 when imported (or when a dry run found nothing blocking), 2 when
//! refused (a target that is not empty; emails differing only by case without
//! `--merge-case-duplicates`) with a one-paragraph reason on stderr, 1 on any other failure
//! (naming the table and source row); the text report on stdout in every case; the JSON report
//! of `--report-json FILE`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use reefguide_domain::geometry::{PolygonGeometry, PolygonLimits};
use reefguide_domain::job::PayloadHash;
use reefguide_domain::{Email, PasswordHash, Role, Roles};
use reefguide_ports::{NewUser, UserRepository as _};
use reefguide_tests::reefguide_fixture::{
    BCRYPT_COST, Facts, FixturePolygon, GeometryProblem, R2_TABLES, ReefGuideFixture, Release,
    SOURCE_TABLES,
};
use reefguide_tests::test_support::{TestBackend, TestDatabase};
use reefguide_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, reefguide_binary};
use rstest::rstest;
use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Running the command
// ---------------------------------------------------------------------------------------------

/// The `reefguide` binary, built once per test binary.
static BINARY: LazyLock<PathBuf> = LazyLock::new(reefguide_binary);

/// The flag that folds users whose emails differ only by case into one account.
const MERGE: &str = "--merge-case-duplicates";

/// One run of `reefguide import reefguide`.
#[derive(Debug)]
struct Run {
    /// The exit status (`None`: killed by a signal).
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// The `--report-json` file, parsed, when it was written.
    report: Option<Value>,
}

impl Run {
    /// Asserts the exit status, showing everything the command said when it differs.
    #[track_caller]
    fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit status of the import\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        assert!(
            !self.stdout.trim().is_empty(),
            "the text report goes to stdout in every case; stderr: {}",
            self.stderr
        );
        self
    }

    /// The JSON report.
    #[track_caller]
    fn report(&self) -> &Value {
        self.report.as_ref().unwrap_or_else(|| {
            panic!(
                "no --report-json file was written\n--- stdout\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// A ReefGuide database of `release` filled with the realistic rows, and what they are.
async fn realistic_source(release: Release) -> (ReefGuideFixture, Facts) {
    let source = ReefGuideFixture::create(release).await;
    let facts = source.fill_realistic().await;
    (source, facts)
}

/// A fresh, migrated, empty target database.
async fn empty_target(backend: TestBackend) -> TestDatabase {
    TestDatabase::create(backend)
        .await
        .expect("target database")
}

/// The ids of the users the admin lists, the server's own accounts left out.
async fn listed_users(app: &TestApp) -> BTreeSet<i64> {
    let admin = app.admin_token().await;
    let users = app.get("/api/users", Some(&admin)).await.expect(200);
    users
        .body
        .as_array()
        .expect("users")
        .iter()
        .filter(|user| !is_server_account(user))
        .map(|user| user["id"].as_i64().expect("id"))
        .collect()
}

/// Imports `source` into `target` with `flags` (and `--report-json`), no service accounts
/// configured.
async fn import(target: &TestDatabase, source: &ReefGuideFixture, flags: &[&str]) -> Run {
    import_with_env(target, source, flags, &[]).await
}

/// Imports as [`import`] does, with extra environment variables for the command.
async fn import_with_env(
    target: &TestDatabase,
    source: &ReefGuideFixture,
    flags: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let binary = tokio::task::spawn_blocking(|| BINARY.clone())
        .await
        .expect("the reefguide binary is built");
    let dir = tempfile::tempdir().expect("temp dir");
    let report_path = dir.path().join("import-report.json");
    let mut command = std::process::Command::new(binary);
    command
        .args(["import", "reefguide", "--from", source.url()])
        .args(flags)
        .arg("--report-json")
        .arg(&report_path)
        // Only this configuration: the target is `DATABASE_URL`, as for `reefguide serve`; no
        // service accounts, no configuration file, nothing the test runner's environment holds.
        .env_clear()
        .env("DATABASE_URL", target.url())
        .env("REEFGUIDE_DATA_DIR", dir.path())
        .env("REEFGUIDE_LOG_LEVEL", "warn")
        .env("REEFGUIDE_CONFIG", dir.path().join("none.toml"))
        .current_dir(dir.path());
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the import thread")
        .expect("the import command starts");
    let report = std::fs::read_to_string(&report_path).ok().map(|text| {
        serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("the JSON report does not parse ({error}): {text}"))
    });
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        report,
    }
}

// ---------------------------------------------------------------------------------------------
// The target, seen directly
// ---------------------------------------------------------------------------------------------

/// Our tables an import writes to.
const TARGET_TABLES: [&str; 9] = [
    "users",
    "user_logs",
    "polygons",
    "notes",
    "jobs",
    "job_requests",
    "job_assignments",
    "job_results",
    "refresh_tokens",
];

/// Rows per table of `db`.
async fn target_counts(db: &TestDatabase) -> BTreeMap<&'static str, i64> {
    let connection = sea_orm::Database::connect(db.url())
        .await
        .expect("a direct connection to the target");
    let mut counts = BTreeMap::new();
    for table in TARGET_TABLES {
        let row = connection
            .query_one_raw(Statement::from_string(
                connection.get_database_backend(),
                format!("SELECT count(*) AS n FROM {table}"),
            ))
            .await
            .expect("count query")
            .expect("a row");
        counts.insert(table, row.try_get::<i64>("", "n").expect("a count"));
    }
    let _ = connection.close().await;
    counts
}

/// Asserts that `db` holds no row at all in the tables an import writes.
#[track_caller]
fn assert_empty(counts: &BTreeMap<&'static str, i64>, what: &str) {
    assert!(
        counts.values().all(|n| *n == 0),
        "{what}: the target must be untouched, it holds {counts:?}"
    );
}

/// The stored password hash of user `id`.
async fn stored_hash(app: &TestApp, id: i32) -> String {
    let db = app.sql().await;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT password_hash FROM users WHERE id = {id}"),
        ))
        .await
        .expect("query")
        .unwrap_or_else(|| panic!("no user {id} in the target"));
    row.try_get::<String>("", "password_hash")
        .expect("a password hash")
}

// ---------------------------------------------------------------------------------------------
// The fixture itself (passes without the importer)
// ---------------------------------------------------------------------------------------------

/// The source database holds exactly what its facts say, in ReefGuide's schema: every table
/// count, bcrypt hashes of both prefixes at cost 10 that verify, the case-only duplicate, the
/// geometry our validation refuses (and why) next to geometry it accepts, job hashes as our
/// server computes them, every job status, the foreign-key rules, Prisma's migration records.
#[rstest]
#[tokio::test]
async fn the_reefguide_fixture_holds_what_its_facts_say(
    #[values(Release::R1, Release::R2)] release: Release,
) {
    let source = ReefGuideFixture::create(release).await;
    let facts = source.fill_realistic().await;
    assert_eq!(source.counts().await, facts.counts());
    for (table, _) in SOURCE_TABLES {
        assert!(facts.counts()[table] > 0, "no rows in {table}");
    }
    for table in R2_TABLES {
        let expected = u64::from(release == Release::R2);
        assert!(
            facts.counts().get(table).copied().unwrap_or(0) >= expected,
            "{table}"
        );
    }
    let migrations = source
        .scalar_i64("SELECT count(*) AS n FROM \"_prisma_migrations\"")
        .await;
    assert_eq!(migrations, if release == Release::R1 { 7 } else { 16 });
    if release == Release::R2 {
        check_r2_facts(&source, &facts).await;
    }

    // Users: the stored hash is the facts' one, made at cost 10 with the stated prefix, and it
    // verifies the password.
    let mut prefixes = BTreeSet::new();
    for user in &facts.users {
        let stored = source
            .scalar_text(&format!(
                "SELECT password AS t FROM \"User\" WHERE id = {}",
                user.id
            ))
            .await;
        assert_eq!(stored, user.password_hash);
        prefixes.insert(stored[..4].to_owned());
        assert_eq!(&stored[4..7], format!("{BCRYPT_COST:02}$"), "{stored}");
        let roles = source
            .scalar_text(&format!(
                "SELECT array_to_string(roles, ',') AS t FROM \"User\" WHERE id = {}",
                user.id
            ))
            .await;
        assert_eq!(roles, user.stored_roles.join(","), "user {}", user.id);
    }
    assert_eq!(
        prefixes,
        BTreeSet::from(["$2a$".to_owned(), "$2b$".to_owned()])
    );
    let checks: Vec<(String, String)> = facts
        .users
        .iter()
        .map(|u| (u.password.clone(), u.password_hash.clone()))
        .collect();
    tokio::task::spawn_blocking(move || {
        std::thread::scope(|scope| {
            for (password, hash) in &checks {
                scope.spawn(move || {
                    assert!(bcrypt::verify(password, hash).expect("a bcrypt hash"));
                    assert!(!bcrypt::verify("not the password", hash).expect("a bcrypt hash"));
                });
            }
        });
    })
    .await
    .expect("bcrypt checks");
    let pair = facts.case_duplicates;
    let (kept, merged) = (facts.user(pair.kept), facts.user(pair.merged));
    assert_ne!(kept.email, merged.email);
    assert_eq!(kept.email.to_lowercase(), merged.email.to_lowercase());
    assert!(pair.kept < pair.merged);
    assert!(facts.user(facts.admin).stored_roles.contains(&"ADMIN"));
    if release == Release::R2 {
        assert!(facts.users.iter().any(|u| u.stored_roles == ["DEFAULT"]));
        assert!(facts.users.iter().any(|u| u.roles == ["ANALYST"]));
    }

    // Polygons: what our validation says of each.
    let kinds: BTreeSet<_> = facts
        .invalid_polygons()
        .map(|p| format!("{:?}", p.problem))
        .collect();
    assert_eq!(kinds.len(), 4, "every kind of invalid geometry: {kinds:?}");
    for polygon in &facts.polygons {
        let parsed = PolygonGeometry::parse(&polygon.geometry, PolygonLimits::default());
        match polygon.problem {
            None => assert!(parsed.is_ok(), "polygon {}: {parsed:?}", polygon.id),
            Some(problem) => {
                let error = parsed.expect_err("invalid geometry").to_string();
                assert!(
                    error.contains(problem.phrase()),
                    "polygon {}: {error}",
                    polygon.id
                );
            }
        }
        let kind = source
            .scalar_text(&format!(
                "SELECT jsonb_typeof(polygon) AS t FROM \"Polygon\" WHERE id = {}",
                polygon.id
            ))
            .await;
        let expected = if polygon.stored_as_string {
            "string"
        } else {
            "object"
        };
        assert_eq!(kind, expected, "polygon {}", polygon.id);
    }
    assert_eq!(
        facts.polygons.iter().filter(|p| p.stored_as_string).count(),
        1
    );

    // Jobs: every status; the hash is ours; the cache-hit job is SUCCEEDED with a valid result.
    let statuses: BTreeSet<_> = facts.jobs.iter().map(|j| j.status).collect();
    assert_eq!(
        statuses,
        BTreeSet::from([
            "CANCELLED",
            "FAILED",
            "IN_PROGRESS",
            "PENDING",
            "SUCCEEDED",
            "TIMED_OUT"
        ])
    );
    for job in &facts.jobs {
        let stored = source
            .scalar_text(&format!(
                "SELECT hash AS t FROM \"Job\" WHERE id = {}",
                job.id
            ))
            .await;
        assert_eq!(
            stored,
            PayloadHash::compute(job.job_type, &job.input_payload).as_str()
        );
        for assignment in &job.assignments {
            assert_eq!(
                assignment.storage_uri,
                format!("s3://reefguide-results/jobs/{}", job.id)
            );
        }
    }
    let cached = facts.job(facts.cache_hit_job);
    assert_eq!(cached.status, "SUCCEEDED");
    assert!(
        cached.assignments[0]
            .result
            .as_ref()
            .is_some_and(|r| r.cache_valid)
    );
    assert!(
        facts
            .job_requests
            .iter()
            .any(|r| r.cache_hit && r.job_id == cached.id)
    );
    let actions: BTreeSet<_> = facts.user_logs.iter().map(|l| l.action).collect();
    assert_eq!(
        actions,
        BTreeSet::from(["CHANGE_PASSWORD", "LOGIN", "LOGOUT", "UPDATED"])
    );

    // The foreign keys' ON DELETE rules ('r' restrict, 'c' cascade, 'n' set null).
    let mut rules = vec![
        ("UserLog_userId_fkey", "r"),
        ("Polygon_user_id_fkey", "c"),
        ("PolygonNote_polygon_id_fkey", "c"),
        ("PolygonNote_user_id_fkey", "c"),
        ("RefreshToken_user_id_fkey", "c"),
        ("JobRequest_user_id_fkey", "r"),
        ("JobRequest_job_id_fkey", "r"),
        ("Job_user_id_fkey", "r"),
        ("JobAssignment_job_id_fkey", "r"),
        ("JobResult_job_id_fkey", "r"),
        ("JobResult_assignment_id_fkey", "r"),
    ];
    if release == Release::R2 {
        rules.extend([
            ("Polygon_project_id_fkey", "c"),
            ("pre_approved_users_created_by_user_id_fkey", "n"),
            ("group_members_user_id_fkey", "c"),
            ("project_group_shares_group_id_fkey", "c"),
            ("password_reset_codes_user_id_fkey", "c"),
        ]);
    }
    for (constraint, rule) in rules {
        let found = source
            .scalar_text(&format!(
                "SELECT confdeltype::text AS t FROM pg_constraint WHERE conname = '{constraint}'"
            ))
            .await;
        assert_eq!(found, rule, "{constraint}");
    }
}

/// The benchmark's generator makes its rows in SQL, with hashes as our server computes them and
/// one polygon in a hundred self-intersecting.
#[tokio::test]
async fn the_bulk_fixture_generates_rows_in_sql() {
    let source = ReefGuideFixture::create(Release::R1).await;
    let started = Instant::now();
    let bulk = source.fill_bulk(50, 1_000, 2_000).await;
    let elapsed = started.elapsed();
    assert_eq!(bulk.counts["users"], 50);
    assert_eq!(bulk.counts["user_logs"], 50);
    assert_eq!(bulk.counts["polygons"], 1_000);
    assert_eq!(bulk.counts["notes"], 200);
    assert_eq!(bulk.counts["jobs"], 2_000);
    assert_eq!(bulk.counts["job_requests"], 2_000);
    // Status by n % 10: CANCELLED and PENDING never started; FAILED and SUCCEEDED (5 of 10)
    // have results; IN_PROGRESS and TIMED_OUT only assignments.
    assert_eq!(bulk.counts["job_assignments"], 2_000 / 10 * 8);
    assert_eq!(bulk.counts["job_results"], 2_000 / 10 * 6);
    assert_eq!(bulk.invalid_polygons, 10);
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    for n in [7, 1_999] {
        let stored = source
            .scalar_text(&format!("SELECT hash AS t FROM \"Job\" WHERE id = {n}"))
            .await;
        assert_eq!(
            stored,
            PayloadHash::compute("TEST", &json!({"id": n})).as_str()
        );
    }
    for (n, valid) in [(99, true), (100, false), (101, true)] {
        let geometry: Value = serde_json::from_str(
            &source
                .scalar_text(&format!(
                    "SELECT polygon::text AS t FROM \"Polygon\" WHERE id = {n}"
                ))
                .await,
        )
        .expect("JSON");
        let parsed = PolygonGeometry::parse(&geometry, PolygonLimits::default());
        assert_eq!(parsed.is_ok(), valid, "polygon {n}: {parsed:?}");
    }
}

/// R2's projects, shares, groups, seats and pre-approvals in the source are the facts' ones.
async fn check_r2_facts(source: &ReefGuideFixture, facts: &Facts) {
    let listed = |sql: &str| {
        let sql =
            format!("SELECT coalesce(string_agg(r, ',' ORDER BY id), '') AS t FROM ({sql}) x");
        async move { source.scalar_text(&sql).await }
    };
    let joined = |rows: Vec<String>| rows.join(",");
    assert_eq!(
        listed(
            "SELECT id, id || ':' || user_id || ':' || is_public || ':' || name AS r FROM projects"
        )
        .await,
        joined(
            facts
                .projects
                .iter()
                .map(|p| format!("{}:{}:{}:{}", p.id, p.owner, p.is_public, p.name))
                .collect()
        )
    );
    assert_eq!(
        listed("SELECT id, project_id || ':' || user_id AS r FROM project_user_shares").await,
        joined(
            facts
                .projects
                .iter()
                .flat_map(|p| p.user_shares.iter().map(move |u| format!("{}:{u}", p.id)))
                .collect()
        )
    );
    assert_eq!(
        listed("SELECT id, project_id || ':' || group_id AS r FROM project_group_shares").await,
        joined(
            facts
                .projects
                .iter()
                .flat_map(|p| p.group_shares.iter().map(move |g| format!("{}:{g}", p.id)))
                .collect()
        )
    );
    assert_eq!(
        listed("SELECT id, id || ':' || owner_id || ':' || name AS r FROM groups").await,
        joined(
            facts
                .groups
                .iter()
                .map(|g| format!("{}:{}:{}", g.id, g.owner, g.name))
                .collect()
        )
    );
    for (table, seats) in [
        (
            "group_managers",
            facts
                .groups
                .iter()
                .flat_map(|g| g.managers.iter().map(move |u| (g.id, *u)))
                .collect::<Vec<_>>(),
        ),
        (
            "group_members",
            facts
                .groups
                .iter()
                .flat_map(|g| g.members.iter().map(move |u| (g.id, *u)))
                .collect(),
        ),
    ] {
        assert_eq!(
            listed(&format!(
                "SELECT id, group_id || ':' || user_id AS r FROM {table}"
            ))
            .await,
            joined(seats.iter().map(|(g, u)| format!("{g}:{u}")).collect()),
            "{table}"
        );
    }
    assert_eq!(
        listed(
            "SELECT id, id || ':' || email || ':' || used || ':' || array_to_string(roles, '+') \
             AS r FROM pre_approved_users"
        )
        .await,
        joined(
            facts
                .pre_approvals
                .iter()
                .map(|p| format!("{}:{}:{}:{}", p.id, p.email, p.used, p.roles.join("+")))
                .collect()
        )
    );
    for polygon in facts.polygons.iter().filter(|p| p.project_id.is_some()) {
        let project = source
            .scalar_i64(&format!(
                "SELECT project_id::bigint AS n FROM \"Polygon\" WHERE id = {}",
                polygon.id
            ))
            .await;
        assert_eq!(Some(project), polygon.project_id.map(i64::from));
    }
}

// ---------------------------------------------------------------------------------------------
// A whole import, checked through the API
// ---------------------------------------------------------------------------------------------

/// A realistic ReefGuide database (R1 or R2) imports whole: the report says what came over and
/// what did not; every user logs in with their old password (and the bcrypt hash becomes
/// argon2id), sees exactly their polygons, notes and jobs with the source's ids, timestamps,
/// results and `s3://` locations; invalid geometry is readable, exportable, deletable and
/// flagged; an identical submission is a cache hit on the imported job; the admin sees every
/// user; new rows get ids past the imported ones.
#[rstest]
#[tokio::test]
async fn a_reefguide_database_imports_whole_and_works_through_the_api(
    #[values(Release::R1, Release::R2)] release: Release,
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let (source, facts) = realistic_source(release).await;
    let target = empty_target(backend).await;

    let run = import(&target, &source, &[MERGE]).await;
    run.expect(0);
    check_report(run.report(), &facts, false);

    let app = TestApp::spawn_on(target, |_| {}).await;
    check_users_log_in(&app, &facts).await;
    let tokens = tokens(&app, &facts).await;
    check_admin_view(&app, &facts).await;
    check_polygons(&app, &facts, &tokens).await;
    check_notes(&app, &facts, &tokens).await;
    check_jobs(&app, &facts, &tokens).await;
    check_cache(&app, &facts, &tokens).await;
    check_refresh_tokens_are_gone(&app, &facts).await;
    if release == Release::R2 {
        check_shared_work(&app, &facts, &tokens).await;
        check_pre_approvals(&app, &facts).await;
        check_data_specification(&app).await;
    }
    check_new_rows_get_new_ids(&app, &facts, &tokens).await;
}

/// The JSON report of an import (or dry run) of `facts` with the case-only duplicates merged.
#[track_caller]
fn check_report(report: &Value, facts: &Facts, dry_run: bool) {
    let text = report.to_string();
    assert_eq!(report["release"], json!(facts.release.name()), "{text}");
    assert_eq!(report["dry_run"], json!(dry_run), "{text}");
    assert_eq!(report["imported"], json!(!dry_run), "{text}");
    assert_eq!(report["conflicts"], json!([]), "{text}");

    let not_imported: BTreeSet<&str> = ["refresh_tokens", "password_reset_codes"]
        .into_iter()
        .filter(|table| facts.counts().contains_key(table))
        .collect();
    for (table, read) in facts.counts() {
        let imported = if not_imported.contains(table) {
            0
        } else if table == "users" {
            read - 1
        } else {
            read
        };
        assert_eq!(
            report["tables"][table],
            json!({"read": read, "imported": imported}),
            "table {table}: {text}"
        );
    }

    let rows = report["rows"].as_array().expect("rows");
    let row = |table: &str, id: Option<i32>| -> Vec<&Value> {
        rows.iter()
            .filter(|row| row["table"] == json!(table) && row["id"] == json!(id))
            .collect()
    };
    let reason = |row: &Value| row["reason"].as_str().unwrap_or_default().to_owned();
    // Every polygon imported with something to say has one row: invalid geometry (the reason
    // names the problem), a JSON string unwrapped. Its R2 project comes with it, unsaid.
    for polygon in &facts.polygons {
        let found = row("polygons", Some(polygon.id));
        let warned = polygon.problem.is_some() || polygon.stored_as_string;
        if !warned {
            assert!(found.is_empty(), "polygon {}: {text}", polygon.id);
            continue;
        }
        assert_eq!(found.len(), 1, "polygon {}: {text}", polygon.id);
        assert_eq!(
            found[0]["outcome"],
            json!("imported_with_warning"),
            "{text}"
        );
        let reason = reason(found[0]);
        assert!(!reason.is_empty(), "{}", found[0]);
        if let Some(problem) = polygon.problem {
            assert!(
                reason.contains(problem.phrase()),
                "polygon {}'s reason names its problem ({}): {reason}",
                polygon.id,
                problem.phrase()
            );
        }
    }
    let merged = row("users", Some(facts.case_duplicates.merged));
    assert_eq!(merged.len(), 1, "{text}");
    assert_eq!(merged[0]["outcome"], json!("merged"), "{text}");
    assert!(!reason(merged[0]).is_empty(), "{text}");
    for table in &not_imported {
        let whole = row(table, None);
        assert_eq!(whole.len(), 1, "table {table}: {text}");
        assert_eq!(whole[0]["outcome"], json!("not_imported"), "{text}");
        assert!(!reason(whole[0]).is_empty(), "{text}");
    }
    // Nothing else is left out.
    for row in rows {
        if row["outcome"] == json!("not_imported") {
            let table = row["table"].as_str().unwrap_or_default();
            assert!(
                not_imported.contains(table) && row["id"].is_null(),
                "an unexpected row left out: {row}"
            );
        }
    }
}

/// R2's projects and groups came over with their ids and work as R2's rule says: each user lists
/// exactly the projects they see (their own, public ones, shared with them or with a group they
/// are seated in); a project shows its name, type, state, publicity and shares, and its
/// polygons by `projectId`; the group shows its owner, managers and members (the merged member
/// under the kept user).
async fn check_shared_work(app: &TestApp, facts: &Facts, tokens: &BTreeMap<i32, String>) {
    for (user, token) in tokens {
        let reply = app
            .get("/api/projects?limit=100", Some(token))
            .await
            .expect(200);
        let expected = set(facts
            .projects
            .iter()
            .filter(|p| facts.sees_project(*user, p))
            .map(|p| p.id));
        assert_eq!(
            ids(&reply.body, "projects"),
            expected,
            "user {user}: {}",
            reply.text
        );
    }
    for project in &facts.projects {
        let owner = &tokens[&facts.merged(project.owner)];
        let reply = app
            .get(&format!("/api/projects/{}", project.id), Some(owner))
            .await
            .expect(200);
        let shown = &reply.body["project"];
        assert_eq!(shown["name"], json!(project.name), "{shown}");
        assert_eq!(shown["type"], json!(project.kind), "{shown}");
        assert_eq!(shown["project_state"], project.project_state, "{shown}");
        assert_eq!(shown["is_public"], json!(project.is_public), "{shown}");
        assert_eq!(
            shown["user_id"],
            json!(facts.merged(project.owner)),
            "{shown}"
        );
        let holders = |key: &str, field: &str| -> BTreeSet<i64> {
            shown[key]
                .as_array()
                .unwrap_or_else(|| panic!("no {key}: {shown}"))
                .iter()
                .map(|share| share[field].as_i64().expect("an id"))
                .collect()
        };
        assert_eq!(
            holders("userShares", "user_id"),
            set(project.user_shares.iter().map(|u| facts.merged(*u)))
        );
        assert_eq!(
            holders("groupShares", "group_id"),
            set(project.group_shares.iter().copied())
        );
        let polygons = app
            .get(
                &format!("/api/polygons?projectId={}", project.id),
                Some(owner),
            )
            .await
            .expect(200);
        assert_eq!(
            ids(&polygons.body, "polygons"),
            set(facts
                .polygons
                .iter()
                .filter(|p| p.project_id == Some(project.id))
                .map(|p| p.id)),
            "project {}",
            project.id
        );
    }
    for group in &facts.groups {
        for (user, token) in tokens {
            let reply = app
                .get(&format!("/api/groups/{}", group.id), Some(token))
                .await;
            if !(facts.in_group(*user, group.id) || facts.is_admin(*user)) {
                reply.expect(404);
                continue;
            }
            let reply = reply.expect(200);
            let shown = &reply.body["group"];
            assert_eq!(shown["name"], json!(group.name), "{shown}");
            assert_eq!(
                shown["owner_id"],
                json!(facts.merged(group.owner)),
                "{shown}"
            );
            let seated = |key: &str| -> BTreeSet<i64> {
                shown[key]
                    .as_array()
                    .unwrap_or_else(|| panic!("no {key}: {shown}"))
                    .iter()
                    .map(|seat| seat["user_id"].as_i64().expect("an id"))
                    .collect()
            };
            assert_eq!(
                seated("managers"),
                set(group.managers.iter().map(|u| facts.merged(*u)))
            );
            assert_eq!(
                seated("members"),
                set(group.members.iter().map(|u| facts.merged(*u)))
            );
        }
    }
}

/// R2's pre-approvals came over (the admin lists them, used or not), and the unused one lets
/// its address register with its roles.
async fn check_pre_approvals(app: &TestApp, facts: &Facts) {
    let admin = app.admin_token().await;
    let listed = app
        .get("/api/auth/admin/pre-approved-users?limit=100", Some(&admin))
        .await
        .expect(200);
    let shown: BTreeMap<i64, (String, bool, Value)> = listed.body["preApprovedUsers"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", listed.text))
        .iter()
        .map(|p| {
            (
                p["id"].as_i64().expect("an id"),
                (
                    p["email"].as_str().unwrap_or_default().to_owned(),
                    p["used"].as_bool().unwrap_or_default(),
                    p["roles"].clone(),
                ),
            )
        })
        .collect();
    let expected: BTreeMap<i64, (String, bool, Value)> = facts
        .pre_approvals
        .iter()
        .map(|p| {
            (
                i64::from(p.id),
                (p.email.to_owned(), p.used, json!(p.roles)),
            )
        })
        .collect();
    assert_eq!(shown, expected, "{}", listed.text);

    let unused = facts
        .pre_approvals
        .iter()
        .find(|p| !p.used)
        .expect("an unused pre-approval");
    app.register(unused.email, "newcomer-password-1").await;
    let (token, _) = app.login(unused.email, "newcomer-password-1").await;
    let profile = app.get("/api/auth/profile", Some(&token)).await.expect(200);
    assert_eq!(
        profile.body["user"]["roles"],
        json!(unused.roles),
        "{}",
        profile.text
    );
}

/// R2's data specification came over: its region with its criteria ranges is served.
async fn check_data_specification(app: &TestApp) {
    let (_, analyst) = app.user("spec-reader@example.com").await;
    let regions = app
        .get("/api/admin/regions", Some(&analyst))
        .await
        .expect(200);
    assert_eq!(
        regions.body,
        json!({"regions": [{"name": "Cairns-Cooktown", "display_name": "Cairns - Cooktown",
                            "description": null, "criteria_count": 2}]})
    );
    let ranges = app
        .get("/api/admin/criteria/Cairns-Cooktown/ranges", Some(&analyst))
        .await
        .expect(200);
    assert_eq!(
        ranges.body["Depth"]["min_val"],
        json!(-39.5),
        "{}",
        ranges.text
    );
    assert_eq!(
        ranges.body["Depth"]["default_max_val"],
        json!(-2.0),
        "{}",
        ranges.text
    );
    assert_eq!(ranges.body["Depth"]["units"], json!("m"), "{}", ranges.text);
    assert_eq!(
        ranges.body["Slope"]["max_val"],
        json!(40.0),
        "{}",
        ranges.text
    );
}

/// Every user left after the merge logs in with their old password, once as stored and once
/// lower-cased; the bcrypt hash, kept by the import, is argon2id afterwards. The merged-away
/// account's password does not open the kept account.
async fn check_users_log_in(app: &TestApp, facts: &Facts) {
    for user in facts.users_after_merge() {
        assert_eq!(
            stored_hash(app, user.id).await,
            user.password_hash,
            "user {}: the import keeps the bcrypt hash",
            user.id
        );
        let (token, _) = app.login(&user.email, &user.password).await;
        let profile = app.get("/api/auth/profile", Some(&token)).await.expect(200);
        assert_eq!(
            profile.body["user"]["id"],
            json!(user.id),
            "{}",
            profile.text
        );
        assert_eq!(
            profile.body["user"]["email"],
            json!(user.email.to_lowercase()),
            "{}",
            profile.text
        );
        assert_eq!(
            profile.body["user"]["roles"],
            json!(user.roles),
            "{}",
            profile.text
        );
        let upgraded = stored_hash(app, user.id).await;
        assert!(
            upgraded.starts_with("$argon2id$"),
            "user {}: {upgraded}",
            user.id
        );
        app.login(&user.email.to_lowercase(), &user.password).await;
        app.login(&user.email.to_uppercase(), &user.password).await;
    }
    let pair = facts.case_duplicates;
    let merged = facts.user(pair.merged);
    app.post(
        "/api/auth/login",
        None,
        json!({"email": merged.email, "password": merged.password}),
    )
    .await
    .expect_error(401, "invalid_credentials");
}

/// An access token per user left after the merge.
async fn tokens(app: &TestApp, facts: &Facts) -> BTreeMap<i32, String> {
    let mut tokens = BTreeMap::new();
    for user in facts.users_after_merge() {
        tokens.insert(user.id, app.login(&user.email, &user.password).await.0);
    }
    tokens
}

/// Whether a listed user is one the server creates at start: the configured ADMIN service
/// account, or an internal account (`local-workers@reefguide.internal`, for local workers).
fn is_server_account(user: &Value) -> bool {
    user["email"]
        .as_str()
        .is_some_and(|email| email == ADMIN_EMAIL || email.ends_with("@reefguide.internal"))
}

/// The ids in a JSON array of objects under `key`.
#[track_caller]
fn ids(body: &Value, key: &str) -> BTreeSet<i64> {
    body[key]
        .as_array()
        .unwrap_or_else(|| panic!("no array {key}: {body}"))
        .iter()
        .map(|item| item["id"].as_i64().expect("an id"))
        .collect()
}

/// The set of `ids` as i64.
fn set(ids: impl IntoIterator<Item = i32>) -> BTreeSet<i64> {
    ids.into_iter().map(i64::from).collect()
}

/// The admin service account (created at the app's start, after the import) and the imported
/// ADMIN both see every user with their source ids, emails lower-cased and roles mapped, and
/// each user's log entries with their ids, actions and times (the merged user's under the kept
/// one).
async fn check_admin_view(app: &TestApp, facts: &Facts) {
    let service_admin = app.admin_token().await;
    let imported_admin = facts.user(facts.admin);
    let (imported_admin, _) = app
        .login(&imported_admin.email, &imported_admin.password)
        .await;
    for token in [&service_admin, &imported_admin] {
        let reply = app.get("/api/users", Some(token)).await.expect(200);
        let listed = reply.body.as_array().expect("a bare array");
        let by_id: BTreeMap<i64, &Value> = listed
            .iter()
            .map(|user| (user["id"].as_i64().expect("id"), user))
            .collect();
        for user in facts.users_after_merge() {
            let found = by_id
                .get(&i64::from(user.id))
                .unwrap_or_else(|| panic!("user {} not listed: {}", user.id, reply.text));
            assert_eq!(found["email"], json!(user.email.to_lowercase()));
            assert_eq!(found["roles"], json!(user.roles));
        }
        assert!(!by_id.contains_key(&i64::from(facts.case_duplicates.merged)));
        let others: Vec<_> = listed
            .iter()
            .filter(|user| !facts.users_after_merge().any(|u| json!(u.id) == user["id"]))
            .collect();
        assert!(
            others
                .iter()
                .any(|user| user["email"] == json!(ADMIN_EMAIL)),
            "the service account is back: {others:?}"
        );
        for other in &others {
            assert!(
                is_server_account(other),
                "only accounts the server creates at start are new: {other}"
            );
            assert!(
                other["id"].as_i64().expect("id") > i64::from(facts.max_ids()["users"]),
                "an account created after the import gets an id past the imported ones: {other}"
            );
        }
    }

    for user in facts.users_after_merge() {
        let reply = app
            .get(
                &format!("/api/users/utils/log?userId={}&limit=100", user.id),
                Some(&service_admin),
            )
            .await
            .expect(200);
        let logged: BTreeMap<i64, &Value> = reply.body["logs"]
            .as_array()
            .expect("logs")
            .iter()
            .map(|entry| (entry["id"].as_i64().expect("id"), entry))
            .collect();
        for entry in facts
            .user_logs
            .iter()
            .filter(|l| facts.merged(l.user_id) == user.id)
        {
            let found = logged
                .get(&i64::from(entry.id))
                .unwrap_or_else(|| panic!("log entry {} missing: {}", entry.id, reply.text));
            assert_eq!(found["action"], json!(entry.action), "{found}");
            assert_eq!(found["time"], json!(entry.time), "{found}");
            assert_eq!(found["userId"], json!(user.id), "{found}");
            assert_eq!(
                found["metadata"],
                entry.metadata.clone().unwrap_or(Value::Null),
                "{found}"
            );
        }
    }
}

/// Each user sees exactly their polygons (all for an ADMIN) with the source's ids, owners,
/// times and geometry (a JSON-string polygon unwrapped); invalid ones carry `invalidReason`,
/// are exported and deleted like any other, and take only a valid geometry on update.
async fn check_polygons(app: &TestApp, facts: &Facts, tokens: &BTreeMap<i32, String>) {
    for (user, token) in tokens {
        let expected: BTreeSet<i64> = set(facts
            .polygons
            .iter()
            .filter(|p| facts.sees_polygon(*user, p.id))
            .map(|p| p.id));
        let reply = app
            .get("/api/polygons?limit=1000", Some(token))
            .await
            .expect(200);
        assert_eq!(ids(&reply.body, "polygons"), expected, "user {user}");
        for listed in reply.body["polygons"].as_array().expect("polygons") {
            let id = i32::try_from(listed["id"].as_i64().expect("id")).expect("small id");
            check_polygon(listed, facts, facts.polygon(id));
        }
        // Exported, invalid ones included.
        let geojson = app
            .get("/api/polygons?format=geojson&limit=1000", Some(token))
            .await
            .expect(200);
        let exported: BTreeSet<i64> = geojson.body["features"]
            .as_array()
            .unwrap_or_else(|| panic!("a FeatureCollection: {}", geojson.text))
            .iter()
            .map(|f| f["properties"]["id"].as_i64().expect("properties.id"))
            .collect();
        assert_eq!(exported, expected, "user {user}: {}", geojson.text);
        app.get("/api/polygons?format=kml&limit=1000", Some(token))
            .await
            .expect(200);
    }

    // One invalid polygon read alone, updated, and another deleted, by their owners.
    let bow_tie = facts
        .invalid_polygons()
        .find(|p| p.problem == Some(GeometryProblem::SelfIntersecting))
        .expect("a bow-tie");
    let owner = &tokens[&facts.merged(bow_tie.user_id)];
    let path = format!("/api/polygons/{}", bow_tie.id);
    let reply = app.get(&path, Some(owner)).await.expect(200);
    check_polygon(&reply.body["polygon"], facts, bow_tie);
    app.put(
        &path,
        Some(owner),
        json!({"polygon": bow_tie.geometry.clone()}),
    )
    .await
    .expect(400);
    let fixed = json!({"type": "Polygon", "coordinates": [[
        [146.0, -18.0], [146.2, -18.0], [146.2, -17.8], [146.0, -17.8], [146.0, -18.0]
    ]]});
    let reply = app
        .put(&path, Some(owner), json!({"polygon": fixed}))
        .await
        .expect(200);
    assert!(
        reply.body["polygon"]
            .get("invalidReason")
            .is_none_or(Value::is_null),
        "a valid update clears the flag: {}",
        reply.text
    );
    assert_eq!(reply.body["polygon"]["polygon"], fixed);

    let empty = facts
        .invalid_polygons()
        .find(|p| p.problem == Some(GeometryProblem::EmptyRing))
        .expect("an empty ring");
    let owner = &tokens[&facts.merged(empty.user_id)];
    let path = format!("/api/polygons/{}", empty.id);
    app.delete(&path, Some(owner)).await.expect(204);
    app.get(&path, Some(owner)).await.expect(404);
}

/// One polygon object as the API shows it, against its source row.
#[track_caller]
fn check_polygon(shown: &Value, facts: &Facts, source: &FixturePolygon) {
    assert_eq!(shown["id"], json!(source.id), "{shown}");
    assert_eq!(
        shown["user_id"],
        json!(facts.merged(source.user_id)),
        "{shown}"
    );
    assert_eq!(shown["created_at"], json!(source.created_at), "{shown}");
    assert_eq!(shown["polygon"], source.geometry, "{shown}");
    let reason = shown.get("invalidReason").filter(|r| !r.is_null());
    match source.problem {
        Some(problem) => {
            let reason = reason
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("polygon {} has no invalidReason: {shown}", source.id));
            assert!(reason.contains(problem.phrase()), "{shown}");
        }
        None => assert!(reason.is_none(), "a valid polygon is not flagged: {shown}"),
    }
}

/// Each user sees exactly the notes they wrote and the notes on the polygons they see (R2's
/// rule; all for an ADMIN), with the source's ids and content, and a polygon's notes.
async fn check_notes(app: &TestApp, facts: &Facts, tokens: &BTreeMap<i32, String>) {
    for (user, token) in tokens {
        let expected: BTreeSet<i64> = set(facts
            .notes
            .iter()
            .filter(|n| facts.merged(n.user_id) == *user || facts.sees_polygon(*user, n.polygon_id))
            .map(|n| n.id));
        let reply = app.get("/api/notes", Some(token)).await.expect(200);
        assert_eq!(ids(&reply.body, "notes"), expected, "user {user}");
        for shown in reply.body["notes"].as_array().expect("notes") {
            let note = facts
                .notes
                .iter()
                .find(|n| json!(n.id) == shown["id"])
                .expect("a fixture note");
            assert_eq!(shown["content"], json!(note.content), "{shown}");
            assert_eq!(shown["user_id"], json!(facts.merged(note.user_id)));
            assert_eq!(shown["polygon_id"], json!(note.polygon_id));
            assert_eq!(shown["created_at"], json!(note.created_at));
        }
    }
    let polygon = facts.notes[0].polygon_id;
    let owner = &tokens[&facts.merged(facts.polygon(polygon).user_id)];
    let reply = app
        .get(&format!("/api/notes/polygon/{polygon}"), Some(owner))
        .await
        .expect(200);
    assert_eq!(
        ids(&reply.body, "notes"),
        set(facts
            .notes
            .iter()
            .filter(|n| n.polygon_id == polygon)
            .map(|n| n.id))
    );
}

/// Each user's own jobs (`/mine`) and visible jobs (own and requested; all for an ADMIN) with
/// the source's ids and statuses; one SUCCEEDED job in full (its assignment's and result's
/// `s3://` locations, payloads, hash, times); every job's request history.
async fn check_jobs(app: &TestApp, facts: &Facts, tokens: &BTreeMap<i32, String>) {
    for (user, token) in tokens {
        let own: BTreeSet<i64> = set(facts
            .jobs
            .iter()
            .filter(|j| facts.merged(j.user_id) == *user)
            .map(|j| j.id));
        let reply = app
            .get("/api/jobs/mine?limit=200", Some(token))
            .await
            .expect(200);
        assert_eq!(ids(&reply.body, "jobs"), own, "user {user}: {}", reply.text);
        for shown in reply.body["jobs"].as_array().expect("jobs") {
            let job = facts.jobs.iter().find(|j| json!(j.id) == shown["id"]);
            let job = job.expect("a fixture job");
            assert_eq!(shown["status"], json!(job.status), "{shown}");
            assert_eq!(shown["type"], json!(job.job_type), "{shown}");
        }
        let visible: BTreeSet<i64> = if facts.is_admin(*user) {
            set(facts.jobs.iter().map(|j| j.id))
        } else {
            own.iter()
                .copied()
                .chain(set(facts
                    .job_requests
                    .iter()
                    .filter(|r| facts.merged(r.user_id) == *user)
                    .map(|r| r.job_id)))
                .collect()
        };
        let reply = app
            .get("/api/jobs?limit=200", Some(token))
            .await
            .expect(200);
        assert_eq!(
            ids(&reply.body, "jobs"),
            visible,
            "user {user}: {}",
            reply.text
        );
        let requests = app.get("/api/jobs/requests", Some(token)).await.expect(200);
        let expected: BTreeSet<i64> = if facts.is_admin(*user) {
            set(facts.job_requests.iter().map(|r| r.id))
        } else {
            set(facts
                .job_requests
                .iter()
                .filter(|r| facts.merged(r.user_id) == *user)
                .map(|r| r.id))
        };
        assert_eq!(
            ids(&requests.body, "jobRequests"),
            expected,
            "user {user}: {}",
            requests.text
        );
        for shown in requests.body["jobRequests"].as_array().expect("requests") {
            let request = facts
                .job_requests
                .iter()
                .find(|r| json!(r.id) == shown["id"])
                .expect("a fixture request");
            assert_eq!(shown["cache_hit"], json!(request.cache_hit), "{shown}");
            assert_eq!(shown["job_id"], json!(request.job_id), "{shown}");
            assert_eq!(shown["created_at"], json!(request.created_at), "{shown}");
        }
    }

    // Every job in full, as an admin sees it.
    let admin = app.admin_token().await;
    for job in &facts.jobs {
        let reply = app
            .get(&format!("/api/jobs/{}", job.id), Some(&admin))
            .await
            .expect(200);
        let shown = &reply.body["job"];
        assert_eq!(shown["status"], json!(job.status), "{shown}");
        assert_eq!(
            shown["user_id"],
            json!(facts.merged(job.user_id)),
            "{shown}"
        );
        assert_eq!(shown["input_payload"], job.input_payload, "{shown}");
        assert_eq!(shown["hash"], json!(job.hash), "{shown}");
        assert_eq!(shown["created_at"], json!(job.created_at), "{shown}");
        let assignments = shown["assignments"].as_array().expect("assignments");
        assert_eq!(assignments.len(), job.assignments.len(), "{shown}");
        for (shown, assignment) in assignments.iter().zip(&job.assignments) {
            assert_eq!(shown["id"], json!(assignment.id), "{shown}");
            assert_eq!(shown["job_id"], json!(job.id), "{shown}");
            assert_eq!(shown["storage_scheme"], json!("S3"), "{shown}");
            assert_eq!(
                shown["storage_uri"],
                json!(assignment.storage_uri),
                "{shown}"
            );
            assert_eq!(
                shown["ecs_task_arn"],
                json!(assignment.ecs_task_arn),
                "{shown}"
            );
            assert_eq!(
                shown["ecs_cluster_arn"],
                json!(assignment.ecs_cluster_arn),
                "{shown}"
            );
            assert_eq!(shown["expires_at"], json!(assignment.expires_at), "{shown}");
            assert_eq!(
                shown["completed_at"],
                json!(assignment.completed_at),
                "{shown}"
            );
            match &assignment.result {
                None => assert_eq!(shown["result"], Value::Null, "{shown}"),
                Some(result) => {
                    let shown = &shown["result"];
                    assert_eq!(shown["id"], json!(result.id), "{shown}");
                    assert_eq!(shown["assignment_id"], json!(assignment.id), "{shown}");
                    assert_eq!(shown["storage_scheme"], json!("S3"), "{shown}");
                    assert_eq!(shown["storage_uri"], json!(result.storage_uri), "{shown}");
                    assert_eq!(
                        shown["result_payload"],
                        result.result_payload.clone().unwrap_or(Value::Null),
                        "{shown}"
                    );
                    assert_eq!(
                        shown["metadata"],
                        result.metadata.clone().unwrap_or(Value::Null),
                        "{shown}"
                    );
                    assert_eq!(shown["created_at"], json!(result.created_at), "{shown}");
                }
            }
        }
    }
}

/// Submitting again the type and payload of an imported SUCCEEDED (valid result), PENDING or
/// IN_PROGRESS job is a cache hit on it; of a FAILED, CANCELLED, TIMED_OUT or invalidated one,
/// a new job.
async fn check_cache(app: &TestApp, facts: &Facts, tokens: &BTreeMap<i32, String>) {
    let cached = facts.job(facts.cache_hit_job);
    let someone_else = tokens
        .keys()
        .copied()
        .find(|user| *user != facts.merged(cached.user_id) && !facts.is_admin(*user))
        .expect("another user");
    let token = &tokens[&someone_else];
    let hits = facts
        .jobs
        .iter()
        .filter(|j| matches!(j.status, "PENDING" | "IN_PROGRESS"))
        .chain(std::iter::once(cached));
    for job in hits {
        let reply = app
            .post(
                "/api/jobs",
                Some(token),
                json!({"type": job.job_type, "inputPayload": job.input_payload}),
            )
            .await
            .expect(200);
        assert_eq!(
            reply.body["cached"],
            json!(true),
            "job {}: {}",
            job.id,
            reply.text
        );
        assert_eq!(reply.body["jobId"], json!(job.id), "{}", reply.text);
        assert!(
            reply.body["requestId"].as_i64().expect("requestId")
                > i64::from(facts.max_ids()["job_requests"]),
            "{}",
            reply.text
        );
    }
    // The requester may now read the job.
    app.get(&format!("/api/jobs/{}", cached.id), Some(token))
        .await
        .expect(200);
    for id in &facts.never_cache_hits {
        let job = facts.job(*id);
        let reply = app
            .post(
                "/api/jobs",
                Some(token),
                json!({"type": job.job_type, "inputPayload": job.input_payload}),
            )
            .await
            .expect(200);
        assert_eq!(
            reply.body["cached"],
            json!(false),
            "job {id}: {}",
            reply.text
        );
        assert!(
            reply.body["jobId"].as_i64().expect("jobId") > i64::from(facts.max_ids()["jobs"]),
            "a new job gets an id past the imported ones: {}",
            reply.text
        );
    }
}

/// ReefGuide's refresh tokens are not imported: none works.
async fn check_refresh_tokens_are_gone(app: &TestApp, facts: &Facts) {
    for token in &facts.refresh_tokens {
        app.post(
            "/api/auth/token",
            None,
            json!({"refreshToken": token.token}),
        )
        .await
        .expect(401);
    }
}

/// Sequences stand past the imported ids: a new user, polygon and note get higher ids.
async fn check_new_rows_get_new_ids(app: &TestApp, facts: &Facts, tokens: &BTreeMap<i32, String>) {
    let max = facts.max_ids();
    let id = app
        .register("after-import@example.com", "a new password")
        .await;
    assert!(id > i64::from(max["users"]), "user {id}");
    let token = &tokens[&facts.users_after_merge().next().expect("a user").id];
    let polygon = app
        .post(
            "/api/polygons",
            Some(token),
            json!({"polygon": {"type": "Polygon", "coordinates": [[
                [151.0, -24.0], [151.1, -24.0], [151.1, -23.9], [151.0, -24.0]
            ]]}}),
        )
        .await
        .expect(200);
    let polygon_id = polygon.body["polygon"]["id"].as_i64().expect("id");
    assert!(
        polygon_id > i64::from(max["polygons"]),
        "polygon {polygon_id}"
    );
    let note = app
        .post(
            "/api/notes",
            Some(token),
            json!({"content": "after the import", "polygonId": polygon_id}),
        )
        .await
        .expect(200);
    let note_id = note.body["note"]["id"].as_i64().expect("id");
    assert!(note_id > i64::from(max["notes"]), "note {note_id}");
    for (path, body, max) in [
        (
            "/api/projects",
            json!({"name": "After the import", "type": "SITE_SELECTION", "project_state": {}}),
            facts.projects.iter().map(|p| p.id).max(),
        ),
        (
            "/api/groups",
            json!({"name": "After the import"}),
            facts.groups.iter().map(|g| g.id).max(),
        ),
    ] {
        let Some(max) = max else { continue };
        let created = app.post(path, Some(token), body).await.expect(201);
        let key = if path == "/api/projects" {
            "project"
        } else {
            "group"
        };
        let id = created.body[key]["id"].as_i64().expect("id");
        assert!(id > i64::from(max), "{path}: {id}");
    }
}

// ---------------------------------------------------------------------------------------------
// Refusals, dry runs and failures
// ---------------------------------------------------------------------------------------------

/// Emails differing only by case are a conflict, never a silent merge: without
/// `--merge-case-duplicates` the import is refused (exit 2) with the pair reported and a reason
/// naming the way out, and nothing is written.
#[rstest]
#[tokio::test]
async fn case_only_duplicate_emails_are_refused_without_the_merge_flag(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let (source, facts) = realistic_source(Release::R1).await;
    let target = empty_target(backend).await;

    for flags in [&[][..], &["--dry-run"][..]] {
        let run = import(&target, &source, flags).await;
        run.expect(2);
        let report = run.report();
        let pair = facts.case_duplicates;
        assert_eq!(report["imported"], json!(false), "{report}");
        let conflicts = report["conflicts"].as_array().expect("conflicts");
        assert_eq!(conflicts.len(), 1, "{report}");
        assert_eq!(conflicts[0]["table"], json!("users"), "{report}");
        assert_eq!(
            conflicts[0]["ids"],
            json!([pair.kept, pair.merged]),
            "{report}"
        );
        assert!(!run.stderr.trim().is_empty(), "a reason on stderr");
        assert!(
            run.stderr.contains(MERGE) || run.stdout.contains(MERGE),
            "the refusal says how to proceed\n--- stdout\n{}\n--- stderr\n{}",
            run.stdout,
            run.stderr
        );
        for id in [pair.kept, pair.merged] {
            assert!(run.stdout.contains(&id.to_string()), "{}", run.stdout);
        }
        assert_empty(&target_counts(&target).await, "a refused import");
    }
}

/// A dry run writes nothing and reports exactly what the import then does.
#[rstest]
#[tokio::test]
async fn a_dry_run_writes_nothing_and_reports_what_the_import_does(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let (source, facts) = realistic_source(Release::R1).await;
    let target = empty_target(backend).await;

    let dry = import(&target, &source, &["--dry-run", MERGE]).await;
    dry.expect(0);
    check_report(dry.report(), &facts, true);
    assert_empty(&target_counts(&target).await, "a dry run");

    let real = import(&target, &source, &[MERGE]).await;
    real.expect(0);
    for key in ["release", "tables", "conflicts"] {
        assert_eq!(dry.report()[key], real.report()[key], "{key}");
    }
    let sorted = |report: &Value| {
        let mut rows: Vec<String> = report["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(Value::to_string)
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(sorted(dry.report()), sorted(real.report()));
}

/// Importing into a target that already holds data is refused (exit 2) with a clear reason,
/// and changes nothing: here, running the same import twice.
#[rstest]
#[tokio::test]
async fn a_second_import_into_the_filled_target_is_refused(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let (source, _) = realistic_source(Release::R1).await;
    let target = empty_target(backend).await;
    import(&target, &source, &[MERGE]).await.expect(0);
    let before = target_counts(&target).await;

    let again = import(&target, &source, &[MERGE]).await;
    again.expect(2);
    let reason = again.stderr.to_lowercase();
    assert!(
        reason.contains("empty") || reason.contains("already"),
        "the reason says the target holds data: {}",
        again.stderr
    );
    assert_eq!(target_counts(&target).await, before);
}

/// Creates a user directly in `db` (as a server's start-up creates its service accounts).
async fn create_user(db: &TestDatabase, email: &str, roles: &[Role]) {
    db.store()
        .create_user(NewUser {
            email: Email::parse(email).expect("email"),
            password_hash: PasswordHash::from_phc(
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
            ),
            roles: roles.iter().copied().collect::<Roles>(),
        })
        .await
        .expect("user created");
}

/// The target may hold the configured service accounts and nothing else: the import removes
/// them and the server re-creates them at its next start. Any other user makes it refuse.
#[tokio::test]
async fn a_target_holding_only_the_service_accounts_is_imported_into() {
    let (source, facts) = realistic_source(Release::R1).await;
    let service_env = [
        ("ADMIN_USERNAME", ADMIN_EMAIL),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
    ];
    // Another user besides the service account: refused.
    let crowded = empty_target(TestBackend::Sqlite).await;
    create_user(&crowded, ADMIN_EMAIL, &[Role::Admin]).await;
    create_user(&crowded, "someone@example.com", &[]).await;
    let before = target_counts(&crowded).await;
    import_with_env(&crowded, &source, &[MERGE], &service_env)
        .await
        .expect(2);
    assert_eq!(target_counts(&crowded).await, before);

    // Only the service account: imported; the app re-creates the account at start.
    let target = empty_target(TestBackend::Sqlite).await;
    create_user(&target, ADMIN_EMAIL, &[Role::Admin]).await;
    import_with_env(&target, &source, &[MERGE], &service_env)
        .await
        .expect(0);
    let app = TestApp::spawn_on(target, |_| {}).await;
    assert_eq!(
        listed_users(&app).await,
        set(facts.users_after_merge().map(|u| u.id))
    );
}

/// The operator's way: the service is started once on its new database (which applies the
/// migrations and creates what a start creates: the configured service accounts and the
/// internal account of local workers), stopped, and the ReefGuide database imported into it.
#[rstest]
#[tokio::test]
async fn a_target_a_server_started_on_is_imported_into(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let (source, facts) = realistic_source(Release::R1).await;
    let target = empty_target(backend).await;
    serve_once(&target).await;
    let created = target_counts(&target).await;
    assert!(
        created["users"] >= 1,
        "the start created accounts: {created:?}"
    );

    import_with_env(
        &target,
        &source,
        &[MERGE],
        &[
            ("ADMIN_USERNAME", ADMIN_EMAIL),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
    )
    .await
    .expect(0);
    let app = TestApp::spawn_on(target, |_| {}).await;
    assert_eq!(
        listed_users(&app).await,
        set(facts.users_after_merge().map(|u| u.id))
    );
}

/// Runs `reefguide serve` on `target` (default settings, the ADMIN service account configured)
/// until it answers `/api/health`, then stops it.
async fn serve_once(target: &TestDatabase) {
    let server = crate::served::Server::start(&[
        ("DATABASE_URL", target.url()),
        ("ADMIN_USERNAME", ADMIN_EMAIL),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("REEFGUIDE_LOG_LEVEL", "warn"),
    ])
    .await;
    drop(server);
}

/// A failure in the middle of the import (here the target refuses one job row, after users,
/// polygons and notes went in) rolls everything back: exit 1, stderr names the table and the
/// row, the target holds nothing; once the cause is gone the same import succeeds.
#[rstest]
#[tokio::test]
async fn a_failure_mid_import_leaves_the_target_untouched(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let (source, facts) = realistic_source(Release::R1).await;
    let target = empty_target(backend).await;
    let broken = facts
        .jobs
        .iter()
        .find(|j| j.status == "IN_PROGRESS")
        .expect("a running job")
        .id;
    let db = sea_orm::Database::connect(target.url())
        .await
        .expect("target connection");
    let (install, remove) = match backend {
        TestBackend::Postgres => (
            format!(
                "CREATE FUNCTION refuse_one_job() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF NEW.id = {broken} THEN RAISE EXCEPTION 'injected failure'; END IF; \
                 RETURN NEW; END $$; \
                 CREATE TRIGGER refuse_one_job BEFORE INSERT ON jobs FOR EACH ROW \
                 EXECUTE FUNCTION refuse_one_job();"
            ),
            "DROP TRIGGER refuse_one_job ON jobs; DROP FUNCTION refuse_one_job();".to_owned(),
        ),
        TestBackend::Sqlite => (
            format!(
                "CREATE TRIGGER refuse_one_job BEFORE INSERT ON jobs WHEN NEW.id = {broken} \
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
            ),
            "DROP TRIGGER refuse_one_job;".to_owned(),
        ),
    };
    db.execute_unprepared(&install)
        .await
        .expect("trigger installed");

    let run = import(&target, &source, &[MERGE]).await;
    run.expect(1);
    let stderr = run.stderr.to_lowercase();
    assert!(stderr.contains("job"), "names the table: {}", run.stderr);
    assert!(
        stderr
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| word == broken.to_string()),
        "names the row {broken}: {}",
        run.stderr
    );
    assert_empty(&target_counts(&target).await, "a failed import");

    db.execute_unprepared(&remove)
        .await
        .expect("trigger removed");
    let _ = db.close().await;
    import(&target, &source, &[MERGE]).await.expect(0);
    assert_eq!(
        target_counts(&target).await["jobs"],
        i64::try_from(facts.jobs.len()).expect("few jobs")
    );
}
