//! [`UserLogRepository`] for [`SeaOrmStore`].

use std::collections::HashMap;

use anyhow::Context as _;
use async_trait::async_trait;
use reefguide_domain::{LogPage, LogQuery, NewUserLogEntry, User, UserAction, UserLogEntry};
use reefguide_ports::UserLogRepository;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _,
};

use super::users::to_user;
use super::{stored_time, user_id};
use crate::SeaOrmStore;
use crate::entities::{user_logs, users};
use crate::errors::DbContext as _;

/// A stored entry as a domain entry, with its user if it still exists.
fn to_entry(row: user_logs::Model, user: Option<User>) -> anyhow::Result<UserLogEntry> {
    let entry_id = row.id;
    let parse = move || -> anyhow::Result<UserLogEntry> {
        Ok(UserLogEntry {
            id: row.id,
            user_id: user_id(row.user_id)?,
            action: row.action.parse::<UserAction>()?,
            metadata: row.metadata,
            time: row.time,
            user,
        })
    };
    parse().with_context(|| format!("stored user-log entry {entry_id} cannot be read"))
}

impl SeaOrmStore {
    /// The still-existing users among `ids`, by id, in one query.
    async fn users_by_id(&self, mut ids: Vec<i32>) -> anyhow::Result<HashMap<i32, User>> {
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        users::Entity::find()
            .filter(users::Column::Id.is_in(ids))
            .all(&self.db)
            .await
            .db_context("cannot load the users of log entries")?
            .iter()
            .map(|row| Ok((row.id, to_user(row)?)))
            .collect()
    }
}

#[async_trait]
impl UserLogRepository for SeaOrmStore {
    async fn append_user_log(&self, entry: &NewUserLogEntry) -> anyhow::Result<()> {
        let row = user_logs::ActiveModel {
            id: NotSet,
            user_id: Set(entry.user_id.get()),
            time: Set(stored_time(entry.time)),
            action: Set(entry.action.as_str().to_owned()),
            metadata: Set(entry.metadata.clone()),
        };
        user_logs::Entity::insert(row)
            .exec(&self.db)
            .await
            .db_context("cannot append to the user log")?;
        Ok(())
    }

    async fn list_user_logs(&self, query: LogQuery) -> anyhow::Result<LogPage> {
        let mut select = user_logs::Entity::find();
        if let Some(id) = query.user_id {
            select = select.filter(user_logs::Column::UserId.eq(id.get()));
        }
        let total = select
            .clone()
            .count(&self.db)
            .await
            .db_context("cannot count user-log entries")?;
        let rows = select
            .order_by_desc(user_logs::Column::Time)
            .order_by_desc(user_logs::Column::Id)
            .offset(query.page.offset())
            .limit(u64::from(query.page.limit()))
            .all(&self.db)
            .await
            .db_context("cannot list user-log entries")?;
        let users = self
            .users_by_id(rows.iter().map(|row| row.user_id).collect())
            .await?;
        let entries = rows
            .into_iter()
            .map(|row| {
                let user = users.get(&row.user_id).cloned();
                to_entry(row, user)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(LogPage { entries, total })
    }
}
