//! Use-case services, generic over the ports they need.

mod audit_trail;
pub mod auth;
pub mod capacity;
pub mod catalog;
pub mod cluster;
pub mod data_specification;
pub mod directory;
pub mod groups;
pub mod import;
pub mod jobs;
pub mod outputs;
pub mod password_reset;
pub mod pre_approvals;
pub mod projects;
pub mod results;
pub mod signed_files;
pub mod study_areas;
pub mod users;
pub mod workflows;

pub use auth::{AuthService, AuthSettings, LoginTokens, RefreshedTokens};
pub use capacity::{
    CapacityConfigError, CapacityError, CapacityManager, CycleReport, TargetError, TargetReport,
};
pub use catalog::{
    CollectionSummary, UnknownCollection, WorkflowCatalog, WorkflowDetails, WorkflowSummary,
};
pub use cluster::ClusterAdminService;
pub use data_specification::{DataSpecificationService, UpdateRequested};
pub use directory::UserDirectory;
pub use groups::GroupService;
pub use import::{ImportError, ImportService};
pub use jobs::{
    HeartbeatReply, JobListing, JobService, Progress, SweepSummary, WorkerArns, Workflows,
};
pub use outputs::{FileEntry, Folder, OutputBrowser, OutputError};
pub use password_reset::PasswordResetService;
pub use pre_approvals::{
    BulkOutcome, BulkRefusal, PreApprovalListing, PreApprovalService, PreApprovalView,
};
pub use projects::{MAX_BULK_PROJECTS, ProjectListing, ProjectService};
pub use results::{
    Download, DownloadError, DownloadRequest, ResultFileLimits, ResultFileService, UploadUrlError,
    UploadUrls,
};
pub use signed_files::{SignedFileService, SignedUploadError};
pub use study_areas::{
    ExportPage, NoteService, PolygonExport, PolygonListing, PolygonService, StudyAreaStore,
};
pub use users::UserAdminService;
pub use workflows::{DispatchReport, WorkflowDispatcher};

use crate::repositories::{RefreshTokenRepository, UserLogRepository, UserRepository};

/// Everything the account use cases need from storage. Implemented for any type that implements
/// the three repositories.
pub trait AccountStore: UserRepository + RefreshTokenRepository + UserLogRepository {}

impl<T> AccountStore for T where T: UserRepository + RefreshTokenRepository + UserLogRepository {}

#[cfg(test)]
pub(crate) mod test_support;
