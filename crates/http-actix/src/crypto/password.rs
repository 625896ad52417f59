//! argon2id password hashing off the async executor, with bounded concurrency; bcrypt hashes
//! kept from imported ReefGuide accounts are verified too (and replaced at the next login by the
//! auth service).

use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{
    PasswordHash as PhcHash, PasswordHasher as _, PasswordVerifier as _, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use reefguide_domain::{HashScheme, Password, PasswordHash};
use reefguide_ports::PasswordHasher;
use tokio::sync::Semaphore;

/// Cost parameters of argon2id. The defaults are OWASP's minimum (19 MiB, 2 passes, 1 lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Settings {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism.
    pub parallelism: u32,
    /// How many hashes may run at once (each holds `memory_kib` of memory and a blocking thread).
    pub max_concurrent: usize,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self {
            memory_kib: Params::DEFAULT_M_COST,
            iterations: Params::DEFAULT_T_COST,
            parallelism: Params::DEFAULT_P_COST,
            max_concurrent: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// The argon2id [`PasswordHasher`].
#[derive(Clone)]
pub struct Argon2Hasher {
    inner: Arc<Inner>,
}

struct Inner {
    argon2: Argon2<'static>,
    permits: Semaphore,
    /// Hash of a random password, verified against when the account does not exist.
    dummy_hash: String,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher").finish_non_exhaustive()
    }
}

impl Argon2Hasher {
    /// Builds a hasher; computes the dummy hash once (a few tens of milliseconds).
    pub fn new(settings: Argon2Settings) -> anyhow::Result<Self> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| anyhow!("invalid argon2 parameters: {e}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = hash_blocking(&argon2, "reefguide dummy password for timing")?;
        Ok(Self {
            inner: Arc::new(Inner {
                argon2,
                permits: Semaphore::new(settings.max_concurrent.max(1)),
                dummy_hash,
            }),
        })
    }

    async fn run<T, F>(&self, work: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> anyhow::Result<T> + Send + 'static,
    {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .context("password hasher is shut down")?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .context("password hashing task failed")?
    }
}

fn hash_blocking(argon2: &Argon2<'_>, password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow!("password hashing failed: {e}"))
}

fn verify_blocking(argon2: &Argon2<'_>, password: &str, phc: &str) -> anyhow::Result<bool> {
    let parsed =
        PhcHash::new(phc).map_err(|e| anyhow!("stored password hash is not valid PHC: {e}"))?;
    Ok(argon2.verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Checks `password` against a bcrypt hash as ReefGuide's bcrypt libraries do (the first 72
/// bytes of the password count).
fn verify_bcrypt(password: &str, hash: &str) -> anyhow::Result<bool> {
    bcrypt::verify(password, hash).map_err(|e| anyhow!("stored bcrypt hash is not valid: {e}"))
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> anyhow::Result<PasswordHash> {
        let password = password.clone();
        self.run(move |inner| hash_blocking(&inner.argon2, password.expose()))
            .await
            .map(PasswordHash::from_phc)
    }

    async fn verify(
        &self,
        password: &Password,
        stored: Option<PasswordHash>,
    ) -> anyhow::Result<bool> {
        let password = password.clone();

        self.run(move |inner| match stored {
            Some(hash) if hash.scheme() == HashScheme::Bcrypt => {
                verify_bcrypt(password.expose(), hash.as_str())
            }
            Some(phc) => verify_blocking(&inner.argon2, password.expose(), phc.as_str()),
            None => {
                verify_blocking(&inner.argon2, password.expose(), &inner.dummy_hash).map(|_| false)
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Hasher {
        Argon2Hasher::new(Argon2Settings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
            max_concurrent: 2,
        })
        .expect("valid parameters")
    }

    fn password(raw: &str) -> Password {
        Password::new(raw).expect("valid password")
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_and_verify() {
        let hasher = cheap();
        let hash = hasher.hash(&password("correct horse")).await.expect("hash");
        assert!(hash.as_str().starts_with("$argon2id$v=19$"));
        assert!(
            hasher
                .verify(&password("correct horse"), Some(hash.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !hasher
                .verify(&password("wrong horse!"), Some(hash.clone()))
                .await
                .expect("verify")
        );
    }

    #[tokio::test]
    async fn bcrypt_hashes_of_every_prefix_verify() {
        let hasher = cheap();
        let made = bcrypt::hash_with_result("correct horse", 4).expect("bcrypt");
        for version in [
            bcrypt::Version::TwoA,
            bcrypt::Version::TwoB,
            bcrypt::Version::TwoY,
        ] {
            let hash = PasswordHash::from_phc(made.format_for_version(version));
            assert_eq!(hash.scheme(), HashScheme::Bcrypt);
            assert!(
                hasher
                    .verify(&password("correct horse"), Some(hash.clone()))
                    .await
                    .expect("verify")
            );
            assert!(
                !hasher
                    .verify(&password("wrong horse!"), Some(hash))
                    .await
                    .expect("verify")
            );
        }
        let corrupt = PasswordHash::from_phc("$2a$10$short".into());
        assert!(
            hasher
                .verify(&password("correct horse"), Some(corrupt))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn same_password_gets_a_fresh_salt() {
        let hasher = cheap();
        let a = hasher.hash(&password("correct horse")).await.expect("hash");
        let b = hasher.hash(&password("correct horse")).await.expect("hash");
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn unknown_account_verifies_against_dummy_and_fails() {
        let hasher = cheap();
        assert!(
            !hasher
                .verify(&password("correct horse"), None)
                .await
                .expect("verify")
        );
    }

    #[tokio::test]
    async fn corrupt_stored_hash_is_an_error_not_a_panic() {
        let hasher = cheap();
        let corrupt = PasswordHash::from_phc("not a phc string".into());
        assert!(
            hasher
                .verify(&password("correct horse"), Some(corrupt))
                .await
                .is_err()
        );
    }

    #[test]
    fn defaults_are_owasp_minimum() {
        let settings = Argon2Settings::default();
        assert_eq!(
            (
                settings.memory_kib,
                settings.iterations,
                settings.parallelism
            ),
            (19 * 1024, 2, 1)
        );
    }
}
