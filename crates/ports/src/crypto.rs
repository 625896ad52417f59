//! Cryptographic ports: password hashing and access-token signing.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reefguide_domain::auth::errors::TokenRejection;
use reefguide_domain::{AccessClaims, Password, PasswordHash, User};

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
