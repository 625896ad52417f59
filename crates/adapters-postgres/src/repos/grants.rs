//! Tables of grants: rows giving a holder (a user or a group) something on a parent (a project
//! or a group), unique per (parent, holder). Project shares with users and with groups, group
//! managers and group members are all such tables, and one add-or-remove serves them all.

use std::collections::HashMap;
use std::hash::Hash;

use chrono::{DateTime, Utc};
use reefguide_domain::UserId;
use reefguide_domain::group::{GroupId, GroupSeat};
use reefguide_ports::{GrantChange, Toggle};
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, OnConflict, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DbErr};

use super::sharing::sort_asked;

/// The id of a holder of grants, as its column stores it.
pub(crate) trait HolderId: Copy + Eq + Hash {
    /// The column value.
    fn raw(self) -> i32;
}

impl HolderId for UserId {
    fn raw(self) -> i32 {
        self.get()
    }
}

impl HolderId for GroupId {
    fn raw(self) -> i32 {
        self.get()
    }
}

/// A grant table: its name and its parent and holder columns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GrantTable {
    table: &'static str,
    parent: &'static str,
    holder: &'static str,
    /// Whether rows have `updated_at` besides `created_at` (shares do, seats do not).
    updated_at: bool,
}

impl GrantTable {
    /// Projects shared with users.
    pub(crate) const PROJECT_USERS: Self = Self {
        table: "project_user_shares",
        parent: "project_id",
        holder: "user_id",
        updated_at: true,
    };
    /// Projects shared with groups.
    pub(crate) const PROJECT_GROUPS: Self = Self {
        table: "project_group_shares",
        parent: "project_id",
        holder: "group_id",
        updated_at: true,
    };

    /// The users seated in groups as `seat`.
    pub(crate) const fn seats(seat: GroupSeat) -> Self {
        let table = match seat {
            GroupSeat::Manager => "group_managers",
            GroupSeat::Member => "group_members",
        };
        Self {
            table,
            parent: "group_id",
            holder: "user_id",
            updated_at: false,
        }
    }

    /// The holders of a grant on `parent`.
    async fn holders<C: ConnectionTrait>(&self, db: &C, parent: i32) -> Result<Vec<i32>, DbErr> {
        let select = Query::select()
            .column(Alias::new(self.holder))
            .from(Alias::new(self.table))
            .and_where(Expr::col(Alias::new(self.parent)).eq(parent))
            .to_owned();
        let rows = db
            .query_all_raw(db.get_database_backend().build(&select))
            .await?;
        rows.iter()
            .map(|row| row.try_get::<i32>("", self.holder))
            .collect()
    }

    /// Grants `holders` on `parent` (a grant already there is left as it is).
    async fn add<C: ConnectionTrait>(
        &self,
        db: &C,
        parent: i32,
        holders: &[i32],
        now: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let mut columns = vec![
            Alias::new(self.parent),
            Alias::new(self.holder),
            Alias::new("created_at"),
        ];
        if self.updated_at {
            columns.push(Alias::new("updated_at"));
        }
        let mut insert = Query::insert();
        insert.into_table(Alias::new(self.table)).columns(columns);
        for &holder in holders {
            let mut values: Vec<SimpleExpr> = vec![parent.into(), holder.into(), now.into()];
            if self.updated_at {
                values.push(now.into());
            }
            insert
                .values(values)
                .map_err(|error| DbErr::Custom(error.to_string()))?;
        }
        insert.on_conflict(
            OnConflict::columns([Alias::new(self.parent), Alias::new(self.holder)])
                .do_nothing()
                .to_owned(),
        );
        db.execute_raw(db.get_database_backend().build(&insert))
            .await
            .map(drop)
    }

    /// Takes the grants of `holders` on `parent` away.
    async fn remove<C: ConnectionTrait>(
        &self,
        db: &C,
        parent: i32,
        holders: &[i32],
    ) -> Result<(), DbErr> {
        let delete = Query::delete()
            .from_table(Alias::new(self.table))
            .and_where(Expr::col(Alias::new(self.parent)).eq(parent))
            .and_where(Expr::col(Alias::new(self.holder)).is_in(holders.iter().copied()))
            .to_owned();
        db.execute_raw(db.get_database_backend().build(&delete))
            .await
            .map(drop)
    }

    /// Adds (or removes) the grants of the `asked` holders on `parent`, as `toggle` says:
    /// `known` holds the asked ids that name something (others are reported missing). Each id
    /// is answered once, in the order asked, as changed, unchanged (already held, or not held
    /// when removing) or missing.
    pub(crate) async fn change<C, T, Id>(
        &self,
        db: &C,
        parent: i32,
        asked: &[Id],
        known: &HashMap<Id, T>,
        toggle: Toggle,
        now: DateTime<Utc>,
    ) -> Result<GrantChange<T, Id>, DbErr>
    where
        C: ConnectionTrait,
        T: Clone,
        Id: HolderId,
    {
        let holding = self.holders(db, parent).await?;
        let (to_change, change) =
            sort_asked(asked, known, |id| holding.contains(&id.raw()), toggle);
        let to_change: Vec<i32> = to_change.into_iter().map(HolderId::raw).collect();
        if !to_change.is_empty() {
            match toggle {
                Toggle::Add => self.add(db, parent, &to_change, now).await?,
                Toggle::Remove => self.remove(db, parent, &to_change).await?,
            }
        }
        Ok(change)
    }
}
