//! One error enum per authentication use case.

use thiserror::Error;

use crate::user::Email;

/// Registering an account (self-registration, reefguide-r2 §3.1).
#[derive(Debug, Error)]
pub enum RegisterError {
    /// The (normalised) email is taken.
    #[error("User already exists")]
    UserExists,
    /// The address's pre-approval was used already.
    #[error("Pre-approval for {0} has already been used")]
    PreApprovalUsed(Email),
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Logging in with email and password.
#[derive(Debug, Error)]
pub enum LoginError {
    /// Unknown email or wrong password: deliberately indistinguishable.
    #[error("Invalid credentials")]
    InvalidCredentials,
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Exchanging a refresh token for a new access token, or revoking it at logout.
#[derive(Debug, Error)]
pub enum RefreshError {
    /// Unknown, expired, revoked or already rotated token, or its user is gone.
    #[error("Invalid or expired refresh token")]
    InvalidToken,
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TokenRejection {
    /// Not a well-formed JWT, or a header/claim we do not accept (algorithm, kid, claims).
    #[error("malformed token")]
    Malformed,
    /// The signature does not verify with our key.
    #[error("bad signature")]
    BadSignature,
    /// Past its expiry.
    #[error("token expired")]
    Expired,
    /// Issued by someone else.
    #[error("wrong issuer")]
    WrongIssuer,
    /// Not valid yet (`nbf` in the future).
    #[error("token not yet valid")]
    NotYetValid,
    /// Meant for another audience (`aud`).
    #[error("wrong audience")]
    WrongAudience,
    /// A trusted issuer's token that names no usable username (no username claim and no `uid=`
    /// in `sub`, or a name that cannot be an account's).
    #[error("token names no usable username")]
    NoUsername,
}

/// Authenticating a request from its bearer token.
#[derive(Debug, Error)]
pub enum AuthenticateError {
    /// No usable token.
    #[error("Invalid token: {0}")]
    InvalidToken(TokenRejection),
    /// The token is valid but its user no longer exists.
    #[error("Invalid token: user no longer exists")]
    UserGone,
    /// The token names a trusted external issuer whose keys cannot be fetched now.
    #[error("The token's issuer cannot be reached to check it; try again later")]
    IssuerUnavailable(String),
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Changing one's own password.
#[derive(Debug, Error)]
pub enum ChangePasswordError {
    /// `newPassword` and `confirmPassword` differ.
    #[error("New password and confirmation do not match")]
    ConfirmationMismatch,
    /// The old password is wrong.
    #[error("Old password is incorrect")]
    WrongOldPassword,
    /// The user vanished mid-request.
    #[error("User not found")]
    UserGone,
    /// The user is an external issuer's account: it has no password to change.
    #[error("This account signs in with an external issuer's tokens and has no password")]
    NoPassword,
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Confirming a password reset with the code from its e-mail.
#[derive(Debug, Error)]
pub enum PasswordResetError {
    /// A wrong, malformed, expired, used, superseded or over-attempted code: deliberately one
    /// answer.
    #[error("Invalid or expired reset code")]
    InvalidCode,
    /// `newPassword` and `confirmPassword` differ.
    #[error("New password and confirmation do not match")]
    ConfirmationMismatch,
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}
