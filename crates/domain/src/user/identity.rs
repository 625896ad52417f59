//! Who an account is: a local account (an email and a password) or an external identity (a
//! username at a trusted token issuer, labcas-contract §4).

use std::fmt;

use thiserror::Error;

use super::Email;

/// The longest issuer name or username accepted, in characters.
pub const NAME_MAX_CHARS: usize = 255;

/// Why a string is not an acceptable issuer name or username.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    /// Nothing but whitespace.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// Longer than [`NAME_MAX_CHARS`].
    #[error("{0} must be at most {NAME_MAX_CHARS} characters")]
    TooLong(&'static str),
    /// A control character, a path separator, or a name that is `.` or `..` (a username names
    /// the account's folder of workflow outputs).
    #[error("{0} {1:?} contains a control character or a path separator, or is . or ..")]
    Unusable(&'static str, String),
}

/// The issuer (`iss`) of trusted external tokens, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IssuerName(String);

impl IssuerName {
    /// An issuer name: not empty, at most [`NAME_MAX_CHARS`], no control characters.
    ///
    /// # Errors
    /// [`NameError`] saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        checked_length("issuer", raw)?;
        if raw.chars().any(char::is_control) {
            return Err(NameError::Unusable("issuer", raw.to_owned()));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IssuerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An external account's name at its issuer (LabCAS: the LDAP `uid`), kept as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    /// A username: not empty, at most [`NAME_MAX_CHARS`], no control character, no `/` or `\`,
    /// not `.` or `..` (it names the account's folder of workflow outputs).
    ///
    /// # Errors
    /// [`NameError`] saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        checked_length("username", raw)?;
        let unusable = raw == "."
            || raw == ".."
            || raw.chars().any(|c| c.is_control() || c == '/' || c == '\\');
        if unusable {
            return Err(NameError::Unusable("username", raw.to_owned()));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The username.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn checked_length(what: &'static str, raw: &str) -> Result<(), NameError> {
    if raw.trim().is_empty() {
        return Err(NameError::Empty(what));
    }
    if raw.chars().count() > NAME_MAX_CHARS {
        return Err(NameError::TooLong(what));
    }
    Ok(())
}

/// An account of a trusted external issuer: one local account per (issuer, username).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternalIdentity {
    /// The issuer that vouches for it.
    pub issuer: IssuerName,
    /// Its name there.
    pub username: Username,
}

/// Who an account is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// A local account: logs in with its email and password.
    Local(Email),
    /// An account of an external issuer: no email, no password; it authenticates with that
    /// issuer's tokens only.
    External(ExternalIdentity),
}

impl Identity {
    /// The email of a local account.
    #[must_use]
    pub fn email(&self) -> Option<&Email> {
        match self {
            Identity::Local(email) => Some(email),
            Identity::External(_) => None,
        }
    }

    /// The account's username: the external username, else the email (labcas-contract §2).
    #[must_use]
    pub fn username(&self) -> &str {
        match self {
            Identity::Local(email) => email.as_str(),
            Identity::External(external) => external.username.as_str(),
        }
    }
}

/// The value of the `uid` attribute of an LDAP distinguished name (`uid=thomas,dc=edrn,…` →
/// `thomas`), its escapes undone (`\,`, `\+`, `\\`, hex pairs such as `\2C`); `None` when the
/// name has no `uid` attribute or is malformed.
#[must_use]
pub fn uid_of_dn(dn: &str) -> Option<String> {
    for attribute in unescaped_split(dn) {
        let (kind, value) = attribute.split_once('=')?;
        if kind.trim().eq_ignore_ascii_case("uid") {
            let value = unescape(value.trim())?;
            return (!value.is_empty()).then_some(value);
        }
    }
    None
}

/// The attribute assertions of a DN: split at every comma or plus sign not escaped.
fn unescaped_split(dn: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (at, c) in dn.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' | '+' => {
                parts.push(&dn[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&dn[start..]);
    parts
}

/// An attribute value with its escapes undone; `None` for a dangling or bad escape.
fn unescape(value: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(value.len());
    let mut rest = value.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first != b'\\' {
            bytes.push(first);
            rest = tail;
            continue;
        }
        match tail {
            [high, low, after @ ..] if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {
                let pair = std::str::from_utf8(&[*high, *low]).ok()?.to_owned();
                bytes.push(u8::from_str_radix(&pair, 16).ok()?);
                rest = after;
            }
            [escaped, after @ ..] => {
                bytes.push(*escaped);
                rest = after;
            }
            [] => return None,
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("uid=thomas,dc=edrn,dc=jpl,dc=nasa,dc=gov", Some("thomas"))]
    #[case("UID = ana , ou=people", Some("ana"))]
    #[case("cn=Thomas,uid=tom,dc=x", Some("tom"))]
    #[case("cn=x+uid=multi,dc=x", Some("multi"))]
    #[case(r"uid=o\,brien,dc=x", Some("o,brien"))]
    #[case(r"uid=a\2Cb,dc=x", Some("a,b"))]
    #[case("cn=thomas,dc=edrn", None)]
    #[case("uid=,dc=x", None)]
    #[case("thomas", None)]
    #[case("", None)]
    #[case(r"uid=dangling\", None)]
    fn the_uid_of_a_dn(#[case] dn: &str, #[case] uid: Option<&str>) {
        assert_eq!(uid_of_dn(dn).as_deref(), uid);
    }

    #[rstest]
    #[case("thomas", true)]
    #[case("ana@example.com", true)]
    #[case("Ana Smith", true)]
    #[case("", false)]
    #[case("   ", false)]
    #[case(".", false)]
    #[case("..", false)]
    #[case("a/b", false)]
    #[case("a\\b", false)]
    #[case("tab\there", false)]
    fn usernames_name_a_folder(#[case] raw: &str, #[case] accepted: bool) {
        assert_eq!(Username::parse(raw).is_ok(), accepted, "{raw:?}");
    }

    #[test]
    fn names_are_bounded() {
        let long = "x".repeat(NAME_MAX_CHARS + 1);
        assert_eq!(Username::parse(&long), Err(NameError::TooLong("username")));
        assert_eq!(IssuerName::parse(&long), Err(NameError::TooLong("issuer")));
        assert!(IssuerName::parse("LabCAS").is_ok());
        assert!(IssuerName::parse("").is_err());
    }

    #[test]
    fn the_username_of_an_account_is_its_external_name_else_its_email() {
        let local = Identity::Local(Email::parse("Ana@Example.com").expect("email"));
        assert_eq!(local.username(), "ana@example.com");
        assert!(local.email().is_some());
        let external = Identity::External(ExternalIdentity {
            issuer: IssuerName::parse("LabCAS").expect("issuer"),
            username: Username::parse("thomas").expect("username"),
        });
        assert_eq!(external.username(), "thomas");
        assert_eq!(external.email(), None);
    }
}
