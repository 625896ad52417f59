//! [`UserRepository`] for [`SeaOrmStore`].

use anyhow::Context as _;
use async_trait::async_trait;
use reefguide_domain::user::errors::CreateUserError;
use reefguide_domain::{Email, PasswordHash, Roles, User, UserCredentials, UserId};
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
fn roles_to_json(roles: &Roles) -> Value {
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

/// A stored user as a domain user.
pub(crate) fn to_user(row: &users::Model) -> anyhow::Result<User> {
    let parse = || -> anyhow::Result<User> {
        Ok(User {
            id: user_id(row.id)?,
            email: Email::parse(&row.email)?,
            roles: roles_from_json(&row.roles)?,
        })
    };
    parse().with_context(|| format!("stored user {} cannot be read", row.id))
}

/// A stored user with its password hash.
fn to_credentials(row: users::Model) -> anyhow::Result<UserCredentials> {
    Ok(UserCredentials {
        user: to_user(&row)?,
        password_hash: PasswordHash::from_phc(row.password_hash),
    })
}

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
            email: Set(new_user.email.as_str().to_owned()),
            password_hash: Set(new_user.password_hash.as_str().to_owned()),
            roles: Set(roles_to_json(&new_user.roles)),
            created_at: Set(stored_time(self.clock.now())),
        };
        let inserted = users::Entity::insert(row)
            .exec(&self.db)
            .await
            .map_err(|err| {
                on_unique_violation(&err, || CreateUserError::UserExists).unwrap_or_else(|| {
                    CreateUserError::Unexpected(db_error("cannot create user", err))
                })
            })?;
        Ok(User {
            id: user_id(inserted.last_insert_id)?,
            email: new_user.email,
            roles: new_user.roles,
        })
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

    async fn find_credentials_by_email(
        &self,
        email: &Email,
    ) -> anyhow::Result<Option<UserCredentials>> {
        users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await
            .db_context("cannot load user by email")?
            .map(to_credentials)
            .transpose()
    }

    async fn find_credentials(&self, id: UserId) -> anyhow::Result<Option<UserCredentials>> {
        self.user_row(id).await?.map(to_credentials).transpose()
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

    async fn set_password_hash(&self, id: UserId, hash: &PasswordHash) -> anyhow::Result<bool> {
        let updated = users::Entity::update_many()
            .col_expr(
                users::Column::PasswordHash,
                Expr::value(hash.as_str().to_owned()),
            )
            .filter(users::Column::Id.eq(id.get()))
            .exec(&self.db)
            .await
            .with_db_context(|| format!("cannot set password of user {id}"))?;
        Ok(updated.rows_affected == 1)
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
