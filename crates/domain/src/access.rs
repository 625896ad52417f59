//! Who may see, change or do what: every access rule of reefguide, as pure functions the
//! services apply.
//!
//! One place decides, so the routes cannot drift apart (broken object-level authorisation is the
//! classic API flaw this guards against) and no handler or middleware decides a rule of its own.
//! The rules are grouped by what they guard:
//!
//! - `accounts`: accounts before they exist (pre-approved users);
//! - `features`: which parts of the API an account may use at all, by its roles (the user
//!   features, whose items a listing shows);
//! - `polygons`: polygons and their notes (their owner, their author, or an administrator);
//! - `projects`: projects and groups (who sees them, who changes them);
//! - `jobs`: jobs, assignments, working the queue as a worker, and the result cache;
//! - `data_specification`: changing ReefGuide's regions, criteria and ranges;
//! - `workflows`: which workflow a user may run on which data collection.
//!
//! Every rule is re-exported here (`access::may_manage_polygon`, …). The typed refusals of the
//! polygon and note use cases are below; those of the job use cases are in
//! [`crate::job::errors`].

use thiserror::Error;

use crate::note::NoteId;
use crate::polygon::PolygonId;

mod accounts;
mod data_specification;
mod features;
mod jobs;
mod polygons;
mod projects;
mod workflows;

pub use accounts::may_manage_pre_approvals;
pub use data_specification::{may_manage_data_specification, may_replace_data_specification};
pub use features::{listing_scope, may_use_user_features};
pub use jobs::{
    may_act_as_worker, may_cancel_job, may_invalidate_cache, may_time_out_jobs, may_view_job,
    may_work_assignment,
};
pub use polygons::{may_edit_note, may_manage_polygon, may_see_polygon};
pub use projects::{
    may_change_project, may_manage_group, may_own_group, may_view_group, may_view_project,
};
pub use workflows::{WorkflowRefusal, may_run_workflow};

/// Reading, changing or deleting one polygon (and listing its notes).
#[derive(Debug, Error)]
pub enum PolygonAccessError {
    /// No such polygon.
    #[error("Polygon not found")]
    NotFound(PolygonId),
    /// It exists but is not the caller's.
    #[error("You do not have access to this polygon")]
    Forbidden,
    /// The project named for the polygon does not exist or the caller does not see it.
    #[error("Project not found")]
    ProjectNotFound(crate::project::ProjectId),
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Adding a note to a polygon.
#[derive(Debug, Error)]
pub enum CreateNoteError {
    /// No such polygon.
    #[error("Polygon not found")]
    PolygonNotFound(PolygonId),
    /// The polygon is not the caller's.
    #[error("You can only add notes to your own polygons")]
    Forbidden,
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Changing or deleting one note.
#[derive(Debug, Error)]
pub enum NoteAccessError {
    /// No such note.
    #[error("Note not found")]
    NotFound(NoteId),
    /// Not the author and not an administrator.
    #[error("You can only change your own notes")]
    Forbidden,
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Accounts for the rules' unit tests.
#[cfg(test)]
mod test_support {
    use crate::user::{Email, Role, Roles, User, UserId};

    /// User `id` with `roles`.
    pub(super) fn user(id: i64, roles: &[Role]) -> User {
        User::local(
            id_of(id),
            Email::parse(&format!("u{id}@example.com")).expect("email"),
            roles.iter().copied().collect::<Roles>(),
        )
    }

    /// The user id `raw`.
    pub(super) fn id_of(raw: i64) -> UserId {
        UserId::new(raw).expect("positive")
    }
}
