//! [`UserRepository`] for [`SeaOrmStore`].

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reefguide_domain::user::errors::CreateUserError;
use reefguide_domain::user::search::UserSearch;
use reefguide_domain::{
    Email, ExternalIdentity, Identity, IssuerName, PasswordHash, Roles, User, UserCredentials,
    UserId, Username,
};
use reefguide_ports::{NewUser, UserRepository};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, ConnectionTrait as _, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait as _, QueryFilter as _, QueryOrder as _, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait as _,
};
use serde_json::Value;

use super::{stored_time, user_id};
use crate::SeaOrmStore;
use crate::entities::users;
use crate::errors::{DbContext as _, db_error, on_unique_violation};
use crate::user_cache::USER_CHANNEL;

/// Roles as stored: a JSON array of role names.
pub(crate) fn roles_to_json(roles: &Roles) -> Value {
    Value::Array(
        roles
            .as_slice()
            .iter()
            .map(|role| Value::String(role.as_str().to_owned()))
            .collect(),
    )
}

/// Stored roles back as domain roles; unknown names are an error.
fn roles_from_json(stored: &Value) -> anyhow::Result<Roles> {
    let names = stored
        .as_array()
        .context("roles are not a JSON array")?
        .iter()
        .map(|name| name.as_str().context("a role is not a JSON string"))
        .collect::<anyhow::Result<Vec<&str>>>()?;
    Ok(Roles::parse(names)?)
}

/// A stored row that is neither kind of account: a local one has an email and a password hash
/// and nothing else, an external one an issuer and a username and nothing else.
#[derive(Debug, thiserror::Error)]
#[error(
    "it is neither a local account (email and password hash) nor an external identity (issuer \
     and username); it has {0}"
)]
struct MixedIdentity(String);

impl MixedIdentity {
    /// Names the identity columns `row` has.
    fn of(row: &users::Model) -> Self {
        let set: Vec<&str> = [
            ("an email", row.email.is_some()),
            ("a password hash", row.password_hash.is_some()),
            ("an issuer", row.issuer.is_some()),
            ("a username", row.username.is_some()),
        ]
        .into_iter()
        .filter_map(|(column, present)| present.then_some(column))
        .collect();
        if set.is_empty() {
            Self("none of them".to_owned())
        } else {
            Self(set.join(", "))
        }
    }
}

/// Who a stored user is.
fn identity_of(row: &users::Model) -> anyhow::Result<Identity> {
    match (&row.email, &row.password_hash, &row.issuer, &row.username) {
        (Some(email), Some(_), None, None) => Ok(Identity::Local(Email::parse(email)?)),
        (None, None, Some(issuer), Some(username)) => Ok(Identity::External(ExternalIdentity {
            issuer: IssuerName::parse(issuer)?,
            username: Username::parse(username)?,
        })),
        _ => Err(MixedIdentity::of(row).into()),
    }
}

/// A stored user as a domain user.
pub(crate) fn to_user(row: &users::Model) -> anyhow::Result<User> {
    let parse = || -> anyhow::Result<User> {
        Ok(User {
            id: user_id(row.id)?,
            identity: identity_of(row)?,
            roles: roles_from_json(&row.roles)?,
        })
    };
    parse().with_context(|| format!("stored user {} cannot be read", row.id))
}

/// A stored user with its password hash; `None` for an external identity, which has none
/// ([`to_user`] checked that a local account has one and an external one has not).
fn to_credentials(row: users::Model) -> anyhow::Result<Option<UserCredentials>> {
    let user = to_user(&row)?;
    Ok(row.password_hash.map(|phc| UserCredentials {
        user,
        password_hash: PasswordHash::from_phc(phc),
    }))
}

/// A password was to be set on the account of an external identity, which authenticates with
/// its issuer's tokens only.
#[derive(Debug, thiserror::Error)]
#[error("user {0} is the account of an external identity: it has no password to replace")]
struct ExternalAccountHasNoPassword(UserId);

