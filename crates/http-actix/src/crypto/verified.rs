//! Access tokens already verified, so that a client's every request does not pay for an RSA
//! signature check (about a fifth of the server's CPU on a busy worker route).
//!
//! Only tokens that passed every check are remembered, keyed by the SHA-256 digest of the whole
//! token (its header, claims and signature: a token that differs in any byte is another key), so
//! the memory holds no credential. A remembered token is answered with its claims while it has
//! not expired, with the leeway of a full verification; after that it is refused as expired,
//! exactly as verifying it again would. The memory is bounded (least recently used out), and
//! forgetting only costs a verification.

use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use lru::LruCache;
use reefguide_domain::AccessClaims;
use reefguide_domain::auth::errors::TokenRejection;
use sha2::{Digest as _, Sha256};

/// How many verified tokens are remembered at most.
const CAPACITY: NonZeroUsize = NonZeroUsize::new(1_024).expect("non-zero");

/// The digest a token is remembered under.
type TokenDigest = [u8; 32];

/// Tokens that passed verification, with their claims.
#[derive(Debug)]
pub(super) struct VerifiedTokens {
    leeway: Duration,
    tokens: Mutex<LruCache<TokenDigest, AccessClaims>>,
}

impl VerifiedTokens {
    /// An empty memory whose tokens expire `leeway` after their `exp`.
    pub(super) fn new(leeway: Duration) -> Self {
        Self {
            leeway,
            tokens: Mutex::new(LruCache::new(CAPACITY)),
        }
    }

    /// The claims of `token` when it was verified before: `None` when it was not (or was
    /// forgotten), else its claims, or `Expired` once it has expired at `now`.
    pub(super) fn recall(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Option<Result<AccessClaims, TokenRejection>> {
        let digest = digest(token);
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        let claims = tokens.get(&digest)?;
        if claims.expires_at + self.leeway < now {
            tokens.pop(&digest);
            return Some(Err(TokenRejection::Expired));
        }
        Some(Ok(claims.clone()))
    }

    /// Remembers a token that passed verification, with its claims.
    pub(super) fn remember(&self, token: &str, claims: &AccessClaims) {
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(digest(token), claims.clone());
    }
}

fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use reefguide_domain::{Email, Role, UserId};

    use super::*;

    fn claims(expires_at: DateTime<Utc>) -> AccessClaims {
        AccessClaims {
            user_id: UserId::new(7).expect("positive"),
            email: Email::parse("ana@example.com").expect("email"),
            roles: [Role::Analyst].into_iter().collect(),
            issued_at: expires_at - Duration::minutes(10),
            expires_at,
        }
    }

    #[test]
    fn only_the_very_same_token_is_recalled() {
        let now = Utc::now();
        let memory = VerifiedTokens::new(Duration::seconds(5));
        memory.remember("a.b.c", &claims(now + Duration::minutes(1)));
        assert_eq!(
            memory.recall("a.b.c", now),
            Some(Ok(claims(now + Duration::minutes(1))))
        );
        assert_eq!(memory.recall("a.b.C", now), None);
        assert_eq!(memory.recall("a.b.c ", now), None);
    }

    #[test]
    fn a_token_expires_after_its_leeway_as_verification_says() {
        let now = Utc::now();
        let memory = VerifiedTokens::new(Duration::seconds(5));
        memory.remember("a.b.c", &claims(now));
        assert!(matches!(
            memory.recall("a.b.c", now + Duration::seconds(5)),
            Some(Ok(_))
        ));
        assert_eq!(
            memory.recall("a.b.c", now + Duration::seconds(6)),
            Some(Err(TokenRejection::Expired))
        );
        // Forgotten once expired: a later call verifies it again (and is refused there).
        assert_eq!(memory.recall("a.b.c", now + Duration::seconds(6)), None);
    }

    #[test]
    fn the_memory_is_bounded() {
        let now = Utc::now();
        let memory = VerifiedTokens::new(Duration::seconds(5));
        for n in 0..=CAPACITY.get() {
            memory.remember(&format!("token-{n}"), &claims(now + Duration::minutes(1)));
        }
        assert_eq!(memory.recall("token-0", now), None);
        assert!(
            memory
                .recall(&format!("token-{}", CAPACITY.get()), now)
                .is_some()
        );
    }
}
