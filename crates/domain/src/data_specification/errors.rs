//! The refusals of the data specification's use cases.

use thiserror::Error;

use crate::job::errors::SubmitJobError;

/// What is wrong with one field of a posted specification.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SpecProblem {
    /// A required name, label or text is missing or blank.
    #[error("must not be empty")]
    Empty,
    /// Longer than allowed.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The limit, in characters.
        max: usize,
    },
    /// A name starting or ending with whitespace.
    #[error("must not start or end with whitespace")]
    Padded,
    /// A control character (in a label or name: any; in a text: other than a line break or tab).
    #[error("must not contain control characters")]
    ControlCharacter,
    /// A region name with a `/`, which could not name it in a URL path.
    #[error("must not contain '/'")]
    Slash,
    /// Not a finite number.
    #[error("must be a finite number")]
    NotFinite,
    /// `min_val` above `max_val`.
    #[error("min_val ({min}) must not be greater than max_val ({max})")]
    RangeReversed {
        /// `min_val`.
        min: f64,
        /// `max_val`.
        max: f64,
    },
    /// `default_min_val` above `default_max_val`.
    #[error("default_min_val ({min}) must not be greater than default_max_val ({max})")]
    DefaultRangeReversed {
        /// `default_min_val`.
        min: f64,
        /// `default_max_val`.
        max: f64,
    },
    /// More regions than allowed.
    #[error("must hold at most {max} regions")]
    TooManyRegions {
        /// The limit.
        max: usize,
    },
    /// More criteria in one region than allowed.
    #[error("must hold at most {max} criteria")]
    TooManyCriteria {
        /// The limit.
        max: usize,
    },
    /// More distinct criteria over all regions than allowed.
    #[error("must name at most {max} distinct criteria over all regions")]
    TooManyDistinctCriteria {
        /// The limit.
        max: usize,
    },
    /// A region name given twice.
    #[error("region {name:?} appears more than once (first at {first})")]
    DuplicateRegion {
        /// The name.
        name: String,
        /// Where it first appears (`regions[0]`).
        first: String,
    },
    /// A criterion given twice in one region.
    #[error("criterion {name:?} appears more than once in this region (first at {first})")]
    DuplicateCriterion {
        /// The name.
        name: String,
        /// Where it first appears (`regions[0].criteria[1]`).
        first: String,
    },
    /// A criterion defined differently in two regions.
    #[error(
        "criterion {name:?} has another {field} at {first}: a criterion is one definition \
         shared by every region, only its range may differ"
    )]
    CriterionDiffers {
        /// The criterion.
        name: String,
        /// The first field that differs.
        field: &'static str,
        /// Where the criterion was first defined.
        first: String,
    },
}

/// One problem of a posted specification, by where it is in the request.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{path}: {problem}")]
pub struct Violation {
    /// Where, e.g. `regions[1].criteria[0].min_val`.
    pub path: String,
    /// What.
    pub problem: SpecProblem,
}

/// A posted specification breaks the rules (see [`crate::data_specification`]).
#[derive(Debug, Clone, PartialEq, Error)]
#[error(
    "invalid data specification ({found} problem(s)): {}",
    .violations.first().map_or_else(String::new, ToString::to_string)
)]
pub struct InvalidSpecification {
    /// The first problems found, in request order (at most
    /// [`MAX_VIOLATIONS`](super::MAX_VIOLATIONS); never empty).
    pub violations: Vec<Violation>,
    /// How many were found in all.
    pub found: usize,
}

/// Replacing the stored specification.
#[derive(Debug, Error)]
pub enum ReplaceSpecificationError {
    /// The caller may not change the specification.
    #[error("Only workers and administrators may change the data specification")]
    Forbidden,
    /// Anything else; the cause is logged, never shown (the store changed nothing).
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Reading the criteria of one region.
#[derive(Debug, Error)]
pub enum CriteriaRangesError {
    /// No region of that name.
    #[error("Region not found")]
    RegionNotFound,
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Asking the workers to recompute the specification.
#[derive(Debug, Error)]
pub enum RequestUpdateError {
    /// The caller may not ask for it.
    #[error("Only administrators may request a data specification update")]
    Forbidden,
    /// The job was not submitted (the deployment changed the job type so that it cannot be,
    /// e.g. made it a workflow type, or storage failed).
    #[error(transparent)]
    Submit(#[from] SubmitJobError),
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}
