//! Migration `m0005_external_identities` on a database written under m0001–m0004: every row
//! stays, foreign keys still hold and still cascade (SQLite rebuilds `users` with foreign keys
//! off; a mistake there would delete every token, polygon and note), ids are not reused.

mod common;

use common::{database, execute, user_id};
use reefguide_adapters_postgres::SeaOrmStore;
use reefguide_adapters_postgres::test_support::{TestBackend, TestDatabase};
use reefguide_domain::{
    Email, ExternalIdentity, Identity, IssuerName, PasswordHash, Roles, Username,
};
use reefguide_ports::{NewUser, UserRepository};
use rstest::rstest;
use sea_orm::{ConnectionTrait as _, Statement};

/// The migrations before `m0005_external_identities`.
const BEFORE_EXTERNAL_IDENTITIES: u32 = 4;

const T: &str = "'2026-01-01 00:00:00+00:00'";

/// Users 1 (ana, ADMIN) and 2 (ben), user 3 created then deleted; ana has a refresh token, a
/// polygon with her note and ben's on it, a job with its request, assignment and result, and an
/// audit-log entry. Raw SQL: the store speaks the newest schema only.
async fn plant_rows(store: &SeaOrmStore) {
    for (address, roles) in [
        ("ana@example.com", r#"["ADMIN"]"#),
        ("ben@example.com", "[]"),
        ("gone@example.com", "[]"),
    ] {
        execute(
            store,
            &format!(
                "INSERT INTO users (email, password_hash, roles, created_at) \
                 VALUES ('{address}', 'hash-of-{address}', '{roles}', {T})"
            ),
        )
        .await;
    }
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) AS n FROM users WHERE id IN (1, 2, 3)"
        )
        .await,
        3,
        "a fresh database numbers users from 1"
    );
    for sql in [
        "DELETE FROM users WHERE id = 3".to_owned(),
        format!(
            "INSERT INTO refresh_tokens (user_id, token_hash, family, expires_at, created_at) \
             VALUES (1, 'digest-1', 'family-1', {T}, {T})"
        ),
        format!(
            "INSERT INTO polygons \
             (user_id, polygon, min_lon, min_lat, max_lon, max_lat, created_at, updated_at) \
             VALUES (1, '{{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,1],[0,0]]]}}', \
             0, 0, 1, 1, {T}, {T})"
        ),
        format!(
            "INSERT INTO notes (user_id, polygon_id, content, created_at) \
             VALUES (1, 1, 'mine', {T}), (2, 1, 'ben''s', {T})"
        ),
        format!(
            "INSERT INTO jobs (created_at, updated_at, type, status, user_id, input_payload, \
             hash, attempts, max_attempts, lease_seconds, version) \
             VALUES ({T}, {T}, 'TEST', 'SUCCEEDED', 1, '{{\"n\":1}}', 'hash-1', 1, 3, 60, 2)"
        ),
        format!(
            "INSERT INTO job_requests \
             (created_at, user_id, type, input_payload, cache_hit, job_id) \
             VALUES ({T}, 1, 'TEST', '{{\"n\":1}}', FALSE, 1)"
        ),
        format!(
            "INSERT INTO job_assignments (created_at, updated_at, job_id, worker_id, expires_at, \
             storage_scheme, storage_uri) VALUES ({T}, {T}, 1, 2, {T}, 'local', 'jobs/1')"
        ),
        format!(
            "INSERT INTO job_results (created_at, job_id, assignment_id, storage_scheme, \
             storage_uri) VALUES ({T}, 1, 1, 'local', 'jobs/1')"
        ),
        format!(
            "INSERT INTO user_logs (user_id, time, action, metadata) VALUES (1, {T}, 'LOGIN', NULL)"
        ),
    ] {
        execute(store, &sql).await;
    }
}

/// Rows per table, in a fixed order.
async fn row_counts(store: &SeaOrmStore) -> Vec<(&'static str, i64)> {
    let mut counts = Vec::new();
    for table in [
        "users",
        "refresh_tokens",
        "polygons",
        "notes",
        "jobs",
        "job_requests",
        "job_assignments",
        "job_results",
        "user_logs",
    ] {
        let rows = count(store, &format!("SELECT COUNT(*) AS n FROM {table}")).await;
        counts.push((table, rows));
    }
    counts
}

