//! Pre-approved users (reefguide-r2 §3.1 "Register" and §3.2
//! `/api/auth/admin/pre-approved-users`): an administrator approves an email address with roles
//! before its owner registers. Registering with that address consumes the pre-approval, once,
//! in the transaction that creates the account, and the account gets its roles.
//!
//! The rules, all here:
//! - a pre-approval names at least one of R2's roles (`ADMIN`, `ANALYST`, `DEFAULT`); `DEFAULT`
//!   is R2's role of every registered user and grants nothing beyond registering
//!   ([`PreApprovalRoles::granted`]);
//! - one pre-approval per (normalised) address, and none for an address that already has an
//!   account;
//! - a used pre-approval cannot be changed, and registering with its address again is refused
//!   ([`plan_registration`]);
//! - listings are newest first, 50 by default and at most 100 per page ([`PreApprovalQuery`]);
//! - cleaning up deletes used pre-approvals used longer ago than a number of days
//!   ([`CleanupAge`]).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use thiserror::Error;

use super::{EMAIL_MAX_LEN, Email, Role, Roles, UserId};

crate::id::positive_id!(
    /// Identifier of a pre-approval: a positive integer (a `SERIAL` in storage).
    PreApprovalId
);

/// A role as a pre-approval names it: R2's `UserRole`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PreApprovalRole {
    /// [`Role::Admin`].
    Admin,
    /// [`Role::Analyst`].
    Analyst,
    /// R2's role of every registered user: no role here.
    Default,
}

impl PreApprovalRole {
    /// Every role, in wire order.
    pub const ALL: [PreApprovalRole; 3] = [
        PreApprovalRole::Admin,
        PreApprovalRole::Analyst,
        PreApprovalRole::Default,
    ];

    /// The wire and storage name (`ADMIN`, `ANALYST`, `DEFAULT`).
    pub fn as_str(self) -> &'static str {
        match self {
            PreApprovalRole::Admin => "ADMIN",
            PreApprovalRole::Analyst => "ANALYST",
            PreApprovalRole::Default => "DEFAULT",
        }
    }

    /// The role an account gets from it; `None` for `DEFAULT`.
    pub fn granted(self) -> Option<Role> {
        match self {
            PreApprovalRole::Admin => Some(Role::Admin),
            PreApprovalRole::Analyst => Some(Role::Analyst),
            PreApprovalRole::Default => None,
        }
    }
}

impl fmt::Display for PreApprovalRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest role name echoed back in an error.
const ECHOED_NAME_CHARS: usize = 32;

impl FromStr for PreApprovalRole {
    type Err = PreApprovalRolesError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        PreApprovalRole::ALL
            .into_iter()
            .find(|role| role.as_str() == raw)
            .ok_or_else(|| {
                PreApprovalRolesError::Unknown(raw.chars().take(ECHOED_NAME_CHARS).collect())
            })
    }
}

/// Why a list of role names cannot be a pre-approval's roles.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PreApprovalRolesError {
    /// No role at all.
    #[error("at least one role must be specified")]
    Empty,
    /// A name that is not one of R2's roles (cut to 32 characters).
    #[error("unknown role {0:?} (expected ADMIN, ANALYST or DEFAULT)")]
    Unknown(String),
}

/// The roles of a pre-approval: at least one, sorted, without duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PreApprovalRoles(Vec<PreApprovalRole>);

impl PreApprovalRoles {
    /// Parses wire (or stored) names, refusing an empty list and unknown names.
    ///
    /// # Errors
    /// When there is no name, or a name is not `ADMIN`, `ANALYST` or `DEFAULT`.
    pub fn parse<I, S>(names: I) -> Result<Self, PreApprovalRolesError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut roles = names
            .into_iter()
            .map(|name| name.as_ref().parse())
            .collect::<Result<Vec<PreApprovalRole>, _>>()?;
        if roles.is_empty() {
            return Err(PreApprovalRolesError::Empty);
        }
        roles.sort();
        roles.dedup();
        Ok(Self(roles))
    }

    /// The roles, sorted.
    pub fn as_slice(&self) -> &[PreApprovalRole] {
        &self.0
    }

    /// The roles an account registered under this pre-approval gets (`DEFAULT` grants none).
    pub fn granted(&self) -> Roles {
        self.0.iter().filter_map(|role| role.granted()).collect()
    }
}

/// A stored pre-approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreApproval {
    /// Identifier.
    pub id: PreApprovalId,
    /// The approved address (normalised); unique among pre-approvals.
    pub email: Email,
    /// What registering with it grants.
    pub roles: PreApprovalRoles,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last changed (or made).
    pub updated_at: DateTime<Utc>,
    /// The administrator who made it; `None` once that account is deleted.
    pub created_by: Option<UserId>,
    /// Whether an account was registered with it.
    pub used: bool,
    /// When it was used.
    pub used_at: Option<DateTime<Utc>>,
}

/// A pre-approval to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPreApproval {
    /// The approved address.
    pub email: Email,
    /// What registering with it grants.
    pub roles: PreApprovalRoles,
    /// The administrator making it.
    pub created_by: UserId,
    /// When.
    pub at: DateTime<Utc>,
}

/// A change to an unused pre-approval: each field replaced when given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreApprovalChange {
    /// A new address.
    pub email: Option<Email>,
    /// New roles.
    pub roles: Option<PreApprovalRoles>,
}

/// The most pre-approvals one bulk request may make.
pub const MAX_BULK_PRE_APPROVALS: usize = 1_000;

/// Which pre-approvals a listing shows; every filter is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreApprovalFilter {
    email: Option<String>,
    /// Only used (`true`) or unused (`false`) ones.
    pub used: Option<bool>,
    /// Only those made by this administrator.
    pub created_by: Option<UserId>,
}

