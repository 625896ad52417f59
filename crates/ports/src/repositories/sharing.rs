//! Storage ports for projects and groups (R2), and for who they are shared with.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reefguide_domain::group::{Group, GroupChange, GroupDraft, GroupId, GroupSeat};
use reefguide_domain::project::{NewProject, Project, ProjectChange, ProjectId, ProjectType};
use reefguide_domain::{Email, UserId};

/// A user as listings show them next to a project or group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRef {
    /// Id.
    pub id: UserId,
    /// Email (`None` for an account of an external identity, which has none).
    pub email: Option<Email>,
}

/// A group as a project's shares show it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRef {
    /// Id.
    pub id: GroupId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
}

/// One share of a project, or one seat in a group, with when it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant<T> {
    /// Row id.
    pub id: i32,
    /// Who or what holds it.
    pub holder: T,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// Adding or removing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toggle {
    /// Grant (share, add).
    Add,
    /// Revoke (unshare, remove).
    Remove,
}

/// What one call adding or removing many grants did, item by item.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantChange<T, Id> {
    /// Items whose grant was made or revoked by this call.
    pub changed: Vec<T>,
    /// Items that already held it (adding) or did not hold it (removing).
    pub unchanged: Vec<T>,
    /// Ids that name nothing (no such user or group).
    pub missing: Vec<Id>,
}

impl<T, Id> Default for GrantChange<T, Id> {
    fn default() -> Self {
        Self {
            changed: Vec::new(),
            unchanged: Vec::new(),
            missing: Vec::new(),
        }
    }
}

/// A project with its owner and shares.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectDetail {
    /// The project.
    pub project: Project,
    /// Its owner.
    pub owner: UserRef,
    /// The users it is shared with, by share id.
    pub user_shares: Vec<Grant<UserRef>>,
    /// The groups it is shared with, by share id.
    pub group_shares: Vec<Grant<GroupRef>>,
}

/// Which projects to list.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectQuery {
    /// Only projects this user sees (`None`: every project, for administrators).
    pub visible_to: Option<UserId>,
    /// Only this user's own projects.
    pub owner: Option<UserId>,
    /// Only this type.
    pub kind: Option<ProjectType>,
    /// Only names containing this, in any case.
    pub name_contains: Option<String>,
    /// Page size.
    pub limit: u64,
    /// Projects to skip.
    pub offset: u64,
}

/// A page of projects, most recently updated first.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectPage {
    /// The projects.
    pub projects: Vec<ProjectDetail>,
    /// Projects matching the query in all.
    pub total: u64,
}

/// A refused project write.
#[derive(Debug, thiserror::Error)]
pub enum ProjectWriteError {
    /// The owner already has a project of that name (the store enforces it, also under
    /// concurrent writes).
    #[error("duplicate project name {0:?}")]
    DuplicateName(String),
    /// The owner has no account.
    #[error("no such owner")]
    OwnerNotFound,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Projects and their shares.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ProjectRepository: Send + Sync + 'static {
    /// Stores a new project.
    async fn create_project(&self, new: &NewProject) -> Result<ProjectDetail, ProjectWriteError>;

    /// The project with this id, with its owner and shares, if any.
    async fn find_project(&self, id: ProjectId) -> anyhow::Result<Option<ProjectDetail>>;

    /// Whether the project is shared with `user`, directly or with a group where `user` is the
    /// owner, a manager or a member.
    async fn project_shared_with(&self, id: ProjectId, user: UserId) -> anyhow::Result<bool>;

    /// A page of projects matching the query, most recently updated first (then by id).
    async fn list_projects(&self, query: &ProjectQuery) -> anyhow::Result<ProjectPage>;

    /// Applies a change; `Ok(None)` when the project does not exist.
    async fn update_project(
        &self,
        id: ProjectId,
        change: &ProjectChange,
    ) -> Result<Option<ProjectDetail>, ProjectWriteError>;

    /// Makes the project public or private; `None` when it does not exist.
    async fn set_project_public(
        &self,
        id: ProjectId,
        is_public: bool,
    ) -> anyhow::Result<Option<Project>>;

    /// Deletes a project with its shares and polygons; `false` when it does not exist.
    async fn delete_project(&self, id: ProjectId) -> anyhow::Result<bool>;

    /// Shares the project with these users, or stops sharing it; `None` when the project does
    /// not exist.
    async fn share_with_users(
        &self,
        id: ProjectId,
        users: &[UserId],
        toggle: Toggle,
    ) -> anyhow::Result<Option<GrantChange<UserRef, UserId>>>;

    /// Shares the project with these groups, or stops sharing it; `None` when the project does
    /// not exist.
    async fn share_with_groups(
        &self,
        id: ProjectId,
        groups: &[GroupId],
        toggle: Toggle,
    ) -> anyhow::Result<Option<GrantChange<GroupRef, GroupId>>>;
}

/// A group with its owner, managers and members.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupDetail {
    /// The group.
    pub group: Group,
    /// Its owner.
    pub owner: UserRef,
    /// Its managers, by seat id.
    pub managers: Vec<Grant<UserRef>>,
    /// Its members, by seat id.
    pub members: Vec<Grant<UserRef>>,
}

impl GroupDetail {
    /// Whether `user` holds this seat.
    pub fn holds(&self, user: UserId, seat: GroupSeat) -> bool {
        let seats = match seat {
            GroupSeat::Manager => &self.managers,
            GroupSeat::Member => &self.members,
        };
        seats.iter().any(|grant| grant.holder.id == user)
    }
}

/// Which groups to list.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupQuery {
    /// Only groups where this user is the owner, a manager or a member (`None`: every group).
    pub involving: Option<UserId>,
    /// Page size.
    pub limit: u64,
    /// Groups to skip.
    pub offset: u64,
}

/// A page of groups, most recently updated first.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupPage {
    /// The groups.
    pub groups: Vec<GroupDetail>,
    /// Groups matching the query in all.
    pub total: u64,
}

/// Groups and their seats.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait GroupRepository: Send + Sync + 'static {
    /// Stores a new group owned by `owner`.
    async fn create_group(&self, owner: UserId, draft: &GroupDraft) -> anyhow::Result<GroupDetail>;

    /// The group with this id, with its seats, if any.
    async fn find_group(&self, id: GroupId) -> anyhow::Result<Option<GroupDetail>>;

    /// A page of groups matching the query, most recently updated first (then by id).
    async fn list_groups(&self, query: &GroupQuery) -> anyhow::Result<GroupPage>;

    /// Applies a change; `None` when the group does not exist.
    async fn update_group(
        &self,
        id: GroupId,
        change: &GroupChange,
    ) -> anyhow::Result<Option<GroupDetail>>;

    /// Deletes a group with its seats and its project shares; `false` when it does not exist.
    async fn delete_group(&self, id: GroupId) -> anyhow::Result<bool>;

    /// Gives these users the seat, or takes it away; `None` when the group does not exist.
    async fn change_seats(
        &self,
        id: GroupId,
        seat: GroupSeat,
        users: &[UserId],
        toggle: Toggle,
    ) -> anyhow::Result<Option<GrantChange<UserRef, UserId>>>;

    /// Makes `new_owner` the owner; `Ok(None)` when the group does not exist, an error naming
    /// the user when they have no account.
    async fn transfer_group(
        &self,
        id: GroupId,
        new_owner: UserId,
    ) -> Result<Option<GroupDetail>, TransferError>;
}

/// A refused transfer of a group.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The new owner has no account.
    #[error("no such user")]
    NoSuchUser,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}
