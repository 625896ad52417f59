//! The storage contract: every promise of the storage ports, held against both backends.
//!
//! Each test runs once on a fresh SQLite file and once on a fresh Postgres database (see
//! `reefguide_adapters_postgres::test_support`). Postgres must be reachable: without it the
//! Postgres cases fail, they are not skipped.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use common::{database, execute, user_id};
use reefguide_adapters_postgres::test_support::TestBackend;
use reefguide_adapters_postgres::{Backend, SeaOrmStore, StoreOptions};
use reefguide_domain::user::errors::CreateUserError;
use reefguide_domain::{
    Email, LogQuery, NewUserLogEntry, PageRequest, PasswordHash, RefreshTokenHash,
    RefreshTokenRecord, RefreshTokenSecret, Role, Roles, User, UserAction, UserId,
};
use reefguide_ports::{
    HealthCheck, NewUser, RefreshTokenRepository, SystemClock, UserLogRepository, UserRepository,
};
use rstest::rstest;
use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// Fixtures and builders

fn email(raw: &str) -> Email {
    Email::parse(raw).expect("valid email")
}

fn roles(names: &[&str]) -> Roles {
    Roles::parse(names).expect("known roles")
}

fn phc(tag: &str) -> PasswordHash {
    PasswordHash::from_phc(format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${tag}"))
}

fn new_user(address: &str, role_names: &[&str]) -> NewUser {
    NewUser {
        email: email(address),
        password_hash: phc("initial"),
        roles: roles(role_names),
    }
}

async fn create(store: &SeaOrmStore, address: &str) -> User {
    store
        .create_user(new_user(address, &[]))
        .await
        .expect("user created")
}

/// A fixed instant (whole seconds, so both backends store it exactly) plus `seconds`.
fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("valid date")
        + Duration::seconds(seconds)
}

fn token(user: UserId, secret: &str, family: &str) -> (RefreshTokenSecret, RefreshTokenRecord) {
    let secret = RefreshTokenSecret::new(secret.to_owned());
    let record = RefreshTokenRecord {
        hash: secret.hash(),
        user_id: user,
        family: family.to_owned(),
        expires_at: at(3600),
        revoked_at: None,
        rotated_at: None,
    };
    (secret, record)
}

async fn insert_token(
    store: &SeaOrmStore,
    user: UserId,
    secret: &str,
    family: &str,
) -> RefreshTokenHash {
    let (_, record) = token(user, secret, family);
    store
        .insert_refresh_token(&record)
        .await
        .expect("token stored");
    record.hash
}

async fn log(store: &SeaOrmStore, user: UserId, action: UserAction, time: DateTime<Utc>) {
    store
        .append_user_log(&NewUserLogEntry {
            user_id: user,
            action,
            metadata: None,
            time,
        })
        .await
        .expect("log appended");
}

fn page(page: i64, limit: i64) -> PageRequest {
    PageRequest::clamped(Some(page), Some(limit), 50, 100)
}

// ---------------------------------------------------------------------------------------------
// Users

#[rstest]
#[tokio::test]
async fn create_then_find(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();

    let user = store
        .create_user(new_user("Alice@Example.com", &["WORKER", "ADMIN"]))
        .await
        .expect("user created");
    assert_eq!(user.email().map(Email::as_str), Some("alice@example.com"));
    assert_eq!(user.roles.as_slice(), &[Role::Admin, Role::Worker]);

    assert_eq!(
        store.find_user(user.id).await.expect("query"),
        Some(user.clone())
    );

    let by_email = store
        .find_credentials_by_email(&email("alice@example.com"))
        .await
        .expect("query")
        .expect("found by email");
    assert_eq!(by_email.user, user);
    assert_eq!(by_email.password_hash, phc("initial"));

    let by_id = store
        .find_credentials(user.id)
        .await
        .expect("query")
        .expect("found by id");
    assert_eq!(by_id.user, user);
    assert_eq!(by_id.password_hash, phc("initial"));
}

#[rstest]
#[tokio::test]
async fn unknown_users_are_none(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    create(store, "someone@example.com").await;

    assert_eq!(store.find_user(user_id(999)).await.expect("query"), None);
    assert!(
        store
            .find_credentials(user_id(999))
            .await
            .expect("query")
            .is_none()
    );
    assert!(
        store
            .find_credentials_by_email(&email("nobody@example.com"))
            .await
            .expect("query")
            .is_none()
    );
}

