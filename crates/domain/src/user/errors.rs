//! Validation errors of user values and the errors of the user-administration use cases.

use thiserror::Error;

use super::pre_approval::PreApprovalId;
use super::{Email, UserId};

/// Why a string is not an acceptable email address.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EmailError {
    /// Nothing but whitespace.
    #[error("email must not be empty")]
    Empty,
    /// Longer than the limit.
    #[error("email must be at most {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// Not an address.
    #[error("email is not a valid address")]
    Invalid,
}

/// Why a string is not an acceptable password.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PasswordError {
    /// Fewer characters than the policy asks.
    #[error("password must be at least {min} characters")]
    TooShort {
        /// The minimum.
        min: usize,
    },
    /// More characters than the policy allows.
    #[error("password must be at most {max} characters")]
    TooLong {
        /// The maximum.
        max: usize,
    },
}

/// A role name that is not one of `ADMIN`, `ANALYST`, `WORKER`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RoleError {
    /// The unknown name.
    #[error("unknown role {0:?} (expected ADMIN, ANALYST or WORKER)")]
    Unknown(String),
}

/// An id that is not a positive 32-bit integer (kept under this name for user ids).
pub type UserIdError = crate::id::InvalidId;

/// Creating a user (self-registration or by an administrator).
#[derive(Debug, Error)]
pub enum CreateUserError {
    /// The (normalised) email is taken.
    #[error("User already exists")]
    UserExists,
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A use case addressing one existing user by id (read, set roles, reset password, delete).
#[derive(Debug, Error)]
pub enum UserLookupError {
    /// No such user.
    #[error("User {0} not found")]
    NotFound(UserId),
    /// The user is an external issuer's account: it has no password to set.
    #[error("User {0} signs in with an external issuer's tokens and has no password")]
    NoPassword(UserId),
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Managing pre-approved users (reefguide-r2 §3.2 `/api/auth/admin/pre-approved-users`).
#[derive(Debug, Error)]
pub enum PreApprovalError {
    /// The caller is not an administrator.
    #[error("Only administrators manage pre-approved users")]
    Forbidden,
    /// No such pre-approval.
    #[error("Pre-approved user with ID {0} not found")]
    NotFound(PreApprovalId),
    /// Another pre-approval has the address.
    #[error("Pre-approval already exists for email: {0}")]
    AlreadyPreApproved(Email),
    /// An account has the address.
    #[error("User already registered with email: {0}")]
    AlreadyRegistered(Email),
    /// The pre-approval was used: it cannot change any more.
    #[error("Cannot update a pre-approval that has already been used")]
    Used(PreApprovalId),
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}
