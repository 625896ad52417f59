//! The `.cfg` sidecar of an output file (labcas-contract §3, §5): `<file>.cfg`, next to the file,
//! holds the file's properties as an INI document with one section named after the file.
//!
//! ```ini
//! [suitability.tif]
//! reviewed=true
//! Site Name=Moore Reef
//! ```
//!
//! Sidecars are hidden from listings; their keys become the file's properties, always as strings
//! (INI has no types). Keys are kept as given (never lower-cased). The document is written and
//! read with `rust-ini`, plainly (no escapes, no quotes), so that any INI reader sees the same
//! keys and values; a key or value that a plain INI line could not carry exactly (a line break,
//! a `=` in a key, spaces at either end that a reader would trim…) is refused by
//! [`check_key`] and [`check_value`] before anything is written.

use std::collections::BTreeMap;

use ini::{EscapePolicy, Ini, LineSeparator, ParseOption, WriteOption};
use thiserror::Error;

use super::InvalidPath;
use super::outputs::EntryName;

#[cfg(test)]
mod tests;

/// The suffix that makes a file a sidecar.
pub const SIDECAR_SUFFIX: &str = ".cfg";

/// Largest sidecar read, in bytes: a larger one is [`UnreadableSidecar`].
pub const MAX_SIDECAR_BYTES: usize = 1024 * 1024;

/// A file's properties: key → value, as stored.
pub type Properties = BTreeMap<String, String>;

/// A sidecar that is not an INI document of at most [`MAX_SIDECAR_BYTES`] in UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the properties of {file} are not a readable INI document")]
pub struct UnreadableSidecar {
    /// The file the sidecar describes.
    pub file: EntryName,
}

/// Why a key or value cannot be stored in a sidecar exactly as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Unstorable {
    /// An empty key.
    #[error("must not be empty")]
    Empty,
    /// Longer than the limit in bytes.
    #[error("must be at most {0} bytes long")]
    TooLong(usize),
    /// A control character (a line break would end the INI line).
    #[error("must not contain control characters")]
    ControlCharacter,
    /// Whitespace at the start or end (INI readers trim it).
    #[error("must not start or end with whitespace")]
    EdgeWhitespace,
    /// A key with `=`, `:` or `\`, or starting with `[`, `;` or `#` (read as a separator, an
    /// escape, a section or a comment).
    #[error("must not contain '=', ':' or '\\' nor start with '[', ';' or '#'")]
    ReservedCharacter,
    /// A value ending with `\` (read as a line continuation).
    #[error("must not end with '\\'")]
    TrailingBackslash,
}

/// Longest property key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;

/// Longest property value, in bytes.
pub const MAX_VALUE_BYTES: usize = 4 * 1024;

/// Checks that `key` can be written as an INI key and read back unchanged.
///
/// # Errors
/// [`Unstorable`] naming the first rule broken.
pub fn check_key(key: &str) -> Result<(), Unstorable> {
    if key.is_empty() {
        return Err(Unstorable::Empty);
    }
    check_text(key, MAX_KEY_BYTES)?;
    if key.contains(['=', ':', '\\']) || key.starts_with(['[', ';', '#']) {
        return Err(Unstorable::ReservedCharacter);
    }
    Ok(())
}

/// Checks that `value` can be written as an INI value and read back unchanged (an empty value
/// is fine).
///
/// # Errors
/// [`Unstorable`] naming the first rule broken.
pub fn check_value(value: &str) -> Result<(), Unstorable> {
    check_text(value, MAX_VALUE_BYTES)?;
    if value.ends_with('\\') {
        return Err(Unstorable::TrailingBackslash);
    }
    Ok(())
}

/// The rules keys and values share: length, no control characters, no edge whitespace.
fn check_text(text: &str, max_bytes: usize) -> Result<(), Unstorable> {
    if text.len() > max_bytes {
        return Err(Unstorable::TooLong(max_bytes));
    }
    if text.chars().any(char::is_control) {
        return Err(Unstorable::ControlCharacter);
    }
    if text.trim() != text {
        return Err(Unstorable::EdgeWhitespace);
    }
    Ok(())
}

impl EntryName {
    /// Whether this names a sidecar (ends with [`SIDECAR_SUFFIX`]); sidecars are hidden from
    /// listings, whether or not the file they describe exists.
    #[must_use]
    pub fn is_sidecar(&self) -> bool {
        self.as_str().ends_with(SIDECAR_SUFFIX)
    }

    /// The name of this file's sidecar, `<name>.cfg`.
    ///
    /// # Errors
    /// [`InvalidPath::NameTooLong`] when the suffix makes the name too long.
    pub fn sidecar(&self) -> Result<Self, InvalidPath> {
        Self::parse(&format!("{self}{SIDECAR_SUFFIX}"))
    }

    /// The file a sidecar describes (`a.tif.cfg` → `a.tif`); `None` when this is no sidecar or
    /// names none (`.cfg`).
    #[must_use]
    pub fn described_file(&self) -> Option<Self> {
        let file = self.as_str().strip_suffix(SIDECAR_SUFFIX)?;
        Self::parse(file).ok()
    }
}

/// How sidecars are parsed: plainly, no quotes, no escapes.
fn parse_option() -> ParseOption {
    ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        ..ParseOption::default()
    }
}

/// The properties of `file` in its sidecar's bytes: the keys of the section named after the file
/// (of every such section, the later winning). A sidecar written by other means that has no such
/// section but exactly one section with keys gives that section's keys; otherwise none.
///
/// # Errors
/// [`UnreadableSidecar`] when the bytes are too many, not UTF-8, or not INI.
pub fn read(file: &EntryName, bytes: &[u8]) -> Result<Properties, UnreadableSidecar> {
    let unreadable = || UnreadableSidecar { file: file.clone() };
    if bytes.len() > MAX_SIDECAR_BYTES {
        return Err(unreadable());
    }
    let text = std::str::from_utf8(bytes).map_err(|_| unreadable())?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let ini = Ini::load_from_str_opt(text, parse_option()).map_err(|_| unreadable())?;
    // Readers trim section names, so a name with edge spaces is found trimmed.
    let section = file.as_str().trim();
    let mut named = ini.section_all(Some(section)).peekable();
    if named.peek().is_some() {
        return Ok(named
            .flat_map(|properties| properties.iter())
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect());
    }
    let mut with_keys = ini.iter().filter(|(_, properties)| !properties.is_empty());
    match (with_keys.next(), with_keys.next()) {
        (Some((_, only)), None) => Ok(only
            .iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect()),
        _ => Ok(Properties::new()),
    }
}

/// The sidecar of `file` holding `properties`: one section named after the file, one
/// `key=value` line per property in key order, `\n` line ends. Keys and values are expected to
/// pass [`check_key`] and [`check_value`].
#[must_use]
pub fn render(file: &EntryName, properties: &Properties) -> Vec<u8> {
    let mut ini = Ini::new();
    let section = ini
        .entry(Some(file.as_str().to_owned()))
        .or_insert_with(Default::default);
    for (key, value) in properties {
        section.insert(key.as_str(), value.as_str());
    }
    let mut bytes = Vec::new();
    let option = WriteOption {
        escape_policy: EscapePolicy::Nothing,
        line_separator: LineSeparator::CR,
        ..WriteOption::default()
    };
    // Writing to a Vec cannot fail.
    if let Err(error) = ini.write_to_opt(&mut bytes, option) {
        unreachable!("writing INI to memory failed: {error}");
    }
    bytes
}
