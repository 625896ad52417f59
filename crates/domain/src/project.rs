//! Projects (R2): a named piece of work (a site selection or an ADRIA analysis) with the state
//! its front end saves, owned by one user and shared with users, with groups, or with everyone
//! (public). Polygons may belong to a project. Who may see or change a project is decided in
//! [`crate::access`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::Value;
use thiserror::Error;

use crate::text::{Description, Label};
use crate::user::UserId;

crate::id::positive_id!(
    /// Identifier of a project.
    ProjectId
);

/// Largest project state, in bytes of its JSON: the front end's saved form, which is small; the
/// bound keeps one project from filling the database.
pub const MAX_PROJECT_STATE_BYTES: usize = 1024 * 1024;

/// What kind of work a project holds (R2's `ProjectType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProjectType {
    /// Site selection.
    SiteSelection,
    /// An ADRIA analysis.
    AdriaAnalysis,
}

impl ProjectType {
    /// Every type.
    pub const ALL: [ProjectType; 2] = [ProjectType::SiteSelection, ProjectType::AdriaAnalysis];

    /// Wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectType::SiteSelection => "SITE_SELECTION",
            ProjectType::AdriaAnalysis => "ADRIA_ANALYSIS",
        }
    }
}

impl fmt::Display for ProjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A project type name we do not know.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("must be SITE_SELECTION or ADRIA_ANALYSIS")]
pub struct UnknownProjectType;

impl FromStr for ProjectType {
    type Err = UnknownProjectType;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        ProjectType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == raw)
            .ok_or(UnknownProjectType)
    }
}

/// The state a front end saves in a project: any JSON, at most [`MAX_PROJECT_STATE_BYTES`].
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectState(Value);

/// A refused project state.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("must be at most {max} bytes of JSON", max = MAX_PROJECT_STATE_BYTES)]
pub struct ProjectStateTooLarge;

impl ProjectState {
    /// Checks the size of `value`.
    pub fn new(value: Value) -> Result<Self, ProjectStateTooLarge> {
        if !Self::fits(&value) {
            return Err(ProjectStateTooLarge);
        }
        Ok(Self(value))
    }

    /// Whether `value`, written as JSON, takes at most [`MAX_PROJECT_STATE_BYTES`]; the writing
    /// stops at the first byte past the limit, and nothing is kept.
    pub fn fits(value: &Value) -> bool {
        let mut counter = ByteBudget {
            left: MAX_PROJECT_STATE_BYTES,
        };
        serde_json::to_writer(&mut counter, value).is_ok()
    }

    /// A state read back from storage (checked when it was written).
    pub fn from_stored(value: Value) -> Self {
        Self(value)
    }

    /// The JSON.
    pub fn as_json(&self) -> &Value {
        &self.0
    }
}

/// A sink that only counts, and refuses to take more than `left` bytes.
struct ByteBudget {
    left: usize,
}

impl std::io::Write for ByteBudget {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.left = self
            .left
            .checked_sub(bytes.len())
            .ok_or_else(|| std::io::Error::other("over the budget"))?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A stored project.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// Id.
    pub id: ProjectId,
    /// The owner.
    pub owner: UserId,
    /// Name, unique among its owner's projects.
    pub name: Label,
    /// Description, if any.
    pub description: Option<Description>,
    /// Kind of work.
    pub kind: ProjectType,
    /// The front end's saved state.
    pub state: ProjectState,
    /// Whether every user of the project features sees it.
    pub is_public: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A project to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProject {
    /// The owner.
    pub owner: UserId,
    /// Name.
    pub name: Label,
    /// Description.
    pub description: Option<Description>,
    /// Kind of work.
    pub kind: ProjectType,
    /// Initial state.
    pub state: ProjectState,
    /// Public from the start.
    pub is_public: bool,
}

/// Changes to a project (absent: unchanged).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProjectChange {
    /// A new name.
    pub name: Option<Label>,
    /// A new description (`Some(None)` removes it).
    pub description: Option<Option<Description>>,
    /// A new state.
    pub state: Option<ProjectState>,
}

/// Refusals of the project use cases.
#[derive(Debug, Error)]
pub enum ProjectError {
    /// No such project, or one the caller may not see (the same answer, so a project's
    /// existence does not leak).
    #[error("Project not found")]
    NotFound(ProjectId),
    /// The caller sees the project but is neither its owner nor an administrator (R2 let anyone
    /// who sees a project change it: this closes that hole).
    #[error("Only the project's owner or an administrator may do this")]
    NotOwner,
    /// The owner already has a project of that name.
    #[error("Project with name \"{0}\" already exists for this user")]
    DuplicateName(String),
    /// The owner named for a project has no account.
    #[error("User with ID {0} not found")]
    OwnerNotFound(UserId),
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn project_types_round_trip() {
        for kind in ProjectType::ALL {
            assert_eq!(kind.as_str().parse::<ProjectType>(), Ok(kind));
        }
        assert_eq!(
            "site_selection".parse::<ProjectType>(),
            Err(UnknownProjectType)
        );
    }

    #[test]
    fn project_state_is_bounded() {
        assert!(ProjectState::new(json!({"step": 2})).is_ok());
        let big = json!("x".repeat(MAX_PROJECT_STATE_BYTES));
        assert_eq!(ProjectState::new(big), Err(ProjectStateTooLarge));
        // Exactly at the limit: the string and its two quotes.
        let at_limit = json!("x".repeat(MAX_PROJECT_STATE_BYTES - 2));
        assert!(ProjectState::fits(&at_limit));
        assert!(!ProjectState::fits(&json!(
            "x".repeat(MAX_PROJECT_STATE_BYTES - 1)
        )));
    }
}
