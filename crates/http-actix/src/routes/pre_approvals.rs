//! Pre-approved users (reefguide-r2 §3.2, `/api/auth/admin/pre-approved-users`, ADMIN only):
//! addresses approved with roles before their owners register; registering consumes them
//! (`POST /api/auth/register`). The shapes are R2's: a pre-approval is its Prisma row in
//! snake_case with `created_by_user: {id, email}`; wrappers are camelCase.

use actix_web::{HttpResponse, delete, get, post, put, routes, web};
use reefguide_domain::user::pre_approval::{
    CleanupAge, MAX_BULK_PRE_APPROVALS, PreApprovalChange, PreApprovalFilter, PreApprovalId,
    PreApprovalQuery, PreApprovalRole, PreApprovalRoles,
};
use reefguide_domain::{Email, UserId};
use reefguide_ports::services::PreApprovalView;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::errors::{ApiError, ErrorBody};
use crate::extract::{CurrentUser, PathId};
use crate::openapi::responses::{NotAdmin, Unauthenticated};
use crate::routes::users::optional_integer;
use crate::routes::{Guard, Registry, RouteSet};
use crate::wire::{MessageResponse, Validation, timestamp};

/// The routes (inside the `/api/auth/admin/pre-approved-users` scope, which requires ADMIN).
/// `bulk` and `cleanup` (POST only) are scopes of their own, before `/{id}`: as bare routes, a
/// GET to them would miss their method guard and reach `GET /{id}` (400, invalid id) instead of
/// getting a 405.
pub struct Routes;

impl RouteSet for Routes {
    fn register<R: Registry>(routes: &mut R) {
        routes
            .handler(create)
            .handler(list)
            .scope_of("/bulk", Guard::Open, create_many)
            .scope_of("/cleanup", Guard::Open, clean_up)
            .handler(get_one)
            .handler(update)
            .handler(delete_one);
    }
}

/// A role a pre-approval grants, as R2 names them: `DEFAULT` (every registered user's role in
/// R2) grants nothing beyond registering.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum PreApprovalRoleName {
    /// Administrator.
    Admin,
    /// Analyst.
    Analyst,
    /// No role.
    Default,
}

impl From<PreApprovalRole> for PreApprovalRoleName {
    fn from(role: PreApprovalRole) -> Self {
        match role {
            PreApprovalRole::Admin => Self::Admin,
            PreApprovalRole::Analyst => Self::Analyst,
            PreApprovalRole::Default => Self::Default,
        }
    }
}

/// The administrator who made a pre-approval.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatorDto {
    /// Id.
    #[schema(example = 1)]
    pub id: i32,
    /// Email; null for an account of an external token issuer.
    #[schema(example = "admin@example.com")]
    pub email: Option<String>,
}

/// A pre-approval as R2 serialises it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreApprovalDto {
    /// Id.
    #[schema(example = 1)]
    pub id: i32,
    /// The approved address (trimmed, lower-cased).
    #[schema(example = "ana@example.com")]
    pub email: String,
    /// What registering with it grants.
    pub roles: Vec<PreApprovalRoleName>,
    /// When it was made.
    #[schema(example = "2026-01-02T03:04:05.678Z")]
    pub created_at: String,
    /// When it was last changed.
    #[schema(example = "2026-01-02T03:04:05.678Z")]
    pub updated_at: String,
    /// The administrator who made it; null once that account is deleted.
    pub created_by_user_id: Option<i32>,
    /// Whether an account was registered with it.
    pub used: bool,
    /// When it was used.
    pub used_at: Option<String>,
    /// The administrator who made it.
    pub created_by_user: Option<CreatorDto>,
}

impl From<&PreApprovalView> for PreApprovalDto {
    fn from(view: &PreApprovalView) -> Self {
        let pre_approval = &view.pre_approval;
        Self {
            id: pre_approval.id.get(),
            email: pre_approval.email.as_str().to_owned(),
            roles: pre_approval
                .roles
                .as_slice()
                .iter()
                .copied()
                .map(PreApprovalRoleName::from)
                .collect(),
            created_at: timestamp(pre_approval.created_at),
            updated_at: timestamp(pre_approval.updated_at),
            created_by_user_id: pre_approval.created_by.map(UserId::get),
            used: pre_approval.used,
            used_at: pre_approval.used_at.map(timestamp),
            created_by_user: view.creator.as_ref().map(|creator| CreatorDto {
                id: creator.id.get(),
                email: creator.email().map(|email| email.as_str().to_owned()),
            }),
        }
    }
}

