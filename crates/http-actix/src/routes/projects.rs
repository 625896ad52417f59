//! Projects (R2's `/api/projects`, reefguide-r2 §3.2): create, list, read, change and delete
//! them, share them with users and groups, make them public.
//!
//! Who may do what is the domain's rule: a project is seen by its owner, administrators, its
//! sharees (directly or through a group) and, when public, everyone allowed the user features;
//! a project the caller does not see is not found (404). **Only its owner or an administrator
//! may update, delete, share or publish it**: a sharee or a viewer of a public project gets 403
//! (R2 let them update and delete it).

use actix_web::{HttpResponse, delete, get, post, put, routes, web};
use reefguide_domain::UserId;
use reefguide_domain::group::GroupId;
use reefguide_domain::project::{NewProject, ProjectChange, ProjectId, ProjectState, ProjectType};
use reefguide_domain::text::{Description, Label};
use reefguide_ports::services::{MAX_BULK_PROJECTS, ProjectListing};
use reefguide_ports::{Grant, GroupRef, ProjectDetail, Toggle, UserRef};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::errors::{ApiError, ErrorBody};
use crate::extract::{CurrentUser, PathId};
use crate::openapi::responses::Unauthenticated;
use crate::routes::sharing::{
    GroupIdError, GroupIdsRequest, GroupItem, UserBrief, UserIdError, UserIdsRequest, UserItem,
    entity_ids, present, user_change,
};
use crate::routes::users::optional_integer;
use crate::routes::{Registry, RouteSet};
use crate::wire::{MessageResponse, Validation, timestamp};

/// Default and largest page sizes of the listing (R2's).
const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = 100;
/// Most projects `/user/me` returns.
const MAX_MINE: u64 = 1000;
/// Largest `offset`.
const MAX_OFFSET: u64 = 1_000_000_000;

/// The routes (inside the `/api/projects` scope, behind the user-features gate). The id of
/// `/{id}` is digits only, so that `/bulk` (POST only) is not also a project id: another method
/// there is a 405, as at every path.
pub struct Routes;

impl RouteSet for Routes {
    fn register<R: Registry>(routes: &mut R) {
        routes
            .handler(list_projects)
            .handler(create_project)
            .handler(my_projects)
            .handler(bulk_create_projects)
            .handler(get_project)
            .handler(update_project)
            .handler(delete_project)
            .handler(share_with_users)
            .handler(unshare_with_users)
            .handler(share_with_groups)
            .handler(unshare_with_groups)
            .handler(set_publicity);
    }
}

/// A project type on the wire.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProjectTypeName {
    /// Site selection.
    SiteSelection,
    /// An ADRIA analysis.
    AdriaAnalysis,
}

impl From<ProjectTypeName> for ProjectType {
    fn from(name: ProjectTypeName) -> Self {
        match name {
            ProjectTypeName::SiteSelection => ProjectType::SiteSelection,
            ProjectTypeName::AdriaAnalysis => ProjectType::AdriaAnalysis,
        }
    }
}

impl From<ProjectType> for ProjectTypeName {
    fn from(kind: ProjectType) -> Self {
        match kind {
            ProjectType::SiteSelection => ProjectTypeName::SiteSelection,
            ProjectType::AdriaAnalysis => ProjectTypeName::AdriaAnalysis,
        }
    }
}

/// A share of a project with a user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserShareDto {
    /// Share id.
    pub id: i32,
    /// The project.
    pub project_id: i32,
    /// The user.
    pub user_id: i32,
    /// When it was shared.
    pub created_at: String,
    /// Same as `created_at`.
    pub updated_at: String,
    /// The user.
    pub user: UserBrief,
}

/// A group as a project share names it.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupBrief {
    /// Id.
    pub id: i32,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
}

/// A share of a project with a group.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupShareDto {
    /// Share id.
    pub id: i32,
    /// The project.
    pub project_id: i32,
    /// The group.
    pub group_id: i32,
    /// When it was shared.
    pub created_at: String,
    /// Same as `created_at`.
    pub updated_at: String,
    /// The group.
    pub group: GroupBrief,
}

