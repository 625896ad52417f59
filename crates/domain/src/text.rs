//! Short texts people type: the name of a project or a group, and an optional description.
//!
//! Both are trimmed on the way in (R2 trims names before storing and comparing them), so two names
//! differing only in surrounding spaces are the same name, and both are bounded so a request
//! cannot store a megabyte in a name.

use thiserror::Error;

/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;

/// A refused text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TextError {
    /// Nothing but white space.
    #[error("must not be empty")]
    Empty,
    /// Longer than allowed.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The limit, in characters.
        max: usize,
    },
}

/// A name: trimmed, 1 to [`MAX_LABEL_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label(String);

impl Label {
    /// Trims `raw` and checks its length.
    pub fn new(raw: &str) -> Result<Self, TextError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(TextError::Empty);
        }
        within(trimmed, MAX_LABEL_CHARS)?;
        Ok(Self(trimmed.to_owned()))
    }

    /// `raw` trimmed and cut to its first [`MAX_LABEL_CHARS`] characters; `None` when nothing
    /// but white space (an importer's way to keep a name that [`Label::new`] refuses).
    pub fn fitted(raw: &str) -> Option<Self> {
        let fitted = fit(raw, MAX_LABEL_CHARS);
        (!fitted.is_empty()).then_some(Self(fitted))
    }

    /// `text` as a name when it is one, else `fallback` fitted (which must not be blank).
    pub fn fitted_or(text: &str, fallback: &str) -> Self {
        Self::fitted(text).unwrap_or_else(|| Self(fit(fallback, MAX_LABEL_CHARS)))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A description: trimmed, at most [`MAX_DESCRIPTION_CHARS`] characters, never blank (a blank
/// one is no description, as R2 stores it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    /// Trims `raw`: `None` when nothing is left, an error when too long.
    pub fn new(raw: &str) -> Result<Option<Self>, TextError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        within(trimmed, MAX_DESCRIPTION_CHARS)?;
        Ok(Some(Self(trimmed.to_owned())))
    }

    /// `raw` trimmed and cut to its first [`MAX_DESCRIPTION_CHARS`] characters; `None` when
    /// blank.
    pub fn fitted(raw: &str) -> Option<Self> {
        let fitted = fit(raw, MAX_DESCRIPTION_CHARS);
        (!fitted.is_empty()).then_some(Self(fitted))
    }

    /// The description.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `raw` trimmed, cut to `max` characters, trimmed again.
fn fit(raw: &str, max: usize) -> String {
    let cut: String = raw.trim().chars().take(max).collect();
    cut.trim_end().to_owned()
}

fn within(text: &str, max: usize) -> Result<(), TextError> {
    if text.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_trimmed_and_bounded() {
        assert_eq!(
            Label::new("  Reef A ").map(|l| l.0),
            Ok("Reef A".to_owned())
        );
        assert_eq!(Label::new(" \t"), Err(TextError::Empty));
        assert!(Label::new(&"é".repeat(MAX_LABEL_CHARS)).is_ok());
        assert_eq!(
            Label::new(&"é".repeat(MAX_LABEL_CHARS + 1)),
            Err(TextError::TooLong {
                max: MAX_LABEL_CHARS
            })
        );
    }

    #[test]
    fn blank_descriptions_are_none() {
        assert_eq!(Description::new("   "), Ok(None));
        assert_eq!(
            Description::new(" notes ").map(|d| d.map(|d| d.0)),
            Ok(Some("notes".to_owned()))
        );
        assert!(Description::new(&"x".repeat(MAX_DESCRIPTION_CHARS + 1)).is_err());
    }

    #[test]
    fn fitted_texts_are_cut_to_their_limit_on_character_boundaries() {
        let long = format!("  {} tail", "é".repeat(MAX_LABEL_CHARS - 1));
        let label = Label::fitted(&long).expect("not blank");
        assert_eq!(
            label.as_str().chars().count(),
            MAX_LABEL_CHARS - 1,
            "the cut space is trimmed"
        );
        assert!(
            Label::new(label.as_str()).is_ok(),
            "a fitted label reads back"
        );
        assert_eq!(Label::fitted(" \n "), None);
        assert_eq!(Label::fitted_or("  ", "Group 4").as_str(), "Group 4");
        let description =
            Description::fitted(&"x".repeat(MAX_DESCRIPTION_CHARS + 9)).expect("kept");
        assert_eq!(description.as_str().len(), MAX_DESCRIPTION_CHARS);
        assert_eq!(Description::fitted("   "), None);
    }
}
