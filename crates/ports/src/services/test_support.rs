//! A mock of the whole account store (the three repositories at once) and test fixtures.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone as _, Utc};
use reefguide_domain::user::errors::CreateUserError;
use reefguide_domain::{
    Email, LogPage, LogQuery, NewUserLogEntry, PasswordHash, RefreshTokenHash, RefreshTokenRecord,
    Roles, User, UserCredentials, UserId,
};

use reefguide_domain::geometry::{PolygonGeometry, PolygonLimits};
use reefguide_domain::{ExternalIdentity, Note, NoteContent, NoteId, Polygon, PolygonId};

use reefguide_domain::auth::reset::{NewPasswordReset, PasswordReset, ResetSelector};
use reefguide_domain::user::errors::PreApprovalError;
use reefguide_domain::user::pre_approval::{
    NewPreApproval, PreApproval, PreApprovalChange, PreApprovalId, PreApprovalQuery,
};

use crate::repositories::{
    GrantChange, GroupRef, NewUser, NoteRepository, PasswordResetRepository, PolygonPage,
    PolygonQuery, PolygonRepository, PreApprovalPage, PreApprovalRepository, ProjectDetail,
    ProjectPage, ProjectQuery, ProjectRepository, ProjectWriteError, RefreshTokenRepository,
    Registered, Toggle, UserLogRepository, UserRef, UserRepository,
};
use reefguide_domain::project::ProjectId;

mockall::mock! {
    pub Store {}

    #[async_trait]
    impl UserRepository for Store {
        async fn create_user(&self, new_user: NewUser) -> Result<User, CreateUserError>;
        async fn find_user(&self, id: UserId) -> anyhow::Result<Option<User>>;
        async fn find_or_create_external(&self, identity: &ExternalIdentity, now: DateTime<Utc>) -> anyhow::Result<User>;
        async fn find_credentials_by_email(&self, email: &Email) -> anyhow::Result<Option<UserCredentials>>;
        async fn find_credentials(&self, id: UserId) -> anyhow::Result<Option<UserCredentials>>;
        async fn list_users(&self) -> anyhow::Result<Vec<User>>;
        async fn search_users(&self, search: &reefguide_domain::user::search::UserSearch) -> anyhow::Result<Vec<User>>;
        async fn find_users(&self, ids: &[UserId]) -> anyhow::Result<Vec<User>>;
        async fn set_roles(&self, id: UserId, roles: &Roles) -> anyhow::Result<Option<User>>;
        async fn set_password_hash(&self, id: UserId, hash: &PasswordHash) -> anyhow::Result<bool>;
        async fn delete_user(&self, id: UserId) -> anyhow::Result<bool>;
    }

    #[async_trait]
    impl RefreshTokenRepository for Store {
        async fn insert_refresh_token(&self, record: &RefreshTokenRecord) -> anyhow::Result<()>;
        async fn find_refresh_token(&self, hash: &RefreshTokenHash) -> anyhow::Result<Option<RefreshTokenRecord>>;
        async fn revoke_refresh_token(&self, hash: &RefreshTokenHash, at: DateTime<Utc>) -> anyhow::Result<bool>;
        async fn mark_refresh_token_rotated(&self, hash: &RefreshTokenHash, at: DateTime<Utc>) -> anyhow::Result<bool>;
        async fn revoke_refresh_token_family(&self, family: &str, at: DateTime<Utc>) -> anyhow::Result<u64>;
        async fn revoke_user_refresh_tokens(&self, user_id: UserId, at: DateTime<Utc>) -> anyhow::Result<u64>;
    }

    #[async_trait]
    impl PolygonRepository for Store {
        async fn create_polygon_in(&self, owner: UserId, geometry: &PolygonGeometry, project: Option<reefguide_domain::project::ProjectId>) -> anyhow::Result<Polygon>;
        async fn find_polygon(&self, id: PolygonId) -> anyhow::Result<Option<Polygon>>;
        async fn list_polygons(&self, query: &PolygonQuery) -> anyhow::Result<PolygonPage>;
        async fn update_polygon_in(&self, id: PolygonId, geometry: &PolygonGeometry, project: Option<reefguide_domain::project::ProjectId>) -> anyhow::Result<Option<Polygon>>;
        async fn delete_polygon(&self, id: PolygonId) -> anyhow::Result<bool>;
    }

    #[async_trait]
    impl NoteRepository for Store {
        async fn create_note(&self, author: UserId, polygon: PolygonId, content: &NoteContent) -> anyhow::Result<Option<Note>>;
        async fn find_note(&self, id: NoteId) -> anyhow::Result<Option<Note>>;
        async fn list_notes(&self, author: Option<UserId>) -> anyhow::Result<Vec<Note>>;
        async fn list_polygon_notes(&self, polygons: &[PolygonId]) -> anyhow::Result<Vec<Note>>;
        async fn update_note(&self, id: NoteId, content: &NoteContent) -> anyhow::Result<Option<Note>>;
        async fn delete_note(&self, id: NoteId) -> anyhow::Result<bool>;
    }

    #[async_trait]
    impl ProjectRepository for Store {
        async fn create_project(&self, new: &reefguide_domain::project::NewProject) -> Result<ProjectDetail, ProjectWriteError>;
        async fn find_project(&self, id: ProjectId) -> anyhow::Result<Option<ProjectDetail>>;
        async fn project_shared_with(&self, id: ProjectId, user: UserId) -> anyhow::Result<bool>;
        async fn list_projects(&self, query: &ProjectQuery) -> anyhow::Result<ProjectPage>;
        async fn update_project(&self, id: ProjectId, change: &reefguide_domain::project::ProjectChange) -> Result<Option<ProjectDetail>, ProjectWriteError>;
        async fn set_project_public(&self, id: ProjectId, is_public: bool) -> anyhow::Result<Option<reefguide_domain::project::Project>>;
        async fn delete_project(&self, id: ProjectId) -> anyhow::Result<bool>;
        async fn share_with_users(&self, id: ProjectId, users: &[UserId], toggle: Toggle) -> anyhow::Result<Option<GrantChange<UserRef, UserId>>>;
        async fn share_with_groups(&self, id: ProjectId, groups: &[reefguide_domain::group::GroupId], toggle: Toggle) -> anyhow::Result<Option<GrantChange<GroupRef, reefguide_domain::group::GroupId>>>;
    }

    #[async_trait]
    impl PasswordResetRepository for Store {
        async fn latest_unused_reset(&self, email: &Email) -> anyhow::Result<Option<DateTime<Utc>>>;
        async fn insert_password_reset(&self, reset: &NewPasswordReset) -> anyhow::Result<bool>;
        async fn find_password_reset(&self, selector: &ResetSelector) -> anyhow::Result<Option<PasswordReset>>;
        async fn count_reset_attempt(&self, id: i64) -> anyhow::Result<()>;
        async fn use_password_reset(&self, id: i64, user_id: UserId, new_hash: &PasswordHash, now: DateTime<Utc>) -> anyhow::Result<bool>;
    }

    #[async_trait]
    impl PreApprovalRepository for Store {
        async fn insert_pre_approval(&self, new: &NewPreApproval) -> Result<PreApproval, PreApprovalError>;
        async fn find_pre_approval(&self, id: PreApprovalId) -> anyhow::Result<Option<PreApproval>>;
        async fn find_pre_approval_by_email(&self, email: &Email) -> anyhow::Result<Option<PreApproval>>;
        async fn list_pre_approvals(&self, query: &PreApprovalQuery) -> anyhow::Result<PreApprovalPage>;
        async fn update_pre_approval(&self, id: PreApprovalId, change: &PreApprovalChange, now: DateTime<Utc>) -> Result<Option<PreApproval>, PreApprovalError>;
        async fn delete_pre_approval(&self, id: PreApprovalId) -> anyhow::Result<bool>;
        async fn delete_used_pre_approvals(&self, cutoff: DateTime<Utc>) -> anyhow::Result<u64>;
        async fn register_user(&self, new_user: NewUser, consumes: Option<PreApproval>, now: DateTime<Utc>) -> Result<Registered, CreateUserError>;
    }

    #[async_trait]
    impl UserLogRepository for Store {
        async fn append_user_log(&self, entry: &NewUserLogEntry) -> anyhow::Result<()>;
        async fn list_user_logs(&self, query: LogQuery) -> anyhow::Result<LogPage>;
    }
}