#[rstest]
#[tokio::test]
async fn duplicate_email_is_refused(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
    #[values("bob@example.com", "  BOB@Example.COM ")] again: &str,
) {
    let db = database(backend).await;
    let store = db.store();
    create(store, "bob@example.com").await;

    let result = store.create_user(new_user(again, &["ADMIN"])).await;
    assert!(
        matches!(result, Err(CreateUserError::UserExists)),
        "expected UserExists, got {result:?}"
    );
    assert_eq!(store.list_users().await.expect("query").len(), 1);
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creation_of_one_email_succeeds_once(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let store = db.store().clone();
            tokio::spawn(async move { store.create_user(new_user("race@example.com", &[])).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.expect("task ran") {
            Ok(_) => created += 1,
            Err(CreateUserError::UserExists) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(created, 1);
}

#[rstest]
#[tokio::test]
async fn users_are_listed_by_id(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let carol = create(store, "carol@example.com").await;
    let alice = create(store, "alice@example.com").await;
    let bob = create(store, "bob@example.com").await;

    let listed = store.list_users().await.expect("query");
    assert_eq!(listed, vec![carol, alice, bob]);
    assert!(listed.windows(2).all(|pair| pair[0].id < pair[1].id));
}

#[rstest]
#[tokio::test]
async fn set_roles_replaces_them(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let user = create(store, "dana@example.com").await;
    assert_eq!(user.roles, Roles::none());

    let updated = store
        .set_roles(user.id, &roles(&["ANALYST", "ADMIN"]))
        .await
        .expect("query")
        .expect("user exists");
    assert_eq!(updated.roles.as_slice(), &[Role::Admin, Role::Analyst]);
    assert_eq!(
        store.find_user(user.id).await.expect("query"),
        Some(updated)
    );

    let cleared = store
        .set_roles(user.id, &Roles::none())
        .await
        .expect("query")
        .expect("user exists");
    assert_eq!(cleared.roles, Roles::none());
}

#[rstest]
#[tokio::test]
async fn cached_users_follow_role_changes_and_deletion(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let user = create(store, "erin@example.com").await;
    // Read once: now cached.
    assert_eq!(
        store.find_user(user.id).await.expect("query"),
        Some(user.clone())
    );
    store
        .set_roles(user.id, &roles(&["ADMIN"]))
        .await
        .expect("query")
        .expect("user exists");
    let reread = store
        .find_user(user.id)
        .await
        .expect("query")
        .expect("user");
    assert!(reread.roles.is_admin(), "a role change is seen at once");
    assert!(store.delete_user(user.id).await.expect("query"));
    assert_eq!(
        store.find_user(user.id).await.expect("query"),
        None,
        "a deleted user is gone at once"
    );
}

/// Another instance's cache (a long time-to-live, so only a notification can explain it) forgets
/// a user whose roles changed, or who was deleted, through this instance.
#[tokio::test]
async fn other_instances_forget_changed_users_on_postgres() {
    let db = database(TestBackend::Postgres).await;
    let store = db.store();
    let other = SeaOrmStore::connect(
        db.url(),
        StoreOptions {
            user_cache_ttl: std::time::Duration::from_secs(600),
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
    tokio::time::timeout(std::time::Duration::from_secs(10), on_subscribed.recv())
        .await
        .expect("subscribed")
        .expect("listener alive");
    let user = create(store, "fay@example.com").await;
    let cached = other
        .find_user(user.id)
        .await
        .expect("query")
        .expect("user");
    assert!(!cached.roles.is_admin());

    store
        .set_roles(user.id, &roles(&["ADMIN"]))
        .await
        .expect("query")
        .expect("user exists");
    eventually(|| async {
        other
            .find_user(user.id)
            .await
            .expect("query")
            .is_some_and(|user| user.roles.is_admin())
    })
    .await;

    assert!(store.delete_user(user.id).await.expect("query"));
    eventually(|| async { other.find_user(user.id).await.expect("query").is_none() }).await;
    listener.abort();
}

/// Waits up to 2 s for `check` to hold.
async fn eventually<F: Future<Output = bool>>(check: impl Fn() -> F) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not seen by the other instance within 2 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[rstest]
#[tokio::test]
async fn set_roles_of_unknown_user_is_none(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let result = db
        .store()
        .set_roles(user_id(4242), &roles(&["ADMIN"]))
        .await
        .expect("query");
    assert_eq!(result, None);
}

#[rstest]
#[tokio::test]
async fn set_password_hash_replaces_it(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let user = create(store, "erin@example.com").await;
    let other = create(store, "frank@example.com").await;

    assert!(
        store
            .set_password_hash(user.id, &phc("changed"))
            .await
            .expect("query")
    );
    let credentials = store
        .find_credentials(user.id)
        .await
        .expect("query")
        .expect("user exists");
    assert_eq!(credentials.password_hash, phc("changed"));
    let untouched = store
        .find_credentials(other.id)
        .await
        .expect("query")
        .expect("user exists");
    assert_eq!(untouched.password_hash, phc("initial"));

    assert!(
        !store
            .set_password_hash(user_id(4242), &phc("x"))
            .await
            .expect("query")
    );
}

#[rstest]
#[tokio::test]
async fn delete_cascades_tokens_and_keeps_logs(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let doomed = create(store, "gone@example.com").await;
    let survivor = create(store, "stays@example.com").await;
    let doomed_token = insert_token(store, doomed.id, "doomed-secret", "fam-1").await;
    let survivor_token = insert_token(store, survivor.id, "survivor-secret", "fam-2").await;
    log(store, doomed.id, UserAction::Created, at(0)).await;
    log(store, doomed.id, UserAction::Deleted, at(1)).await;

    assert!(store.delete_user(doomed.id).await.expect("query"));

    assert_eq!(store.find_user(doomed.id).await.expect("query"), None);
    assert!(
        store
            .find_refresh_token(&doomed_token)
            .await
            .expect("query")
            .is_none()
    );
    assert!(
        store
            .find_refresh_token(&survivor_token)
            .await
            .expect("query")
            .is_some()
    );
    assert_eq!(store.list_users().await.expect("query"), vec![survivor]);

    let logs = store
        .list_user_logs(LogQuery {
            user_id: Some(doomed.id),
            page: page(1, 10),
        })
        .await
        .expect("query");
    assert_eq!(logs.total, 2);
    assert!(logs.entries.iter().all(|entry| entry.user_id == doomed.id));
    assert!(logs.entries.iter().all(|entry| entry.user.is_none()));

    assert!(!store.delete_user(doomed.id).await.expect("query"));
    assert!(!store.delete_user(user_id(4242)).await.expect("query"));
}

#[rstest]
#[tokio::test]
async fn corrupt_stored_user_is_an_error(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    execute(
        store,
        "INSERT INTO users (email, password_hash, roles, created_at) \
         VALUES ('root@example.com', 'h', '[\"ROOT\"]', '2026-01-01 00:00:00+00:00')",
    )
    .await;

    let err = store.list_users().await.expect_err("unknown role refused");
    let message = format!("{err:#}");
    assert!(message.contains("ROOT"), "{message}");
    assert!(
        store
            .find_credentials_by_email(&email("root@example.com"))
            .await
            .is_err()
    );
}

// ---------------------------------------------------------------------------------------------
// Refresh tokens

#[rstest]
#[tokio::test]
async fn refresh_token_round_trips(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let user = create(store, "tok@example.com").await;
    let (_, record) = token(user.id, "round-trip", "family-a");

    store.insert_refresh_token(&record).await.expect("stored");
    let found = store
        .find_refresh_token(&record.hash)
        .await
        .expect("query")
        .expect("found");
    assert_eq!(found, record);

    let unknown = RefreshTokenSecret::new("never-issued".into()).hash();
    assert!(
        store
            .find_refresh_token(&unknown)
            .await
            .expect("query")
            .is_none()
    );
}

#[rstest]
#[tokio::test]
async fn refresh_token_digests_are_unique(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let user = create(store, "dup@example.com").await;
    let (_, record) = token(user.id, "same-secret", "family-a");
    store.insert_refresh_token(&record).await.expect("stored");
    assert!(store.insert_refresh_token(&record).await.is_err());
}

#[rstest]
#[tokio::test]
async fn only_the_digest_is_stored(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let user = create(store, "hash@example.com").await;
    let (secret, record) = token(user.id, "clear-token-text-that-must-not-be-stored", "fam");
    store.insert_refresh_token(&record).await.expect("stored");

    let rows = store
        .connection()
        .query_all_raw(Statement::from_string(
            store.connection().get_database_backend(),
            "SELECT token_hash, family FROM refresh_tokens",
        ))
        .await
        .expect("raw query");
    assert_eq!(rows.len(), 1);
    let stored_hash: String = rows[0].try_get("", "token_hash").expect("token_hash");
    let family: String = rows[0].try_get("", "family").expect("family");
    assert_eq!(stored_hash, secret.hash().as_str());
    assert_eq!(stored_hash.len(), 64);
    assert!(
        stored_hash
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    for value in [&stored_hash, &family] {
        assert!(!value.contains(secret.expose()));
    }
}

#[rstest]
#[tokio::test]
async fn revocation_happens_once(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let user = create(store, "rev@example.com").await;
    let hash = insert_token(store, user.id, "revoke-me", "fam").await;

    assert!(
        store
            .revoke_refresh_token(&hash, at(10))
            .await
            .expect("query")
    );
    assert!(
        !store
            .revoke_refresh_token(&hash, at(20))
            .await
            .expect("query")
    );
    let record = store
        .find_refresh_token(&hash)
        .await
        .expect("query")
        .expect("found");
    assert_eq!(record.revoked_at, Some(at(10)));
    assert_eq!(record.rotated_at, None);

    // A revoked token cannot be rotated either.
    assert!(
        !store
            .mark_refresh_token_rotated(&hash, at(30))
            .await
            .expect("query")
    );

    let unknown = RefreshTokenSecret::new("unknown".into()).hash();
    assert!(
        !store
            .revoke_refresh_token(&unknown, at(10))
            .await
            .expect("query")
    );
}

#[rstest]
#[tokio::test]
async fn rotation_happens_once(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let user = create(store, "rot@example.com").await;
    let hash = insert_token(store, user.id, "rotate-me", "fam").await;

    assert!(
        store
            .mark_refresh_token_rotated(&hash, at(10))
            .await
            .expect("query")
    );
    assert!(
        !store
            .mark_refresh_token_rotated(&hash, at(20))
            .await
            .expect("query")
    );
    // A rotated token cannot be revoked individually any more.
    assert!(
        !store
            .revoke_refresh_token(&hash, at(30))
            .await
            .expect("query")
    );

    let record = store
        .find_refresh_token(&hash)
        .await
        .expect("query")
        .expect("found");
    assert_eq!(record.rotated_at, Some(at(10)));
    assert_eq!(record.revoked_at, None);
    assert!(!record.is_usable_at(at(11)));
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotation_succeeds_exactly_once(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let user = create(store, "race@example.com").await;

    for round in 0..3 {
        let hash = insert_token(store, user.id, &format!("contended-{round}"), "fam").await;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                let hash = hash.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.mark_refresh_token_rotated(&hash, at(i)).await
                })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            if task.await.expect("task ran").expect("query") {
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "round {round}: exactly one rotation must win");
    }
}

#[rstest]
#[tokio::test]
async fn family_revocation_counts_unrevoked_tokens(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let user = create(store, "fam@example.com").await;
    let fresh = insert_token(store, user.id, "a1", "family-a").await;
    let rotated = insert_token(store, user.id, "a2", "family-a").await;
    let revoked = insert_token(store, user.id, "a3", "family-a").await;
    let other = insert_token(store, user.id, "b1", "family-b").await;
    assert!(
        store
            .mark_refresh_token_rotated(&rotated, at(1))
            .await
            .expect("query")
    );
    assert!(
        store
            .revoke_refresh_token(&revoked, at(1))
            .await
            .expect("query")
    );

    assert_eq!(
        store
            .revoke_refresh_token_family("family-a", at(5))
            .await
            .expect("query"),
        2
    );
    assert_eq!(
        store
            .revoke_refresh_token_family("family-a", at(6))
            .await
            .expect("query"),
        0
    );
    assert_eq!(
        store
            .revoke_refresh_token_family("no-such-family", at(6))
            .await
            .expect("query"),
        0
    );

    for (hash, revoked_at) in [(&fresh, at(5)), (&rotated, at(5)), (&revoked, at(1))] {
        let record = store
            .find_refresh_token(hash)
            .await
            .expect("query")
            .expect("found");
        assert_eq!(record.revoked_at, Some(revoked_at));
    }
    let untouched = store
        .find_refresh_token(&other)
        .await
        .expect("query")
        .expect("found");
    assert_eq!(untouched.revoked_at, None);
}

#[rstest]
#[tokio::test]
async fn user_revocation_counts_unrevoked_tokens(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let user = create(store, "many@example.com").await;
    let other = create(store, "other@example.com").await;
    insert_token(store, user.id, "u1", "f1").await;
    insert_token(store, user.id, "u2", "f2").await;
    let already = insert_token(store, user.id, "u3", "f3").await;
    let others = insert_token(store, other.id, "o1", "f4").await;
    assert!(
        store
            .revoke_refresh_token(&already, at(1))
            .await
            .expect("query")
    );

    assert_eq!(
        store
            .revoke_user_refresh_tokens(user.id, at(5))
            .await
            .expect("query"),
        2
    );
    assert_eq!(
        store
            .revoke_user_refresh_tokens(user.id, at(6))
            .await
            .expect("query"),
        0
    );
    let record = store
        .find_refresh_token(&others)
        .await
        .expect("query")
        .expect("found");
    assert!(record.is_usable_at(at(7)));
}

// ---------------------------------------------------------------------------------------------
// User log

#[rstest]
#[tokio::test]
async fn logs_are_paged_newest_first(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let user = create(store, "log@example.com").await;
    // Appended out of time order; two entries share a time (ties go to the newer id).
    log(store, user.id, UserAction::Login, at(20)).await;
    log(store, user.id, UserAction::Created, at(0)).await;
    log(store, user.id, UserAction::Logout, at(30)).await;
    log(store, user.id, UserAction::Updated, at(20)).await;
    log(store, user.id, UserAction::ChangePassword, at(40)).await;

    let first = store
        .list_user_logs(LogQuery {
            user_id: None,
            page: page(1, 2),
        })
        .await
        .expect("query");
    assert_eq!(first.total, 5);
    let actions = |entries: &[reefguide_domain::UserLogEntry]| {
        entries.iter().map(|entry| entry.action).collect::<Vec<_>>()
    };
    assert_eq!(
        actions(&first.entries),
        [UserAction::ChangePassword, UserAction::Logout]
    );
    assert_eq!(first.entries[0].time, at(40));
    assert_eq!(first.entries[0].user.as_ref(), Some(&user));

    let second = store
        .list_user_logs(LogQuery {
            user_id: None,
            page: page(2, 2),
        })
        .await
        .expect("query");
    assert_eq!(second.total, 5);
    assert_eq!(
        actions(&second.entries),
        [UserAction::Updated, UserAction::Login]
    );
    assert!(second.entries[0].id > second.entries[1].id);

    let third = store
        .list_user_logs(LogQuery {
            user_id: None,
            page: page(3, 2),
        })
        .await
        .expect("query");
    assert_eq!(actions(&third.entries), [UserAction::Created]);

    let beyond = store
        .list_user_logs(LogQuery {
            user_id: None,
            page: page(9, 2),
        })
        .await
        .expect("query");
    assert!(beyond.entries.is_empty());
    assert_eq!(beyond.total, 5);
}

#[rstest]
#[tokio::test]
async fn logs_filter_by_user(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let alice = create(store, "alice@example.com").await;
    let bob = create(store, "bob@example.com").await;
    log(store, alice.id, UserAction::Login, at(1)).await;
    log(store, bob.id, UserAction::Login, at(2)).await;
    log(store, alice.id, UserAction::Logout, at(3)).await;
    log(store, bob.id, UserAction::Logout, at(4)).await;
    log(store, bob.id, UserAction::Login, at(5)).await;

    let alices = store
        .list_user_logs(LogQuery {
            user_id: Some(alice.id),
            page: page(1, 10),
        })
        .await
        .expect("query");
    assert_eq!(alices.total, 2);
    assert!(alices.entries.iter().all(|entry| entry.user_id == alice.id));
    assert!(
        alices
            .entries
            .iter()
            .all(|entry| entry.user.as_ref() == Some(&alice))
    );

    let all = store
        .list_user_logs(LogQuery {
            user_id: None,
            page: page(1, 10),
        })
        .await
        .expect("query");
    assert_eq!(all.total, 5);
    for entry in &all.entries {
        let expected = if entry.user_id == alice.id {
            &alice
        } else {
            &bob
        };
        assert_eq!(entry.user.as_ref(), Some(expected));
    }

    let nobody = store
        .list_user_logs(LogQuery {
            user_id: Some(user_id(4242)),
            page: page(1, 10),
        })
        .await
        .expect("query");
    assert_eq!(nobody.total, 0);
    assert!(nobody.entries.is_empty());
}

#[rstest]
#[tokio::test]
async fn log_metadata_round_trips(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    let user = create(store, "meta@example.com").await;
    let metadata = json!({
        "by": 1,
        "roles": ["ADMIN", "WORKER"],
        "nested": {"ok": true, "ratio": 0.5, "note": "héllo \"quoted\""},
        "none": null
    });
    store
        .append_user_log(&NewUserLogEntry {
            user_id: user.id,
            action: UserAction::Updated,
            metadata: Some(metadata.clone()),
            time: at(1),
        })
        .await
        .expect("appended");
    log(store, user.id, UserAction::Login, at(2)).await;

    let listed = store
        .list_user_logs(LogQuery {
            user_id: None,
            page: page(1, 10),
        })
        .await
        .expect("query");
    assert_eq!(listed.entries[0].metadata, None);
    assert_eq!(listed.entries[1].metadata, Some(metadata));
    assert_eq!(listed.entries[1].action, UserAction::Updated);
}

#[rstest]
#[tokio::test]
async fn corrupt_stored_log_action_is_an_error(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let store = db.store();
    execute(
        store,
        "INSERT INTO user_logs (user_id, time, action, metadata) \
         VALUES (1, '2026-01-01 00:00:00+00:00', 'EXPLODED', NULL)",
    )
    .await;
    let err = store
        .list_user_logs(LogQuery {
            user_id: None,
            page: page(1, 10),
        })
        .await
        .expect_err("unknown action refused");
    let message = format!("{err:#}");
    assert!(message.contains("EXPLODED"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// Health, migrations, connection

#[rstest]
#[tokio::test]
async fn ping_succeeds(#[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend) {
    let db = database(backend).await;
    db.store().ping().await.expect("ping");
}

#[rstest]
#[tokio::test]
async fn migrations_are_idempotent(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let user = create(db.store(), "keep@example.com").await;

    db.store().migrate().await.expect("second migration run");
    let reconnected =
        SeaOrmStore::connect(db.url(), StoreOptions::default(), Arc::new(SystemClock))
            .await
            .expect("reconnect");
    reconnected.migrate().await.expect("third migration run");
    assert_eq!(
        reconnected.find_user(user.id).await.expect("query"),
        Some(user)
    );
}

#[rstest]
#[tokio::test]
async fn backend_is_reported(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = database(backend).await;
    let expected = match backend {
        TestBackend::Sqlite => Backend::Sqlite,
        TestBackend::Postgres => Backend::Postgres,
    };
    assert_eq!(db.store().backend(), expected);
    assert!(db.url().starts_with(match backend {
        TestBackend::Sqlite => "sqlite:",
        TestBackend::Postgres => "postgres",
    }));
}

#[tokio::test]
async fn in_memory_sqlite_works() {
    let store = SeaOrmStore::connect(
        "sqlite::memory:",
        StoreOptions::default(),
        Arc::new(SystemClock),
    )
    .await
    .expect("connect");
    store.migrate().await.expect("migrate");
    let user = create(&store, "mem@example.com").await;
    assert_eq!(store.find_user(user.id).await.expect("query"), Some(user));
}

#[tokio::test]
async fn connection_errors_are_one_line_without_password() {
    let options = StoreOptions {
        max_connections: 1,
        connect_timeout: std::time::Duration::from_secs(2),
        ..StoreOptions::default()
    };
    // Port 1 on localhost: nothing listens there.
    let err = SeaOrmStore::connect(
        "postgres://app:sup3r-s3cret@127.0.0.1:1/reef",
        options,
        Arc::new(SystemClock),
    )
    .await
    .expect_err("nothing listens on port 1");
    let message = format!("{err:#}");
    assert!(
        message.starts_with("cannot connect to database postgres://app:***@127.0.0.1:1/reef: "),
        "{message}"
    );
    assert!(!message.contains("sup3r-s3cret"), "{message}");
    assert!(
        message.contains("no connection could be opened within 2s"),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");

    let err = SeaOrmStore::connect("mysql://u:pw@h/db", options, Arc::new(SystemClock))
        .await
        .expect_err("unsupported scheme");
    assert!(!format!("{err:#}").contains(":pw@"));
}
