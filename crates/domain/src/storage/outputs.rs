//! Paths of the output browser (labcas-contract §3, §5): a user browses the outputs of their
//! workflow runs below `<staging>/<username>/`, one folder at a time.
//!
//! The `{prefix…}` of `/output-data/{prefix…}` becomes an [`OutputFolder`]: empty for the user's
//! own root, else a relative path under the rules of [`RelativePath`] (no leading `/`, no empty,
//! `.` or `..` segment, no backslash, no control character), so that it can never climb out of
//! the user's folder. One trailing `/` is allowed, as folder links are written
//! (`20250403T191112825218/tiles/`). The files and folders in a folder are named by an
//! [`EntryName`]: one segment under the same rules.

use std::fmt;

use super::{InvalidPath, RelativePath, check};

#[cfg(test)]
mod tests;

/// Longest name of one file or folder, in bytes (the usual file-system limit).
pub const MAX_NAME_BYTES: usize = 255;

/// A folder below a user's output root: the root itself or a relative path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct OutputFolder(Option<RelativePath>);

impl OutputFolder {
    /// The user's output root (an empty prefix).
    #[must_use]
    pub const fn root() -> Self {
        Self(None)
    }

    /// Validates a URL's `{prefix…}`: empty for the root, else a [`RelativePath`] that may end
    /// with one `/`.
    ///
    /// # Errors
    /// [`InvalidPath`] naming the first rule broken (`/` alone is [`InvalidPath::Absolute`],
    /// `a//` is [`InvalidPath::EmptySegment`]).
    pub fn parse(raw: &str) -> Result<Self, InvalidPath> {
        if raw.is_empty() {
            return Ok(Self::root());
        }
        let folder = match raw.strip_suffix('/') {
            Some("") | None => raw,
            Some(trimmed) => trimmed,
        };
        RelativePath::parse(folder).map(|path| Self(Some(path)))
    }

    /// Whether this is the user's output root.
    #[must_use]
    pub const fn is_root(&self) -> bool {
        self.0.is_none()
    }

    /// The folder as a path below the root; `None` for the root.
    #[must_use]
    pub const fn path(&self) -> Option<&RelativePath> {
        self.0.as_ref()
    }

    /// The folder as text, without a trailing `/`; empty for the root.
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.as_ref().map_or("", RelativePath::as_str)
    }

    /// The path below the root of the entry `name` in this folder.
    ///
    /// # Errors
    /// [`InvalidPath::TooLong`] when the joined path is longer than a [`RelativePath`] may be.
    pub fn entry(&self, name: &EntryName) -> Result<RelativePath, InvalidPath> {
        match &self.0 {
            None => RelativePath::parse(name.as_str()),
            Some(folder) => RelativePath::parse(&format!("{folder}/{name}")),
        }
    }
}

impl fmt::Display for OutputFolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name of one file or folder in a folder: a single segment of a [`RelativePath`], at most
/// [`MAX_NAME_BYTES`] long.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryName(String);

impl EntryName {
    /// Validates `raw` as one name.
    ///
    /// # Errors
    /// [`InvalidPath`] naming the first rule broken; a `/` inside the name is
    /// [`InvalidPath::Separator`].
    pub fn parse(raw: &str) -> Result<Self, InvalidPath> {
        if raw.len() > MAX_NAME_BYTES {
            return Err(InvalidPath::NameTooLong);
        }
        check(raw, false)?;
        if raw.contains('/') {
            return Err(InvalidPath::Separator);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The name as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EntryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lets a set of names be searched with a `&str`.
impl std::borrow::Borrow<str> for EntryName {
    fn borrow(&self) -> &str {
        &self.0
    }
}
