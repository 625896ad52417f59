//! The properties a user sets on output files (`PUT /output-data/{prefix…}`, labcas-contract
//! §3): for each named file, keys with a string, number or boolean value. They are stored in the
//! file's sidecar ([`super::sidecar`]) as strings, merged into what is there already: the keys
//! sent replace, the others stay ([`merge`]).
//!
//! [`PropertyEdits::parse`] checks a whole request before anything is written: every name is
//! one file name (not a sidecar), every value a scalar, every key and value storable, and the
//! request within [`MAX_FILES_PER_UPDATE`] files of [`MAX_KEYS_PER_FILE`] keys.

use std::collections::BTreeMap;

use serde_json::Value;
use thiserror::Error;

use super::InvalidPath;
use super::outputs::EntryName;
use super::sidecar::{self, Properties, Unstorable};

#[cfg(test)]
mod tests;

/// Most files one request may set properties on.
pub const MAX_FILES_PER_UPDATE: usize = 1_000;

/// Most keys one request may set on one file.
pub const MAX_KEYS_PER_FILE: usize = 100;

/// A property value as sent: a JSON string, number or boolean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyValue {
    /// A string, stored as given.
    Text(String),
    /// A number, stored as JSON writes it (`3`, `1.5`, `1e+300`).
    Number(serde_json::Number),
    /// A boolean, stored as `true` or `false`.
    Bool(bool),
}

impl PropertyValue {
    /// The value of a JSON scalar; `None` for `null`, arrays and objects.
    #[must_use]
    pub fn from_json(value: Value) -> Option<Self> {
        match value {
            Value::String(text) => Some(Self::Text(text)),
            Value::Number(number) => Some(Self::Number(number)),
            Value::Bool(flag) => Some(Self::Bool(flag)),
            Value::Null | Value::Array(_) | Value::Object(_) => None,
        }
    }

    /// The value as stored in a sidecar.
    #[must_use]
    pub fn into_text(self) -> String {
        match self {
            Self::Text(text) => text,
            Self::Number(number) => number.to_string(),
            Self::Bool(flag) => flag.to_string(),
        }
    }
}

/// Why a properties request was refused (nothing is written).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidEdit {
    /// More files than [`MAX_FILES_PER_UPDATE`].
    #[error("at most {MAX_FILES_PER_UPDATE} files may be updated at once")]
    TooManyFiles,
    /// A name that is not one file name.
    #[error("{name:?} is not a file name: it {why}")]
    BadName {
        /// The name as sent.
        name: String,
        /// The rule it breaks.
        why: InvalidPath,
    },
    /// A name of a sidecar: properties are set on the file it describes.
    #[error("{name} holds properties; set them on the file it describes")]
    SidecarNamed {
        /// The sidecar's name.
        name: EntryName,
    },
    /// More keys for one file than [`MAX_KEYS_PER_FILE`].
    #[error("at most {MAX_KEYS_PER_FILE} properties may be set on {file} at once")]
    TooManyKeys {
        /// The file.
        file: EntryName,
    },
    /// A key a sidecar cannot hold as given.
    #[error("the property key {key:?} of {file} {why}")]
    BadKey {
        /// The file.
        file: EntryName,
        /// The key as sent.
        key: String,
        /// The rule it breaks.
        why: Unstorable,
    },
    /// A value that is not a string, number or boolean.
    #[error("the property {key:?} of {file} must be a string, a number or a boolean")]
    BadValue {
        /// The file.
        file: EntryName,
        /// The key.
        key: String,
    },
    /// A value a sidecar cannot hold as given.
    #[error("the value of property {key:?} of {file} {why}")]
    UnstorableValue {
        /// The file.
        file: EntryName,
        /// The key.
        key: String,
        /// The rule it breaks.
        why: Unstorable,
    },
}

/// A checked properties request: file name → the properties to set on it, as they will be
/// stored. Files in name order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PropertyEdits(BTreeMap<EntryName, Properties>);

impl PropertyEdits {
    /// Checks a request's `files` (name → key → JSON value).
    ///
    /// # Errors
    /// [`InvalidEdit`] for the first problem found, files and keys in order.
    pub fn parse(files: BTreeMap<String, BTreeMap<String, Value>>) -> Result<Self, InvalidEdit> {
        if files.len() > MAX_FILES_PER_UPDATE {
            return Err(InvalidEdit::TooManyFiles);
        }
        let mut edits = BTreeMap::new();
        for (raw_name, properties) in files {
            let file = file_name(&raw_name)?;
            if properties.len() > MAX_KEYS_PER_FILE {
                return Err(InvalidEdit::TooManyKeys { file });
            }
            let mut stored = Properties::new();
            for (key, value) in properties {
                if let Err(why) = sidecar::check_key(&key) {
                    return Err(InvalidEdit::BadKey { file, key, why });
                }
                let Some(value) = PropertyValue::from_json(value) else {
                    return Err(InvalidEdit::BadValue { file, key });
                };
                let value = value.into_text();
                if let Err(why) = sidecar::check_value(&value) {
                    return Err(InvalidEdit::UnstorableValue { file, key, why });
                }
                stored.insert(key, value);
            }
            edits.insert(file, stored);
        }
        Ok(Self(edits))
    }

    /// The files and the properties to set on each, in name order.
    pub fn files(&self) -> impl ExactSizeIterator<Item = (&EntryName, &Properties)> {
        self.0.iter()
    }

    /// Whether no file is named.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A name that may carry properties: one file name, whose sidecar name is not too long, and not
/// a sidecar itself.
fn file_name(raw: &str) -> Result<EntryName, InvalidEdit> {
    let bad = |why| InvalidEdit::BadName {
        name: raw.to_owned(),
        why,
    };
    let file = EntryName::parse(raw).map_err(bad)?;
    if file.is_sidecar() {
        return Err(InvalidEdit::SidecarNamed { name: file });
    }
    file.sidecar().map_err(bad)?;
    Ok(file)
}

/// `existing` properties with `edits` applied: the keys of `edits` replace, the others stay.
#[must_use]
pub fn merge(mut existing: Properties, edits: &Properties) -> Properties {
    existing.extend(edits.iter().map(|(k, v)| (k.clone(), v.clone())));
    existing
}
