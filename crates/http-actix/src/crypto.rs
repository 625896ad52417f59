//! Cryptographic adapters behind the `PasswordHasher`, `TokenIssuer` and `TokenVerifier` ports.
//!
//! They live in the binary crate because they are neither storage nor AWS adapters and the shell
//! is the only crate that reads their configuration (keys, cost parameters).

pub mod external;
pub mod jwt;
pub mod keys;
pub mod password;
mod verified;

pub use external::{ExternalJwtVerifier, IssuerKey, TrustedIssuer};
pub use jwt::{Jwk, Jwks, JwtKeys};
pub use keys::{KeyError, RsaKeyPair};
pub use password::{Argon2Hasher, Argon2Settings};