/// A project as R2 serialises it, with its owner and shares.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectDto {
    /// Id.
    #[schema(example = 1)]
    pub id: i32,
    /// Name, unique among its owner's projects.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Kind of work.
    #[serde(rename = "type")]
    pub kind: ProjectTypeName,
    /// The front end's saved state (any JSON).
    #[schema(schema_with = any_json_schema)]
    pub project_state: Value,
    /// Seen by every user of the project features.
    pub is_public: bool,
    /// Creation time.
    #[schema(example = "2026-01-02T03:04:05.678Z")]
    pub created_at: String,
    /// Time of the last change.
    pub updated_at: String,
    /// Owner.
    pub user_id: i32,
    /// Owner.
    pub user: UserBrief,
    /// The users it is shared with.
    #[serde(rename = "userShares")]
    pub user_shares: Vec<UserShareDto>,
    /// The groups it is shared with.
    #[serde(rename = "groupShares")]
    pub group_shares: Vec<GroupShareDto>,
}

impl From<&ProjectDetail> for ProjectDto {
    fn from(detail: &ProjectDetail) -> Self {
        let project = &detail.project;
        let user_share = |grant: &Grant<UserRef>| UserShareDto {
            id: grant.id,
            project_id: project.id.get(),
            user_id: grant.holder.id.get(),
            created_at: timestamp(grant.created_at),
            updated_at: timestamp(grant.created_at),
            user: UserBrief::from(&grant.holder),
        };
        let group_share = |grant: &Grant<GroupRef>| GroupShareDto {
            id: grant.id,
            project_id: project.id.get(),
            group_id: grant.holder.id.get(),
            created_at: timestamp(grant.created_at),
            updated_at: timestamp(grant.created_at),
            group: GroupBrief {
                id: grant.holder.id.get(),
                name: grant.holder.name.clone(),
                description: grant.holder.description.clone(),
            },
        };
        Self {
            id: project.id.get(),
            name: project.name.as_str().to_owned(),
            description: project.description.as_ref().map(|d| d.as_str().to_owned()),
            kind: project.kind.into(),
            project_state: project.state.as_json().clone(),
            is_public: project.is_public,
            created_at: timestamp(project.created_at),
            updated_at: timestamp(project.updated_at),
            user_id: project.owner.get(),
            user: UserBrief::from(&detail.owner),
            user_shares: detail.user_shares.iter().map(user_share).collect(),
            group_shares: detail.group_shares.iter().map(group_share).collect(),
        }
    }
}

/// `{"project": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectResponse {
    /// The project.
    pub project: ProjectDto,
}

/// Listing paging.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectPagination {
    /// Matching projects in all.
    pub total: u64,
    /// Page size.
    pub limit: u64,
    /// Skipped.
    pub offset: u64,
}

/// `{"projects": […], "pagination": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectsResponse {
    /// Projects, most recently changed first.
    pub projects: Vec<ProjectDto>,
    /// Paging.
    pub pagination: ProjectPagination,
}

/// The saved state as stored: any JSON value (no `type`).
fn any_json_schema() -> utoipa::openapi::Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .description(Some("The front end's saved state: any JSON value."))
        .into()
}

/// The saved state sent: any JSON but `null`.
fn project_state_schema() -> utoipa::openapi::Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::Array(vec![
            Type::Object,
            Type::Array,
            Type::String,
            Type::Number,
            Type::Boolean,
        ]))
        .description(Some(
            "The front end's saved state: any JSON value but null, at most 1 MiB.",
        ))
        .examples([json!({"step": 1})])
        .into()
}

/// A project to create.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateProjectRequest {
    /// Name, 1 to 200 characters after trimming; unique among the caller's projects.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "\\S",
        example = "Reef survey"
    )]
    pub name: String,
    /// Description, at most 2000 characters (blank: none).
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// Kind of work.
    #[serde(rename = "type")]
    pub kind: ProjectTypeName,
    /// Public from the start (default false).
    #[serde(default)]
    pub public: bool,
    /// The front end's saved state.
    #[schema(schema_with = project_state_schema)]
    pub project_state: Value,
}

