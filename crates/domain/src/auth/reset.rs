//! Password reset codes (issue 27, reefguide-r2 §3.2 `/api/password-reset/*`).
//!
//! A code is what the reset e-mail carries and the user types back: ten characters of Crockford's
//! base32 (digits and upper-case letters without I, L, O and U), which fits ReefGuide's front end
//! (it accepts 6 to 10 characters) and is read back forgivingly (case, spaces, dashes, and the
//! look-alikes O→0, I/L→1 are folded). Its first four characters are the **selector**: they name
//! the stored reset among the live ones, so a wrong code is counted against the one reset it
//! names, and a reset dies after [`MAX_RESET_ATTEMPTS`] wrong tries. The whole code is stored
//! only as its SHA-256 digest.
//!
//! Codes live [`RESET_CODE_LIFETIME`], are used once, and a new request for the same address
//! supersedes the previous code. A request within [`RESEND_COOLDOWN`] of the previous one for the
//! same address sends nothing; the answer is the same either way, and the same whether or not the
//! address has an account.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::user::{Email, UserId};

/// How long a code may be used.
pub const RESET_CODE_LIFETIME: Duration = Duration::minutes(30);
/// Wrong codes naming one reset before it is refused for good.
pub const MAX_RESET_ATTEMPTS: u32 = 5;
/// A request this soon after the previous one for the same address sends nothing.
pub const RESEND_COOLDOWN: Duration = Duration::minutes(5);

/// The characters of a code, in value order (Crockford's base32).
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in a code.
pub const RESET_CODE_LEN: usize = 10;
/// Leading characters of a code that name its reset.
const SELECTOR_LEN: usize = 4;

/// A reset code, as generated or as typed back (normalised). Never stored; never printed.
#[derive(Clone)]
pub struct ResetCode(SecretString);

impl ResetCode {
    /// The code whose characters are picked by `random` (one byte per character; only the low
    /// five bits count, so every byte value is as good as any).
    pub fn from_random(random: [u8; RESET_CODE_LEN]) -> Self {
        let code: String = random
            .iter()
            .map(|byte| char::from(ALPHABET[usize::from(byte & 0x1f)]))
            .collect();
        Self(SecretString::from(code))
    }

    /// A code typed back by a user: case, spaces and dashes are ignored and the look-alikes
    /// O, I and L read as 0, 1 and 1. `None` when what is left is not ten code characters.
    pub fn parse(typed: &str) -> Option<Self> {
        let mut code = String::with_capacity(RESET_CODE_LEN);
        for typed_char in typed.chars() {
            let folded = match typed_char.to_ascii_uppercase() {
                ' ' | '-' | '\t' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            };
            if !folded.is_ascii() || !ALPHABET.contains(&(folded as u8)) {
                return None;
            }
            code.push(folded);
            if code.len() > RESET_CODE_LEN {
                return None;
            }
        }
        (code.len() == RESET_CODE_LEN).then(|| Self(SecretString::from(code)))
    }

    /// The code's text, to put in the e-mail.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The characters naming the stored reset.
    pub fn selector(&self) -> ResetSelector {
        ResetSelector(self.expose()[..SELECTOR_LEN].to_owned())
    }

    /// The digest the code is stored as.
    pub fn hash(&self) -> ResetCodeHash {
        ResetCodeHash(hex::encode(Sha256::digest(self.expose().as_bytes())))
    }
}

impl fmt::Debug for ResetCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResetCode(<redacted>)")
    }
}

/// The leading characters of a code, under which its reset is stored and found.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResetSelector(String);

impl ResetSelector {
    /// Wraps a selector read back from storage.
    pub fn from_stored(selector: String) -> Self {
        Self(selector)
    }

    /// Its text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The lower-case hex SHA-256 digest of a code: the only form stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetCodeHash(String);

impl ResetCodeHash {
    /// Wraps a digest read back from storage.
    pub fn from_stored(hex_digest: String) -> Self {
        Self(hex_digest)
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A reset to store: made at each request that is not within the cooldown, for an address with
/// an account or without one (so both do the same work; the latter can never be used).
#[derive(Debug, Clone)]
pub struct NewPasswordReset {
    /// The address asked for (normalised).
    pub email: Email,
    /// Its account, when it has one.
    pub user_id: Option<UserId>,
    /// The code's selector.
    pub selector: ResetSelector,
    /// The code's digest.
    pub code_hash: ResetCodeHash,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When the code stops working.
    pub expires_at: DateTime<Utc>,
}

impl NewPasswordReset {
    /// The reset of `code` for `email` asked for at `now`.
    pub fn new(
        email: Email,
        user_id: Option<UserId>,
        code: &ResetCode,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            email,
            user_id,
            selector: code.selector(),
            code_hash: code.hash(),
            created_at: now,
            expires_at: now + RESET_CODE_LIFETIME,
        }
    }
}

/// A stored reset, as found by its selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordReset {
    /// Its id.
    pub id: i64,
    /// The account it resets; `None` for an address without one.
    pub user_id: Option<UserId>,
    /// The code's digest.
    pub code_hash: ResetCodeHash,
    /// Wrong codes counted against it.
    pub attempts: u32,
    /// When the code stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was used or superseded, if it was.
    pub used_at: Option<DateTime<Utc>>,
}

/// What a presented code does to the reset its selector names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetVerdict {
    /// The code is right and the reset usable: reset this account's password.
    Accept(UserId),
    /// The code is wrong: refuse, and count the attempt against this reset.
    WrongCode,
    /// The reset cannot be used any more (used, superseded, expired, out of attempts, or for an
    /// address without an account): refuse.
    Unusable,
}

