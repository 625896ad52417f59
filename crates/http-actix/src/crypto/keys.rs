//! RSA key pairs for RS256: parsing configured PEMs, generating development keys, key ids.
//!
//! The `rsa` crate is used only to parse and generate keys (its private-key operations carry a
//! timing advisory); signing goes through jsonwebtoken's aws-lc backend.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::rngs::OsRng;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
    LineEnding,
};
use rsa::traits::PublicKeyParts as _;
use rsa::{RsaPrivateKey, RsaPublicKey};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

/// Size of generated keys, in bits.
pub const GENERATED_KEY_BITS: usize = 2048;
/// Smallest RSA modulus accepted from configuration, in bits.
pub const MIN_KEY_BITS: usize = 2048;

/// Why a key pair cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The private key PEM does not parse as PKCS#8 or PKCS#1 RSA.
    #[error("JWT private key is not an RSA private key in PEM (PKCS#8 or PKCS#1)")]
    BadPrivateKey,
    /// The public key PEM does not parse.
    #[error("JWT public key is not an RSA public key in PEM (SPKI or PKCS#1)")]
    BadPublicKey,
    /// The configured public key is not the private key's.
    #[error("JWT public key does not match the private key")]
    Mismatch,
    /// Modulus too small.
    #[error("JWT key is {0} bits; at least {MIN_KEY_BITS} are required")]
    TooSmall(usize),
    /// Key generation or encoding failed.
    #[error("RSA key generation failed: {0}")]
    Generation(String),
    /// Reading or writing key files failed.
    #[error("cannot access key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// A validated RSA key pair with its PEM forms.
#[derive(Clone)]
pub struct RsaKeyPair {
    private_pem: SecretString,
    public_pem: String,
    public: RsaPublicKey,
}

impl std::fmt::Debug for RsaKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaKeyPair")
            .field("kid", &self.thumbprint())
            .finish_non_exhaustive()
    }
}

impl RsaKeyPair {
    /// Parses a private key PEM and, when given, checks the public key PEM matches it. Literal
    /// `\n` sequences (as environment variables often carry them) are accepted.
    pub fn from_pem(private_pem: &str, public_pem: Option<&str>) -> Result<Self, KeyError> {
        let private_pem = unescape_newlines(private_pem);
        let private = RsaPrivateKey::from_pkcs8_pem(&private_pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(&private_pem))
            .map_err(|_| KeyError::BadPrivateKey)?;
        let public = private.to_public_key();
        if let Some(given) = public_pem {
            let given = unescape_newlines(given);
            let parsed = RsaPublicKey::from_public_key_pem(&given)
                .or_else(|_| RsaPublicKey::from_pkcs1_pem(&given))
                .map_err(|_| KeyError::BadPublicKey)?;
            if parsed != public {
                return Err(KeyError::Mismatch);
            }
        }
        Self::from_private(&private)
    }

    /// Generates a fresh key pair.
    pub fn generate() -> Result<Self, KeyError> {
        let private = RsaPrivateKey::new(&mut OsRng, GENERATED_KEY_BITS)
            .map_err(|e| KeyError::Generation(e.to_string()))?;
        Self::from_private(&private)
    }

    /// Loads the development key pair from `dir`, generating and saving it on first use.
    /// Returns the pair and whether it was just created.
    pub fn load_or_generate_dev(dir: &Path) -> Result<(Self, bool), KeyError> {
        let path = dir.join("dev-jwt-private.pem");
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        if path.exists() {
            let pem = std::fs::read_to_string(&path).map_err(io)?;
            return Ok((Self::from_pem(&pem, None)?, false));
        }
        std::fs::create_dir_all(dir).map_err(io)?;
        let pair = Self::generate()?;
        write_private_file(&path, pair.private_pem()).map_err(io)?;
        Ok((pair, true))
    }

    fn from_private(private: &RsaPrivateKey) -> Result<Self, KeyError> {
        let bits = private.size() * 8;
        if bits < MIN_KEY_BITS {
            return Err(KeyError::TooSmall(bits));
        }
        let private_pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::Generation(e.to_string()))?;
        let public = private.to_public_key();
        let public_pem = public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError::Generation(e.to_string()))?;
        Ok(Self {
            private_pem: SecretString::from(private_pem.as_str().to_owned()),
            public_pem,
            public,
        })
    }

    /// The private key as PKCS#8 PEM.
    pub fn private_pem(&self) -> &str {
        self.private_pem.expose_secret()
    }

    /// The public key as SPKI PEM.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// Base64url (unpadded) big-endian modulus, as in a JWK's `n`.
    pub fn modulus_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public.n().to_bytes_be())
    }

    /// Base64url (unpadded) big-endian public exponent, as in a JWK's `e`.
    pub fn exponent_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public.e().to_bytes_be())
    }

    /// The RFC 7638 JWK thumbprint: the default key id.
    pub fn thumbprint(&self) -> String {
        let canonical = format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            self.exponent_b64(),
            self.modulus_b64()
        );
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }
}

fn unescape_newlines(pem: &str) -> String {
    pem.trim().replace("\\n", "\n")
}

#[cfg(unix)]
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;

    static PAIR: LazyLock<RsaKeyPair> =
        LazyLock::new(|| RsaKeyPair::generate().expect("key generation"));

    #[test]
    fn pem_round_trip_and_public_key_check() {
        let again = RsaKeyPair::from_pem(PAIR.private_pem(), Some(PAIR.public_pem()))
            .expect("own public key matches");
        assert_eq!(again.thumbprint(), PAIR.thumbprint());
    }

    #[test]
    fn escaped_newlines_are_accepted() {
        let escaped = PAIR.private_pem().replace('\n', "\\n");
        assert!(RsaKeyPair::from_pem(&escaped, None).is_ok());
    }

    #[test]
    fn mismatched_public_key_is_refused() {
        let other = RsaKeyPair::generate().expect("key generation");
        assert!(matches!(
            RsaKeyPair::from_pem(PAIR.private_pem(), Some(other.public_pem())),
            Err(KeyError::Mismatch)
        ));
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(
            RsaKeyPair::from_pem("-----BEGIN NOTHING-----", None),
            Err(KeyError::BadPrivateKey)
        ));
    }

    #[test]
    fn exponent_is_65537() {
        assert_eq!(PAIR.exponent_b64(), "AQAB");
    }

    #[test]
    fn dev_keys_persist_in_the_data_dir() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (first, created) = RsaKeyPair::load_or_generate_dev(dir.path()).expect("generate");
        assert!(created);
        let (second, created) = RsaKeyPair::load_or_generate_dev(dir.path()).expect("load");
        assert!(!created);
        assert_eq!(first.thumbprint(), second.thumbprint());
    }
}