/// `{"preApprovedUser": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreApprovalResponse {
    /// The pre-approval.
    #[serde(rename = "preApprovedUser")]
    pub pre_approved_user: PreApprovalDto,
}

impl PreApprovalResponse {
    fn of(view: &PreApprovalView) -> Self {
        Self {
            pre_approved_user: PreApprovalDto::from(view),
        }
    }
}

/// An address to approve.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreatePreApprovalRequest {
    /// The address (case-insensitive; stored trimmed and lower-cased).
    #[schema(example = "ana@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// What registering with it grants: at least one role.
    #[schema(value_type = Vec<PreApprovalRoleName>, min_items = 1)]
    pub roles: Vec<String>,
}

/// The address and roles of an entry, validated, failures recorded under `prefix`.
fn parse_entry(
    entry: &CreatePreApprovalRequest,
    prefix: &str,
    validation: &mut Validation,
) -> Option<(Email, PreApprovalRoles)> {
    let email = validation.field(&format!("{prefix}email"), Email::parse(&entry.email));
    let roles = validation.field(
        &format!("{prefix}roles"),
        PreApprovalRoles::parse(&entry.roles),
    );
    Some((email?, roles?))
}

/// Approves an address with roles. It must have neither a pre-approval nor an account.
#[utoipa::path(tag = "users", security(("bearerAuth" = [])),
    request_body = CreatePreApprovalRequest,
    responses(
        (status = 201, description = "Made", body = PreApprovalResponse),
        (status = 400, description = "Invalid email or roles; `pre_approval_exists` when the \
            address has a pre-approval, `user_exists` when it has an account", body = ErrorBody),
        Unauthenticated,
        NotAdmin))]
#[routes]
#[post("")]
#[post("/")]
pub async fn create(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<CreatePreApprovalRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut validation = Validation::default();
    let entry = parse_entry(&body, "", &mut validation);
    let (email, roles) = validation.finish((entry,))?;
    let made = state.pre_approvals.create(&actor, email, roles).await?;
    Ok(HttpResponse::Created().json(PreApprovalResponse::of(&made)))
}

/// Addresses to approve.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BulkCreateRequest {
    /// At least one entry, at most 1000.
    #[schema(min_items = 1, max_items = 1000)]
    pub users: Vec<CreatePreApprovalRequest>,
}

/// An entry that was not approved.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkErrorDto {
    /// Its address as sent.
    pub email: String,
    /// Why.
    #[schema(example = "Pre-approval already exists for email: ana@example.com")]
    pub error: String,
}

/// Counts of a bulk request.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkSummary {
    /// Entries sent.
    pub total_requested: usize,
    /// Pre-approvals made.
    pub total_created: usize,
    /// Entries refused.
    pub total_errors: usize,
}

/// What a bulk request made and refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkCreateResponse {
    /// The pre-approvals made, in request order.
    pub created: Vec<PreApprovalDto>,
    /// The entries refused, in request order.
    pub errors: Vec<BulkErrorDto>,
    /// Counts.
    pub summary: BulkSummary,
}

/// Approves many addresses, each as `POST /api/auth/admin/pre-approved-users` does, one after
/// the other: an address that has a pre-approval (also one made earlier in the same request) or
/// an account is listed in `errors` and the others are made. An entry whose email or roles are
/// invalid refuses the whole request (400, nothing made), as R2's schema does.
#[utoipa::path(tag = "users", security(("bearerAuth" = [])),
    request_body = BulkCreateRequest,
    responses(
        (status = 201, description = "Made what could be made", body = BulkCreateResponse),
        (status = 400, description = "No entries, more than 1000, or an entry with an invalid \
            email or roles (each named in `details`)", body = ErrorBody),
        Unauthenticated,
        NotAdmin))]
#[post("")]
pub async fn create_many(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<BulkCreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let sent = &body.users;
    if sent.is_empty() || sent.len() > MAX_BULK_PRE_APPROVALS {
        return Err(ApiError::invalid_field(
            "users",
            format!("must hold 1 to {MAX_BULK_PRE_APPROVALS} entries"),
        ));
    }
    let mut validation = Validation::default();
    let entries: Vec<Option<(Email, PreApprovalRoles)>> = sent
        .iter()
        .enumerate()
        .map(|(index, entry)| parse_entry(entry, &format!("users[{index}]."), &mut validation))
        .collect();
    let entries = validation.finish((entries.into_iter().collect::<Option<Vec<_>>>(),))?;
    let outcome = state.pre_approvals.create_many(&actor, entries).await?;
    let errors: Vec<BulkErrorDto> = outcome
        .refused
        .iter()
        .map(|refusal| BulkErrorDto {
            email: sent
                .get(refusal.index)
                .map(|entry| entry.email.clone())
                .unwrap_or_default(),
            error: refusal.error.to_string(),
        })
        .collect();
    Ok(HttpResponse::Created().json(BulkCreateResponse {
        summary: BulkSummary {
            total_requested: sent.len(),
            total_created: outcome.created.len(),
            total_errors: errors.len(),
        },
        created: outcome.created.iter().map(PreApprovalDto::from).collect(),
        errors,
    }))
}