impl PreApprovalFilter {
    /// A filter keeping addresses that contain `email` (trimmed, any case; no filter when
    /// empty), used or not, made by anyone or by `created_by`.
    ///
    /// # Errors
    /// When the text is longer than an email may be.
    pub fn new(
        email: Option<&str>,
        used: Option<bool>,
        created_by: Option<UserId>,
    ) -> Result<Self, PreApprovalQueryError> {
        let email = email.map(str::trim).filter(|text| !text.is_empty());
        // Counted as given: lower-casing may lengthen a text.
        if email.is_some_and(|text| text.chars().count() > EMAIL_MAX_LEN) {
            return Err(PreApprovalQueryError::EmailTooLong { max: EMAIL_MAX_LEN });
        }
        let email = email.map(str::to_lowercase);
        Ok(Self {
            email,
            used,
            created_by,
        })
    }

    /// The lower-case text the addresses must contain, if any.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
}

/// One page of a listing: a filter, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreApprovalQuery {
    /// Which pre-approvals.
    pub filter: PreApprovalFilter,
    limit: u32,
    offset: u64,
}

/// Why a listing cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PreApprovalQueryError {
    /// The email filter is longer than any address.
    #[error("email must be at most {max} characters")]
    EmailTooLong {
        /// The limit.
        max: usize,
    },
    /// A negative or huge offset.
    #[error("offset must be an integer from 0 to {max}")]
    Offset {
        /// The largest offset.
        max: u64,
    },
}

impl PreApprovalQuery {
    /// Page size when none is asked for (R2's).
    pub const DEFAULT_LIMIT: u32 = 50;
    /// The largest page (R2 takes at most 100); larger limits are lowered to it.
    pub const MAX_LIMIT: u32 = 100;
    /// The largest offset (the databases take a signed 64-bit one; nobody pages this far).
    pub const MAX_OFFSET: u64 = 1_000_000_000;

    /// A page of `filter`: `limit` clamped to `1..=100` (50 when `None`), `offset` 0 when
    /// `None`.
    ///
    /// # Errors
    /// When the offset is negative or above [`Self::MAX_OFFSET`].
    pub fn new(
        filter: PreApprovalFilter,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> Result<Self, PreApprovalQueryError> {
        let limit = limit.map_or(Self::DEFAULT_LIMIT, |asked| {
            u32::try_from(asked.clamp(1, i64::from(Self::MAX_LIMIT))).unwrap_or(Self::MAX_LIMIT)
        });
        let offset = u64::try_from(offset.unwrap_or(0))
            .ok()
            .filter(|offset| *offset <= Self::MAX_OFFSET)
            .ok_or(PreApprovalQueryError::Offset {
                max: Self::MAX_OFFSET,
            })?;
        Ok(Self {
            filter,
            limit,
            offset,
        })
    }

    /// Page size.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Pre-approvals skipped.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

/// How long ago a used pre-approval must have been used for a clean-up to delete it: a number
/// of days, at least one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanupAge {
    days: f64,
}

/// A clean-up age that is not a number of days from 1 to [`CleanupAge::MAX_DAYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error(
    "olderThanDays must be a number of days from 1 to {}",
    CleanupAge::MAX_DAYS
)]
pub struct CleanupAgeError;

impl CleanupAge {
    /// The age when none is given (R2's).
    pub const DEFAULT_DAYS: f64 = 30.0;
    /// The largest age: a hundred years.
    pub const MAX_DAYS: u32 = 36_500;

    /// An age of `days` (fractions count: 1.5 is a day and a half).
    ///
    /// # Errors
    /// When `days` is below 1, above [`Self::MAX_DAYS`] or not a number.
    pub fn days(days: f64) -> Result<Self, CleanupAgeError> {
        if (1.0..=f64::from(Self::MAX_DAYS)).contains(&days) {
            Ok(Self { days })
        } else {
            Err(CleanupAgeError)
        }
    }

    /// Pre-approvals used before this instant are old enough, seen at `now`.
    pub fn cutoff(self, now: DateTime<Utc>) -> DateTime<Utc> {
        // Whole milliseconds; the range check keeps the product well inside i64.
        #[allow(clippy::cast_possible_truncation)]
        let millis = (self.days * 86_400_000.0).round() as i64;
        now - Duration::milliseconds(millis)
    }
}

impl Default for CleanupAge {
    fn default() -> Self {
        Self {
            days: Self::DEFAULT_DAYS,
        }
    }
}

/// What registering an address does: the roles the account gets and the pre-approval it
/// consumes, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationPlan {
    /// The new account's roles.
    pub roles: Roles,
    /// The unused pre-approval of the address, exactly as it was read: registering uses it only
    /// if it is still so (unused, same address and roles) when the account is created.
    pub consumes: Option<PreApproval>,
}

/// Registering an address whose pre-approval was already used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("Pre-approval for {0} has already been used")]
pub struct PreApprovalUsed(pub Email);

/// What registering does given the pre-approval of the address, if it has one: without one, an
/// account with no roles; with an unused one, an account with its roles, consuming it; with a
/// used one, nothing (R2's refusal).
///
/// # Errors
/// [`PreApprovalUsed`] when the address's pre-approval was used already.
pub fn plan_registration(
    pre_approval: Option<&PreApproval>,
) -> Result<RegistrationPlan, PreApprovalUsed> {
    match pre_approval {
        None => Ok(RegistrationPlan {
            roles: Roles::none(),
            consumes: None,
        }),
        Some(found) if found.used => Err(PreApprovalUsed(found.email.clone())),
        Some(found) => Ok(RegistrationPlan {
            roles: found.roles.granted(),
            consumes: Some(found.clone()),
        }),
    }
}

#[cfg(test)]
mod tests;
