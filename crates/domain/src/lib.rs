//! The pure domain model of reefguide.
//!
//! Everything here is plain Rust: no I/O, no async runtime, no framework types. Values that carry
//! an invariant are newtypes with private fields and fallible constructors, so an invalid email,
//! password or id cannot exist past the boundary where it was parsed. Each use case has its own
//! error enum (see [`auth::errors`] and [`user::errors`]) so callers match on business outcomes,
//! not strings.

pub mod access;
pub mod audit;
pub mod auth;
pub mod capacity;
pub mod data_specification;
pub mod geometry;
pub mod group;
pub mod id;
pub mod import;
pub mod job;
pub mod note;
pub mod pagination;
pub mod polygon;
pub mod project;
pub mod storage;
pub mod text;
pub mod user;
pub mod workflow;

pub use audit::{NewUserLogEntry, UserAction, UserLogEntry};
pub use auth::{AccessClaims, RefreshTokenHash, RefreshTokenRecord, RefreshTokenSecret};
pub use id::{EntityId, InvalidId};
pub use note::{Note, NoteContent, NoteId};
pub use pagination::{LogPage, LogQuery, PageRequest};
pub use polygon::{InvalidGeometry, Polygon, PolygonId, PolygonShape};
pub use user::{
    Email, ExternalIdentity, HashScheme, Identity, IssuerName, Password, PasswordHash, Role, Roles,
    User, UserCredentials, UserId, Username,
};
