//! The signatures of the local store's expiring URLs.
//!
//! A URL grants one method on one key until one instant: its signature is the lowercase hex
//! HMAC-SHA256, under the store's [`SigningKey`], of `"{METHOD}\n{key}\n{expires}"`, where `key`
//! is the percent-decoded path after `/api/storage/` and `expires` the instant in Unix seconds.
//! Changing any of the three (or signing with another key) invalidates the signature.

use std::fmt;
use std::io::{self, Write as _};
use std::path::Path;

use hmac::digest::generic_array::GenericArray;
use hmac::{Hmac, Mac as _};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rand::RngCore as _;
use rand::rngs::OsRng;
use reefguide_ports::{SignedMethod, SignedUrlError};
use sha2::{Digest as _, Sha256};

/// The HMAC used for signing.
type HmacSha256 = Hmac<Sha256>;

/// Length of a signing key, in bytes.
const KEY_BYTES: usize = 32;

/// SHA-256's block size: HMAC pads shorter keys with zeros to this length.
const HMAC_BLOCK_BYTES: usize = 64;

/// Everything but the unreserved characters of RFC 3986 (`A-Za-z0-9-._~`) is percent-encoded
/// in a key segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The 32-byte HMAC key the local store signs its URLs with. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey([u8; KEY_BYTES]);

impl SigningKey {
    /// A fresh random key from the operating system's generator.
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = [0; KEY_BYTES];
        OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The key derived from a configured secret (its SHA-256), so that every server sharing the
    /// secret accepts the others' URLs.
    #[must_use]
    pub fn from_secret(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Reads the key stored (as hex) in the file at `path`, or generates one and stores it there
    /// when no such file exists: the parent directories are created and, on unix, the file is
    /// readable by its owner only (mode 0600). The flag tells whether the key was created.
    ///
    /// # Errors
    /// The I/O error reading or creating the file; [`io::ErrorKind::InvalidData`] when the file
    /// does not hold 32 hex-encoded bytes.
    pub fn load_or_create(path: &Path) -> io::Result<(Self, bool)> {
        match std::fs::read_to_string(path) {
            Ok(text) => return Self::from_hex(text.trim()).map(|key| (key, false)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let key = Self::generate();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                file.write_all(key.to_hex().as_bytes())?;
                file.write_all(b"\n")?;
                file.sync_all()?;
                Ok((key, true))
            }
            // Another process created it in the meantime: use theirs.
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(path)?;
                Self::from_hex(text.trim()).map(|key| (key, false))
            }
            Err(error) => Err(error),
        }
    }

    /// The key from its hex form.
    fn from_hex(text: &str) -> io::Result<Self> {
        let mut bytes = [0; KEY_BYTES];
        hex::decode_to_slice(text, &mut bytes).map_err(|error| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a signing key file must hold {KEY_BYTES} hex-encoded bytes: {error}"),
            )
        })?;
        Ok(Self(bytes))
    }

    /// The key in hex, as stored in a key file.
    pub(crate) fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A MAC keyed with this key. HMAC zero-pads a key shorter than the hash's block, so padding
    /// it here gives the same MAC as `new_from_slice` without a fallible call.
    fn mac(&self) -> HmacSha256 {
        let mut block = [0; HMAC_BLOCK_BYTES];
        block[..KEY_BYTES].copy_from_slice(&self.0);
        HmacSha256::new(&GenericArray::from(block))
    }

    /// The MAC over one grant, ready to finalize or verify.
    fn mac_of(&self, method: SignedMethod, key: &str, expires: i64) -> HmacSha256 {
        let mut mac = self.mac();
        mac.update(format!("{}\n{key}\n{expires}", method.as_str()).as_bytes());
        mac
    }

    /// The lowercase hex signature granting `method` on the (decoded) `key` until `expires`.
    pub(crate) fn sign(&self, method: SignedMethod, key: &str, expires: i64) -> String {
        hex::encode(self.mac_of(method, key, expires).finalize().into_bytes())
    }

    /// Checks `signature` in constant time.
    ///
    /// # Errors
    /// [`SignedUrlError::BadSignature`] when it is not hex, has the wrong length or does not
    /// match.
    pub(crate) fn verify(
        &self,
        method: SignedMethod,
        key: &str,
        expires: i64,
        signature: &str,
    ) -> Result<(), SignedUrlError> {
        let tag = hex::decode(signature).map_err(|_| SignedUrlError::BadSignature)?;
        self.mac_of(method, key, expires)
            .verify_slice(&tag)
            .map_err(|_| SignedUrlError::BadSignature)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// `key` as a URL path: each `/`-separated segment percent-encoded, the separators kept.
pub(crate) fn encode_key(key: &str) -> String {
    key.split('/')
        .map(|segment| utf8_percent_encode(segment, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    /// A fixed key and grant, checked against an independent HMAC-SHA256 implementation
    /// (Python's `hmac`), so the format other components verify cannot drift.
    #[rstest]
    #[case(
        SignedMethod::Get,
        "3757d8f44f537b876064d024cc98283aa40a5d03c431b4069db5c861cb7057e6"
    )]
    #[case(
        SignedMethod::Put,
        "dc2dc5c9961a68e5446da06974acf29db7049c5c85303f6fe3e7d62d69f68ab3"
    )]
    fn signatures_match_a_known_answer(#[case] method: SignedMethod, #[case] expected: &str) {
        let key = SigningKey::from_secret("correct horse");
        let grant = "test/12/1700000000000/maps/a b.tif";
        assert_eq!(key.sign(method, grant, 1_700_003_600), expected);
        assert_eq!(key.verify(method, grant, 1_700_003_600, expected), Ok(()));
    }

    #[test]
    fn padded_key_gives_the_same_mac_as_the_raw_key() {
        let key = SigningKey::generate();
        let mut raw = HmacSha256::new_from_slice(&key.0).expect("HMAC takes keys of any length");
        raw.update(b"GET\na/b\n1");
        assert_eq!(
            key.sign(SignedMethod::Get, "a/b", 1),
            hex::encode(raw.finalize().into_bytes())
        );
    }

    #[test]
    fn keys_differ_by_origin() {
        assert_ne!(SigningKey::generate(), SigningKey::generate());
        assert_eq!(
            SigningKey::from_secret("s3cret"),
            SigningKey::from_secret("s3cret")
        );
        assert_ne!(
            SigningKey::from_secret("s3cret"),
            SigningKey::from_secret("s3cret ")
        );
    }

    #[rstest]
    #[case("maps/a b.tif", "maps/a%20b.tif")]
    #[case("a/b/c", "a/b/c")]
    #[case("A-z_0.9~", "A-z_0.9~")]
    #[case("x?y#z&w=%/+", "x%3Fy%23z%26w%3D%25/%2B")]
    #[case("名前", "%E5%90%8D%E5%89%8D")]
    fn keys_are_encoded_segment_by_segment(#[case] key: &str, #[case] encoded: &str) {
        assert_eq!(encode_key(key), encoded);
    }
}
