//! Ports and use cases of reefguide.
//!
//! The traits here are everything the application needs from the outside world (storage, password
//! hashing, token signing, time, files served by signed URL). They speak only domain types: no sea-orm, actix or AWS type ever
//! crosses them. The use-case services in [`services`] are written against these traits, generic
//! over them, so they are tested with `mockall` mocks (feature `mock`) and wired to real adapters
//! by the binary.
//!
//! Error contract: a repository returns business outcomes as values (`Option`, `bool`, a typed
//! error such as [`reefguide_domain::user::errors::CreateUserError::UserExists`]) and everything
//! else (connection lost, driver failure) as an opaque `anyhow::Error`.

pub mod clock;
pub mod compute;
pub mod crypto;
pub mod email;
pub mod import;
pub mod object_store;
pub mod repositories;
pub mod services;
pub mod signed_files;
pub mod wakeup;
pub mod workflow_engine;

pub use clock::{Clock, SystemClock};
pub use compute::{
    ComputeCluster, ComputeError, Deployment, ServiceEvent, ServiceStatus, TaskInfo, TaskState,
};
pub use crypto::{
    ExternalTokenError, ExternalTokenVerifier, IssuedToken, PasswordHasher, TokenIssuer,
    TokenVerifier,
};
pub use email::{EmailError, EmailMessage, EmailSender};
pub use import::{ImportTarget, ImportWriteError, ReefGuideSource, SourceError};
pub use object_store::{Listing, ObjectStore, ObjectStoreError, StoredObject};
pub use repositories::{
    DataSpecificationRepository, Grant, GrantChange, GroupDetail, GroupPage, GroupQuery, GroupRef,
    GroupRepository, HealthCheck, JobRepository, NewUser, NoteRepository, PasswordResetRepository,
    PolygonPage, PolygonQuery, PolygonRepository, PreApprovalPage, PreApprovalRepository,
    ProjectDetail, ProjectPage, ProjectQuery, ProjectRepository, ProjectWriteError,
    RefreshTokenRepository, Registered, StoreUnavailable, Toggle, TransferError, UserLogRepository,
    UserRef, UserRepository,
};
pub use signed_files::{
    LocalFile, SignedFileStore, SignedMethod, SignedUpload, SignedUrl, SignedUrlError,
};
pub use wakeup::{JobSignal, JobWaiter};
pub use workflow_engine::{
    DagInfo, EngineError, EngineHealth, RunStatus, TriggerRequest, Triggered, WorkflowEngine,
};
