//! Users: identifiers, credentials and roles.

use std::fmt;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

pub mod errors;
pub mod identity;
pub mod pre_approval;
pub mod search;

pub use errors::{EmailError, PasswordError, RoleError, UserIdError};
pub use identity::{ExternalIdentity, Identity, IssuerName, NameError, Username};

crate::id::positive_id!(
    /// Identifier of a user: a positive integer (a `SERIAL` in storage).
    UserId
);

/// Longest email address accepted (RFC 5321 path limit).
pub const EMAIL_MAX_LEN: usize = 254;

/// A syntactically valid email address, normalised (trimmed, lower-cased) so that comparison is
/// case-insensitive everywhere: uniqueness, login and service-account bootstrap.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Parses and normalises an address.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let normalised = raw.trim().to_lowercase();
        if normalised.is_empty() {
            return Err(EmailError::Empty);
        }
        if normalised.len() > EMAIL_MAX_LEN {
            return Err(EmailError::TooLong { max: EMAIL_MAX_LEN });
        }
        if !email_address::EmailAddress::is_valid(&normalised) || !normalised.contains('@') {
            return Err(EmailError::Invalid);
        }
        Ok(Self(normalised))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Shortest password accepted, in characters.
pub const PASSWORD_MIN_CHARS: usize = 8;
/// Longest password accepted, in characters (bounds hashing cost).
pub const PASSWORD_MAX_CHARS: usize = 128;

/// A plain-text password that satisfies the policy (8..=128 characters). It never prints.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// Checks the policy and wraps the secret.
    pub fn new(raw: &str) -> Result<Self, PasswordError> {
        let chars = raw.chars().count();
        if chars < PASSWORD_MIN_CHARS {
            return Err(PasswordError::TooShort {
                min: PASSWORD_MIN_CHARS,
            });
        }
        if chars > PASSWORD_MAX_CHARS {
            return Err(PasswordError::TooLong {
                max: PASSWORD_MAX_CHARS,
            });
        }
        Ok(Self(SecretString::from(raw.to_owned())))
    }

    /// Wraps a candidate password presented at login without checking the policy: an old
    /// account's password may predate the policy, and the answer to a bad one must be the same
    /// "invalid credentials" either way. Over-long input is still refused to bound hashing cost.
    pub fn candidate(raw: &str) -> Option<Self> {
        (raw.chars().count() <= PASSWORD_MAX_CHARS)
            .then(|| Self(SecretString::from(raw.to_owned())))
    }

    /// The secret text, for the hasher only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A password hash in PHC string format, as produced by the password hasher port, or a bcrypt
/// hash (`$2a$`/`$2b$`/`$2y$`, modular crypt format) kept from an imported ReefGuide account.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

/// How a stored password hash was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashScheme {
    /// argon2id (PHC `$argon2id$…`): what this service makes.
    Argon2id,
    /// bcrypt (`$2a$`, `$2b$` or `$2y$`): ReefGuide's; verified, then replaced at the next login.
    Bcrypt,
    /// Anything else: never verifies.
    Unknown,
}

impl PasswordHash {
    /// Wraps a PHC string read from storage or produced by a hasher.
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How it was made, from its prefix.
    pub fn scheme(&self) -> HashScheme {
        let hash = self.0.as_str();
        if hash.starts_with("$argon2id$") {
            HashScheme::Argon2id
        } else if ["$2a$", "$2b$", "$2y$"]
            .iter()
            .any(|prefix| hash.starts_with(prefix))
        {
            HashScheme::Bcrypt
        } else {
            HashScheme::Unknown
        }
    }

    /// Whether it should be replaced by a fresh argon2id hash once the password is known (at a
    /// successful login): a bcrypt hash should.
    pub fn needs_rehash(&self) -> bool {
        self.scheme() == HashScheme::Bcrypt
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A role granted to a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    /// May do everything, including user and cluster administration.
    Admin,
    /// May use the analysis features (polygons, notes, jobs) when the deployment requires a role.
    Analyst,
    /// A worker: may poll, claim and complete jobs, and nothing a user owns.
    Worker,
}

impl Role {
    /// Every role, in wire order.
    pub const ALL: [Role; 3] = [Role::Admin, Role::Analyst, Role::Worker];

    /// The wire name (`ADMIN`, `ANALYST`, `WORKER`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Analyst => "ANALYST",
            Role::Worker => "WORKER",
        }
    }
}

