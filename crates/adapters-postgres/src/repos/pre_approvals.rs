//! [`PreApprovalRepository`] for [`SeaOrmStore`].
//!
//! Every write that involves an address is one write transaction that first takes the address's
//! lock: on Postgres a transaction-scoped advisory lock keyed by the address (in a key space of
//! its own), on SQLite the single writer of an `IMMEDIATE` transaction. So "no account has this
//! address" (checked when a pre-approval is made or given a new address) and "no pre-approval
//! has this address" (checked when an account registers without one) cannot both pass for one
//! address at once. Consuming a pre-approval is a conditional `UPDATE` (unused, same address,
//! same roles as read) whose affected-row count decides: of concurrent registrations at most
//! one consumes it, and an account is created only in the transaction that did.

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reefguide_domain::user::errors::{CreateUserError, PreApprovalError};
use reefguide_domain::user::pre_approval::{
    NewPreApproval, PreApproval, PreApprovalChange, PreApprovalId, PreApprovalQuery,
    PreApprovalRoles,
};
use reefguide_domain::{Email, User};
use reefguide_ports::{NewUser, PreApprovalPage, PreApprovalRepository, Registered};
use sea_orm::sea_query::{Expr, ExprTrait as _, Func};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, Condition, ConnectionTrait as _, DbBackend, DbErr, EntityTrait as _,
    PaginatorTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _, Statement,
};
use serde_json::Value;

use super::{WriteTransaction, roles_to_json, stored_time, user_id};
use crate::SeaOrmStore;
use crate::entities::pre_approved_users::{self, Column, Entity};
use crate::entities::users;
use crate::errors::{DbContext as _, db_error, on_unique_violation};

/// The Postgres advisory-lock key space of addresses (the first key of the two-key form; job
/// submissions use the one-key form, a separate space).
const ADDRESS_LOCK_SPACE: i32 = 0x7072_6561;

/// Roles as stored: a JSON array of R2's role names.
pub(crate) fn roles_json(roles: &PreApprovalRoles) -> Value {
    Value::Array(
        roles
            .as_slice()
            .iter()
            .map(|role| Value::String(role.as_str().to_owned()))
            .collect(),
    )
}

/// A stored pre-approval as a domain value.
fn to_pre_approval(row: pre_approved_users::Model) -> anyhow::Result<PreApproval> {
    let parse = || -> anyhow::Result<PreApproval> {
        let names = row
            .roles
            .as_array()
            .context("roles are not a JSON array")?
            .iter()
            .map(|name| name.as_str().context("a role is not a JSON string"))
            .collect::<anyhow::Result<Vec<&str>>>()?;
        Ok(PreApproval {
            id: PreApprovalId::new(i64::from(row.id))?,
            email: Email::parse(&row.email)?,
            roles: PreApprovalRoles::parse(names)?,
            created_at: row.created_at,
            updated_at: row.updated_at,
            created_by: row.created_by_user_id.map(user_id).transpose()?,
            used: row.used,
            used_at: row.used_at,
        })
    };
    parse().with_context(|| format!("stored pre-approval {} cannot be read", row.id))
}

/// Takes the lock of `email` for the rest of `txn` (Postgres; SQLite's write transaction holds
/// the only write lock already).
async fn lock_address(txn: &WriteTransaction, email: &Email) -> Result<(), DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        [ADDRESS_LOCK_SPACE.into(), email.as_str().into()],
    ))
    .await
    .map(drop)
}

/// Whether an account has `email`.
async fn registered(txn: &WriteTransaction, email: &Email) -> Result<bool, DbErr> {
    let found = users::Entity::find()
        .filter(users::Column::Email.eq(email.as_str()))
        .count(&**txn)
        .await?;
    Ok(found > 0)
}

/// Whether a pre-approval has `email`.
async fn pre_approved(txn: &WriteTransaction, email: &Email) -> Result<bool, DbErr> {
    let found = Entity::find()
        .filter(Column::Email.eq(email.as_str()))
        .count(&**txn)
        .await?;
    Ok(found > 0)
}

