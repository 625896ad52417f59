//! Undoing the migration: refused while external accounts exist, then the old shape comes back
//! with every row, and the migration applies again.

use reefguide_domain::{
    Email, ExternalIdentity, IssuerName, PasswordHash, Roles, UserCredentials, Username,
};
use reefguide_ports::{NewUser, UserRepository as _};
use rstest::rstest;
use sea_orm_migration::MigratorTrait as _;

use crate::SeaOrmStore;
use crate::migrations::Migrator;
use crate::test_support::{TestBackend, TestDatabase, count_rows, execute_sql as execute};

async fn refresh_tokens(store: &SeaOrmStore) -> i64 {
    count_rows(store, "SELECT COUNT(*) AS n FROM refresh_tokens").await
}

async fn credentials(store: &SeaOrmStore) -> UserCredentials {
    store
        .find_credentials_by_email(&Email::parse("ana@example.com").expect("email"))
        .await
        .expect("query")
        .expect("ana")
}

#[rstest]
#[tokio::test]
async fn down_waits_for_external_accounts_to_go_then_restores_the_old_shape(
    #[values(TestBackend::Sqlite, TestBackend::Postgres)] backend: TestBackend,
) {
    let db = TestDatabase::create(backend).await.expect("a database");
    let store = db.store();
    let ana = store
        .create_user(NewUser {
            email: Email::parse("ana@example.com").expect("email"),
            password_hash: PasswordHash::from_phc("hash".to_owned()),
            roles: Roles::none(),
        })
        .await
        .expect("created");
    let identity = ExternalIdentity {
        issuer: IssuerName::parse("LabCAS").expect("issuer"),
        username: Username::parse("thomas").expect("username"),
    };
    let thomas = store
        .find_or_create_external(&identity, chrono::Utc::now())
        .await
        .expect("created");
    execute(
        store,
        &format!(
            "INSERT INTO refresh_tokens (user_id, token_hash, family, expires_at, created_at) \
             VALUES ({}, 'digest', 'family', '2026-01-01 00:00:00+00:00', \
             '2026-01-01 00:00:00+00:00')",
            ana.id
        ),
    )
    .await
    .expect("token planted");

    crate::migrations::undo_migrations_after(store, &super::Migration).await;
    let refused = Migrator::down(store.connection(), Some(1))
        .await
        .expect_err("external accounts exist");
    assert!(
        refused.to_string().contains("1 external account"),
        "{refused}"
    );
    assert_eq!(credentials(store).await.user, ana, "nothing changed");

    assert!(store.delete_user(thomas.id).await.expect("deleted"));
    Migrator::down(store.connection(), Some(1))
        .await
        .expect("undone");
    assert!(
        execute(
            store,
            "INSERT INTO users (email, password_hash, roles, created_at) \
             VALUES (NULL, NULL, '[]', '2026-01-01 00:00:00+00:00')",
        )
        .await
        .is_err(),
        "emails are NOT NULL again"
    );
    assert!(
        execute(store, "SELECT issuer FROM users").await.is_err(),
        "the column is gone"
    );
    assert_eq!(refresh_tokens(store).await, 1, "the token stayed");

    Migrator::up(store.connection(), None)
        .await
        .expect("applied again");
    assert_eq!(credentials(store).await.user, ana);
    assert_eq!(refresh_tokens(store).await, 1, "the token stayed");
    assert!(store.delete_user(ana.id).await.expect("deleted"));
    assert_eq!(refresh_tokens(store).await, 0, "and still cascades");
}
