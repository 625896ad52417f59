//! Groups (R2's `/api/groups`, reefguide-r2 §3.2): an owner, managers and members, so projects
//! can be shared with many people at once.
//!
//! R2's rules, decided by the domain: a group is seen by its owner, managers and members; its
//! managers and owner rename it and add or remove members; only its owner deletes it, adds or
//! removes managers and hands it over. Administrators may do everything. A group the caller
//! does not see is not found (404); one they see without the seat needed is refused (403).

use actix_web::{HttpResponse, delete, get, post, put, routes, web};
use reefguide_domain::UserId;
use reefguide_domain::group::{GroupChange, GroupDraft, GroupId, GroupSeat};
use reefguide_domain::text::{Description, Label};
use reefguide_ports::{Grant, GroupDetail, Toggle, UserRef};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::errors::{ApiError, ErrorBody};
use crate::extract::{CurrentUser, PathId};
use crate::openapi::responses::Unauthenticated;
use crate::routes::projects::paging;
use crate::routes::sharing::{
    UserBrief, UserChangeWire, UserIdError, UserIdsRequest, UserItem, entity_ids, present,
    user_change,
};
use crate::routes::{Registry, RouteSet};
use crate::wire::{MessageResponse, Validation, timestamp};

/// Default and largest page sizes of the listing.
const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = 100;
/// Most groups `/user/me` returns.
const MAX_MINE: u64 = 1000;

/// The routes (inside the `/api/groups` scope, behind the user-features gate).
pub struct Routes;

impl RouteSet for Routes {
    fn register<R: Registry>(routes: &mut R) {
        routes
            .handler(list_groups)
            .handler(create_group)
            .handler(my_groups)
            .handler(get_group)
            .handler(update_group)
            .handler(delete_group)
            .handler(add_members)
            .handler(remove_members)
            .handler(add_managers)
            .handler(remove_managers)
            .handler(transfer_ownership);
    }
}

/// A seat in a group.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeatDto {
    /// Seat id.
    pub id: i32,
    /// The group.
    pub group_id: i32,
    /// The user.
    pub user_id: i32,
    /// When it was given.
    pub created_at: String,
    /// The user.
    pub user: UserBrief,
}

/// A group as R2 serialises it, with its owner and seats.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupDto {
    /// Id.
    #[schema(example = 1)]
    pub id: i32,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Creation time.
    #[schema(example = "2026-01-02T03:04:05.678Z")]
    pub created_at: String,
    /// Time of the last change of name, description or owner.
    pub updated_at: String,
    /// Owner.
    pub owner_id: i32,
    /// Owner.
    pub owner: UserBrief,
    /// Managers.
    pub managers: Vec<SeatDto>,
    /// Members.
    pub members: Vec<SeatDto>,
}

impl From<&GroupDetail> for GroupDto {
    fn from(detail: &GroupDetail) -> Self {
        let group = &detail.group;
        let seat = |grant: &Grant<UserRef>| SeatDto {
            id: grant.id,
            group_id: group.id.get(),
            user_id: grant.holder.id.get(),
            created_at: timestamp(grant.created_at),
            user: UserBrief::from(&grant.holder),
        };
        Self {
            id: group.id.get(),
            name: group.name.as_str().to_owned(),
            description: group.description.as_ref().map(|d| d.as_str().to_owned()),
            created_at: timestamp(group.created_at),
            updated_at: timestamp(group.updated_at),
            owner_id: group.owner.get(),
            owner: UserBrief::from(&detail.owner),
            managers: detail.managers.iter().map(seat).collect(),
            members: detail.members.iter().map(seat).collect(),
        }
    }
}

/// `{"group": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupResponse {
    /// The group.
    pub group: GroupDto,
}

/// Listing paging.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupPagination {
    /// Matching groups in all.
    pub total: u64,
    /// Page size.
    pub limit: u64,
    /// Skipped.
    pub offset: u64,
}

/// `{"groups": […], "pagination": …}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupsResponse {
    /// Groups, most recently changed first.
    pub groups: Vec<GroupDto>,
    /// Paging.
    pub pagination: GroupPagination,
}

/// A group to create.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateGroupRequest {
    /// Name, 1 to 200 characters after trimming.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "\\S",
        example = "Reef team"
    )]
    pub name: String,
    /// Description, at most 2000 characters (blank: none).
    #[schema(max_length = 2000)]
    pub description: Option<String>,
}