/// The listing filter as a condition. The address filter finds the text anywhere in the
/// (lower-case) address with the backend's position function rather than `LIKE`, whose
/// wildcards would need escaping.
fn condition(backend: DbBackend, query: &PreApprovalQuery) -> Condition {
    let filter = &query.filter;
    let mut condition = Condition::all();
    if let Some(text) = filter.email() {
        let position = match backend {
            DbBackend::Postgres => "strpos",
            _ => "instr",
        };
        condition = condition.add(
            Expr::expr(
                Func::cust(position)
                    .arg(Expr::col(Column::Email))
                    .arg(text.to_owned()),
            )
            .gt(0),
        );
    }
    if let Some(used) = filter.used {
        condition = condition.add(Column::Used.eq(used));
    }
    if let Some(creator) = filter.created_by {
        condition = condition.add(Column::CreatedByUserId.eq(creator.get()));
    }
    condition
}

/// Rolls `txn` back and answers `answer`.
async fn give_up<T>(txn: WriteTransaction, answer: T, what: &str) -> anyhow::Result<T> {
    txn.rollback().await.db_context(what.to_owned())?;
    Ok(answer)
}

#[async_trait]
impl PreApprovalRepository for SeaOrmStore {
    async fn insert_pre_approval(
        &self,
        new: &NewPreApproval,
    ) -> Result<PreApproval, PreApprovalError> {
        let what = "cannot store a pre-approval";
        let at = stored_time(new.at);
        let txn = self.begin_write().await.db_context(what)?;
        lock_address(&txn, &new.email).await.db_context(what)?;
        if registered(&txn, &new.email).await.db_context(what)? {
            let refusal = PreApprovalError::AlreadyRegistered(new.email.clone());
            return Err(give_up(txn, refusal, what).await?);
        }
        let row = pre_approved_users::ActiveModel {
            id: NotSet,
            email: Set(new.email.as_str().to_owned()),
            roles: Set(roles_json(&new.roles)),
            created_at: Set(at),
            updated_at: Set(at),
            created_by_user_id: Set(Some(new.created_by.get())),
            used: Set(false),
            used_at: Set(None),
        };
        let inserted = match Entity::insert(row).exec(&*txn).await {
            Ok(inserted) => inserted,
            Err(error) if on_unique_violation(&error, || ()).is_some() => {
                let refusal = PreApprovalError::AlreadyPreApproved(new.email.clone());
                return Err(give_up(txn, refusal, what).await?);
            }
            Err(error) => return Err(db_error(what, error).into()),
        };
        txn.commit().await.db_context(what)?;
        Ok(PreApproval {
            id: PreApprovalId::new(i64::from(inserted.last_insert_id))
                .context("a stored pre-approval id")?,
            email: new.email.clone(),
            roles: new.roles.clone(),
            created_at: at,
            updated_at: at,
            created_by: Some(new.created_by),
            used: false,
            used_at: None,
        })
    }

    async fn find_pre_approval(&self, id: PreApprovalId) -> anyhow::Result<Option<PreApproval>> {
        Entity::find_by_id(id.get())
            .one(&self.db)
            .await
            .with_db_context(|| format!("cannot load pre-approval {id}"))?
            .map(to_pre_approval)
            .transpose()
    }

