//! The storage contract of external identities (labcas-contract §4): the account of a trusted
//! issuer's user, created on first use, held against both backends.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use common::{database, execute, user_id};
use reefguide_adapters_postgres::test_support::TestBackend;
use reefguide_adapters_postgres::{SeaOrmStore, StoreOptions};
use reefguide_domain::{
    Email, ExternalIdentity, Identity, IssuerName, PasswordHash, Roles, User, Username,
};
use reefguide_ports::{NewUser, SystemClock, UserRepository};
use rstest::rstest;
use sea_orm::ConnectionTrait as _;

// ---------------------------------------------------------------------------------------------
// Fixtures

fn identity(issuer: &str, username: &str) -> ExternalIdentity {
    ExternalIdentity {
        issuer: IssuerName::parse(issuer).expect("valid issuer"),
        username: Username::parse(username).expect("valid username"),
    }
}

fn thomas() -> ExternalIdentity {
    identity("LabCAS", "thomas")
}

/// A fixed instant (whole seconds, so both backends store it exactly).
fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("valid date")
}

async fn first_use(store: &SeaOrmStore, identity: &ExternalIdentity) -> User {
    store
        .find_or_create_external(identity, at())
        .await
        .expect("account found or created")
}

async fn create_local(store: &SeaOrmStore, address: &str) -> User {
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

/// Another store on the same database that caches nothing, so every read goes to the database.
async fn uncached(url: &str) -> SeaOrmStore {
    SeaOrmStore::connect(
        url,
        StoreOptions {
            user_cache_ttl: Duration::ZERO,
            ..StoreOptions::default()
        },
        Arc::new(SystemClock),
    )
    .await
    .expect("connected")
}

/// How many accounts `issuer` has, counted in the database.
async fn accounts_of(store: &SeaOrmStore, issuer: &str) -> i64 {
    let row = store
        .connection()
        .query_one_raw(sea_orm::Statement::from_string(
            store.connection().get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM users WHERE issuer = '{issuer}'"),
        ))
        .await
        .expect("query")
        .expect("a row");
    row.try_get("", "n").expect("a count")
}

// ---------------------------------------------------------------------------------------------
// Creation on first use

#[rstest]
#[tokio::test]
async fn first_use_creates_an_account_without_email_or_roles(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();

    let user = first_use(store, &thomas()).await;
    assert_eq!(user.identity, Identity::External(thomas()));
    assert_eq!(user.email(), None);
    assert_eq!(user.username(), "thomas");
    assert_eq!(user.roles, Roles::none());
    assert_eq!(
        uncached(db.url())
            .await
            .find_user(user.id)
            .await
            .expect("query"),
        Some(user)
    );
    assert_eq!(accounts_of(store, "LabCAS").await, 1);
}

#[rstest]
#[tokio::test]
async fn later_uses_find_the_same_account(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let first = first_use(store, &thomas()).await;

    assert_eq!(first_use(store, &thomas()).await, first, "from the cache");
    let other = uncached(db.url()).await;
    assert_eq!(
        first_use(&other, &thomas()).await,
        first,
        "from the database"
    );
    assert_eq!(accounts_of(store, "LabCAS").await, 1);
}

#[rstest]
#[tokio::test]
async fn the_same_username_at_another_issuer_is_another_account(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();

    let labcas = first_use(store, &thomas()).await;
    let other = first_use(store, &identity("Other", "thomas")).await;
    assert_ne!(labcas.id, other.id);
    assert_eq!(
        other.identity,
        Identity::External(identity("Other", "thomas"))
    );
    let another_name = first_use(store, &identity("LabCAS", "Thomas")).await;
    assert_ne!(another_name.id, labcas.id, "usernames are kept as given");
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_uses_create_one_account(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = db.store().clone();
            tokio::spawn(async move { store.find_or_create_external(&thomas(), at()).await })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.expect("task ran").expect("account").id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one account: {ids:?}");
    assert_eq!(accounts_of(db.store(), "LabCAS").await, 1);
}

// ---------------------------------------------------------------------------------------------
// No password

#[rstest]
#[tokio::test]
async fn an_external_account_has_no_credentials(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let user = first_use(store, &identity("LabCAS", "ana@example.com")).await;

    assert!(
        store
            .find_credentials(user.id)
            .await
            .expect("query")
            .is_none()
    );
    assert!(
        store
            .find_credentials_by_email(&Email::parse("ana@example.com").expect("email"))
            .await
            .expect("query")
            .is_none()
    );

    let hash = PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$new".to_owned());
    let err = store
        .set_password_hash(user.id, &hash)
        .await
        .expect_err("an external account gets no password");
    assert!(format!("{err:#}").contains("external"), "{err:#}");
    assert!(
        store
            .find_credentials(user.id)
            .await
            .expect("query")
            .is_none()
    );
    assert!(
        !store
            .set_password_hash(user_id(4242), &hash)
            .await
            .expect("query"),
        "an unknown user is still `false`"
    );
}

#[rstest]
#[tokio::test]
async fn a_local_email_and_an_equal_external_username_are_different_accounts(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let local = create_local(store, "ana@example.com").await;
    let external = first_use(store, &identity("LabCAS", "ana@example.com")).await;

    assert_ne!(local.id, external.id);
    assert_eq!(local.username(), external.username());
    let credentials = store
        .find_credentials_by_email(&Email::parse("ana@example.com").expect("email"))
        .await
        .expect("query")
        .expect("the local account");
    assert_eq!(credentials.user, local);
    assert!(
        store
            .find_credentials(local.id)
            .await
            .expect("query")
            .is_some()
    );
}

// ---------------------------------------------------------------------------------------------
// Listing, roles, deletion

#[rstest]
#[tokio::test]
async fn external_accounts_are_listed_and_found_with_their_identity(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let local = create_local(store, "ana@example.com").await;
    let external = first_use(store, &thomas()).await;

    assert_eq!(
        store.list_users().await.expect("query"),
        vec![local.clone(), external.clone()]
    );
    assert_eq!(
        store
            .find_users(&[external.id, local.id, user_id(4242)])
            .await
            .expect("query"),
        vec![local, external.clone()]
    );
    assert_eq!(
        store.find_user(external.id).await.expect("query"),
        Some(external)
    );
}

#[rstest]
#[tokio::test]
async fn roles_of_an_external_account_change_and_are_seen_at_once(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let user = first_use(store, &thomas()).await;

    let updated = store
        .set_roles(user.id, &Roles::parse(["ANALYST"]).expect("roles"))
        .await
        .expect("query")
        .expect("user exists");
    assert_eq!(updated.identity, user.identity);
    assert_eq!(updated.roles, Roles::parse(["ANALYST"]).expect("roles"));
    assert_eq!(
        first_use(store, &thomas()).await,
        updated,
        "the next use sees the new roles"
    );
}

#[rstest]
#[tokio::test]
async fn a_deleted_external_account_is_created_anew_on_next_use(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let user = first_use(store, &thomas()).await;
    store
        .set_roles(user.id, &Roles::parse(["ADMIN"]).expect("roles"))
        .await
        .expect("query")
        .expect("user exists");

    assert!(store.delete_user(user.id).await.expect("query"));
    assert_eq!(store.find_user(user.id).await.expect("query"), None);
    let again = first_use(store, &thomas()).await;
    assert!(again.id > user.id, "ids are never reused");
    assert_eq!(
        again.roles,
        Roles::none(),
        "roles went with the old account"
    );
    assert!(!store.delete_user(user.id).await.expect("query"));
}

/// Another instance's cache (a long time-to-live, so only a notification can explain it) does
/// not hand out an external account whose roles changed, or that was deleted, through this one.
#[tokio::test]
async fn other_instances_forget_changed_external_accounts_on_postgres() {
    let db = database(TestBackend::Postgres).await;
    let store = db.store();
    let other = SeaOrmStore::connect(
        db.url(),
        StoreOptions {
            user_cache_ttl: Duration::from_secs(600),
            ..StoreOptions::default()
        },
        Arc::new(SystemClock),
    )
    .await
    .expect("connected");
    let (subscribed, mut on_subscribed) = tokio::sync::mpsc::unbounded_channel();
    let listener = other
        .listen_for_changes(move || {
            let _ = subscribed.send(());
        })
        .expect("Postgres listens");
    tokio::time::timeout(Duration::from_secs(10), on_subscribed.recv())
        .await
        .expect("subscribed")
        .expect("listener alive");
    let user = first_use(&other, &thomas()).await;

    store
        .set_roles(user.id, &Roles::parse(["ADMIN"]).expect("roles"))
        .await
        .expect("query")
        .expect("user exists");
    eventually(|| async { first_use(&other, &thomas()).await.roles.is_admin() }).await;

    assert!(store.delete_user(user.id).await.expect("query"));
    eventually(|| async { first_use(&other, &thomas()).await.id != user.id }).await;
    listener.abort();
}

/// Waits up to 2 s for `check` to hold.
async fn eventually<F: Future<Output = bool>>(check: impl Fn() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not seen by the other instance within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The stored invariant

#[rstest]
#[case::email_and_issuer("'x@example.com', 'h', '[]', '2026-01-01 00:00:00+00:00', 'LabCAS', 'x'")]
#[case::issuer_without_username("NULL, NULL, '[]', '2026-01-01 00:00:00+00:00', 'LabCAS', NULL")]
#[case::external_with_password("NULL, 'h', '[]', '2026-01-01 00:00:00+00:00', 'LabCAS', 'x'")]
#[case::local_without_password(
    "'x@example.com', NULL, '[]', '2026-01-01 00:00:00+00:00', NULL, NULL"
)]
#[case::nobody("NULL, NULL, '[]', '2026-01-01 00:00:00+00:00', NULL, NULL")]
#[tokio::test]
async fn a_row_must_be_one_kind_of_account(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
    #[case] values: &str,
) {
    let db = database(backend).await;
    let store = db.store();
    let refused = store
        .connection()
        .execute_unprepared(&format!(
            "INSERT INTO users (email, password_hash, roles, created_at, issuer, username) \
             VALUES ({values})"
        ))
        .await;
    assert!(refused.is_err(), "stored: {values}");
    execute(
        store,
        "INSERT INTO users (email, password_hash, roles, created_at, issuer, username) \
         VALUES (NULL, NULL, '[]', '2026-01-01 00:00:00+00:00', 'LabCAS', 'x')",
    )
    .await;
    assert_eq!(accounts_of(store, "LabCAS").await, 1);
}