/// Listing filters, from the query string.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only addresses containing this text, in any case (trimmed; ignored when empty).
    #[param(max_length = 254, example = "example.com")]
    pub email: Option<String>,
    /// Only used (`true`) or unused (`false`) pre-approvals.
    #[param(value_type = Option<bool>)]
    pub used: Option<String>,
    /// Only those made by this administrator.
    #[serde(rename = "createdByUserId")]
    #[param(value_type = Option<i32>, minimum = 1)]
    pub created_by_user_id: Option<String>,
    /// Page size, clamped to 1..100 (default 50).
    #[param(value_type = Option<i64>)]
    pub limit: Option<String>,
    /// Pre-approvals skipped, 0..1000000000 (default 0).
    #[param(value_type = Option<u64>, minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<String>,
}

/// Listing paging.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreApprovalPagination {
    /// Matching pre-approvals in all.
    pub total: u64,
    /// Page size.
    pub limit: u32,
    /// Skipped.
    pub offset: u64,
}

/// A page of pre-approvals.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreApprovalListResponse {
    /// The pre-approvals, newest first.
    #[serde(rename = "preApprovedUsers")]
    pub pre_approved_users: Vec<PreApprovalDto>,
    /// Paging.
    pub pagination: PreApprovalPagination,
}

/// The listing query of `params`.
fn parse_listing(params: &ListParams) -> Result<PreApprovalQuery, ApiError> {
    let mut validation = Validation::default();
    let used = match params.used.as_deref() {
        None => Some(None),
        Some(raw) => validation
            .field(
                "used",
                match raw.trim().to_ascii_lowercase().as_str() {
                    "true" => Ok(true),
                    "false" => Ok(false),
                    _ => Err("must be true or false"),
                },
            )
            .map(Some),
    };
    let created_by = match params.created_by_user_id.as_deref() {
        None => Some(None),
        Some(raw) => validation
            .field(
                "createdByUserId",
                crate::wire::query_integer(raw)
                    .and_then(|id| UserId::new(id).ok())
                    .ok_or("must be a positive integer"),
            )
            .map(Some),
    };
    let limit = optional_integer("limit", params.limit.as_deref(), &mut validation);
    let offset = optional_integer("offset", params.offset.as_deref(), &mut validation);
    let (used, created_by, limit, offset) = validation.finish((used, created_by, limit, offset))?;
    let mut validation = Validation::default();
    let filter = validation.field(
        "email",
        PreApprovalFilter::new(params.email.as_deref(), used, created_by),
    );
    let filter = validation.finish((filter,))?;
    PreApprovalQuery::new(filter, limit, offset)
        .map_err(|error| ApiError::invalid_field("offset", error))
}

/// The pre-approvals, newest first, filtered by the query string.
///
/// **Unlike ReefGuide R2**, which reads these filters (`email`, `used`, `createdByUserId`,
/// `limit`, `offset`) from the body of the GET (a defect: many clients cannot send a GET body,
/// and R2 ignores a query string), this reads them from the query string; a body is ignored.
#[utoipa::path(tag = "users", security(("bearerAuth" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of pre-approvals", body = PreApprovalListResponse),
        (status = 400, description = "A filter that is not of its type, an email filter longer \
            than 254 characters, or an offset out of range", body = ErrorBody),
        Unauthenticated,
        NotAdmin))]
#[routes]
#[get("")]
#[get("/")]
pub async fn list(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    params: web::Query<ListParams>,
) -> Result<web::Json<PreApprovalListResponse>, ApiError> {
    let query = parse_listing(&params)?;
    let listing = state.pre_approvals.list(&actor, &query).await?;
    Ok(web::Json(PreApprovalListResponse {
        pre_approved_users: listing
            .pre_approvals
            .iter()
            .map(PreApprovalDto::from)
            .collect(),
        pagination: PreApprovalPagination {
            total: listing.total,
            limit: query.limit(),
            offset: query.offset(),
        },
    }))
}