/// The single number a `SELECT … AS n` answers.
async fn count(store: &SeaOrmStore, sql: &str) -> i64 {
    let backend = store.connection().get_database_backend();
    let row = store
        .connection()
        .query_one_raw(Statement::from_string(backend, sql.to_owned()))
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
        .expect("a row");
    let n: Option<i64> = row.try_get("", "n").expect("a number");
    n.unwrap_or(0)
}

/// On SQLite, every pooled connection (including the one the rebuild used) still enforces
/// foreign keys, and the schema is consistent.
async fn assert_sqlite_foreign_keys_on(store: &SeaOrmStore) {
    let pool = store.connection().get_sqlite_connection_pool();
    let mut connections = Vec::new();
    // The test store's pool holds at most five: take them all at once.
    for _ in 0..5 {
        connections.push(pool.acquire().await.expect("a connection"));
    }
    for connection in &mut connections {
        let enabled: i64 = sea_orm::sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut **connection)
            .await
            .expect("pragma");
        assert_eq!(enabled, 1, "a pooled connection lost its foreign keys");
    }
    let connection = connections.first_mut().expect("a connection");
    let dangling: Vec<(String, Option<i64>, String, i64)> =
        sea_orm::sqlx::query_as("PRAGMA foreign_key_check")
            .fetch_all(&mut **connection)
            .await
            .expect("pragma");
    assert!(dangling.is_empty(), "dangling references: {dangling:?}");
    let integrity: String = sea_orm::sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut **connection)
        .await
        .expect("pragma");
    assert_eq!(integrity, "ok");
}

#[rstest]
#[tokio::test]
async fn rows_written_before_the_migration_stay_and_still_cascade(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = TestDatabase::create_with_migrations(backend, BEFORE_EXTERNAL_IDENTITIES)
        .await
        .expect("a database at m0004");
    let store = db.store();
    plant_rows(store).await;
    let before = row_counts(store).await;

    store.migrate().await.expect("m0005 applied");

    assert_eq!(row_counts(store).await, before, "every row stays");
    if backend == TestBackend::Sqlite {
        assert_sqlite_foreign_keys_on(store).await;
    }
    let ana = store
        .find_credentials_by_email(&Email::parse("ana@example.com").expect("email"))
        .await
        .expect("query")
        .expect("ana stays");
    assert_eq!(ana.user.id, user_id(1));
    assert!(ana.user.roles.is_admin());
    assert_eq!(
        ana.password_hash,
        PasswordHash::from_phc("hash-of-ana@example.com".to_owned())
    );

    let newcomer = store
        .create_user(NewUser {
            email: Email::parse("new@example.com").expect("email"),
            password_hash: PasswordHash::from_phc("h".to_owned()),
            roles: Roles::none(),
        })
        .await
        .expect("created");
    assert_eq!(
        newcomer.id,
        user_id(4),
        "the deleted user's id 3 is not reused"
    );
    let external = ExternalIdentity {
        issuer: IssuerName::parse("LabCAS").expect("issuer"),
        username: Username::parse("thomas").expect("username"),
    };
    let thomas = store
        .find_or_create_external(&external, chrono::Utc::now())
        .await
        .expect("created");
    assert_eq!(thomas.identity, Identity::External(external));

    assert!(store.delete_user(user_id(1)).await.expect("deleted"));
    let after_delete = row_counts(store).await;
    let expected = [
        ("users", 3),
        ("refresh_tokens", 0),
        ("polygons", 0),
        ("notes", 0),
        ("jobs", 1),
        ("job_requests", 1),
        ("job_assignments", 1),
        ("job_results", 1),
        ("user_logs", 1),
    ];
    assert_eq!(after_delete, expected, "the cascade from users still works");
}

/// A new database gets every migration in one go; on SQLite its pooled connections keep their
/// foreign keys through the rebuild there too.
#[tokio::test]
async fn a_new_sqlite_database_keeps_its_foreign_keys() {
    let db = database(TestBackend::Sqlite).await;
    assert_sqlite_foreign_keys_on(db.store()).await;
}
