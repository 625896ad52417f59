//! The actix-web shell of reefguide.
//!
//! This crate translates HTTP into use cases and back, and wires concrete adapters into the
//! services; it holds no business rule. Layout:
//! - [`config`]: settings from defaults, file and environment;
//! - [`app`]: wiring and the [`app::Application`] that serves;
//! - [`routes`]: one module per route group, each handler annotated for OpenAPI and registered
//!   with its documentation;
//! - [`errors`]: the JSON error model and the mapping from use-case errors to status codes;
//! - [`crypto`]: the password-hashing and token adapters;
//! - [`leading`]: the roles one instance plays for all (lease sweeper, capacity manager, workflow
//!   dispatcher).

pub mod app;
pub mod capacity;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod errors;
mod extract;
pub mod import_cli;
pub mod leading;
mod metering;
mod middleware;
pub mod openapi;
mod rate_limit;
mod request_id;
pub mod routes;
pub mod telemetry;
mod wire;
pub mod workflows;

pub use app::{AppState, Application};
pub use config::Settings;
