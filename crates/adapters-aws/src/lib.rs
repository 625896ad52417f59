//! AWS adapters of reefguide and their local equivalents: the S3 object store ([`s3`]) and the
//! local object store under the data directory ([`local`]), both implementing
//! [`reefguide_ports::ObjectStore`]. The ECS compute cluster comes with the compute issue.

pub mod local;
pub mod s3;

pub use local::{LocalObjectStore, SignedMethod, SignedUrlError, SigningKey};
pub use s3::{S3ObjectStore, S3Settings};
