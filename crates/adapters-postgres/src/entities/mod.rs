//! sea-orm models of the tables, one module per table.
//!
//! These types never leave the crate: the repositories convert them into domain values (and
//! refuse, with context, stored values that no longer parse). The schema itself is created by the
//! migrations in `crate::migrations`, not derived from these models.

pub mod capacity_ledger;
pub mod criteria;
pub mod group_managers;
pub mod group_members;
pub mod groups;
pub mod job_assignments;
pub mod job_requests;
pub mod job_results;
pub mod jobs;
pub mod notes;
pub mod password_resets;
pub mod polygons;
pub mod pre_approved_users;
pub mod project_group_shares;
pub mod project_user_shares;
pub mod projects;
pub mod refresh_tokens;
pub mod regional_criteria;
pub mod regions;
pub mod user_logs;
pub mod users;
