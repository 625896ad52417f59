//! The user audit log.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::user::{User, UserId};

/// What a log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserAction {
    /// A successful login.
    Login,
    /// A logout (refresh token revoked).
    Logout,
    /// A password change or administrative password reset.
    ChangePassword,
    /// An administrative change to the account (roles).
    Updated,
    /// The account was created.
    Created,
    /// The account was deleted by an administrator.
    Deleted,
}

impl UserAction {
    /// Every action.
    pub const ALL: [UserAction; 6] = [
        UserAction::Login,
        UserAction::Logout,
        UserAction::ChangePassword,
        UserAction::Updated,
        UserAction::Created,
        UserAction::Deleted,
    ];

    /// Wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserAction::Login => "LOGIN",
            UserAction::Logout => "LOGOUT",
            UserAction::ChangePassword => "CHANGE_PASSWORD",
            UserAction::Updated => "UPDATED",
            UserAction::Created => "CREATED",
            UserAction::Deleted => "DELETED",
        }
    }
}

impl fmt::Display for UserAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored action name we do not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown user action {0:?}")]
pub struct UnknownUserAction(pub String);

impl FromStr for UserAction {
    type Err = UnknownUserAction;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        UserAction::ALL
            .into_iter()
            .find(|action| action.as_str() == raw)
            .ok_or_else(|| UnknownUserAction(raw.to_owned()))
    }
}

/// An entry to append to the log.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUserLogEntry {
    /// The user the entry is about.
    pub user_id: UserId,
    /// What happened.
    pub action: UserAction,
    /// Free-form JSON detail (never secrets).
    pub metadata: Option<serde_json::Value>,
    /// When it happened.
    pub time: DateTime<Utc>,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq)]
pub struct UserLogEntry {
    /// Entry id.
    pub id: i32,
    /// The user the entry is about (kept after the user is deleted).
    pub user_id: UserId,
    /// What happened.
    pub action: UserAction,
    /// Free-form JSON detail.
    pub metadata: Option<serde_json::Value>,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// The user, if it still exists.
    pub user: Option<User>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip() {
        for action in UserAction::ALL {
            assert_eq!(action.as_str().parse::<UserAction>(), Ok(action));
        }
        assert!("NOPE".parse::<UserAction>().is_err());
    }
}
