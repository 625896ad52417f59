//! AWS adapters of reefguide and their local equivalents: the S3 object store ([`s3`]) and the
//! local object store under the data directory ([`local`]), both implementing
//! [`reefguide_ports::ObjectStore`]; and the ECS compute cluster ([`ecs`]) implementing
//! [`reefguide_ports::ComputeCluster`].

mod aws;
pub mod ecs;
pub mod local;
pub mod local_compute;
pub mod s3;

pub use ecs::{EcsCluster, EcsSettings, EcsTarget};
pub use local::{LocalObjectStore, SignedMethod, SignedUrlError, SigningKey};
pub use s3::{S3ObjectStore, S3Settings};