/// Changes to a group (absent fields are kept).
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateGroupRequest {
    /// A new name, 1 to 200 characters after trimming.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: Option<String>,
    /// A new description (null or blank: none).
    #[serde(default, deserialize_with = "present")]
    #[schema(max_length = 2000, value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

fn description(
    raw: Option<&str>,
) -> Result<Option<Description>, reefguide_domain::text::TextError> {
    raw.map(Description::new).transpose().map(Option::flatten)
}

/// Listing paging.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupParams {
    /// Page size, clamped to 1..100 (default 50).
    #[param(value_type = Option<i64>)]
    pub limit: Option<String>,
    /// Groups to skip (default 0).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<String>,
}

/// The groups the caller owns, manages or is a member of (all for ADMIN).
#[utoipa::path(tag = "groups", security(("bearerAuth" = [])),
    params(GroupParams),
    responses(
        (status = 200, description = "A page of groups", body = GroupsResponse),
        (status = 400, description = "Bad paging", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller may not use groups", body = ErrorBody)))]
#[routes]
#[get("")]
#[get("/")]
pub async fn list_groups(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    params: web::Query<GroupParams>,
) -> Result<web::Json<GroupsResponse>, ApiError> {
    let (limit, offset) = paging(
        params.limit.as_deref(),
        params.offset.as_deref(),
        DEFAULT_LIMIT,
        MAX_LIMIT,
    )?;
    let page = state.groups.list(&actor, limit, offset).await?;
    Ok(web::Json(GroupsResponse {
        groups: page.groups.iter().map(GroupDto::from).collect(),
        pagination: GroupPagination {
            total: page.total,
            limit,
            offset,
        },
    }))
}

/// Creates a group owned by the caller.
#[utoipa::path(tag = "groups", security(("bearerAuth" = [])),
    request_body = CreateGroupRequest,
    responses(
        (status = 201, description = "Created", body = GroupResponse),
        (status = 400, description = "Invalid fields", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller may not use groups", body = ErrorBody)))]
#[routes]
#[post("")]
#[post("/")]
pub async fn create_group(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<CreateGroupRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut validation = Validation::default();
    let name = validation.field("name", Label::new(&body.name));
    let description = validation.field("description", description(body.description.as_deref()));
    let (name, description) = validation.finish((name, description))?;
    let detail = state
        .groups
        .create(&actor, GroupDraft { name, description })
        .await?;
    Ok(HttpResponse::Created().json(GroupResponse {
        group: GroupDto::from(&detail),
    }))
}

/// The groups the caller owns, manages or is a member of (at most 1000).
#[utoipa::path(tag = "groups", security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The caller's groups", body = GroupsResponse),
        Unauthenticated,
        (status = 403, description = "The caller may not use groups", body = ErrorBody)))]
#[get("/user/me")]
pub async fn my_groups(
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<GroupsResponse>, ApiError> {
    let page = state.groups.mine(&actor, MAX_MINE).await?;
    let shown = page.groups.len() as u64;
    Ok(web::Json(GroupsResponse {
        groups: page.groups.iter().map(GroupDto::from).collect(),
        pagination: GroupPagination {
            total: page.total,
            limit: shown,
            offset: 0,
        },
    }))
}

/// One group the caller is in.
#[utoipa::path(tag = "groups", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Group id")),
    responses(
        (status = 200, description = "The group", body = GroupResponse),
        (status = 400, description = "Invalid id", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "The caller may not use groups", body = ErrorBody),
        (status = 404, description = "No such group, or one the caller is not in", body = ErrorBody)))]
#[get("/{id}")]
pub async fn get_group(
    PathId(id): PathId<GroupId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<GroupResponse>, ApiError> {
    let detail = state.groups.get(&actor, id).await?;
    Ok(web::Json(GroupResponse {
        group: GroupDto::from(&detail),
    }))
}

/// Renames a group or changes its description (its owner, managers or ADMIN).
#[utoipa::path(tag = "groups", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Group id")),
    request_body = UpdateGroupRequest,
    responses(
        (status = 200, description = "The changed group", body = GroupResponse),
        (status = 400, description = "Invalid id or fields", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "A member, not a manager or the owner", body = ErrorBody),
        (status = 404, description = "No such group, or one the caller is not in", body = ErrorBody)))]
