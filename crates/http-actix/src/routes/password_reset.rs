//! Password reset routes (issue 27; reefguide-r2 §3.2): ask for a code by e-mail, then set a
//! new password with it. Neither answer says whether an address has an account.

use actix_web::{HttpRequest, post, web};
use reefguide_domain::{Email, Password};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::errors::{ApiError, ErrorBody};
use crate::routes::{Guard, Registry, RouteSet};
use crate::wire::{MessageResponse, Validation, client_ip};

/// What every well-formed request is answered, whether or not the address has an account.
pub const REQUEST_ANSWER: &str =
    "If an account with that email exists, a reset code has been sent.";
/// What a successful confirmation is answered.
pub const CONFIRM_ANSWER: &str =
    "Password has been successfully reset. You can now log in with your new password.";

/// The routes (inside the `/api/password-reset` scope), each a scope of its own as the
/// authentication routes are.
pub struct Routes;

impl RouteSet for Routes {
    fn register<R: Registry>(routes: &mut R) {
        routes
            .scope_of("/request", Guard::Screened, request)
            .scope_of("/confirm", Guard::Screened, confirm);
    }
}

/// The address to send a code to.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetRequest {
    /// The account's email address (case-insensitive).
    #[schema(example = "ana@example.com", format = Email, max_length = 254)]
    pub email: String,
}

/// Sends a reset code to the address if it has an account (to any other address, a note that
/// none uses it). The answer is the same either way, and also within the five minutes after a
/// request for the same address, when nothing is sent again.
#[utoipa::path(tag = "auth", request_body = ResetRequest,
    responses(
        (status = 200, description = "Asked (the same answer for every address)", body = MessageResponse),
        (status = 400, description = "Not an email address, or a malformed body", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
#[post("")]
pub async fn request(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<ResetRequest>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    state
        .request
        .limits
        .check_reset_request(client_ip(&req, state.request.trust_forwarded_for))?;
    let mut validation = Validation::default();
    let email = validation.field("email", Email::parse(&body.email));
    let email = validation.finish((email,))?;
    state
        .password_resets
        .request(&email)
        .await
        .map_err(|error| ApiError::unexpected(&error))?;
    Ok(web::Json(MessageResponse::new(REQUEST_ANSWER)))
}

/// The code from the e-mail and the new password.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetConfirmation {
    /// The code from the e-mail (10 characters; case, spaces and dashes do not matter).
    #[schema(example = "7KQ2-MX9RDA", min_length = 1, max_length = 64)]
    pub code: String,
    /// The new password (8 to 128 characters).
    #[serde(rename = "newPassword")]
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
    /// The new password again.
    #[serde(rename = "confirmPassword")]
    pub confirm_password: String,
}

/// Sets a new password with a code from a reset e-mail and signs the account out everywhere
/// (every refresh token is revoked). A code works once, for 30 minutes, and not after five
/// wrong codes naming its reset; every refusal of a code is the same answer.
#[utoipa::path(tag = "auth", request_body = ResetConfirmation,
    responses(
        (status = 200, description = "Password reset", body = MessageResponse),
        (status = 400, description = "`invalid_code` (wrong, expired, used or over-attempted), a weak new password or a confirmation mismatch", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
#[post("")]
pub async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<ResetConfirmation>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    state
        .request
        .limits
        .check_reset_confirm(client_ip(&req, state.request.trust_forwarded_for))?;
    let mut validation = Validation::default();
    let new_password = validation.field("newPassword", Password::new(&body.new_password));
    let new_password = validation.finish((new_password,))?;
    state
        .password_resets
        .confirm(&body.code, &new_password, &body.confirm_password)
        .await?;
    Ok(web::Json(MessageResponse::new(CONFIRM_ANSWER)))
}