impl CreateProjectRequest {
    /// The project, or a 400 naming every bad field.
    fn validated(&self, owner: UserId) -> Result<NewProject, ApiError> {
        let mut validation = Validation::default();
        let name = validation.field("name", Label::new(&self.name));
        let description = validation.field(
            "description",
            self.description
                .as_deref()
                .map(Description::new)
                .transpose()
                .map(Option::flatten),
        );
        let state = validation.field("project_state", state(&self.project_state));
        let (name, description, state) = validation.finish((name, description, state))?;
        Ok(NewProject {
            owner,
            name,
            description,
            kind: self.kind.into(),
            state,
            is_public: self.public,
        })
    }
}

fn state(value: &Value) -> Result<ProjectState, String> {
    if value.is_null() {
        return Err("is required".to_owned());
    }
    ProjectState::new(value.clone()).map_err(|error| error.to_string())
}

/// Changes to a project (absent fields are kept).
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateProjectRequest {
    /// A new name, 1 to 200 characters after trimming.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: Option<String>,
    /// A new description (null or blank: none).
    #[serde(default, deserialize_with = "present")]
    #[schema(max_length = 2000, value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// A new state, any JSON (null: kept, as R2).
    #[schema(schema_with = any_json_schema)]
    pub project_state: Option<Value>,
}

impl UpdateProjectRequest {
    fn validated(&self) -> Result<ProjectChange, ApiError> {
        let mut validation = Validation::default();
        let name = validation.field("name", self.name.as_deref().map(Label::new).transpose());
        let description = validation.field(
            "description",
            self.description
                .as_ref()
                .map(|text| {
                    text.as_deref()
                        .map(Description::new)
                        .transpose()
                        .map(Option::flatten)
                })
                .transpose(),
        );
        let state = validation.field(
            "project_state",
            self.project_state.as_ref().map(state).transpose(),
        );
        let (name, description, state) = validation.finish((name, description, state))?;
        Ok(ProjectChange {
            name,
            description,
            state,
        })
    }
}

/// Listing filters and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProjectParams {
    /// Only this type.
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<ProjectTypeName>)]
    pub kind: Option<String>,
    /// Only names containing this, in any case.
    #[param(max_length = 200)]
    pub name: Option<String>,
    /// Page size, clamped to 1..100 (default 50). R2 refuses any value here; we take it.
    #[param(value_type = Option<i64>)]
    pub limit: Option<String>,
    /// Projects to skip (default 0).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<String>,
}

/// Pages a listing: `limit` 1 to `max` (default `default`), `offset` at least 0.
pub(crate) fn paging(
    limit: Option<&str>,
    offset: Option<&str>,
    default: u64,
    max: u64,
) -> Result<(u64, u64), ApiError> {
    let mut validation = Validation::default();
    let limit = optional_integer("limit", limit, &mut validation)
        .map(|limit| limit.map_or(default, |n| u64::try_from(n).unwrap_or(0).clamp(1, max)));
    let offset = optional_integer("offset", offset, &mut validation).and_then(|offset| {
        let offset = offset.unwrap_or(0);
        validation.field(
            "offset",
            u64::try_from(offset)
                .ok()
                .filter(|n| *n <= MAX_OFFSET)
                .ok_or("must be between 0 and 1000000000"),
        )
    });
    validation.finish((limit, offset))
}

