//! Notes: text annotations on polygons.

use std::fmt;

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::polygon::PolygonId;
use crate::user::UserId;

crate::id::positive_id!(
    /// Identifier of a note.
    NoteId
);

/// Longest note, in characters.
pub const NOTE_MAX_CHARS: usize = 10_000;

/// The text of a note: 1 to 10,000 characters, not only whitespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteContent(String);

/// Why a text is not acceptable as a note.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NoteContentError {
    /// Empty or only whitespace.
    #[error("content must not be empty")]
    Empty,
    /// Over the limit.
    #[error("content must be at most {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
}

impl NoteContent {
    /// Checks the length rules; the text is kept as given.
    pub fn new(raw: &str) -> Result<Self, NoteContentError> {
        if raw.trim().is_empty() {
            return Err(NoteContentError::Empty);
        }
        if raw.chars().count() > NOTE_MAX_CHARS {
            return Err(NoteContentError::TooLong {
                max: NOTE_MAX_CHARS,
            });
        }
        Ok(Self(raw.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NoteContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Id.
    pub id: NoteId,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// The text.
    pub content: NoteContent,
    /// Who wrote it.
    pub author: UserId,
    /// The polygon it annotates.
    pub polygon_id: PolygonId,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("", Err(NoteContentError::Empty))]
    #[case("  \n\t", Err(NoteContentError::Empty))]
    #[case("x", Ok(()))]
    #[case(&"é".repeat(10_000), Ok(()))]
    #[case(&"x".repeat(10_001), Err(NoteContentError::TooLong { max: 10_000 }))]
    fn content_length_rules(#[case] raw: &str, #[case] expected: Result<(), NoteContentError>) {
        assert_eq!(NoteContent::new(raw).map(|_| ()), expected);
    }

    #[test]
    fn content_is_kept_verbatim() {
        let content = NoteContent::new("  reef flat, check depth  ").expect("valid");
        assert_eq!(content.as_str(), "  reef flat, check depth  ");
    }
}