impl PasswordReset {
    /// What `code` (whose selector named this reset) does at `now`. A wrong code is only
    /// counted while the reset is still usable.
    pub fn judge(&self, code: &ResetCode, now: DateTime<Utc>) -> ResetVerdict {
        let usable =
            self.used_at.is_none() && now < self.expires_at && self.attempts < MAX_RESET_ATTEMPTS;
        match (usable, self.user_id) {
            (true, Some(user_id)) if code.hash() == self.code_hash => ResetVerdict::Accept(user_id),
            (true, Some(_)) => ResetVerdict::WrongCode,
            _ => ResetVerdict::Unusable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> ResetCode {
        ResetCode::parse(text).expect("a code")
    }

    #[test]
    fn generated_codes_use_the_alphabet_and_every_byte() {
        let generated = ResetCode::from_random([0, 1, 9, 10, 31, 32, 0xff, 0xe0, 17, 22]);
        assert_eq!(generated.expose(), "019AZ0Z0HP");
        assert_eq!(generated.selector().as_str(), "019A");
        assert!(
            ResetCode::parse(generated.expose()).is_some(),
            "a generated code parses"
        );
    }

    #[test]
    fn typed_codes_are_read_forgivingly() {
        let expected = code("019AZ0Z0HP").hash();
        for typed in [
            "019az0z0hp",
            " 019A-Z0Z0-HP ",
            "O19AZ0ZOHP",
            "0I9AZ0Z0HP",
            "0l9AZ0Z0HP",
        ] {
            assert_eq!(
                ResetCode::parse(typed).map(|c| c.hash()),
                Some(expected.clone()),
                "{typed}"
            );
        }
    }

    #[test]
    fn malformed_codes_are_refused() {
        for typed in [
            "",
            "123456",
            "019AZ0Z0H",
            "019AZ0Z0HPX",
            "019AZ0Z0HU",
            "019AZ0Z0H!",
            "019AZ0Z0Hé",
        ] {
            assert!(ResetCode::parse(typed).is_none(), "{typed}");
        }
    }

    #[test]
    fn the_digest_is_hex_sha256_of_the_normalised_code() {
        assert_eq!(
            code("0000000000").hash().as_str(),
            hex::encode(Sha256::digest(b"0000000000"))
        );
        assert_eq!(format!("{:?}", code("0000000000")), "ResetCode(<redacted>)");
    }

    fn reset(now: DateTime<Utc>, right: &ResetCode) -> PasswordReset {
        PasswordReset {
            id: 1,
            user_id: UserId::new(7).ok(),
            code_hash: right.hash(),
            attempts: 0,
            expires_at: now + RESET_CODE_LIFETIME,
            used_at: None,
        }
    }

    #[test]
    fn a_usable_reset_accepts_its_code_and_counts_wrong_ones() {
        let now = Utc::now();
        let right = code("ABCD123456");
        let stored = reset(now, &right);
        let user = UserId::new(7).expect("positive");
        assert_eq!(stored.judge(&right, now), ResetVerdict::Accept(user));
        assert_eq!(
            stored.judge(&code("ABCD123457"), now),
            ResetVerdict::WrongCode
        );
        let last_try = PasswordReset {
            attempts: MAX_RESET_ATTEMPTS - 1,
            ..stored
        };
        assert_eq!(last_try.judge(&right, now), ResetVerdict::Accept(user));
    }

    #[test]
    fn used_expired_exhausted_and_accountless_resets_refuse_even_the_right_code() {
        let now = Utc::now();
        let right = code("ABCD123456");
        let stored = reset(now, &right);
        let refused = [
            PasswordReset {
                used_at: Some(now),
                ..stored.clone()
            },
            PasswordReset {
                expires_at: now,
                ..stored.clone()
            },
            PasswordReset {
                attempts: MAX_RESET_ATTEMPTS,
                ..stored.clone()
            },
            PasswordReset {
                user_id: None,
                ..stored
            },
        ];
        for reset in refused {
            assert_eq!(
                reset.judge(&right, now),
                ResetVerdict::Unusable,
                "{reset:?}"
            );
            assert_eq!(
                reset.judge(&code("ABCD000000"), now),
                ResetVerdict::Unusable,
                "{reset:?}"
            );
        }
    }

    #[test]
    fn a_new_reset_lives_thirty_minutes() {
        let now = Utc::now();
        let email = Email::parse("ana@example.com").expect("email");
        let new = NewPasswordReset::new(email, UserId::new(3).ok(), &code("WXYZ000000"), now);
        assert_eq!(new.expires_at - new.created_at, Duration::minutes(30));
        assert_eq!(new.selector.as_str(), "WXYZ");
        assert_eq!(new.code_hash, code("wxyz000000").hash());
    }
}
