//! The auth section: the token signing key and lifetimes, password hashing, the service accounts
//! created at start-up, and the role the data routes require.

use reefguide_domain::Role;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::external_jwt::{ExternalJwtSettings, check_issuers};

/// Tokens, password hashing, service accounts and the required role.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AuthSettings {
    /// RS256 private key (PEM; literal `\n` accepted); default: a development key in `data_dir`.
    #[serde(skip_serializing)]
    pub jwt_private_key: Option<SecretString>,
    /// RS256 public key (PEM), checked against the private key when given.
    pub jwt_public_key: Option<String>,
    /// Key id in token headers and the JWKS; default: the key's RFC 7638 thumbprint.
    pub jwt_key_id: Option<String>,
    /// Access-token lifetime in minutes.
    pub access_token_minutes: u32,
    /// Refresh-token lifetime in hours.
    pub refresh_token_hours: u32,
    /// Replace refresh tokens on use, with reuse detection.
    pub rotate_refresh_tokens: bool,
    /// argon2id memory cost in KiB.
    pub argon2_memory_kib: u32,
    /// argon2id passes.
    pub argon2_iterations: u32,
    /// argon2id lanes.
    pub argon2_parallelism: u32,
    /// Concurrent password hashes at most (default: number of CPUs).
    pub argon2_max_concurrent: Option<usize>,
    /// Role a user needs for polygons, notes and jobs (`ANALYST`, as ReefGuide R2); none by default.
    pub required_role: Option<Role>,
    /// Service account with role ADMIN (email).
    pub admin_username: Option<String>,
    /// Its password.
    #[serde(skip_serializing)]
    pub admin_password: Option<SecretString>,
    /// Service account with role WORKER (email).
    pub worker_username: Option<String>,
    /// Its password.
    #[serde(skip_serializing)]
    pub worker_password: Option<SecretString>,
    /// Capacity-manager service account, role WORKER (email).
    pub manager_username: Option<String>,
    /// Its password.
    #[serde(skip_serializing)]
    pub manager_password: Option<SecretString>,
    /// Trusted external token issuers (`[[external_jwt]]`, labcas-contract §4).
    pub external_jwt: Vec<ExternalJwtSettings>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_private_key: None,
            jwt_public_key: None,
            jwt_key_id: None,
            access_token_minutes: 10,
            refresh_token_hours: 48,
            rotate_refresh_tokens: false,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            argon2_max_concurrent: None,
            required_role: None,
            admin_username: None,
            admin_password: None,
            worker_username: None,
            worker_password: None,
            manager_username: None,
            manager_password: None,
            external_jwt: Vec::new(),
        }
    }
}

impl AuthSettings {
    /// Checks the token lifetimes and that each service account is whole.
    ///
    /// # Errors
    /// A lifetime of 0, or a username without its password (or the reverse), by name.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.access_token_minutes == 0 {
            return Err(ConfigError::invalid(
                "access_token_minutes",
                "must be at least 1",
            ));
        }
        if self.refresh_token_hours == 0 {
            return Err(ConfigError::invalid(
                "refresh_token_hours",
                "must be at least 1",
            ));
        }
        for (user, password, name) in [
            (&self.admin_username, &self.admin_password, "admin_password"),
            (
                &self.worker_username,
                &self.worker_password,
                "worker_password",
            ),
            (
                &self.manager_username,
                &self.manager_password,
                "manager_password",
            ),
        ] {
            if user.is_some() != password.is_some() {
                return Err(ConfigError::invalid(
                    name,
                    "a service account needs both a username and a password",
                ));
            }
        }
        check_issuers(&self.external_jwt, None)?;
        Ok(())
    }
}
