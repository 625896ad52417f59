//! Finding users to share with by part of their email (reefguide-r2 §3.2,
//! `GET /api/users/search?q&limit`).
//!
//! A search matches every account whose (normalised, lower-case) email contains the text,
//! whatever its case, and ranks them: the exact address first, then addresses starting with the
//! text, then by where the text starts in the address (earlier first), then alphabetically.
//! Accounts of external identities have no email and are never found.

use thiserror::Error;

use super::EMAIL_MAX_LEN;

/// A search for users by part of their email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSearch {
    text: String,
    limit: u32,
}

/// Why a search cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum UserSearchError {
    /// No text to search for.
    #[error("q must not be empty")]
    Empty,
    /// More text than any email holds.
    #[error("q must be at most {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
}

impl UserSearch {
    /// Results when no limit is asked for.
    pub const DEFAULT_LIMIT: u32 = 20;
    /// The most results a search returns (larger limits are lowered to it, as R2 does).
    pub const MAX_LIMIT: u32 = 50;

    /// A search for `text` (as given, any case: R2 does not trim either) returning at most
    /// `limit` users (clamped to `1..=50`; 20 when `None`).
    ///
    /// # Errors
    /// When the text is empty or longer than an email may be.
    pub fn new(text: &str, limit: Option<i64>) -> Result<Self, UserSearchError> {
        if text.is_empty() {
            return Err(UserSearchError::Empty);
        }
        if text.chars().count() > EMAIL_MAX_LEN {
            return Err(UserSearchError::TooLong { max: EMAIL_MAX_LEN });
        }
        let text = text.to_lowercase();
        let limit = limit.map_or(Self::DEFAULT_LIMIT, |asked| {
            u32::try_from(asked.clamp(1, i64::from(Self::MAX_LIMIT))).unwrap_or(Self::MAX_LIMIT)
        });
        Ok(Self { text, limit })
    }

    /// The lower-case text searched for.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The most results.
    pub fn limit(&self) -> u32 {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_lowered_and_limits_are_clamped() {
        let search = UserSearch::new("Ana@Ex", None).expect("valid");
        assert_eq!(search.text(), "ana@ex");
        assert_eq!(UserSearch::new(" a ", None).expect("valid").text(), " a ");
        assert_eq!(search.limit(), 20);
        for (asked, limit) in [
            (0, 1),
            (-5, 1),
            (1, 1),
            (35, 35),
            (50, 50),
            (51, 50),
            (i64::MAX, 50),
        ] {
            assert_eq!(
                UserSearch::new("a", Some(asked)).expect("valid").limit(),
                limit,
                "{asked}"
            );
        }
    }

    #[test]
    fn empty_and_overlong_text_is_refused() {
        assert_eq!(UserSearch::new("", None), Err(UserSearchError::Empty));
        assert_eq!(
            UserSearch::new(&"a".repeat(EMAIL_MAX_LEN + 1), None),
            Err(UserSearchError::TooLong { max: EMAIL_MAX_LEN })
        );
        assert!(UserSearch::new(&"a".repeat(EMAIL_MAX_LEN), None).is_ok());
    }
}