/// The projects the caller sees (all for ADMIN), most recently changed first.
#[utoipa::path(tag = "projects", security(("bearerAuth" = [])),
    params(ProjectParams),
    responses(
        (status = 200, description = "A page of projects", body = ProjectsResponse),
        (status = 400, description = "Bad filter or paging", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller may not use projects", body = ErrorBody)))]
#[routes]
#[get("")]
#[get("/")]
pub async fn list_projects(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    params: web::Query<ProjectParams>,
) -> Result<web::Json<ProjectsResponse>, ApiError> {
    let (limit, offset) = paging(
        params.limit.as_deref(),
        params.offset.as_deref(),
        DEFAULT_LIMIT,
        MAX_LIMIT,
    )?;
    let kind = params
        .kind
        .as_deref()
        .map(str::parse::<ProjectType>)
        .transpose()
        .map_err(|error| ApiError::invalid_field("type", error))?;
    let name_contains = params
        .name
        .as_deref()
        .filter(|name| !name.is_empty())
        .map(str::to_owned);
    if name_contains
        .as_ref()
        .is_some_and(|name| name.chars().count() > 200)
    {
        return Err(ApiError::invalid_field(
            "name",
            "must be at most 200 characters",
        ));
    }
    let page = state
        .projects
        .list(
            &actor,
            ProjectListing {
                kind,
                name_contains,
                limit,
                offset,
            },
        )
        .await?;
    Ok(web::Json(ProjectsResponse {
        projects: page.projects.iter().map(ProjectDto::from).collect(),
        pagination: ProjectPagination {
            total: page.total,
            limit,
            offset,
        },
    }))
}

/// Creates a project owned by the caller.
#[utoipa::path(tag = "projects", security(("bearerAuth" = [])),
    request_body = CreateProjectRequest,
    responses(
        (status = 201, description = "Created", body = ProjectResponse),
        (status = 400, description = "Invalid fields, or the caller already has a project of that name", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller may not use projects", body = ErrorBody)))]
#[routes]
#[post("")]
#[post("/")]
pub async fn create_project(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<CreateProjectRequest>,
) -> Result<HttpResponse, ApiError> {
    let new = body.validated(actor.id)?;
    let detail = state.projects.create(&actor, new).await?;
    Ok(HttpResponse::Created().json(ProjectResponse {
        project: ProjectDto::from(&detail),
    }))
}

/// The caller's own projects (at most 1000), most recently changed first.
#[utoipa::path(tag = "projects", security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The caller's projects", body = ProjectsResponse),
        Unauthenticated,
        (status = 403, description = "The caller may not use projects", body = ErrorBody)))]
#[get("/user/me")]
pub async fn my_projects(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<ProjectsResponse>, ApiError> {
    let page = state.projects.mine(&actor, MAX_MINE).await?;
    let shown = page.projects.len() as u64;
    Ok(web::Json(ProjectsResponse {
        projects: page.projects.iter().map(ProjectDto::from).collect(),
        pagination: ProjectPagination {
            total: page.total,
            limit: shown,
            offset: 0,
        },
    }))
}

/// Projects to create for one user (ADMIN).
#[derive(Debug, Deserialize, ToSchema)]
pub struct BulkProjectsRequest {
    /// The projects, 1 to 500.
    #[schema(min_items = 1, max_items = 500)]
    pub projects: Vec<CreateProjectRequest>,
    /// Their owner.
    #[serde(rename = "userId", deserialize_with = "crate::wire::whole_number")]
    #[schema(minimum = 1, maximum = 2_147_483_647)]
    pub user_id: i64,
}

/// A project a bulk creation refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkProjectError {
    /// The name asked for.
    pub name: String,
    /// Why.
    pub error: String,
}

/// Counts of a bulk creation.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkProjectsSummary {
    /// Projects asked for.
    #[serde(rename = "totalRequested")]
    pub total_requested: usize,
    /// Projects created.
    #[serde(rename = "totalCreated")]
    pub total_created: usize,
    /// Projects refused.
    #[serde(rename = "totalErrors")]
    pub total_errors: usize,
}

/// What a bulk creation did.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkProjectsResponse {
    /// Created projects.
    pub created: Vec<ProjectDto>,
    /// Refused projects.
    pub errors: Vec<BulkProjectError>,
    /// Counts.
    pub summary: BulkProjectsSummary,
}

/// Creates projects for a user (ADMIN); each project is created or refused on its own.
#[utoipa::path(tag = "projects", security(("bearerAuth" = [])),
    request_body = BulkProjectsRequest,
    responses(
        (status = 201, description = "What was created and what was refused", body = BulkProjectsResponse),
        (status = 400, description = "Invalid fields", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "Not ADMIN", body = ErrorBody)))]
