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
    /// The user created a group (R2's `CREATE_GROUP`).
    CreateGroup,
    /// The user changed a group's name or description (`UPDATE_GROUP`).
    UpdateGroup,
    /// The user deleted a group (`DELETE_GROUP`).
    DeleteGroup,
    /// The user added members to a group (`ADD_GROUP_MEMBER`).
    AddGroupMember,
    /// The user removed members from a group (`REMOVE_GROUP_MEMBER`).
    RemoveGroupMember,
    /// The user added managers to a group (`ADD_GROUP_MANAGER`).
    AddGroupManager,
    /// The user removed managers from a group (`REMOVE_GROUP_MANAGER`).
    RemoveGroupManager,
    /// The user handed a group to another owner (ours; R2 logs nothing for it).
    TransferGroupOwnership,
    /// The user shared a project with users or groups (`SHARE_PROJECT`).
    ShareProject,
    /// The user stopped sharing a project with users or groups (`UNSHARE_PROJECT`).
    UnshareProject,
    /// The user made a project public or private (`UPDATE_PROJECT_SHARING`).
    UpdateProjectSharing,
    /// The user created a project (ours).
    CreateProject,
    /// The user changed a project (ours).
    UpdateProject,
    /// The user deleted a project (ours).
    DeleteProject,
}

impl UserAction {
    /// Every action.
    pub const ALL: [UserAction; 20] = [
        UserAction::Login,
        UserAction::Logout,
        UserAction::ChangePassword,
        UserAction::Updated,
        UserAction::Created,
        UserAction::Deleted,
        UserAction::CreateGroup,
        UserAction::UpdateGroup,
        UserAction::DeleteGroup,
        UserAction::AddGroupMember,
        UserAction::RemoveGroupMember,
        UserAction::AddGroupManager,
        UserAction::RemoveGroupManager,
        UserAction::TransferGroupOwnership,
        UserAction::ShareProject,
        UserAction::UnshareProject,
        UserAction::UpdateProjectSharing,
        UserAction::CreateProject,
        UserAction::UpdateProject,
        UserAction::DeleteProject,
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
            UserAction::CreateGroup => "CREATE_GROUP",
            UserAction::UpdateGroup => "UPDATE_GROUP",
            UserAction::DeleteGroup => "DELETE_GROUP",
            UserAction::AddGroupMember => "ADD_GROUP_MEMBER",
            UserAction::RemoveGroupMember => "REMOVE_GROUP_MEMBER",
            UserAction::AddGroupManager => "ADD_GROUP_MANAGER",
            UserAction::RemoveGroupManager => "REMOVE_GROUP_MANAGER",
            UserAction::TransferGroupOwnership => "TRANSFER_GROUP_OWNERSHIP",
            UserAction::ShareProject => "SHARE_PROJECT",
            UserAction::UnshareProject => "UNSHARE_PROJECT",
            UserAction::UpdateProjectSharing => "UPDATE_PROJECT_SHARING",
            UserAction::CreateProject => "CREATE_PROJECT",
            UserAction::UpdateProject => "UPDATE_PROJECT",
            UserAction::DeleteProject => "DELETE_PROJECT",
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
