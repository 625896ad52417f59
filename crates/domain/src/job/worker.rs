//! What a worker tells the server about itself and its work, as bounded values: the ECS ARNs it
//! names itself by, the job types it claims, and the progress it reports with a heartbeat.
//!
//! Each value is checked once where it enters (the HTTP layer parses into these types), so the
//! use cases only ever see values within the limits. The error texts are the per-field messages
//! clients see.

use thiserror::Error;

use super::registry::{JobTypeName, JobTypeRegistry, UnknownJobType};

/// An ECS task or cluster ARN, as a worker names itself: 1 to [`EcsArn::MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsArn(String);

/// Why a text is not acceptable as an ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InvalidArn {
    /// Empty (R1's workers send none rather than an empty one).
    #[error("must not be empty")]
    Empty,
    /// Over the limit.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The limit, in characters.
        max: usize,
    },
}

impl EcsArn {
    /// Longest accepted ARN, in characters.
    pub const MAX_CHARS: usize = 2048;

    /// Checks the length; the text is kept as given.
    ///
    /// # Errors
    /// [`InvalidArn`] when `raw` is empty or longer than [`Self::MAX_CHARS`] characters.
    pub fn new(raw: String) -> Result<Self, InvalidArn> {
        if raw.is_empty() {
            return Err(InvalidArn::Empty);
        }
        if !at_most_chars(&raw, Self::MAX_CHARS) {
            return Err(InvalidArn::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        Ok(Self(raw))
    }

    /// The ARN.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ARN, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Whether `text` has at most `max` characters (counted as Unicode scalar values, as clients
/// count them; the bytes of a long text are not all walked).
fn at_most_chars(text: &str, max: usize) -> bool {
    text.len() <= max || text.chars().nth(max).is_none()
}

/// How far a job is, in percent: a number from 0 to 100.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct ProgressPercent(f64);

/// A progress outside 0..=100 (or not a number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("must be a number from 0 to 100")]
pub struct ProgressOutOfRange;

impl ProgressPercent {
    /// Checks the range.
    ///
    /// # Errors
    /// [`ProgressOutOfRange`] outside 0..=100, or for NaN.
    pub fn new(percent: f64) -> Result<Self, ProgressOutOfRange> {
        if (0.0..=100.0).contains(&percent) {
            Ok(Self(percent))
        } else {
            Err(ProgressOutOfRange)
        }
    }

    /// The percentage.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// A short status message a worker reports with a heartbeat: at most
/// [`ProgressMessage::MAX_CHARS`] characters (empty is allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressMessage(String);

/// A message over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("must be at most {max} characters")]
pub struct MessageTooLong {
    /// The limit, in characters.
    pub max: usize,
}

impl ProgressMessage {
    /// Longest accepted message, in characters.
    pub const MAX_CHARS: usize = 1000;

    /// Checks the length; the text is kept as given.
    ///
    /// # Errors
    /// [`MessageTooLong`] over [`Self::MAX_CHARS`] characters.
    pub fn new(raw: String) -> Result<Self, MessageTooLong> {
        if !at_most_chars(&raw, Self::MAX_CHARS) {
            return Err(MessageTooLong {
                max: Self::MAX_CHARS,
            });
        }
        Ok(Self(raw))
    }

    /// The message.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The message, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// The job types one claim asks for: at most [`ClaimTypes::MAX`] of the deployment's types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimTypes(Vec<JobTypeName>);

/// Why a list of job types cannot be claimed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidClaimTypes {
    /// More names than one claim may ask for (checked before any name).
    #[error("must name at most {max} types")]
    TooMany {
        /// The limit.
        max: usize,
    },
    /// The first name that is not one of the deployment's types.
    #[error("Unknown job type {:?}", .0.name)]
    Unknown(UnknownJobType),
}

impl ClaimTypes {
    /// Most job types one claim may name.
    pub const MAX: usize = 64;

    /// Checks the count, then that every name is one of `registry`'s types.
    ///
    /// # Errors
    /// [`InvalidClaimTypes::TooMany`] over [`Self::MAX`] names, else
    /// [`InvalidClaimTypes::Unknown`] naming the first unknown one.
    pub fn parse(names: &[String], registry: &JobTypeRegistry) -> Result<Self, InvalidClaimTypes> {
        if names.len() > Self::MAX {
            return Err(InvalidClaimTypes::TooMany { max: Self::MAX });
        }
        names
            .iter()
            .map(|name| registry.resolve(name).map_err(InvalidClaimTypes::Unknown))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The names, in the order given.
    pub fn names(&self) -> &[JobTypeName] {
        &self.0
    }

    /// The names, owned, in the order given.
    pub fn into_names(self) -> Vec<JobTypeName> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_are_one_to_2048_characters() {
        assert_eq!(EcsArn::new(String::new()), Err(InvalidArn::Empty));
        let longest = "é".repeat(EcsArn::MAX_CHARS);
        assert_eq!(
            EcsArn::new(longest.clone()).map(EcsArn::into_string),
            Ok(longest)
        );
        let err = EcsArn::new("a".repeat(EcsArn::MAX_CHARS + 1)).expect_err("too long");
        assert_eq!(err.to_string(), "must be at most 2048 characters");
        assert_eq!(
            EcsArn::new("arn:aws:ecs:task/1".into())
                .expect("valid")
                .as_str(),
            "arn:aws:ecs:task/1"
        );
    }

    #[test]
    fn progress_is_from_0_to_100() {
        for ok in [0.0, 42.5, 100.0] {
            assert_eq!(ProgressPercent::new(ok).map(ProgressPercent::get), Ok(ok));
        }
        for bad in [-0.1, 100.1, f64::NAN, f64::INFINITY] {
            let err = ProgressPercent::new(bad).expect_err("out of range");
            assert_eq!(err.to_string(), "must be a number from 0 to 100");
        }
    }

    #[test]
    fn messages_are_at_most_1000_characters() {
        assert_eq!(
            ProgressMessage::new(String::new()).map(ProgressMessage::into_string),
            Ok(String::new())
        );
        assert!(ProgressMessage::new("ü".repeat(ProgressMessage::MAX_CHARS)).is_ok());
        let err =
            ProgressMessage::new("x".repeat(ProgressMessage::MAX_CHARS + 1)).expect_err("too long");
        assert_eq!(err.to_string(), "must be at most 1000 characters");
    }

    #[test]
    fn claim_types_are_few_and_known() {
        let registry = JobTypeRegistry::builtin().expect("built-in types");
        let types = ClaimTypes::parse(&["TEST".into()], &registry).expect("known");
        assert_eq!(
            types
                .names()
                .iter()
                .map(JobTypeName::as_str)
                .collect::<Vec<_>>(),
            ["TEST"]
        );
        let err = ClaimTypes::parse(
            &["TEST".into(), "NOPE".into(), "ALSO_NOT".into()],
            &registry,
        )
        .expect_err("unknown");
        assert!(matches!(&err, InvalidClaimTypes::Unknown(unknown) if unknown.name == "NOPE"));
        assert_eq!(err.to_string(), "Unknown job type \"NOPE\"");
        let too_many = vec!["NOPE".to_owned(); ClaimTypes::MAX + 1];
        let err = ClaimTypes::parse(&too_many, &registry).expect_err("too many");
        assert_eq!(err.to_string(), "must name at most 64 types");
        assert!(ClaimTypes::parse(&vec!["TEST".into(); ClaimTypes::MAX], &registry).is_ok());
        assert!(ClaimTypes::parse(&[], &registry).is_ok());
    }
}
