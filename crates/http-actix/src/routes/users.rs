//! User administration (contract §4); the scope is wrapped in `require_user` + `require_admin`.

use actix_web::{HttpResponse, delete, get, put, routes, web};
use reefguide_domain::{Email, LogQuery, PageRequest, Password, Roles, UserId, UserLogEntry};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::errors::{ApiError, ErrorBody};
use crate::extract::{CurrentUser, PathId};
use crate::openapi::responses::{NotAdmin, Unauthenticated};
use crate::routes::{Registry, RouteSet};
use crate::wire::{MessageResponse, UserDto, Validation, timestamp};

/// Default and largest page sizes of the audit log.
const LOG_DEFAULT_LIMIT: u32 = 50;
const LOG_MAX_LIMIT: u32 = 100;

/// The routes (inside the `/api/users` scope, which requires ADMIN).
pub struct Routes;

impl RouteSet for Routes {
    fn register<R: Registry>(routes: &mut R) {
        routes
            .handler(list_logs)
            .handler(list_users)
            .handler(create_user)
            .handler(get_user)
            .handler(delete_user)
            .handler(set_roles)
            .handler(reset_password);
    }
}

/// Every user.
#[utoipa::path(tag = "users", security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "All users", body = Vec<UserDto>),
        Unauthenticated,
        NotAdmin))]
#[routes]
#[get("")]
#[get("/")]
pub async fn list_users(state: web::Data<AppState>) -> Result<web::Json<Vec<UserDto>>, ApiError> {
    let users = state.users.list().await?;
    Ok(web::Json(users.iter().map(UserDto::from).collect()))
}

/// One user.
#[utoipa::path(tag = "users", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserDto),
        (status = 400, description = "Invalid id", body = ErrorBody),
        Unauthenticated,
        NotAdmin,
        (status = 404, description = "No such user", body = ErrorBody)))]
#[get("/{id}")]
pub async fn get_user(
    PathId(id): PathId<UserId>,
    state: web::Data<AppState>,
) -> Result<web::Json<UserDto>, ApiError> {
    let user = state.users.get(id).await?;
    Ok(web::Json(UserDto::from(&user)))
}

/// A user to create.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    /// Email address.
    #[schema(example = "worker@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// Initial password (8 to 128 characters).
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    /// Roles (`ADMIN`, `ANALYST`, `WORKER`); none by default.
    #[serde(default)]
    #[schema(value_type = Vec<crate::wire::RoleName>)]
    pub roles: Vec<String>,
}

/// The new user's id.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateUserResponse {
    /// Id.
    pub id: i32,
}

/// Creates a user with roles.
#[utoipa::path(tag = "users", security(("bearerAuth" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 200, description = "Created", body = CreateUserResponse),
        (status = 400, description = "Invalid fields or `user_exists`", body = ErrorBody),
        Unauthenticated,
        NotAdmin))]
#[routes]
#[post("")]
#[post("/")]
pub async fn create_user(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<CreateUserRequest>,
) -> Result<web::Json<CreateUserResponse>, ApiError> {
    let mut validation = Validation::default();
    let email = validation.field("email", Email::parse(&body.email));
    let password = validation.field("password", Password::new(&body.password));
    let roles = validation.field("roles", Roles::parse(&body.roles));
    let (email, password, roles) = validation.finish((email, password, roles))?;
    let id = state.users.create(&actor, email, &password, roles).await?;
    Ok(web::Json(CreateUserResponse { id: id.get() }))
}

/// New roles.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SetRolesRequest {
    /// The complete new set of roles.
    #[schema(value_type = Vec<crate::wire::RoleName>)]
    pub roles: Vec<String>,
}

/// Replaces a user's roles.
#[utoipa::path(tag = "users", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "User id")), request_body = SetRolesRequest,
    responses(
        (status = 200, description = "Updated user", body = UserDto),
        (status = 400, description = "Invalid id or role", body = ErrorBody),
        Unauthenticated,
        NotAdmin,
        (status = 404, description = "No such user", body = ErrorBody)))]
#[put("/{id}/roles")]
pub async fn set_roles(
    PathId(id): PathId<UserId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<SetRolesRequest>,
) -> Result<web::Json<UserDto>, ApiError> {
    let mut validation = Validation::default();
    let roles = validation.field("roles", Roles::parse(&body.roles));
    let roles = validation.finish((roles,))?;
    let user = state.users.set_roles(&actor, id, roles).await?;
    Ok(web::Json(UserDto::from(&user)))
}

/// A new password.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    /// The new password (8 to 128 characters).
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
}

/// Sets a user's password and revokes its refresh tokens.
#[utoipa::path(tag = "users", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "User id")), request_body = ResetPasswordRequest,
    responses(
        (status = 200, description = "Password set", body = MessageResponse),
        (status = 400, description = "Invalid id or weak password", body = ErrorBody),
        Unauthenticated,
        NotAdmin,
        (status = 404, description = "No such user", body = ErrorBody)))]
