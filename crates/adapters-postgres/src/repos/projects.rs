//! [`ProjectRepository`] for [`SeaOrmStore`].
//!
//! Who sees a project is one SQL condition ([`visible_to`]), used by the listing; the single
//! project check asks [`shared_with`] and leaves the rest of the rule to the domain. A project's
//! details (owner, shares with their users and groups) are loaded for a whole page in four
//! queries, whatever its size.

use std::collections::HashMap;

use anyhow::Context as _;
use async_trait::async_trait;
use reefguide_domain::UserId;
use reefguide_domain::group::GroupId;
use reefguide_domain::project::{
    NewProject, Project, ProjectChange, ProjectId, ProjectState, ProjectType,
};
use reefguide_domain::text::{Description, Label};
use reefguide_ports::{
    Grant, GrantChange, GroupRef, ProjectDetail, ProjectPage, ProjectQuery, ProjectRepository,
    ProjectWriteError, Toggle, UserRef,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, ConnectionTrait, DbBackend, EntityTrait as _,
    PaginatorTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use super::grants::GrantTable;
use super::sharing::{known_users, shared_with, user_refs, visible_to};
use super::{stored_time, user_id};
use crate::SeaOrmStore;
use crate::entities::{groups, project_group_shares, project_user_shares, projects};
use crate::errors::{DbContext as _, db_error, is_foreign_key_violation, on_unique_violation};

/// A stored project id as a domain id.
pub(crate) fn project_id(raw: i32) -> anyhow::Result<ProjectId> {
    ProjectId::new(i64::from(raw)).with_context(|| format!("stored project id {raw} is invalid"))
}

/// A stored group id as a domain id.
pub(crate) fn group_id(raw: i32) -> anyhow::Result<GroupId> {
    GroupId::new(i64::from(raw)).with_context(|| format!("stored group id {raw} is invalid"))
}

fn to_project(row: projects::Model) -> anyhow::Result<Project> {
    let stored_id = row.id;
    let parse = move || -> anyhow::Result<Project> {
        Ok(Project {
            id: project_id(row.id)?,
            owner: user_id(row.user_id)?,
            name: Label::new(&row.name)?,
            description: match row.description {
                Some(text) => Description::new(&text)?,
                None => None,
            },
            kind: row.kind.parse::<ProjectType>()?,
            state: ProjectState::from_stored(row.project_state),
            is_public: row.is_public,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    };
    parse().with_context(|| format!("stored project {stored_id} cannot be read"))
}

/// The projects of `rows` with their owners and shares, in the order of `rows`.
async fn details<C: ConnectionTrait>(
    db: &C,
    rows: Vec<projects::Model>,
) -> anyhow::Result<Vec<ProjectDetail>> {
    let ids: Vec<i32> = rows.iter().map(|row| row.id).collect();
    let user_shares = if ids.is_empty() {
        Vec::new()
    } else {
        project_user_shares::Entity::find()
            .filter(project_user_shares::Column::ProjectId.is_in(ids.clone()))
            .order_by_asc(project_user_shares::Column::Id)
            .all(db)
            .await
            .db_context("cannot load project shares")?
    };
    let group_shares = if ids.is_empty() {
        Vec::new()
    } else {
        project_group_shares::Entity::find()
            .filter(project_group_shares::Column::ProjectId.is_in(ids))
            .order_by_asc(project_group_shares::Column::Id)
            .all(db)
            .await
            .db_context("cannot load project shares")?
    };
    let users = user_refs(
        db,
        rows.iter()
            .map(|row| row.user_id)
            .chain(user_shares.iter().map(|share| share.user_id)),
    )
    .await?;
    let groups = group_refs(db, group_shares.iter().map(|share| share.group_id)).await?;
    let mut by_project_users: HashMap<i32, Vec<Grant<UserRef>>> = HashMap::new();
    for share in user_shares {
        if let Some(user) = users.get(&share.user_id) {
            by_project_users
                .entry(share.project_id)
                .or_default()
                .push(Grant {
                    id: share.id,
                    holder: user.clone(),
                    created_at: share.created_at,
                });
        }
    }
    let mut by_project_groups: HashMap<i32, Vec<Grant<GroupRef>>> = HashMap::new();
    for share in group_shares {
        if let Some(group) = groups.get(&share.group_id) {
            by_project_groups
                .entry(share.project_id)
                .or_default()
                .push(Grant {
                    id: share.id,
                    holder: group.clone(),
                    created_at: share.created_at,
                });
        }
    }
    rows.into_iter()
        .map(|row| {
            let owner = users
                .get(&row.user_id)
                .cloned()
                .with_context(|| format!("owner of project {} is missing", row.id))?;
            let id = row.id;
            Ok(ProjectDetail {
                project: to_project(row)?,
                owner,
                user_shares: by_project_users.remove(&id).unwrap_or_default(),
                group_shares: by_project_groups.remove(&id).unwrap_or_default(),
            })
        })
        .collect()
}

/// The groups among `ids`, by id.
async fn group_refs<C: ConnectionTrait>(
    db: &C,
    ids: impl IntoIterator<Item = i32>,
) -> anyhow::Result<HashMap<i32, GroupRef>> {
    let mut ids: Vec<i32> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    groups::Entity::find()
        .filter(groups::Column::Id.is_in(ids))
        .all(db)
        .await
        .db_context("cannot load groups")?
        .into_iter()
        .map(|row| {
            Ok((
                row.id,
                GroupRef {
                    id: group_id(row.id)?,
                    name: row.name,
                    description: row.description,
                },
            ))
        })
        .collect()
}

fn name_conflict(name: &Label) -> impl FnOnce() -> ProjectWriteError + '_ {
    move || ProjectWriteError::DuplicateName(name.as_str().to_owned())
}

impl SeaOrmStore {
    async fn project_detail<C: ConnectionTrait>(
        db: &C,
        id: i32,
    ) -> anyhow::Result<Option<ProjectDetail>> {
        let Some(row) = projects::Entity::find_by_id(id)
            .one(db)
            .await
            .with_db_context(|| format!("cannot load project {id}"))?
        else {
            return Ok(None);
        };
        Ok(details(db, vec![row]).await?.pop())
    }
}

#[async_trait]
impl ProjectRepository for SeaOrmStore {
    async fn create_project(&self, new: &NewProject) -> Result<ProjectDetail, ProjectWriteError> {
        let now = stored_time(self.clock.now());
        let row = projects::ActiveModel {
            name: Set(new.name.as_str().to_owned()),
            description: Set(new.description.as_ref().map(|d| d.as_str().to_owned())),
            kind: Set(new.kind.as_str().to_owned()),
            project_state: Set(new.state.as_json().clone()),
            is_public: Set(new.is_public),
            created_at: Set(now),
            updated_at: Set(now),
            user_id: Set(new.owner.get()),
            ..Default::default()
        };
        let inserted = match projects::Entity::insert(row).exec(&self.db).await {
            Ok(inserted) => inserted,
            Err(err) if is_foreign_key_violation(&err) => {
                return Err(ProjectWriteError::OwnerNotFound);
            }
            Err(err) => {
                return Err(on_unique_violation(&err, name_conflict(&new.name))
                    .unwrap_or_else(|| db_error("cannot create project", err).into()));
            }
        };
        Ok(Self::project_detail(&self.db, inserted.last_insert_id)
            .await?
            .context("project vanished after it was created")?)
    }

    async fn find_project(&self, id: ProjectId) -> anyhow::Result<Option<ProjectDetail>> {
        Self::project_detail(&self.db, id.get()).await
    }

    async fn project_shared_with(&self, id: ProjectId, user: UserId) -> anyhow::Result<bool> {
        let found = projects::Entity::find()
            .filter(projects::Column::Id.eq(id.get()))
            .filter(Expr::cust(shared_with(user)))
            .count(&self.db)
            .await
            .with_db_context(|| format!("cannot check the shares of project {id}"))?;
        Ok(found > 0)
    }

    async fn list_projects(&self, query: &ProjectQuery) -> anyhow::Result<ProjectPage> {
        let mut select = projects::Entity::find();
        if let Some(viewer) = query.visible_to {
            select = select.filter(Expr::cust(visible_to(viewer)));
        }
        if let Some(owner) = query.owner {
            select = select.filter(projects::Column::UserId.eq(owner.get()));
        }
        if let Some(kind) = query.kind {
            select = select.filter(projects::Column::Kind.eq(kind.as_str()));
        }
        if let Some(text) = &query.name_contains {
            // No LIKE (its wildcards would need escaping); the text is lower-cased here, where
            // its type is known.
            let position = match self.db.get_database_backend() {
                DbBackend::Postgres => "strpos(lower(projects.name), $1) > 0",
                _ => "instr(lower(projects.name), ?) > 0",
            };
            select = select.filter(Expr::cust_with_values(position, [text.to_lowercase()]));
        }
        let total = select
            .clone()
            .count(&self.db)
            .await
            .db_context("cannot count projects")?;
        let rows = select
            .order_by_desc(projects::Column::UpdatedAt)
            .order_by_desc(projects::Column::Id)
            .offset(query.offset)
            .limit(query.limit)
            .all(&self.db)
            .await
            .db_context("cannot list projects")?;
        Ok(ProjectPage {
            projects: details(&self.db, rows).await?,
            total,
        })
    }

    async fn update_project(
        &self,
        id: ProjectId,
        change: &ProjectChange,
    ) -> Result<Option<ProjectDetail>, ProjectWriteError> {
        let mut row = projects::ActiveModel {
            id: Set(id.get()),
            updated_at: Set(stored_time(self.clock.now())),
            ..Default::default()
        };
        if let Some(name) = &change.name {
            row.name = Set(name.as_str().to_owned());
        }
        if let Some(description) = &change.description {
            row.description = Set(description.as_ref().map(|d| d.as_str().to_owned()));
        }
        if let Some(state) = &change.state {
            row.project_state = Set(state.as_json().clone());
        }
        let updated = projects::Entity::update_many()
            .set(row)
            .filter(projects::Column::Id.eq(id.get()))
            .exec(&self.db)
            .await;
        match updated {
            Ok(result) if result.rows_affected == 0 => return Ok(None),
            Ok(_) => {}
            Err(err) => {
                // Only a new name can collide.
                let name = change.name.as_ref().map(Label::as_str).unwrap_or_default();
                return Err(on_unique_violation(&err, || {
                    ProjectWriteError::DuplicateName(name.to_owned())
                })
                .unwrap_or_else(|| db_error(format!("cannot update project {id}"), err).into()));
            }
        }
        Ok(Self::project_detail(&self.db, id.get()).await?)
    }

    async fn set_project_public(
        &self,
        id: ProjectId,
        is_public: bool,
    ) -> anyhow::Result<Option<Project>> {
        let row = projects::ActiveModel {
            is_public: Set(is_public),
            updated_at: Set(stored_time(self.clock.now())),
            ..Default::default()
        };
        let result = projects::Entity::update_many()
            .set(row)
            .filter(projects::Column::Id.eq(id.get()))
            .exec(&self.db)
            .await
            .with_db_context(|| format!("cannot publish project {id}"))?;
        if result.rows_affected == 0 {
            return Ok(None);
        }
        projects::Entity::find_by_id(id.get())
            .one(&self.db)
            .await
            .with_db_context(|| format!("cannot load project {id}"))?
            .map(to_project)
            .transpose()
    }

    async fn delete_project(&self, id: ProjectId) -> anyhow::Result<bool> {
        let result = projects::Entity::delete_by_id(id.get())
            .exec(&self.db)
            .await
            .with_db_context(|| format!("cannot delete project {id}"))?;
        Ok(result.rows_affected > 0)
    }

    async fn share_with_users(
        &self,
        id: ProjectId,
        users: &[UserId],
        toggle: Toggle,
    ) -> anyhow::Result<Option<GrantChange<UserRef, UserId>>> {
        let txn = self
            .begin_write()
            .await
            .db_context("cannot begin a share")?;
        if projects::Entity::find_by_id(id.get())
            .one(&*txn)
            .await
            .with_db_context(|| format!("cannot load project {id}"))?
            .is_none()
        {
            return Ok(None);
        }
        let known = known_users(&*txn, users).await?;
        let change = GrantTable::PROJECT_USERS
            .change(
                &*txn,
                id.get(),
                users,
                &known,
                toggle,
                stored_time(self.clock.now()),
            )
            .await
            .with_db_context(|| format!("cannot change the user shares of project {id}"))?;
        txn.commit().await.db_context("cannot commit a share")?;
        Ok(Some(change))
    }

    async fn share_with_groups(
        &self,
        id: ProjectId,
        groups: &[GroupId],
        toggle: Toggle,
    ) -> anyhow::Result<Option<GrantChange<GroupRef, GroupId>>> {
        let txn = self
            .begin_write()
            .await
            .db_context("cannot begin a share")?;
        if projects::Entity::find_by_id(id.get())
            .one(&*txn)
            .await
            .with_db_context(|| format!("cannot load project {id}"))?
            .is_none()
        {
            return Ok(None);
        }
        let known: HashMap<GroupId, GroupRef> =
            group_refs(&*txn, groups.iter().map(|group| group.get()))
                .await?
                .into_values()
                .map(|group| (group.id, group))
                .collect();
        let change = GrantTable::PROJECT_GROUPS
            .change(
                &*txn,
                id.get(),
                groups,
                &known,
                toggle,
                stored_time(self.clock.now()),
            )
            .await
            .with_db_context(|| format!("cannot change the group shares of project {id}"))?;
        txn.commit().await.db_context("cannot commit a share")?;
        Ok(Some(change))
    }
}
