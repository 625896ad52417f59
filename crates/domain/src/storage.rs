//! Result-file vocabulary: the relative path of a file under an assignment's storage prefix, the
//! prefix filter of a download, and the lifetime of a presigned URL.
//!
//! A [`RelativePath`] is what a worker or a listing names a file by, relative to the storage
//! location of its assignment (`<root>/<type>/<job id>/<epoch ms>`). Its rules make it safe both
//! as an S3 key suffix and as a path below a directory: no absolute paths, no `.` or `..`
//! segments, no empty segments, no backslashes and no control characters, so it can never name
//! anything outside its prefix.
//!
//! The output browser of workflow runs (labcas-contract §3) adds its own vocabulary in
//! [`outputs`] (a folder below a user's outputs, one name in it), [`properties`] (the properties
//! a user sets on a file) and [`sidecar`] (the `.cfg` file that stores them).

pub mod outputs;
pub mod properties;
pub mod sidecar;

use std::fmt;

use thiserror::Error;

/// Longest relative path, in bytes (S3 keys may be 1,024 bytes long in all; the prefix takes
/// some of that, so an over-long path is refused here rather than by the store).
pub const MAX_RELATIVE_PATH_BYTES: usize = 900;

/// Why a relative path (or a prefix filter) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InvalidPath {
    /// The path is empty.
    #[error("must not be empty")]
    Empty,
    /// The path is longer than [`MAX_RELATIVE_PATH_BYTES`].
    #[error("must be at most {MAX_RELATIVE_PATH_BYTES} bytes long")]
    TooLong,
    /// The path starts with `/`.
    #[error("must be relative (no leading '/')")]
    Absolute,
    /// The path has an empty segment (`a//b`, or a trailing `/` where a file is named).
    #[error("must not contain empty segments ('//' or a trailing '/')")]
    EmptySegment,
    /// The path has a `.` or `..` segment.
    #[error("must not contain '.' or '..' segments")]
    DotSegment,
    /// The path contains a backslash.
    #[error("must use '/' as separator (no '\\')")]
    Backslash,
    /// The path contains a control character.
    #[error("must not contain control characters")]
    ControlCharacter,
    /// A single name (of a file or folder) contains `/`.
    #[error("must be a single name (no '/')")]
    Separator,
    /// A single name is longer than [`outputs::MAX_NAME_BYTES`].
    #[error("must be a name of at most {} bytes", outputs::MAX_NAME_BYTES)]
    NameTooLong,
}

/// Checks the characters and segments common to paths, filters and names;
/// `allow_trailing_slash` lets the last segment be empty (a filter naming a folder).
fn check(raw: &str, allow_trailing_slash: bool) -> Result<(), InvalidPath> {
    if raw.is_empty() {
        return Err(InvalidPath::Empty);
    }
    if raw.len() > MAX_RELATIVE_PATH_BYTES {
        return Err(InvalidPath::TooLong);
    }
    if raw.starts_with('/') {
        return Err(InvalidPath::Absolute);
    }
    if raw.contains('\\') {
        return Err(InvalidPath::Backslash);
    }
    if raw.chars().any(char::is_control) {
        return Err(InvalidPath::ControlCharacter);
    }
    let segments: Vec<&str> = raw.split('/').collect();
    let last = segments.len() - 1;
    for (index, segment) in segments.iter().enumerate() {
        match *segment {
            "" if index == last && allow_trailing_slash => {}
            "" => return Err(InvalidPath::EmptySegment),
            "." | ".." => return Err(InvalidPath::DotSegment),
            _ => {}
        }
    }
    Ok(())
}

/// A file's path relative to its assignment's storage prefix, e.g. `maps/suitability.tif`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelativePath(String);

impl RelativePath {
    /// Validates `raw` (see the module documentation).
    ///
    /// # Errors
    /// [`InvalidPath`] naming the first rule broken.
    pub fn parse(raw: &str) -> Result<Self, InvalidPath> {
        check(raw, false)?;
        Ok(Self(raw.to_owned()))
    }

    /// The path as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RelativePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A download's `filterPrefix`: only files whose relative path starts with it are listed. It may
/// end with `/` (a folder) or in the middle of a name (`maps/reg` matches `maps/region.tif`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterPrefix(String);

impl FilterPrefix {
    /// Validates `raw`: the rules of [`RelativePath`], but a trailing `/` is allowed.
    ///
    /// # Errors
    /// [`InvalidPath`] naming the first rule broken.
    pub fn parse(raw: &str) -> Result<Self, InvalidPath> {
        check(raw, true)?;
        Ok(Self(raw.to_owned()))
    }