    async fn find_pre_approval_by_email(
        &self,
        email: &Email,
    ) -> anyhow::Result<Option<PreApproval>> {
        Entity::find()
            .filter(Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await
            .db_context("cannot load a pre-approval by address")?
            .map(to_pre_approval)
            .transpose()
    }

    async fn list_pre_approvals(
        &self,
        query: &PreApprovalQuery,
    ) -> anyhow::Result<PreApprovalPage> {
        let select = Entity::find().filter(condition(self.db.get_database_backend(), query));
        let total = select
            .clone()
            .count(&self.db)
            .await
            .db_context("cannot count pre-approvals")?;
        let pre_approvals = select
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .offset(query.offset())
            .limit(u64::from(query.limit()))
            .all(&self.db)
            .await
            .db_context("cannot list pre-approvals")?
            .into_iter()
            .map(to_pre_approval)
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(PreApprovalPage {
            pre_approvals,
            total,
        })
    }

    async fn update_pre_approval(
        &self,
        id: PreApprovalId,
        change: &PreApprovalChange,
        now: DateTime<Utc>,
    ) -> Result<Option<PreApproval>, PreApprovalError> {
        let what = format!("cannot update pre-approval {id}");
        let txn = self.begin_write().await.db_context(what.clone())?;
        let mut update = Entity::update_many()
            .col_expr(Column::UpdatedAt, Expr::value(stored_time(now)))
            .filter(Column::Id.eq(id.get()))
            .filter(Column::Used.eq(false));
        if let Some(email) = &change.email {
            lock_address(&txn, email).await.db_context(what.clone())?;
            if registered(&txn, email).await.db_context(what.clone())? {
                let refusal = PreApprovalError::AlreadyRegistered(email.clone());
                return Err(give_up(txn, refusal, &what).await?);
            }
            update = update.col_expr(Column::Email, Expr::value(email.as_str().to_owned()));
        }
        if let Some(roles) = &change.roles {
            update = update.col_expr(Column::Roles, Expr::value(roles_json(roles)));
        }
        let updated = match update.exec(&*txn).await {
            Ok(updated) => updated,
            Err(error) if on_unique_violation(&error, || ()).is_some() => {
                let email = change.email.clone().context("only an address is unique")?;
                let refusal = PreApprovalError::AlreadyPreApproved(email);
                return Err(give_up(txn, refusal, &what).await?);
            }
            Err(error) => return Err(db_error(what, error).into()),
        };
        if updated.rows_affected != 1 {
            return Ok(give_up(txn, None, &what).await?);
        }
        let row = Entity::find_by_id(id.get())
            .one(&*txn)
            .await
            .db_context(what.clone())?
            .with_context(|| format!("{what}: gone within its own transaction"))?;
        txn.commit().await.db_context(what)?;
        Ok(Some(to_pre_approval(row)?))
    }

    async fn delete_pre_approval(&self, id: PreApprovalId) -> anyhow::Result<bool> {
        let deleted = Entity::delete_by_id(id.get())
            .exec(&self.db)
            .await
            .with_db_context(|| format!("cannot delete pre-approval {id}"))?;
        Ok(deleted.rows_affected == 1)
    }

    async fn delete_used_pre_approvals(&self, cutoff: DateTime<Utc>) -> anyhow::Result<u64> {
        let deleted = Entity::delete_many()
            .filter(Column::Used.eq(true))
            .filter(Column::UsedAt.lt(stored_time(cutoff)))
            .exec(&self.db)
            .await
            .db_context("cannot delete used pre-approvals")?;
        Ok(deleted.rows_affected)
    }

    async fn register_user(
        &self,
        new_user: NewUser,
        consumes: Option<PreApproval>,
        now: DateTime<Utc>,
    ) -> Result<Registered, CreateUserError> {
        let what = "cannot register a user";
        let now = stored_time(now);
        let txn = self.begin_write().await.db_context(what)?;
        lock_address(&txn, &new_user.email).await.db_context(what)?;
        let unchanged = match &consumes {
            Some(pre_approval) => {
                let used = Entity::update_many()
                    .col_expr(Column::Used, Expr::value(true))
                    .col_expr(Column::UsedAt, Expr::value(now))
                    .filter(Column::Id.eq(pre_approval.id.get()))
                    .filter(Column::Email.eq(new_user.email.as_str()))
                    .filter(Column::Email.eq(pre_approval.email.as_str()))
                    .filter(Column::Roles.eq(roles_json(&pre_approval.roles)))
                    .filter(Column::Used.eq(false))
                    .exec(&*txn)
                    .await
                    .db_context(what)?;
                used.rows_affected == 1
            }
            None => !pre_approved(&txn, &new_user.email).await.db_context(what)?,
        };
        if !unchanged {
            return Ok(give_up(txn, Registered::PreApprovalChanged, what).await?);
        }
        let row = users::ActiveModel {
            id: NotSet,
            email: Set(Some(new_user.email.as_str().to_owned())),
            password_hash: Set(Some(new_user.password_hash.as_str().to_owned())),
            roles: Set(roles_to_json(&new_user.roles)),
            created_at: Set(now),
            issuer: Set(None),
            username: Set(None),
        };
        let inserted = match users::Entity::insert(row).exec(&*txn).await {
            Ok(inserted) => inserted,
            Err(error) if on_unique_violation(&error, || ()).is_some() => {
                give_up(txn, (), what).await?;
                return Err(CreateUserError::UserExists);
            }
            Err(error) => return Err(db_error(what, error).into()),
        };
        txn.commit().await.db_context(what)?;
        Ok(Registered::Created(User::local(
            user_id(inserted.last_insert_id)?,
            new_user.email,
            new_user.roles,
        )))
    }
}