/// A fixed instant.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
        .single()
        .expect("valid instant")
}

/// A user with id 7.
pub fn user() -> User {
    User::local(
        UserId::new(7).expect("positive"),
        Email::parse("ana@example.com").expect("email"),
        Roles::none(),
    )
}

/// Its credentials.
pub fn credentials() -> UserCredentials {
    UserCredentials {
        user: user(),
        password_hash: PasswordHash::from_phc("$argon2id$stored".into()),
    }
}

/// A user with this id and roles.
pub fn user_with(id: i64, roles: &[reefguide_domain::Role]) -> User {
    User::local(
        UserId::new(id).expect("positive"),
        Email::parse(&format!("u{id}@example.com")).expect("email"),
        roles.iter().copied().collect(),
    )
}

/// A unit-square polygon with this id and owner.
pub fn polygon(id: i64, owner: i64) -> Polygon {
    let geometry = PolygonGeometry::parse(
        &serde_json::json!({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}),
        PolygonLimits::default(),
    )
    .expect("valid square");
    Polygon {
        id: PolygonId::new(id).expect("positive"),
        owner: UserId::new(owner).expect("positive"),
        created_at: now(),
        shape: geometry.into(),
        project: None,
    }
}

/// A note with this id, author and polygon.
pub fn note(id: i64, author: i64, polygon: i64) -> Note {
    Note {
        id: NoteId::new(id).expect("positive"),
        created_at: now(),
        content: NoteContent::new("check depth").expect("valid"),
        author: UserId::new(author).expect("positive"),
        polygon_id: PolygonId::new(polygon).expect("positive"),
    }
}
