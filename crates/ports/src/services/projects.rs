//! Project use cases (R2's `/api/projects`): every rule of who may see or change a project is
//! the domain's ([`reefguide_domain::access`]); this applies them, calls storage and writes the
//! audit log (R2 defines the sharing events and never writes them).

use reefguide_domain::access::{may_change_project, may_view_project};
use reefguide_domain::group::GroupId;
use reefguide_domain::project::{NewProject, ProjectChange, ProjectError, ProjectId, ProjectType};
use reefguide_domain::{User, UserAction, UserId};
use serde_json::json;

use crate::clock::Clock;
use crate::repositories::{
    GrantChange, GroupRef, ProjectDetail, ProjectPage, ProjectQuery, ProjectRepository,
    ProjectWriteError, Toggle, UserLogRepository, UserRef, UserRepository,
};
use crate::services::audit_trail::record;

/// Everything the project use cases need from storage.
pub trait ProjectStore: ProjectRepository + UserRepository + UserLogRepository {}

impl<T> ProjectStore for T where T: ProjectRepository + UserRepository + UserLogRepository {}

/// A listing as the caller asked for it (what they may see is decided here).
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectListing {
    /// Only this type.
    pub kind: Option<ProjectType>,
    /// Only names containing this, in any case.
    pub name_contains: Option<String>,
    /// Page size.
    pub limit: u64,
    /// Projects to skip.
    pub offset: u64,
}

/// Most projects one bulk creation takes.
pub const MAX_BULK_PROJECTS: usize = 500;

/// One project of a bulk creation that was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkRefusal {
    /// The name asked for.
    pub name: String,
    /// Why (a sentence for the client).
    pub error: String,
}

/// The project use cases.
#[derive(Debug, Clone)]
pub struct ProjectService<S, C> {
    store: S,
    clock: C,
}

impl<S: ProjectStore, C: Clock> ProjectService<S, C> {
    /// Wires the service.
    pub fn new(store: S, clock: C) -> Self {
        Self { store, clock }
    }

    /// Creates a project owned by the caller.
    pub async fn create(
        &self,
        actor: &User,
        new: NewProject,
    ) -> Result<ProjectDetail, ProjectError> {
        let detail = self
            .store
            .create_project(&NewProject {
                owner: actor.id,
                ..new
            })
            .await
            .map_err(write_error(actor.id))?;
        self.log(actor.id, UserAction::CreateProject, &detail, json!({}))
            .await?;
        Ok(detail)
    }

    /// Creates projects for `owner` (administrators), each on its own: one refusal does not
    /// stop the others. Without such an owner, every project is refused, saying so (as R2).
    pub async fn create_many(
        &self,
        actor: &User,
        owner: UserId,
        projects: Vec<NewProject>,
    ) -> Result<(Vec<ProjectDetail>, Vec<BulkRefusal>), ProjectError> {
        if self.store.find_user(owner).await?.is_none() {
            let refused = projects
                .into_iter()
                .map(|new| BulkRefusal {
                    name: new.name.as_str().to_owned(),
                    error: ProjectError::OwnerNotFound(owner).to_string(),
                })
                .collect();
            return Ok((Vec::new(), refused));
        }
        let mut created = Vec::new();
        let mut refused = Vec::new();
        for new in projects {
            let name = new.name.as_str().to_owned();
            match self
                .store
                .create_project(&NewProject { owner, ..new })
                .await
                .map_err(write_error(owner))
            {
                Ok(detail) => {
                    self.log(
                        actor.id,
                        UserAction::CreateProject,
                        &detail,
                        json!({"bulk": true}),
                    )
                    .await?;
                    created.push(detail);
                }
                Err(ProjectError::Unexpected(error)) => return Err(error.into()),
                Err(error) => refused.push(BulkRefusal {
                    name,
                    error: error.to_string(),
                }),
            }
        }
        Ok((created, refused))
    }

    /// The projects the caller sees (all of them for administrators).
    pub async fn list(&self, actor: &User, listing: ProjectListing) -> anyhow::Result<ProjectPage> {
        self.store
            .list_projects(&ProjectQuery {
                visible_to: (!actor.roles.is_admin()).then_some(actor.id),
                owner: None,
                kind: listing.kind,
                name_contains: listing.name_contains,
                limit: listing.limit,
                offset: listing.offset,
            })
            .await
    }

    /// The caller's own projects.
    pub async fn mine(&self, actor: &User, limit: u64) -> anyhow::Result<ProjectPage> {
        self.store
            .list_projects(&ProjectQuery {
                visible_to: None,
                owner: Some(actor.id),
                kind: None,
                name_contains: None,
                limit,
                offset: 0,
            })
            .await
    }

    /// One project the caller sees.
    pub async fn get(&self, actor: &User, id: ProjectId) -> Result<ProjectDetail, ProjectError> {
        seen_project(&self.store, actor, id)
            .await?
            .ok_or(ProjectError::NotFound(id))
    }

    /// A project the caller sees and may change: hidden ones are not found, seen ones the caller
    /// does not own are refused.
    async fn owned(&self, actor: &User, id: ProjectId) -> Result<ProjectDetail, ProjectError> {
        let detail = self.get(actor, id).await?;
        if may_change_project(actor, detail.project.owner) {
            Ok(detail)
        } else {
            Err(ProjectError::NotOwner)
        }
    }