#[put("/{id}")]
pub async fn update_group(
    PathId(id): PathId<GroupId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<UpdateGroupRequest>,
) -> Result<web::Json<GroupResponse>, ApiError> {
    let mut validation = Validation::default();
    let name = validation.field("name", body.name.as_deref().map(Label::new).transpose());
    let description = validation.field(
        "description",
        body.description
            .as_ref()
            .map(|text| description(text.as_deref()))
            .transpose(),
    );
    let (name, description) = validation.finish((name, description))?;
    let detail = state
        .groups
        .update(&actor, id, GroupChange { name, description })
        .await?;
    Ok(web::Json(GroupResponse {
        group: GroupDto::from(&detail),
    }))
}

/// Deletes a group with its seats and project shares (its owner or ADMIN).
#[utoipa::path(tag = "groups", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Group id")),
    responses(
        (status = 200, description = "Deleted", body = MessageResponse),
        (status = 400, description = "Invalid id", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "A member or manager, not the owner", body = ErrorBody),
        (status = 404, description = "No such group, or one the caller is not in", body = ErrorBody)))]
#[delete("/{id}")]
pub async fn delete_group(
    PathId(id): PathId<GroupId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    state.groups.delete(&actor, id).await?;
    Ok(web::Json(MessageResponse::new(
        "Group deleted successfully",
    )))
}

async fn change_seats(
    state: &AppState,
    actor: &reefguide_domain::User,
    id: GroupId,
    seat: GroupSeat,
    body: &UserIdsRequest,
    toggle: Toggle,
) -> Result<UserChangeWire, ApiError> {
    let users: Vec<UserId> = entity_ids("userIds", &body.user_ids)?;
    let change = state
        .groups
        .change_seats(actor, id, seat, &users, toggle)
        .await?;
    Ok(user_change(&change))
}

/// What adding members did.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddMembersResponse {
    /// `Member addition completed`.
    pub message: String,
    /// Users now members.
    pub added: Vec<UserItem>,
    /// Users who already were.
    #[serde(rename = "alreadyMembers")]
    pub already_members: Vec<UserItem>,
    /// Ids that name no account.
    pub errors: Vec<UserIdError>,
}

/// What removing members did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RemoveMembersResponse {
    /// `Member removal completed`.
    pub message: String,
    /// Users no longer members.
    pub removed: Vec<UserItem>,
    /// Users who were not members.
    #[serde(rename = "notMembers")]
    pub not_members: Vec<UserItem>,
    /// Ids that name no account.
    pub errors: Vec<UserIdError>,
}

/// What adding managers did.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddManagersResponse {
    /// `Manager addition completed`.
    pub message: String,
    /// Users now managers.
    pub added: Vec<UserItem>,
    /// Users who already were.
    #[serde(rename = "alreadyManagers")]
    pub already_managers: Vec<UserItem>,
    /// Ids that name no account.
    pub errors: Vec<UserIdError>,
}

/// What removing managers did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RemoveManagersResponse {
    /// `Manager removal completed`.
    pub message: String,
    /// Users no longer managers.
    pub removed: Vec<UserItem>,
    /// Users who were not managers.
    #[serde(rename = "notManagers")]
    pub not_managers: Vec<UserItem>,
    /// Ids that name no account.
    pub errors: Vec<UserIdError>,
}

/// Adds members (the group's owner, managers or ADMIN).
#[utoipa::path(tag = "groups", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Group id")),
    request_body = UserIdsRequest,
    responses(
        (status = 200, description = "Added, user by user", body = AddMembersResponse),
        (status = 400, description = "Invalid id or ids", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "A member, not a manager or the owner", body = ErrorBody),
        (status = 404, description = "No such group, or one the caller is not in", body = ErrorBody)))]
#[post("/{id}/members")]
pub async fn add_members(
    PathId(id): PathId<GroupId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<UserIdsRequest>,
) -> Result<web::Json<AddMembersResponse>, ApiError> {
    let change = change_seats(&state, &actor, id, GroupSeat::Member, &body, Toggle::Add).await?;
    Ok(web::Json(AddMembersResponse {
        message: "Member addition completed".to_owned(),
        added: change.changed,
        already_members: change.unchanged,
        errors: change.errors,
    }))
}