/// One pre-approval.
#[utoipa::path(tag = "users", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Pre-approval id")),
    responses(
        (status = 200, description = "The pre-approval", body = PreApprovalResponse),
        (status = 400, description = "Invalid id", body = ErrorBody),
        Unauthenticated,
        NotAdmin,
        (status = 404, description = "No such pre-approval", body = ErrorBody)))]
#[get("/{id}")]
pub async fn get_one(
    PathId(id): PathId<PreApprovalId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<PreApprovalResponse>, ApiError> {
    let found = state.pre_approvals.get(&actor, id).await?;
    Ok(web::Json(PreApprovalResponse::of(&found)))
}

/// A change to a pre-approval; absent (or null) fields stay.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdatePreApprovalRequest {
    /// A new address: it must have neither a pre-approval nor an account.
    #[schema(example = "ana@example.com", format = Email, max_length = 254)]
    pub email: Option<String>,
    /// New roles: at least one.
    #[schema(value_type = Option<Vec<PreApprovalRoleName>>, min_items = 1)]
    pub roles: Option<Vec<String>>,
}

/// Changes the address and/or roles of a pre-approval that was not used yet.
#[utoipa::path(tag = "users", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Pre-approval id")),
    request_body = UpdatePreApprovalRequest,
    responses(
        (status = 200, description = "The changed pre-approval", body = PreApprovalResponse),
        (status = 400, description = "Invalid id, email or roles; `pre_approval_used` once it \
            was used; `pre_approval_exists` or `user_exists` for an address taken", body = ErrorBody),
        Unauthenticated,
        NotAdmin,
        (status = 404, description = "No such pre-approval", body = ErrorBody)))]
#[put("/{id}")]
pub async fn update(
    PathId(id): PathId<PreApprovalId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<UpdatePreApprovalRequest>,
) -> Result<web::Json<PreApprovalResponse>, ApiError> {
    let mut validation = Validation::default();
    let email = match body.email.as_deref() {
        None => Some(None),
        Some(raw) => validation.field("email", Email::parse(raw)).map(Some),
    };
    let roles = match body.roles.as_deref() {
        None => Some(None),
        Some(names) => validation
            .field("roles", PreApprovalRoles::parse(names))
            .map(Some),
    };
    let (email, roles) = validation.finish((email, roles))?;
    let updated = state
        .pre_approvals
        .update(&actor, id, PreApprovalChange { email, roles })
        .await?;
    Ok(web::Json(PreApprovalResponse::of(&updated)))
}

/// Deletes a pre-approval, used or not.
#[utoipa::path(tag = "users", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Pre-approval id")),
    responses(
        (status = 200, description = "`Successfully deleted pre-approval with ID n`", body = MessageResponse),
        (status = 400, description = "Invalid id", body = ErrorBody),
        Unauthenticated,
        NotAdmin,
        (status = 404, description = "No such pre-approval", body = ErrorBody)))]
#[delete("/{id}")]
pub async fn delete_one(
    PathId(id): PathId<PreApprovalId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    state.pre_approvals.delete(&actor, id).await?;
    Ok(web::Json(MessageResponse::new(format!(
        "Successfully deleted pre-approval with ID {id}"
    ))))
}

/// Which used pre-approvals to delete.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CleanupRequest {
    /// Used more than this many days ago (a number from 1 to 36500; default 30).
    #[serde(rename = "olderThanDays")]
    #[schema(example = 30, minimum = 1, maximum = 36_500)]
    pub older_than_days: Option<f64>,
}

/// How many were deleted.
#[derive(Debug, Serialize, ToSchema)]
pub struct CleanupResponse {
    /// Pre-approvals deleted.
    #[serde(rename = "deletedCount")]
    pub deleted_count: u64,
}

/// Deletes the used pre-approvals used more than `olderThanDays` days ago; unused ones stay.
#[utoipa::path(tag = "users", security(("bearerAuth" = [])),
    request_body = CleanupRequest,
    responses(
        (status = 200, description = "Deleted", body = CleanupResponse),
        (status = 400, description = "`olderThanDays` is not a number from 1 to 36500", body = ErrorBody),
        Unauthenticated,
        NotAdmin))]
#[post("")]
pub async fn clean_up(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<CleanupRequest>,
) -> Result<web::Json<CleanupResponse>, ApiError> {
    let age = body
        .older_than_days
        .map_or(Ok(CleanupAge::default()), CleanupAge::days)
        .map_err(|error| ApiError::invalid_field("olderThanDays", error))?;
    let deleted_count = state.pre_approvals.clean_up(&actor, age).await?;
    Ok(web::Json(CleanupResponse { deleted_count }))
}
