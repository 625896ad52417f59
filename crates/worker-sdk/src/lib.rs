//! The reefguide worker SDK (not yet implemented).
//!
//! This crate will let anyone write a ReefGuide worker in a few lines of Rust: a handler per job
//! type receiving typed input, with login and token refresh, claiming, heartbeats, cancellation,
//! uploads and result reporting handled for you. See this crate's README for the plan; until then
//! it deliberately exports nothing.