impl FromStr for Role {
    type Err = RoleError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == raw)
            .ok_or_else(|| RoleError::Unknown(raw.to_owned()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of roles: sorted, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Roles(Vec<Role>);

impl Roles {
    /// No roles (a self-registered user).
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether the set holds `role`.
    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    /// Whether the holder is an administrator.
    pub fn is_admin(&self) -> bool {
        self.contains(Role::Admin)
    }

    /// The roles, sorted.
    pub fn as_slice(&self) -> &[Role] {
        &self.0
    }

    /// Parses wire names, refusing unknown ones.
    pub fn parse<I, S>(names: I) -> Result<Self, RoleError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        names
            .into_iter()
            .map(|name| name.as_ref().parse())
            .collect::<Result<Vec<Role>, _>>()
            .map(Self::from_iter)
    }
}

impl FromIterator<Role> for Roles {
    fn from_iter<T: IntoIterator<Item = Role>>(iter: T) -> Self {
        let mut roles: Vec<Role> = iter.into_iter().collect();
        roles.sort();
        roles.dedup();
        Self(roles)
    }
}

/// A user as the rest of the system sees it (no credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Identifier.
    pub id: UserId,
    /// Who the account is: a local account's email, or an external identity.
    pub identity: Identity,
    /// Granted roles.
    pub roles: Roles,
}

impl User {
    /// A local account (email and password).
    #[must_use]
    pub fn local(id: UserId, email: Email, roles: Roles) -> Self {
        Self {
            id,
            identity: Identity::Local(email),
            roles,
        }
    }

    /// The email of a local account; `None` for an external identity.
    #[must_use]
    pub fn email(&self) -> Option<&Email> {
        self.identity.email()
    }

    /// The external username, else the email (labcas-contract §2).
    #[must_use]
    pub fn username(&self) -> &str {
        self.identity.username()
    }
}

/// A user together with its stored password hash, for credential checks only.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    /// The user.
    pub user: User,
    /// The stored hash.
    pub password_hash: PasswordHash,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_knows_its_scheme() {
        let scheme = |hash: &str| PasswordHash::from_phc(hash.to_owned()).scheme();
        assert_eq!(
            scheme("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
            HashScheme::Argon2id
        );
        for bcrypt in ["$2a$10$abc", "$2b$10$abc", "$2y$12$abc"] {
            assert_eq!(scheme(bcrypt), HashScheme::Bcrypt, "{bcrypt}");
        }
        for other in ["", "$argon2i$v=19$x", "$1$md5", "plain"] {
            assert_eq!(scheme(other), HashScheme::Unknown, "{other}");
        }
        assert!(PasswordHash::from_phc("$2a$10$abc".into()).needs_rehash());
        assert!(!PasswordHash::from_phc("$argon2id$v=19$x".into()).needs_rehash());
        assert!(!PasswordHash::from_phc("plain".into()).needs_rehash());
    }
    use rstest::rstest;

    #[rstest]
    #[case("Alice@Example.COM", "alice@example.com")]
    #[case("  bob@example.org  ", "bob@example.org")]
    fn emails_are_trimmed_and_lower_cased(#[case] raw: &str, #[case] expected: &str) {
        assert_eq!(Email::parse(raw).map(|e| e.0), Ok(expected.to_owned()));
    }

    #[rstest]
    #[case("", EmailError::Empty)]
    #[case("   ", EmailError::Empty)]
    #[case("not-an-email", EmailError::Invalid)]
    #[case("a@", EmailError::Invalid)]
    #[case("@b.com", EmailError::Invalid)]
    #[case("a b@c.com", EmailError::Invalid)]
    fn bad_emails_are_refused(#[case] raw: &str, #[case] expected: EmailError) {
        assert_eq!(Email::parse(raw), Err(expected));
    }

    #[test]
    fn overlong_email_is_refused() {
        let raw = format!("{}@example.com", "a".repeat(250));
        assert_eq!(
            Email::parse(&raw),
            Err(EmailError::TooLong { max: EMAIL_MAX_LEN })
        );
    }

    #[rstest]
    #[case("1234567", Err(PasswordError::TooShort { min: 8 }))]
    #[case("12345678", Ok(()))]
    #[case(&"x".repeat(128), Ok(()))]
    #[case(&"x".repeat(129), Err(PasswordError::TooLong { max: 128 }))]
    #[case("ééééééé", Err(PasswordError::TooShort { min: 8 }))]
    fn password_policy_counts_characters(
        #[case] raw: &str,
        #[case] expected: Result<(), PasswordError>,
    ) {
        assert_eq!(Password::new(raw).map(|_| ()), expected);
    }

    #[test]
    fn password_never_prints() {
        let password = Password::new("hunter2hunter2").expect("valid password");
        assert_eq!(format!("{password:?}"), "Password(<redacted>)");
    }

    #[test]
    fn roles_are_sorted_and_deduplicated() {
        let roles = Roles::parse(["WORKER", "ADMIN", "WORKER"]).expect("known roles");
        assert_eq!(roles.as_slice(), &[Role::Admin, Role::Worker]);
        assert!(roles.is_admin());
    }

    #[test]
    fn unknown_role_is_refused() {
        assert_eq!(
            Roles::parse(["ADMIN", "ROOT"]),
            Err(RoleError::Unknown("ROOT".into()))
        );
    }
}