#[post("/bulk")]
pub async fn bulk_create_projects(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<BulkProjectsRequest>,
) -> Result<HttpResponse, ApiError> {
    if !actor.roles.is_admin() {
        return Err(ApiError::forbidden(
            "Only administrators may create projects in bulk",
        ));
    }
    let owner = UserId::new(body.user_id).map_err(|e| ApiError::invalid_field("userId", e))?;
    if body.projects.is_empty() || body.projects.len() > MAX_BULK_PROJECTS {
        return Err(ApiError::invalid_field(
            "projects",
            format!("must list 1 to {MAX_BULK_PROJECTS} projects"),
        ));
    }
    let mut projects = Vec::with_capacity(body.projects.len());
    let mut details = Vec::new();
    for (index, project) in body.projects.iter().enumerate() {
        match project.validated(owner) {
            Ok(new) => projects.push(new),
            Err(error) => details.extend(error.details_under(&format!("projects[{index}]"))),
        }
    }
    if !details.is_empty() {
        return Err(ApiError::validation(details));
    }
    let requested = projects.len();
    let (created, refused) = state.projects.create_many(&actor, owner, projects).await?;
    Ok(HttpResponse::Created().json(BulkProjectsResponse {
        summary: BulkProjectsSummary {
            total_requested: requested,
            total_created: created.len(),
            total_errors: refused.len(),
        },
        created: created.iter().map(ProjectDto::from).collect(),
        errors: refused
            .into_iter()
            .map(|refusal| BulkProjectError {
                name: refusal.name,
                error: refusal.error,
            })
            .collect(),
    }))
}

/// One project the caller sees.
#[utoipa::path(tag = "projects", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Project id")),
    responses(
        (status = 200, description = "The project", body = ProjectResponse),
        (status = 400, description = "Invalid id", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller may not use projects", body = ErrorBody),
        (status = 404, description = "No such project, or one the caller does not see", body = ErrorBody)))]
#[get("/{id:\\d+}")]
pub async fn get_project(
    PathId(id): PathId<ProjectId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<ProjectResponse>, ApiError> {
    let detail = state.projects.get(&actor, id).await?;
    Ok(web::Json(ProjectResponse {
        project: ProjectDto::from(&detail),
    }))
}

/// Changes a project (its owner or ADMIN).
#[utoipa::path(tag = "projects", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Project id")),
    request_body = UpdateProjectRequest,
    responses(
        (status = 200, description = "The changed project", body = ProjectResponse),
        (status = 400, description = "Invalid id or fields, or the owner already has a project of that name", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller sees the project but does not own it", body = ErrorBody),
        (status = 404, description = "No such project, or one the caller does not see", body = ErrorBody)))]
#[put("/{id:\\d+}")]
pub async fn update_project(
    PathId(id): PathId<ProjectId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<UpdateProjectRequest>,
) -> Result<web::Json<ProjectResponse>, ApiError> {
    let change = body.validated()?;
    let detail = state.projects.update(&actor, id, change).await?;
    Ok(web::Json(ProjectResponse {
        project: ProjectDto::from(&detail),
    }))
}

/// Deletes a project with its shares and polygons (its owner or ADMIN).
#[utoipa::path(tag = "projects", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Project id")),
    responses(
        (status = 200, description = "Deleted", body = MessageResponse),
        (status = 400, description = "Invalid id", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller sees the project but does not own it", body = ErrorBody),
        (status = 404, description = "No such project, or one the caller does not see", body = ErrorBody)))]
#[delete("/{id:\\d+}")]
pub async fn delete_project(
    PathId(id): PathId<ProjectId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    state.projects.delete(&actor, id).await?;
    Ok(web::Json(MessageResponse::new(
        "Project deleted successfully",
    )))
}

/// What sharing with users did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShareUsersResponse {
    /// `Project sharing completed`.
    pub message: String,
    /// Users it is now shared with.
    pub shared: Vec<UserItem>,
    /// Users it was already shared with.
    #[serde(rename = "alreadyShared")]
    pub already_shared: Vec<UserItem>,
    /// Ids that name no account.
    pub errors: Vec<UserIdError>,
}

