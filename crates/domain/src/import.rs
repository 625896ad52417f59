//! Importing a ReefGuide database (issue 26): its rows as read ([`source`]), the rules that turn
//! them into this service's rows ([`plan`], and [`r2`] for ReefGuide R2's own tables), and the
//! report of what happened ([`report`]). Reading the source and writing the target are the
//! adapters' part.

pub mod plan;
pub mod r2;
pub mod report;
pub mod source;

#[cfg(test)]
mod tests;

pub use plan::{
    ImportPlan, ImportRules, ImportedAssignment, ImportedJob, ImportedJobRequest, ImportedNote,
    ImportedPolygon, ImportedResult, ImportedUser, ImportedUserLog, plan_import,
};
pub use r2::{
    ImportedGroup, ImportedPreApproval, ImportedProject, Link, R2Plan, R2Source, SourceCriterion,
    SourceGroup, SourcePreApproval, SourceProject, SourceRegion, SourceRegionalCriterion,
};
pub use report::{Conflict, ImportReport, RowNote, RowOutcome, TableCount};
pub use source::{
    Release, SourceAssignment, SourceJob, SourceJobRequest, SourceNote, SourcePolygon,
    SourceResult, SourceSnapshot, SourceUser, SourceUserLog,
};