    /// Changes a project.
    pub async fn update(
        &self,
        actor: &User,
        id: ProjectId,
        change: ProjectChange,
    ) -> Result<ProjectDetail, ProjectError> {
        let before = self.owned(actor, id).await?;
        let detail = self
            .store
            .update_project(id, &change)
            .await
            .map_err(write_error(before.project.owner))?
            .ok_or(ProjectError::NotFound(id))?;
        self.log(
            actor.id,
            UserAction::UpdateProject,
            &detail,
            json!({
                "name": change.name.is_some(),
                "description": change.description.is_some(),
                "project_state": change.state.is_some(),
            }),
        )
        .await?;
        Ok(detail)
    }

    /// Deletes a project, its shares and its polygons.
    pub async fn delete(&self, actor: &User, id: ProjectId) -> Result<(), ProjectError> {
        let detail = self.owned(actor, id).await?;
        if !self.store.delete_project(id).await? {
            return Err(ProjectError::NotFound(id));
        }
        self.log(actor.id, UserAction::DeleteProject, &detail, json!({}))
            .await?;
        Ok(())
    }

    /// Makes a project public or private.
    pub async fn set_public(
        &self,
        actor: &User,
        id: ProjectId,
        is_public: bool,
    ) -> Result<ProjectDetail, ProjectError> {
        self.owned(actor, id).await?;
        self.store
            .set_project_public(id, is_public)
            .await?
            .ok_or(ProjectError::NotFound(id))?;
        let detail = self
            .store
            .find_project(id)
            .await?
            .ok_or(ProjectError::NotFound(id))?;
        self.log(
            actor.id,
            UserAction::UpdateProjectSharing,
            &detail,
            json!({"is_public": is_public}),
        )
        .await?;
        Ok(detail)
    }

    /// Shares a project with users, or stops sharing it.
    pub async fn share_with_users(
        &self,
        actor: &User,
        id: ProjectId,
        users: &[UserId],
        toggle: Toggle,
    ) -> Result<GrantChange<UserRef, UserId>, ProjectError> {
        let detail = self.owned(actor, id).await?;
        let change = self
            .store
            .share_with_users(id, users, toggle)
            .await?
            .ok_or(ProjectError::NotFound(id))?;
        if !change.changed.is_empty() {
            let ids: Vec<i32> = change.changed.iter().map(|user| user.id.get()).collect();
            self.log(
                actor.id,
                sharing_action(toggle),
                &detail,
                json!({"user_ids": ids}),
            )
            .await?;
        }
        Ok(change)
    }

    /// Shares a project with groups, or stops sharing it.
    pub async fn share_with_groups(
        &self,
        actor: &User,
        id: ProjectId,
        groups: &[GroupId],
        toggle: Toggle,
    ) -> Result<GrantChange<GroupRef, GroupId>, ProjectError> {
        let detail = self.owned(actor, id).await?;
        let change = self
            .store
            .share_with_groups(id, groups, toggle)
            .await?
            .ok_or(ProjectError::NotFound(id))?;
        if !change.changed.is_empty() {
            let ids: Vec<i32> = change.changed.iter().map(|group| group.id.get()).collect();
            self.log(
                actor.id,
                sharing_action(toggle),
                &detail,
                json!({"group_ids": ids}),
            )
            .await?;
        }
        Ok(change)
    }

    async fn log(
        &self,
        actor: UserId,
        action: UserAction,
        detail: &ProjectDetail,
        mut metadata: serde_json::Value,
    ) -> anyhow::Result<()> {
        if let Some(fields) = metadata.as_object_mut() {
            fields.insert("project_id".into(), json!(detail.project.id.get()));
            fields.insert("project_name".into(), json!(detail.project.name.as_str()));
        }
        record(&self.store, &self.clock, actor, action, metadata).await
    }
}

/// The project, when it exists and `actor` sees it (the domain's rule, asking the store whether
/// it is shared with the actor only when nothing else decides).
pub(crate) async fn seen_project<S: ProjectRepository>(
    store: &S,
    actor: &User,
    id: ProjectId,
) -> anyhow::Result<Option<ProjectDetail>> {
    let Some(detail) = store.find_project(id).await? else {
        return Ok(None);
    };
    let project = &detail.project;
    let shared = !may_view_project(actor, project.owner, project.is_public, false)
        && store.project_shared_with(id, actor.id).await?;
    Ok(may_view_project(actor, project.owner, project.is_public, shared).then_some(detail))
}

fn sharing_action(toggle: Toggle) -> UserAction {
    match toggle {
        Toggle::Add => UserAction::ShareProject,
        Toggle::Remove => UserAction::UnshareProject,
    }
}

fn write_error(owner: UserId) -> impl Fn(ProjectWriteError) -> ProjectError {
    move |error| match error {
        ProjectWriteError::DuplicateName(name) => ProjectError::DuplicateName(name),
        ProjectWriteError::OwnerNotFound => ProjectError::OwnerNotFound(owner),
        ProjectWriteError::Unexpected(error) => ProjectError::Unexpected(error),
    }
}