/// What unsharing with users did.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnshareUsersResponse {
    /// `Project unsharing completed`.
    pub message: String,
    /// Users it is no longer shared with.
    pub unshared: Vec<UserItem>,
    /// Users it was not shared with.
    #[serde(rename = "notShared")]
    pub not_shared: Vec<UserItem>,
    /// Ids that name no account.
    pub errors: Vec<UserIdError>,
}

async fn change_user_shares(
    state: &AppState,
    actor: &reefguide_domain::User,
    id: ProjectId,
    body: &UserIdsRequest,
    toggle: Toggle,
) -> Result<crate::routes::sharing::UserChangeWire, ApiError> {
    let users: Vec<UserId> = entity_ids("userIds", &body.user_ids)?;
    let change = state
        .projects
        .share_with_users(actor, id, &users, toggle)
        .await?;
    Ok(user_change(&change))
}

/// Shares a project with users (its owner or ADMIN).
#[utoipa::path(tag = "projects", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Project id")),
    request_body = UserIdsRequest,
    responses(
        (status = 200, description = "Shared, user by user", body = ShareUsersResponse),
        (status = 400, description = "Invalid id or ids", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller sees the project but does not own it", body = ErrorBody),
        (status = 404, description = "No such project, or one the caller does not see", body = ErrorBody)))]
#[post("/{id}/share/users")]
pub async fn share_with_users(
    PathId(id): PathId<ProjectId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<UserIdsRequest>,
) -> Result<web::Json<ShareUsersResponse>, ApiError> {
    let change = change_user_shares(&state, &actor, id, &body, Toggle::Add).await?;
    Ok(web::Json(ShareUsersResponse {
        message: "Project sharing completed".to_owned(),
        shared: change.changed,
        already_shared: change.unchanged,
        errors: change.errors,
    }))
}

/// Stops sharing a project with users (its owner or ADMIN).
#[utoipa::path(tag = "projects", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Project id")),
    request_body = UserIdsRequest,
    responses(
        (status = 200, description = "Unshared, user by user", body = UnshareUsersResponse),
        (status = 400, description = "Invalid id or ids", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller sees the project but does not own it", body = ErrorBody),
        (status = 404, description = "No such project, or one the caller does not see", body = ErrorBody)))]
#[delete("/{id}/share/users")]
pub async fn unshare_with_users(
    PathId(id): PathId<ProjectId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<UserIdsRequest>,
) -> Result<web::Json<UnshareUsersResponse>, ApiError> {
    let change = change_user_shares(&state, &actor, id, &body, Toggle::Remove).await?;
    Ok(web::Json(UnshareUsersResponse {
        message: "Project unsharing completed".to_owned(),
        unshared: change.changed,
        not_shared: change.unchanged,
        errors: change.errors,
    }))
}

/// What sharing with groups did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShareGroupsResponse {
    /// `Project sharing completed`.
    pub message: String,
    /// Groups it is now shared with.
    pub shared: Vec<GroupItem>,
    /// Groups it was already shared with.
    #[serde(rename = "alreadyShared")]
    pub already_shared: Vec<GroupItem>,
    /// Ids that name no group.
    pub errors: Vec<GroupIdError>,
}

/// What unsharing with groups did.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnshareGroupsResponse {
    /// `Project unsharing completed`.
    pub message: String,
    /// Groups it is no longer shared with.
    pub unshared: Vec<GroupItem>,
    /// Groups it was not shared with.
    #[serde(rename = "notShared")]
    pub not_shared: Vec<GroupItem>,
    /// Ids that name no group.
    pub errors: Vec<GroupIdError>,
}

type GroupChangeWire = (Vec<GroupItem>, Vec<GroupItem>, Vec<GroupIdError>);

