//! Cryptographic ports: password hashing and access-token signing.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reefguide_domain::auth::errors::TokenRejection;
use reefguide_domain::{AccessClaims, ExternalIdentity, Password, PasswordHash, User};
use thiserror::Error;

/// Hashes and verifies passwords.
///
/// Implementations must keep the (deliberately expensive) work off the async executor and bound
/// how many hashes run at once.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync + 'static {
    /// Hashes a new password into a PHC string.
    async fn hash(&self, password: &Password) -> anyhow::Result<PasswordHash>;

    /// Checks `password` against `stored`. When `stored` is `None` (unknown account) the
    /// implementation still verifies against a dummy hash, so the time taken does not reveal
    /// whether the account exists, and answers `false`.
    async fn verify(
        &self,
        password: &Password,
        stored: Option<PasswordHash>,
    ) -> anyhow::Result<bool>;
}

/// A signed access token and its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// Signs access tokens.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait TokenIssuer: Send + Sync + 'static {
    /// Issues a token for `user`, valid from `now` for the configured lifetime.
    fn issue(&self, user: &User, now: DateTime<Utc>) -> anyhow::Result<IssuedToken>;
}

/// Verifies access tokens.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait TokenVerifier: Send + Sync + 'static {
    /// Verifies signature, algorithm, issuer and expiry, and returns the claims.
    fn verify(&self, token: &str) -> Result<AccessClaims, TokenRejection>;
}

/// Why a token was not accepted as an external issuer's.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExternalTokenError {
    /// No trusted issuer is named by the token (its `iss`, read before anything is checked, is
    /// not configured, or it has none): not an external token at all.
    #[error("not a token of a trusted issuer")]
    UnknownIssuer,
    /// A trusted issuer's token that is refused (algorithm, signature, time, audience, username).
    #[error("{0}")]
    Rejected(TokenRejection),
    /// The issuer's keys cannot be fetched now (its JWKS URL does not answer).
    #[error("the keys of issuer {issuer} cannot be fetched: {reason}")]
    KeysUnavailable {
        /// The issuer.
        issuer: String,
        /// Why.
        reason: String,
    },
}

/// Verifies tokens of trusted external issuers (labcas-contract §4): each issuer with its one
/// configured algorithm and key, its audience, `exp`/`nbf` with leeway; names the identity.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ExternalTokenVerifier: Send + Sync + 'static {
    /// The identity a token of a trusted issuer vouches for.
    async fn verify(&self, token: &str) -> Result<ExternalIdentity, ExternalTokenError>;
}
