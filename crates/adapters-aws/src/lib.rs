//! AWS adapters of reefguide and their local stand-ins: the S3 object store ([`s3`]) and the ECS
//! compute cluster ([`ecs`]), and, for deployments without AWS, the local object store under the
//! data directory and the local worker pool ([`local`]). The object stores implement
//! [`reefguide_ports::ObjectStore`] (the local one also
//! [`reefguide_ports::SignedFileStore`], serving its signed URLs), the clusters [`reefguide_ports::ComputeCluster`].

mod aws;
pub mod ecs;
pub mod local;
pub mod s3;

pub use ecs::{EcsCluster, EcsSettings, EcsTarget};
pub use local::{
    LocalComputeSettings, LocalObjectStore, LocalWorkerPool, SigningKey, WorkerCommand,
};
pub use s3::{S3ObjectStore, S3Settings};
