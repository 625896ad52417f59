//! Black-box tests of the wired service: one test binary, a fresh database per test, every test
//! on both storage backends.

mod admin_cluster;
mod auth;
mod cors;
mod data_specification;
mod errors;
mod external_identities;
mod groups;
mod health;
mod import;
mod jobs;
mod jobs_concurrency;
mod jobs_listing;
mod jobs_timeout;
mod jobs_workers;
mod labcas;
mod labcas_callers;
mod labcas_outputs;
mod labcas_runs;
mod logs;
mod metrics;
mod notes;
mod password_reset;
mod polygons;
mod pre_approved_users;
mod project_polygons;
mod projects;
mod results;
mod routes_documented;
mod security;
mod served;
mod sharing_world;
mod user_search;
mod users;
mod workflows;
mod zero_config;