#[put("/{id}/password")]
pub async fn reset_password(
    PathId(id): PathId<UserId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<ResetPasswordRequest>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let mut validation = Validation::default();
    let password = validation.field("password", Password::new(&body.password));
    let password = validation.finish((password,))?;
    state.users.reset_password(&actor, id, &password).await?;
    Ok(web::Json(MessageResponse::new("Password updated")))
}

/// Deletes a user, its refresh tokens and what it owns; its log entries stay.
#[utoipa::path(tag = "users", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Invalid id", body = ErrorBody),
        Unauthenticated,
        NotAdmin,
        (status = 404, description = "No such user", body = ErrorBody)))]
#[delete("/{id}")]
pub async fn delete_user(
    PathId(id): PathId<UserId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.users.delete(&actor, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Audit-log query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// Only entries about this user.
    #[serde(rename = "userId")]
    #[param(value_type = Option<i32>, minimum = 1)]
    pub user_id: Option<String>,
    /// 1-based page (default 1).
    #[param(value_type = Option<i64>)]
    pub page: Option<String>,
    /// Page size, clamped to 1..100 (default 50).
    #[param(value_type = Option<i64>)]
    pub limit: Option<String>,
}

/// A log entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogEntryDto {
    /// Entry id.
    pub id: i32,
    /// The user it is about.
    #[serde(rename = "userId")]
    pub user_id: i32,
    /// When.
    #[schema(example = "2026-01-02T03:04:05.678Z")]
    pub time: String,
    /// `LOGIN`, `LOGOUT`, `CHANGE_PASSWORD`, `UPDATED`, `CREATED`, `DELETED`, or a project or
    /// group event (`CREATE_GROUP`, `SHARE_PROJECT`, … as R2 names them).
    pub action: String,
    /// Detail.
    pub metadata: Option<serde_json::Value>,
    /// The user, null once deleted.
    pub user: Option<UserDto>,
}

impl From<&UserLogEntry> for LogEntryDto {
    fn from(entry: &UserLogEntry) -> Self {
        Self {
            id: entry.id,
            user_id: entry.user_id.get(),
            time: timestamp(entry.time),
            action: entry.action.as_str().to_owned(),
            metadata: entry.metadata.clone(),
            user: entry.user.as_ref().map(UserDto::from),
        }
    }
}

/// Page information.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogPagination {
    /// This page.
    pub page: u32,
    /// Page size.
    pub limit: u32,
    /// Matching entries.
    pub total: u64,
    /// Pages in all.
    pub pages: u64,
}

/// A page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogResponse {
    /// Entries, newest first.
    pub logs: Vec<LogEntryDto>,
    /// Paging.
    pub pagination: LogPagination,
}

/// An optional integer query parameter: `Some(None)` when absent, `None` (with the failure
/// recorded) when not an integer.
pub(crate) fn optional_integer(
    path: &str,
    raw: Option<&str>,
    validation: &mut Validation,
) -> Option<Option<i64>> {
    match raw {
        None => Some(None),
        Some(text) => validation
            .field(
                path,
                crate::wire::query_integer(text).ok_or("must be an integer"),
            )
            .map(Some),
    }
}

/// The audit log, newest first.
#[utoipa::path(tag = "users", security(("bearerAuth" = [])),
    params(LogParams),
    responses(
        (status = 200, description = "A page of entries", body = LogResponse),
        (status = 400, description = "Non-numeric parameter", body = ErrorBody),
        Unauthenticated,
        NotAdmin))]
#[get("/utils/log")]
pub async fn list_logs(
    state: web::Data<AppState>,
    params: web::Query<LogParams>,
) -> Result<web::Json<LogResponse>, ApiError> {
    let mut validation = Validation::default();
    let user_id = match params.user_id.as_deref() {
        None => Some(None),
        Some(raw) => validation
            .field(
                "userId",
                crate::wire::query_integer(raw)
                    .ok_or_else(|| "must be a positive integer".to_owned())
                    .and_then(|id| UserId::new(id).map_err(|e| e.to_string())),
            )
            .map(Some),
    };
    let page = optional_integer("page", params.page.as_deref(), &mut validation);
    let limit = optional_integer("limit", params.limit.as_deref(), &mut validation);
    let (user_id, page, limit) = validation.finish((user_id, page, limit))?;
    let page = PageRequest::clamped(page, limit, LOG_DEFAULT_LIMIT, LOG_MAX_LIMIT);
    let result = state.users.logs(LogQuery { user_id, page }).await?;
    Ok(web::Json(LogResponse {
        logs: result.entries.iter().map(LogEntryDto::from).collect(),
        pagination: LogPagination {
            page: page.page(),
            limit: page.limit(),
            total: result.total,
            pages: page.pages_for(result.total),
        },
    }))
}