/// Removes members (the group's owner, managers or ADMIN).
#[utoipa::path(tag = "groups", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Group id")),
    request_body = UserIdsRequest,
    responses(
        (status = 200, description = "Removed, user by user", body = RemoveMembersResponse),
        (status = 400, description = "Invalid id or ids", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "A member, not a manager or the owner", body = ErrorBody),
        (status = 404, description = "No such group, or one the caller is not in", body = ErrorBody)))]
#[delete("/{id}/members")]
pub async fn remove_members(
    PathId(id): PathId<GroupId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<UserIdsRequest>,
) -> Result<web::Json<RemoveMembersResponse>, ApiError> {
    let change = change_seats(&state, &actor, id, GroupSeat::Member, &body, Toggle::Remove).await?;
    Ok(web::Json(RemoveMembersResponse {
        message: "Member removal completed".to_owned(),
        removed: change.changed,
        not_members: change.unchanged,
        errors: change.errors,
    }))
}

/// Adds managers (the group's owner or ADMIN).
#[utoipa::path(tag = "groups", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Group id")),
    request_body = UserIdsRequest,
    responses(
        (status = 200, description = "Added, user by user", body = AddManagersResponse),
        (status = 400, description = "Invalid id or ids", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "A member or manager, not the owner", body = ErrorBody),
        (status = 404, description = "No such group, or one the caller is not in", body = ErrorBody)))]
#[post("/{id}/managers")]
pub async fn add_managers(
    PathId(id): PathId<GroupId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<UserIdsRequest>,
) -> Result<web::Json<AddManagersResponse>, ApiError> {
    let change = change_seats(&state, &actor, id, GroupSeat::Manager, &body, Toggle::Add).await?;
    Ok(web::Json(AddManagersResponse {
        message: "Manager addition completed".to_owned(),
        added: change.changed,
        already_managers: change.unchanged,
        errors: change.errors,
    }))
}

/// Removes managers (the group's owner or ADMIN).
#[utoipa::path(tag = "groups", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Group id")),
    request_body = UserIdsRequest,
    responses(
        (status = 200, description = "Removed, user by user", body = RemoveManagersResponse),
        (status = 400, description = "Invalid id or ids", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "A member or manager, not the owner", body = ErrorBody),
        (status = 404, description = "No such group, or one the caller is not in", body = ErrorBody)))]
#[delete("/{id}/managers")]
pub async fn remove_managers(
    PathId(id): PathId<GroupId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<UserIdsRequest>,
) -> Result<web::Json<RemoveManagersResponse>, ApiError> {
    let change = change_seats(
        &state,
        &actor,
        id,
        GroupSeat::Manager,
        &body,
        Toggle::Remove,
    )
    .await?;
    Ok(web::Json(RemoveManagersResponse {
        message: "Manager removal completed".to_owned(),
        removed: change.changed,
        not_managers: change.unchanged,
        errors: change.errors,
    }))
}

/// `{"newOwnerId": n}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TransferRequest {
    /// The new owner.
    #[serde(rename = "newOwnerId", deserialize_with = "crate::wire::whole_number")]
    #[schema(minimum = 1, maximum = 2_147_483_647)]
    pub new_owner_id: i64,
}

/// What a transfer did.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferResponse {
    /// `Group ownership transferred successfully`.
    pub message: String,
    /// The group.
    pub group: GroupDto,
}

/// Hands a group to another user (its owner or ADMIN).
#[utoipa::path(tag = "groups", security(("bearerAuth" = [])),
    params(("id" = i32, Path, minimum = 1, description = "Group id")),
    request_body = TransferRequest,
    responses(
        (status = 200, description = "Transferred", body = TransferResponse),
        (status = 400, description = "Invalid id, or no such new owner", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "A member or manager, not the owner", body = ErrorBody),
        (status = 404, description = "No such group, or one the caller is not in", body = ErrorBody)))]
#[post("/{id}/transfer-ownership")]
pub async fn transfer_ownership(
    PathId(id): PathId<GroupId>,
    CurrentUser(actor): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<TransferRequest>,
) -> Result<web::Json<TransferResponse>, ApiError> {
    let new_owner =
        UserId::new(body.new_owner_id).map_err(|e| ApiError::invalid_field("newOwnerId", e))?;
    let detail = state.groups.transfer(&actor, id, new_owner).await?;
    Ok(web::Json(TransferResponse {
        message: "Group ownership transferred successfully".to_owned(),
        group: GroupDto::from(&detail),
    }))
}