impl SeaOrmStore {
    /// Begins a transaction that changes a user. IMMEDIATE on SQLite: take the write lock up
    /// front so a busy database makes us wait (busy timeout) rather than fail half-way. Ignored
    /// by Postgres.
    async fn begin_user_change(&self) -> Result<DatabaseTransaction, DbErr> {
        self.db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
    }

    /// Commits a change of user `id` and forgets the cached user. When the change happened, on
    /// Postgres, first queues a notification on [`USER_CHANNEL`] (delivered on commit) so that
    /// every other server instance forgets it too.
    async fn commit_user_change(
        &self,
        txn: DatabaseTransaction,
        id: UserId,
        changed: bool,
    ) -> Result<(), DbErr> {
        if changed && self.db.get_database_backend() == DbBackend::Postgres {
            txn.query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                vec![USER_CHANNEL.into(), id.get().to_string().into()],
            ))
            .await?;
        }
        let committed = txn.commit().await;
        self.users.invalidate(id.get());
        committed
    }

    /// The account of `identity`, if it exists.
    async fn external_user(&self, identity: &ExternalIdentity) -> anyhow::Result<Option<User>> {
        users::Entity::find()
            .filter(users::Column::Issuer.eq(identity.issuer.as_str()))
            .filter(users::Column::Username.eq(identity.username.as_str()))
            .one(&self.db)
            .await
            .with_db_context(|| {
                format!(
                    "cannot load an external account of issuer {}",
                    identity.issuer
                )
            })?
            .as_ref()
            .map(to_user)
            .transpose()
    }

    /// Creates the account of `identity` (no email, no password, no roles) at `now`; when a
    /// concurrent first use created it meanwhile (the unique index on issuer and username
    /// refuses a second row), that account.
    async fn create_external(
        &self,
        identity: &ExternalIdentity,
        now: DateTime<Utc>,
    ) -> anyhow::Result<User> {
        let what = || {
            format!(
                "cannot create an external account of issuer {}",
                identity.issuer
            )
        };
        let row = users::ActiveModel {
            id: NotSet,
            email: Set(None),
            password_hash: Set(None),
            roles: Set(roles_to_json(&Roles::none())),
            created_at: Set(stored_time(now)),
            issuer: Set(Some(identity.issuer.as_str().to_owned())),
            username: Set(Some(identity.username.as_str().to_owned())),
        };
        match users::Entity::insert(row).exec(&self.db).await {
            Ok(inserted) => Ok(User {
                id: user_id(inserted.last_insert_id)?,
                identity: Identity::External(identity.clone()),
                roles: Roles::none(),
            }),
            Err(err) if on_unique_violation(&err, || ()).is_some() => self
                .external_user(identity)
                .await?
                .with_context(|| format!("{}: created concurrently, then deleted", what())),
            Err(err) => Err(db_error(what(), err)),
        }
    }

    /// The row of user `id`, if any.
    async fn user_row(&self, id: UserId) -> anyhow::Result<Option<users::Model>> {
        users::Entity::find_by_id(id.get())
            .one(&self.db)
            .await
            .with_db_context(|| format!("cannot load user {id}"))
    }
}

#[async_trait]
impl UserRepository for SeaOrmStore {
    async fn create_user(&self, new_user: NewUser) -> Result<User, CreateUserError> {
        let row = users::ActiveModel {
            id: NotSet,
            email: Set(Some(new_user.email.as_str().to_owned())),
            password_hash: Set(Some(new_user.password_hash.as_str().to_owned())),
            roles: Set(roles_to_json(&new_user.roles)),
            created_at: Set(stored_time(self.clock.now())),
            issuer: Set(None),
            username: Set(None),
        };
        let inserted = users::Entity::insert(row)
            .exec(&self.db)
            .await
            .map_err(|err| {
                on_unique_violation(&err, || CreateUserError::UserExists).unwrap_or_else(|| {
                    CreateUserError::Unexpected(db_error("cannot create user", err))
                })
            })?;
        Ok(User::local(
            user_id(inserted.last_insert_id)?,
            new_user.email,
            new_user.roles,
        ))
    }

