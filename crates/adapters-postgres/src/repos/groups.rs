//! [`GroupRepository`] for [`SeaOrmStore`]: groups with their managers and members, loaded for a
//! whole page in three queries.

use std::collections::HashMap;

use anyhow::Context as _;
use async_trait::async_trait;
use reefguide_domain::UserId;
use reefguide_domain::group::{Group, GroupChange, GroupDraft, GroupId, GroupSeat};
use reefguide_domain::text::{Description, Label};
use reefguide_ports::{
    Grant, GrantChange, GroupDetail, GroupPage, GroupQuery, GroupRepository, Toggle, TransferError,
    UserRef,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, EntityTrait as _, PaginatorTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use super::grants::GrantTable;
use super::projects::group_id;
use super::sharing::{known_users, user_refs};
use super::{stored_time, user_id};
use crate::SeaOrmStore;
use crate::entities::{group_managers, group_members, groups};
use crate::errors::{DbContext as _, is_foreign_key_violation};

fn to_group(row: groups::Model) -> anyhow::Result<Group> {
    let stored_id = row.id;
    let parse = move || -> anyhow::Result<Group> {
        Ok(Group {
            id: group_id(row.id)?,
            name: Label::new(&row.name)?,
            description: match row.description {
                Some(text) => Description::new(&text)?,
                None => None,
            },
            owner: user_id(row.owner_id)?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    };
    parse().with_context(|| format!("stored group {stored_id} cannot be read"))
}

/// A seat row, whichever table it comes from.
struct SeatRow {
    id: i32,
    group_id: i32,
    user_id: i32,
    created_at: chrono::DateTime<chrono::Utc>,
}

async fn seat_rows<C: ConnectionTrait>(
    db: &C,
    seat: GroupSeat,
    groups: Vec<i32>,
) -> anyhow::Result<Vec<SeatRow>> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    Ok(match seat {
        GroupSeat::Manager => group_managers::Entity::find()
            .filter(group_managers::Column::GroupId.is_in(groups))
            .order_by_asc(group_managers::Column::Id)
            .all(db)
            .await
            .db_context("cannot load group managers")?
            .into_iter()
            .map(|row| SeatRow {
                id: row.id,
                group_id: row.group_id,
                user_id: row.user_id,
                created_at: row.created_at,
            })
            .collect(),
        GroupSeat::Member => group_members::Entity::find()
            .filter(group_members::Column::GroupId.is_in(groups))
            .order_by_asc(group_members::Column::Id)
            .all(db)
            .await
            .db_context("cannot load group members")?
            .into_iter()
            .map(|row| SeatRow {
                id: row.id,
                group_id: row.group_id,
                user_id: row.user_id,
                created_at: row.created_at,
            })
            .collect(),
    })
}

/// The groups of `rows` with their owners and seats, in the order of `rows`.
async fn details<C: ConnectionTrait>(
    db: &C,
    rows: Vec<groups::Model>,
) -> anyhow::Result<Vec<GroupDetail>> {
    let ids: Vec<i32> = rows.iter().map(|row| row.id).collect();
    let managers = seat_rows(db, GroupSeat::Manager, ids.clone()).await?;
    let members = seat_rows(db, GroupSeat::Member, ids).await?;
    let users = user_refs(
        db,
        rows.iter()
            .map(|row| row.owner_id)
            .chain(managers.iter().chain(&members).map(|seat| seat.user_id)),
    )
    .await?;
    let grants = |seats: Vec<SeatRow>| {
        let mut by_group: HashMap<i32, Vec<Grant<UserRef>>> = HashMap::new();
        for seat in seats {
            if let Some(user) = users.get(&seat.user_id) {
                by_group.entry(seat.group_id).or_default().push(Grant {
                    id: seat.id,
                    holder: user.clone(),
                    created_at: seat.created_at,
                });
            }
        }
        by_group
    };
    let mut managers = grants(managers);
    let mut members = grants(members);
    rows.into_iter()
        .map(|row| {
            let owner = users
                .get(&row.owner_id)
                .cloned()
                .with_context(|| format!("owner of group {} is missing", row.id))?;
            let id = row.id;
            Ok(GroupDetail {
                group: to_group(row)?,
                owner,
                managers: managers.remove(&id).unwrap_or_default(),
                members: members.remove(&id).unwrap_or_default(),
            })
        })
        .collect()
}

/// The SQL condition "`user` owns, manages or is a member of the group in `groups`".
fn involving(user: UserId) -> String {
    let user = user.get();
    format!(
        "(groups.owner_id = {user} \
          OR EXISTS (SELECT 1 FROM group_managers gm WHERE gm.group_id = groups.id AND gm.user_id = {user}) \
          OR EXISTS (SELECT 1 FROM group_members gb WHERE gb.group_id = groups.id AND gb.user_id = {user}))"
    )
}

impl SeaOrmStore {
    async fn group_detail<C: ConnectionTrait>(
        db: &C,
        id: i32,
    ) -> anyhow::Result<Option<GroupDetail>> {
        let Some(row) = groups::Entity::find_by_id(id)
            .one(db)
            .await
            .with_db_context(|| format!("cannot load group {id}"))?
        else {
            return Ok(None);
        };
        Ok(details(db, vec![row]).await?.pop())
    }
}

#[async_trait]
impl GroupRepository for SeaOrmStore {
    async fn create_group(&self, owner: UserId, draft: &GroupDraft) -> anyhow::Result<GroupDetail> {
        let now = stored_time(self.clock.now());
        let inserted = groups::Entity::insert(groups::ActiveModel {
            name: Set(draft.name.as_str().to_owned()),
            description: Set(draft.description.as_ref().map(|d| d.as_str().to_owned())),
            created_at: Set(now),
            updated_at: Set(now),
            owner_id: Set(owner.get()),
            ..Default::default()
        })
        .exec(&self.db)
        .await
        .with_db_context(|| format!("cannot create a group for user {owner}"))?;
        Self::group_detail(&self.db, inserted.last_insert_id)
            .await?
            .context("group vanished after it was created")
    }

    async fn find_group(&self, id: GroupId) -> anyhow::Result<Option<GroupDetail>> {
        Self::group_detail(&self.db, id.get()).await
    }

    async fn list_groups(&self, query: &GroupQuery) -> anyhow::Result<GroupPage> {
        let mut select = groups::Entity::find();
        if let Some(user) = query.involving {
            select = select.filter(Expr::cust(involving(user)));
        }
        let total = select
            .clone()
            .count(&self.db)
            .await
            .db_context("cannot count groups")?;
        let rows = select
            .order_by_desc(groups::Column::UpdatedAt)
            .order_by_desc(groups::Column::Id)
            .offset(query.offset)
            .limit(query.limit)
            .all(&self.db)
            .await
            .db_context("cannot list groups")?;
        Ok(GroupPage {
            groups: details(&self.db, rows).await?,
            total,
        })
    }

    async fn update_group(
        &self,
        id: GroupId,
        change: &GroupChange,
    ) -> anyhow::Result<Option<GroupDetail>> {
        let mut row = groups::ActiveModel {
            updated_at: Set(stored_time(self.clock.now())),
            ..Default::default()
        };
        if let Some(name) = &change.name {
            row.name = Set(name.as_str().to_owned());
        }
        if let Some(description) = &change.description {
            row.description = Set(description.as_ref().map(|d| d.as_str().to_owned()));
        }
        let result = groups::Entity::update_many()
            .set(row)
            .filter(groups::Column::Id.eq(id.get()))
            .exec(&self.db)
            .await
            .with_db_context(|| format!("cannot update group {id}"))?;
        if result.rows_affected == 0 {
            return Ok(None);
        }
        Self::group_detail(&self.db, id.get()).await
    }

    async fn delete_group(&self, id: GroupId) -> anyhow::Result<bool> {
        let result = groups::Entity::delete_by_id(id.get())
            .exec(&self.db)
            .await
            .with_db_context(|| format!("cannot delete group {id}"))?;
        Ok(result.rows_affected > 0)
    }

    async fn change_seats(
        &self,
        id: GroupId,
        seat: GroupSeat,
        users: &[UserId],
        toggle: Toggle,
    ) -> anyhow::Result<Option<GrantChange<UserRef, UserId>>> {
        let txn = self
            .begin_write()
            .await
            .db_context("cannot begin a seat change")?;
        if groups::Entity::find_by_id(id.get())
            .one(&*txn)
            .await
            .with_db_context(|| format!("cannot load group {id}"))?
            .is_none()
        {
            return Ok(None);
        }
        let known = known_users(&*txn, users).await?;
        let change = GrantTable::seats(seat)
            .change(
                &*txn,
                id.get(),
                users,
                &known,
                toggle,
                stored_time(self.clock.now()),
            )
            .await
            .with_db_context(|| format!("cannot change the seats of group {id}"))?;
        txn.commit()
            .await
            .db_context("cannot commit a seat change")?;
        Ok(Some(change))
    }

    async fn transfer_group(
        &self,
        id: GroupId,
        new_owner: UserId,
    ) -> Result<Option<GroupDetail>, TransferError> {
        let row = groups::ActiveModel {
            owner_id: Set(new_owner.get()),
            updated_at: Set(stored_time(self.clock.now())),
            ..Default::default()
        };
        let result = groups::Entity::update_many()
            .set(row)
            .filter(groups::Column::Id.eq(id.get()))
            .exec(&self.db)
            .await;
        match result {
            Ok(result) if result.rows_affected == 0 => Ok(None),
            Ok(_) => Ok(Self::group_detail(&self.db, id.get()).await?),
            Err(err) if is_foreign_key_violation(&err) => Err(TransferError::NoSuchUser),
            Err(err) => {
                Err(crate::errors::db_error(format!("cannot transfer group {id}"), err).into())
            }
        }
    }
}