    /// The prefix as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `path` is selected by this filter.
    #[must_use]
    pub fn selects(&self, path: &RelativePath) -> bool {
        path.as_str().starts_with(&self.0)
    }
}

/// The lifetime of a presigned URL: 1 second to 7 days (S3's own limit for SigV4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PresignExpiry(u32);

/// A presign lifetime outside 1..=604,800 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error(
    "must be from {} to {} seconds",
    PresignExpiry::MIN_SECONDS,
    PresignExpiry::MAX_SECONDS
)]
pub struct InvalidExpiry;

impl PresignExpiry {
    /// Shortest lifetime, in seconds.
    pub const MIN_SECONDS: u32 = 1;
    /// Longest lifetime, in seconds (seven days).
    pub const MAX_SECONDS: u32 = 604_800;
    /// The lifetime when none is asked for: one hour.
    pub const DEFAULT: Self = Self(3_600);

    /// A lifetime of `seconds`.
    ///
    /// # Errors
    /// [`InvalidExpiry`] outside 1..=604,800.
    pub fn from_seconds(seconds: i64) -> Result<Self, InvalidExpiry> {
        u32::try_from(seconds)
            .ok()
            .filter(|s| (Self::MIN_SECONDS..=Self::MAX_SECONDS).contains(s))
            .map(Self)
            .ok_or(InvalidExpiry)
    }

    /// The lifetime in seconds.
    #[must_use]
    pub const fn seconds(self) -> u32 {
        self.0
    }

    /// The lifetime as a duration.
    #[must_use]
    pub fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.0))
    }
}

impl Default for PresignExpiry {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("result.json")]
    #[case("maps/region 1/suitability.tif")]
    #[case("a/b/c/d.e.f")]
    #[case("..hidden")]
    #[case("名前/ファイル.txt")]
    fn valid_paths_are_kept_as_given(#[case] raw: &str) {
        assert_eq!(
            RelativePath::parse(raw).map(|p| p.to_string()),
            Ok(raw.into())
        );
    }

    #[rstest]
    #[case("", InvalidPath::Empty)]
    #[case("/etc/passwd", InvalidPath::Absolute)]
    #[case("../secret", InvalidPath::DotSegment)]
    #[case("a/../../b", InvalidPath::DotSegment)]
    #[case("a/./b", InvalidPath::DotSegment)]
    #[case("..", InvalidPath::DotSegment)]
    #[case("a//b", InvalidPath::EmptySegment)]
    #[case("folder/", InvalidPath::EmptySegment)]
    #[case("a\\..\\b", InvalidPath::Backslash)]
    #[case("a\nb", InvalidPath::ControlCharacter)]
    #[case("a\0b", InvalidPath::ControlCharacter)]
    fn unsafe_paths_are_refused(#[case] raw: &str, #[case] why: InvalidPath) {
        assert_eq!(RelativePath::parse(raw), Err(why));
    }

    #[test]
    fn over_long_paths_are_refused() {
        let longest = "a".repeat(MAX_RELATIVE_PATH_BYTES);
        assert!(RelativePath::parse(&longest).is_ok());
        assert_eq!(
            RelativePath::parse(&format!("{longest}b")),
            Err(InvalidPath::TooLong)
        );
    }

    #[test]
    fn filters_may_name_a_folder_or_part_of_a_name() {
        let path = RelativePath::parse("maps/region.tif").expect("valid");
        for selecting in ["maps/", "maps/reg", "maps/region.tif", "m"] {
            let filter = FilterPrefix::parse(selecting).expect("valid");
            assert!(filter.selects(&path), "{selecting}");
        }
        for other in ["mapsx/", "maps/other", "region"] {
            let filter = FilterPrefix::parse(other).expect("valid");
            assert!(!filter.selects(&path), "{other}");
        }
        for (bad, why) in [
            ("../", InvalidPath::DotSegment),
            ("/maps", InvalidPath::Absolute),
            ("maps//", InvalidPath::EmptySegment),
            ("", InvalidPath::Empty),
        ] {
            assert_eq!(FilterPrefix::parse(bad), Err(why), "{bad}");
        }
    }

    #[rstest]
    #[case(1, true)]
    #[case(3_600, true)]
    #[case(604_800, true)]
    #[case(0, false)]
    #[case(-5, false)]
    #[case(604_801, false)]
    #[case(i64::MAX, false)]
    fn expiry_is_bounded(#[case] seconds: i64, #[case] valid: bool) {
        assert_eq!(PresignExpiry::from_seconds(seconds).is_ok(), valid);
    }
}
