//! Error answers that many operations give for the same reason, described once. An operation
//! names them in its `responses(...)` (`responses((status = 200, …), Unauthenticated)`), and each
//! becomes the same response (status, description, [`ErrorBody`]) in every operation.
//!
//! Only answers that mean exactly the same thing everywhere are here; a 403 that says who may act
//! on one kind of thing ("Not the owner and not ADMIN") stays with its operation.

use utoipa::IntoResponses;

use crate::errors::ErrorBody;

/// 401: the request carries no access token, or one that is expired, tampered with or of a
/// deleted user (the `require_user` middleware).
#[derive(IntoResponses)]
#[response(status = 401, description = "Missing or invalid token")]
pub struct Unauthenticated(pub ErrorBody);

/// 403: the caller is authenticated but not an administrator.
#[derive(IntoResponses)]
#[response(status = 403, description = "Not an administrator")]
pub struct NotAdmin(pub ErrorBody);

/// 403: the caller is authenticated but neither a worker (role WORKER) nor an administrator
/// (the `require_worker` middleware).
#[derive(IntoResponses)]
#[response(status = 403, description = "Not a WORKER or ADMIN")]
pub struct NotWorker(pub ErrorBody);