    async fn find_user(&self, id: UserId) -> anyhow::Result<Option<User>> {
        let seen = match self.users.get(id) {
            Ok(cached) => return Ok(Some(cached)),
            Err(seen) => seen,
        };
        let user = self.user_row(id).await?.as_ref().map(to_user).transpose()?;
        if let Some(user) = &user {
            self.users.keep(user, seen);
        }
        Ok(user)
    }

    async fn find_or_create_external(
        &self,
        identity: &ExternalIdentity,
        now: DateTime<Utc>,
    ) -> anyhow::Result<User> {
        let seen = match self.users.get_external(identity) {
            Ok(cached) => return Ok(cached),
            Err(seen) => seen,
        };
        let user = match self.external_user(identity).await? {
            Some(user) => user,
            None => self.create_external(identity, now).await?,
        };
        // Creating an account changes nothing another instance may have cached: no notification.
        self.users.keep(&user, seen);
        Ok(user)
    }

    async fn find_credentials_by_email(
        &self,
        email: &Email,
    ) -> anyhow::Result<Option<UserCredentials>> {
        users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await
            .db_context("cannot load user by email")?
            .map_or(Ok(None), to_credentials)
    }

    async fn find_credentials(&self, id: UserId) -> anyhow::Result<Option<UserCredentials>> {
        self.user_row(id).await?.map_or(Ok(None), to_credentials)
    }

    async fn list_users(&self) -> anyhow::Result<Vec<User>> {
        users::Entity::find()
            .order_by_asc(users::Column::Id)
            .all(&self.db)
            .await
            .db_context("cannot list users")?
            .iter()
            .map(to_user)
            .collect()
    }

    async fn search_users(&self, search: &UserSearch) -> anyhow::Result<Vec<User>> {
        let backend = self.db.get_database_backend();
        // Where the text starts in the email, 1-based, 0 when absent (no LIKE: its wildcards
        // would need escaping).
        let position = match backend {
            DbBackend::Postgres => "strpos(email, $1)",
            _ => "instr(email, $1)",
        };
        let sql = format!(
            "SELECT * FROM users WHERE email IS NOT NULL AND {position} > 0 \
             ORDER BY CASE WHEN email = $1 THEN 0 WHEN {position} = 1 THEN 1 ELSE 2 END, \
             {position}, email LIMIT $2"
        );
        let statement = Statement::from_sql_and_values(
            backend,
            sql,
            [search.text().into(), i64::from(search.limit()).into()],
        );
        users::Entity::find()
            .from_raw_sql(statement)
            .all(&self.db)
            .await
            .db_context("cannot search users")?
            .iter()
            .map(to_user)
            .collect()
    }

    async fn find_users(&self, ids: &[UserId]) -> anyhow::Result<Vec<User>> {
        let mut ids: Vec<i32> = ids.iter().map(|id| id.get()).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        users::Entity::find()
            .filter(users::Column::Id.is_in(ids))
            .order_by_asc(users::Column::Id)
            .all(&self.db)
            .await
            .db_context("cannot load users by id")?
            .iter()
            .map(to_user)
            .collect()
    }

    async fn set_roles(&self, id: UserId, roles: &Roles) -> anyhow::Result<Option<User>> {
        let what = || format!("cannot set roles of user {id}");
        let txn = self.begin_user_change().await.with_db_context(what)?;
        let updated = users::Entity::update_many()
            .col_expr(users::Column::Roles, Expr::value(roles_to_json(roles)))
            .filter(users::Column::Id.eq(id.get()))
            .exec(&txn)
            .await
            .with_db_context(what)?;
        self.commit_user_change(txn, id, updated.rows_affected == 1)
            .await
            .with_db_context(what)?;
        if updated.rows_affected == 0 {
            return Ok(None);
        }
        self.find_user(id).await
    }

