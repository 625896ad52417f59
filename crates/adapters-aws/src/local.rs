//! The local stand-ins of the AWS adapters, wired when AWS is not configured (the embedded
//! default): [`store`], result files under the data directory with URLs the server signs itself
//! (in place of [`crate::s3`]), and [`compute`], worker processes on this machine (in place of
//! [`crate::ecs`]).
//!
//! They live in this crate, beside the adapters they stand in for, rather than in a crate of
//! their own: each implements the same port as its AWS twin and is held to the same contract
//! suite (`tests/object_store_contract.rs` runs every object-store promise over the local store
//! and over S3), which is simplest to keep in one crate; the server wires one or the other from
//! its configuration, so it depends on both anyway and a split would save no build time; and
//! they need nothing the AWS adapters do not already bring (HMAC signing, `tokio`'s files and
//! processes).

pub mod compute;
pub mod store;

pub use compute::{LocalComputeSettings, LocalWorkerPool, WorkerCommand};
pub use store::{LocalObjectStore, SigningKey, Upload};
