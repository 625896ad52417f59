//! Black-box tests of the wired service: one test binary, a fresh database per test, every test
//! on both storage backends.

mod auth;
mod errors;
mod health;
mod notes;
mod polygons;
mod security;
mod users;
