//! Authentication values: access-token claims and refresh-token secrets.

use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::user::{Email, Roles, UserId};

pub mod errors;
pub mod reset;

/// What an access token asserts about its bearer, once verified.
///
/// The roles in a token are informational only: every request re-reads the user's current roles
/// from storage, so a demoted administrator loses access at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    /// The user the token was issued to.
    pub user_id: UserId,
    /// The email at issue time.
    pub email: Email,
    /// The roles at issue time.
    pub roles: Roles,
    /// Issued at.
    pub issued_at: DateTime<Utc>,
    /// Expires at.
    pub expires_at: DateTime<Utc>,
}

/// An opaque, high-entropy refresh token as handed to a client. Never stored; never printed.
#[derive(Clone)]
pub struct RefreshTokenSecret(SecretString);

impl RefreshTokenSecret {
    /// Wraps a token presented by a client or freshly generated.
    pub fn new(raw: String) -> Self {
        Self(SecretString::from(raw))
    }

    /// The token text, to hand to the client once.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The SHA-256 digest under which the token is stored and looked up.
    pub fn hash(&self) -> RefreshTokenHash {
        RefreshTokenHash(hex::encode(Sha256::digest(self.expose().as_bytes())))
    }
}

impl fmt::Debug for RefreshTokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshTokenSecret(<redacted>)")
    }
}

/// The lower-case hex SHA-256 digest of a refresh token: the only form that is stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RefreshTokenHash(String);

impl RefreshTokenHash {
    /// Wraps a digest read back from storage.
    pub fn from_stored(hex_digest: String) -> Self {
        Self(hex_digest)
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored refresh token's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// Digest of the token.
    pub hash: RefreshTokenHash,
    /// Owner.
    pub user_id: UserId,
    /// Rotation family: every token rotated from the same login shares it.
    pub family: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked (logout, password change, reuse detection), if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was exchanged for a successor under rotation, if it was.
    pub rotated_at: Option<DateTime<Utc>>,
}

impl RefreshTokenRecord {
    /// Whether the token may still be exchanged at `now`.
    pub fn is_usable_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.rotated_at.is_none() && now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn hash_is_hex_sha256_of_the_token() {
        let secret = RefreshTokenSecret::new("abc".into());
        assert_eq!(
            secret.hash().as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    fn record(now: DateTime<Utc>) -> RefreshTokenRecord {
        RefreshTokenRecord {
            hash: RefreshTokenHash::from_stored("h".into()),
            user_id: UserId::new(1).expect("positive"),
            family: "f".into(),
            expires_at: now + Duration::hours(1),
            revoked_at: None,
            rotated_at: None,
        }
    }

    #[test]
    fn usable_until_expiry_revocation_or_rotation() {
        let now = Utc::now();
        assert!(record(now).is_usable_at(now));
        assert!(!record(now).is_usable_at(now + Duration::hours(2)));
        let revoked = RefreshTokenRecord {
            revoked_at: Some(now),
            ..record(now)
        };
        assert!(!revoked.is_usable_at(now));
        let rotated = RefreshTokenRecord {
            rotated_at: Some(now),
            ..record(now)
        };
        assert!(!rotated.is_usable_at(now));
    }
}