async fn change_group_shares(
    state: &AppState,
    actor: &reefguide_domain::User,
    id: ProjectId,
    body: &GroupIdsRequest,
    toggle: Toggle,
) -> Result<GroupChangeWire, ApiError> {
    let groups: Vec<GroupId> = entity_ids("groupIds", &body.group_ids)?;
    let change = state
        .projects
        .share_with_groups(actor, id, &groups, toggle)
        .await?;
    Ok((
        change.changed.iter().map(GroupItem::from).collect(),
        change.unchanged.iter().map(GroupItem::from).collect(),
        change
            .missing
            .iter()
            .map(|id| GroupIdError {
                group_id: id.get(),
                error: "Group not found".to_owned(),
            })
            .collect(),
    ))
}

/// Shares a project with groups (its owner or ADMIN): their owners, managers and members see it.
#[utoipa::path(tag = "projects", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Project id")),
    request_body = GroupIdsRequest,
    responses(
        (status = 200, description = "Shared, group by group", body = ShareGroupsResponse),
        (status = 400, description = "Invalid id or ids", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller sees the project but does not own it", body = ErrorBody),
        (status = 404, description = "No such project, or one the caller does not see", body = ErrorBody)))]
#[post("/{id}/share/groups")]
pub async fn share_with_groups(
    PathId(id): PathId<ProjectId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<GroupIdsRequest>,
) -> Result<web::Json<ShareGroupsResponse>, ApiError> {
    let (shared, already_shared, errors) =
        change_group_shares(&state, &actor, id, &body, Toggle::Add).await?;
    Ok(web::Json(ShareGroupsResponse {
        message: "Project sharing completed".to_owned(),
        shared,
        already_shared,
        errors,
    }))
}

/// Stops sharing a project with groups (its owner or ADMIN).
#[utoipa::path(tag = "projects", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Project id")),
    request_body = GroupIdsRequest,
    responses(
        (status = 200, description = "Unshared, group by group", body = UnshareGroupsResponse),
        (status = 400, description = "Invalid id or ids", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller sees the project but does not own it", body = ErrorBody),
        (status = 404, description = "No such project, or one the caller does not see", body = ErrorBody)))]
#[delete("/{id}/share/groups")]
pub async fn unshare_with_groups(
    PathId(id): PathId<ProjectId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<GroupIdsRequest>,
) -> Result<web::Json<UnshareGroupsResponse>, ApiError> {
    let (unshared, not_shared, errors) =
        change_group_shares(&state, &actor, id, &body, Toggle::Remove).await?;
    Ok(web::Json(UnshareGroupsResponse {
        message: "Project unsharing completed".to_owned(),
        unshared,
        not_shared,
        errors,
    }))
}

/// `{"isPublic": bool}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PublicityRequest {
    /// Whether every user of the project features sees the project.
    #[serde(rename = "isPublic")]
    pub is_public: bool,
}

/// A project's publicity.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicityDto {
    /// Id.
    pub id: i32,
    /// Name.
    pub name: String,
    /// Public or not.
    #[serde(rename = "isPublic")]
    pub is_public: bool,
}

/// What a publicity change did.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicityResponse {
    /// `Project is now public` or `… private`.
    pub message: String,
    /// The project.
    pub project: PublicityDto,
}

/// Makes a project public or private (its owner or ADMIN).
#[utoipa::path(tag = "projects", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Project id")),
    request_body = PublicityRequest,
    responses(
        (status = 200, description = "Changed", body = PublicityResponse),
        (status = 400, description = "Invalid id or body", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller sees the project but does not own it", body = ErrorBody),
        (status = 404, description = "No such project, or one the caller does not see", body = ErrorBody)))]
#[put("/{id}/publicity")]
pub async fn set_publicity(
    PathId(id): PathId<ProjectId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<PublicityRequest>,
) -> Result<web::Json<PublicityResponse>, ApiError> {
    let detail = state
        .projects
        .set_public(&actor, id, body.is_public)
        .await?;
    let project = &detail.project;
    Ok(web::Json(PublicityResponse {
        message: format!(
            "Project is now {}",
            if project.is_public {
                "public"
            } else {
                "private"
            }
        ),
        project: PublicityDto {
            id: project.id.get(),
            name: project.name.as_str().to_owned(),
            is_public: project.is_public,
        },
    }))
}
