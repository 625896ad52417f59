//! Authentication routes (contract §3).

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use reefguide_domain::{Email, Password, RefreshTokenSecret};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::errors::{ApiError, ErrorBody};
use crate::extract::CurrentUser;
use crate::openapi::responses::Unauthenticated;
use crate::routes::{Guard, Registry, RouteSet};
use crate::wire::{MessageResponse, UserDto, Validation, client_ip};

/// The routes (inside the `/api/auth` scope). Each route is a scope of its own, so that
/// its middleware also runs before the answer to a wrong method (405), as it did when each route
/// was a resource wrapped in it; a handler's own path is therefore empty.
pub struct Routes;

impl RouteSet for Routes {
    fn register<R: Registry>(routes: &mut R) {
        routes
            .scope_of("/register", Guard::Screened, register)
            .scope_of("/login", Guard::Screened, login)
            .scope_of("/token", Guard::Screened, token)
            .scope_of("/logout", Guard::Screened, logout)
            .scope_of("/profile", Guard::SignedIn, profile)
            .scope_of("/change-password", Guard::ScreenedSignedIn, change_password)
            .scope::<crate::routes::pre_approvals::Routes>(
                "/admin/pre-approved-users",
                Guard::Admin,
            );
    }
}

/// Email and password.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CredentialsRequest {
    /// Email address (case-insensitive).
    #[schema(example = "ana@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// Password, 8 to 128 characters.
    #[schema(example = "correct horse battery", min_length = 8, max_length = 128)]
    pub password: String,
}

/// The new user's id.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterResponse {
    /// Id of the new user.
    #[serde(rename = "userId")]
    #[schema(example = 1)]
    pub user_id: i32,
}

/// Creates an account with no roles, or, when an administrator pre-approved the address
/// (`/api/auth/admin/pre-approved-users`), with the pre-approval's roles (`DEFAULT` grants none),
/// using the pre-approval up.
#[utoipa::path(tag = "auth", request_body = CredentialsRequest,
    responses(
        (status = 200, description = "Registered", body = RegisterResponse),
        (status = 400, description = "Invalid email or password; `user_exists`; \
            `pre_approval_used` when the address's pre-approval was used already", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
#[post("")]
pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<CredentialsRequest>,
) -> Result<web::Json<RegisterResponse>, ApiError> {
    state
        .request
        .limits
        .check_register(client_ip(&req, state.request.trust_forwarded_for))?;
    let mut validation = Validation::default();
    let email = validation.field("email", Email::parse(&body.email));
    let password = validation.field("password", Password::new(&body.password));
    let (email, password) = validation.finish((email, password))?;
    let id = state.auth.register(email, &password).await?;
    Ok(web::Json(RegisterResponse { user_id: id.get() }))
}

/// An access token and a refresh token.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// RS256 access token.
    pub token: String,
    /// Opaque refresh token.
    #[serde(rename = "refreshToken")]
    pub refresh_token: String,
}

/// Exchanges email and password for tokens.
#[utoipa::path(tag = "auth", request_body = CredentialsRequest,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Invalid credentials", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
#[post("")]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<CredentialsRequest>,
) -> Result<web::Json<LoginResponse>, ApiError> {
    state.request.limits.check_login(
        client_ip(&req, state.request.trust_forwarded_for),
        &body.email,
    )?;
    let tokens = state.auth.login(&body.email, &body.password).await?;
    Ok(web::Json(LoginResponse {
        token: tokens.access_token,
        refresh_token: tokens.refresh_token.expose().to_owned(),
    }))
}

/// A refresh token.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshTokenRequest {
    /// The refresh token from login.
    #[serde(rename = "refreshToken")]
    pub refresh_token: String,
}

/// A new access token (and a successor refresh token when rotation is on).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// RS256 access token.
    pub token: String,
    /// The successor refresh token, only when rotation is enabled.
    #[serde(rename = "refreshToken", skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Exchanges a refresh token for a new access token.
#[utoipa::path(tag = "auth", request_body = RefreshTokenRequest,
    responses(
        (status = 200, description = "New access token", body = TokenResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Invalid, expired or revoked refresh token", body = ErrorBody)))]
#[post("")]
pub async fn token(
    state: web::Data<AppState>,
    body: web::Json<RefreshTokenRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let tokens = state
        .auth
        .refresh(&RefreshTokenSecret::new(body.into_inner().refresh_token))
        .await?;
    Ok(web::Json(TokenResponse {
        token: tokens.access_token,
        refresh_token: tokens.refresh_token.map(|t| t.expose().to_owned()),
    }))
}

/// Revokes a refresh token.
#[utoipa::path(tag = "auth", request_body = RefreshTokenRequest,
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Invalid or already revoked refresh token", body = ErrorBody)))]
#[post("")]
pub async fn logout(
    state: web::Data<AppState>,
    body: web::Json<RefreshTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    state
        .auth
        .logout(&RefreshTokenSecret::new(body.into_inner().refresh_token))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileResponse {
    /// The authenticated user with its current roles.
    pub user: UserDto,
}

/// The authenticated user.
#[utoipa::path(tag = "auth", security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The caller", body = ProfileResponse),
        Unauthenticated))]
#[get("")]
pub async fn profile(CurrentUser(user): CurrentUser) -> web::Json<ProfileResponse> {
    web::Json(ProfileResponse {
        user: UserDto::from(&user),
    })
}

/// Old and new password.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    /// The current password.
    #[serde(rename = "oldPassword")]
    pub old_password: String,
    /// The new password (8 to 128 characters).
    #[serde(rename = "newPassword")]
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
    /// The new password again.
    #[serde(rename = "confirmPassword")]
    pub confirm_password: String,
}

/// Changes the caller's password and revokes all its refresh tokens.
#[utoipa::path(tag = "auth", security(("bearerAuth" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Changed", body = MessageResponse),
        (status = 400, description = "Weak new password or confirmation mismatch", body = ErrorBody),
        (status = 401, description = "Missing token or wrong old password", body = ErrorBody)))]
#[post("")]
pub async fn change_password(
    CurrentUser(user): CurrentUser,
    state: web::Data<AppState>,
    body: web::Json<ChangePasswordRequest>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let mut validation = Validation::default();
    let new_password = validation.field("newPassword", Password::new(&body.new_password));
    let new_password = validation.finish((new_password,))?;
    state
        .auth
        .change_password(
            user.id,
            &body.old_password,
            &new_password,
            &body.confirm_password,
        )
        .await?;
    Ok(web::Json(MessageResponse::new(
        "Password changed successfully",
    )))
}