    /// Only a local account has a password: for the account of an external identity this is an
    /// error (`ExternalAccountHasNoPassword`), not `false`.
    async fn set_password_hash(&self, id: UserId, hash: &PasswordHash) -> anyhow::Result<bool> {
        let updated = users::Entity::update_many()
            .col_expr(
                users::Column::PasswordHash,
                Expr::value(hash.as_str().to_owned()),
            )
            .filter(users::Column::Id.eq(id.get()))
            .filter(users::Column::Issuer.is_null())
            .exec(&self.db)
            .await
            .with_db_context(|| format!("cannot set password of user {id}"))?;
        if updated.rows_affected == 1 {
            return Ok(true);
        }
        match self.user_row(id).await? {
            Some(_) => Err(ExternalAccountHasNoPassword(id).into()),
            None => Ok(false),
        }
    }

    async fn delete_user(&self, id: UserId) -> anyhow::Result<bool> {
        let what = || format!("cannot delete user {id}");
        let txn = self.begin_user_change().await.with_db_context(what)?;
        // Refresh tokens, polygons (with every note on them) and the notes the user wrote go
        // with the user (ON DELETE CASCADE, in this statement); audit-log entries stay. Tables
        // added later that a user owns without a cascading foreign key are cleared here, in the
        // same transaction.
        let deleted = users::Entity::delete_by_id(id.get())
            .exec(&txn)
            .await
            .with_db_context(what)?;
        self.commit_user_change(txn, id, deleted.rows_affected == 1)
            .await
            .with_db_context(what)?;
        Ok(deleted.rows_affected == 1)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    fn row(
        email: Option<&str>,
        password_hash: Option<&str>,
        issuer: Option<&str>,
        username: Option<&str>,
    ) -> users::Model {
        users::Model {
            id: 7,
            email: email.map(str::to_owned),
            password_hash: password_hash.map(str::to_owned),
            roles: json!(["ADMIN"]),
            created_at: Utc.timestamp_opt(0, 0).single().expect("epoch"),
            issuer: issuer.map(str::to_owned),
            username: username.map(str::to_owned),
        }
    }

    #[test]
    fn a_local_row_is_a_local_account_with_credentials() {
        let stored = row(Some("ana@example.com"), Some("phc"), None, None);
        let user = to_user(&stored).expect("readable");
        assert_eq!(user.email().map(Email::as_str), Some("ana@example.com"));
        let credentials = to_credentials(stored)
            .expect("readable")
            .expect("a password");
        assert_eq!(credentials.password_hash.as_str(), "phc");
    }

    #[test]
    fn an_external_row_is_an_external_account_without_credentials() {
        let stored = row(None, None, Some("LabCAS"), Some("thomas"));
        let user = to_user(&stored).expect("readable");
        assert_eq!(
            user.identity,
            Identity::External(ExternalIdentity {
                issuer: IssuerName::parse("LabCAS").expect("issuer"),
                username: Username::parse("thomas").expect("username"),
            })
        );
        assert!(to_credentials(stored).expect("readable").is_none());
    }

    #[rstest]
    #[case(
        row(Some("a@example.com"), Some("phc"), Some("LabCAS"), Some("a")),
        "an email, a password hash, an issuer, a username"
    )]
    #[case(row(None, None, Some("LabCAS"), None), "an issuer")]
    #[case(row(Some("a@example.com"), None, None, None), "an email")]
    #[case(
        row(None, Some("phc"), Some("LabCAS"), Some("a")),
        "a password hash, an issuer, a username"
    )]
    #[case(row(None, None, None, None), "none of them")]
    fn a_row_of_neither_kind_is_an_error_naming_the_user(
        #[case] stored: users::Model,
        #[case] has: &str,
    ) {
        let message = format!("{:#}", to_user(&stored).expect_err("refused"));
        assert!(message.contains("stored user 7"), "{message}");
        assert!(message.ends_with(&format!("it has {has}")), "{message}");
    }

    #[test]
    fn an_unusable_stored_username_is_an_error() {
        let message = format!(
            "{:#}",
            to_user(&row(None, None, Some("LabCAS"), Some("../x"))).expect_err("refused")
        );
        assert!(message.contains("stored user 7"), "{message}");
    }
}
