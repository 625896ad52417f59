//! Groups of users (R2): an owner, managers and members, so a project can be shared with many
//! people at once. Who may do what with a group is decided in [`crate::access`].

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::text::{Description, Label};
use crate::user::UserId;

crate::id::positive_id!(
    /// Identifier of a group.
    GroupId
);

/// A stored group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Id.
    pub id: GroupId,
    /// Name (not unique: two people may both have a group called "Team").
    pub name: Label,
    /// Description, if any.
    pub description: Option<Description>,
    /// The owner.
    pub owner: UserId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its name, description or owner last changed.
    pub updated_at: DateTime<Utc>,
}

/// A seat in a group other than its owner's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupSeat {
    /// May change the group's name, description and members.
    Manager,
    /// Sees the group and the projects shared with it.
    Member,
}

/// Where a user stands in a group: the strongest of the seats they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupStanding {
    /// No seat.
    Outsider,
    /// A member.
    Member,
    /// A manager.
    Manager,
    /// The owner.
    Owner,
}

impl GroupStanding {
    /// The standing of a user who owns the group (`is_owner`) and holds these seats.
    pub fn of(is_owner: bool, is_manager: bool, is_member: bool) -> Self {
        if is_owner {
            GroupStanding::Owner
        } else if is_manager {
            GroupStanding::Manager
        } else if is_member {
            GroupStanding::Member
        } else {
            GroupStanding::Outsider
        }
    }
}

/// A group's name and description, as given when it is created or changed.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupDraft {
    /// Name.
    pub name: Label,
    /// Description.
    pub description: Option<Description>,
}

/// Changes to a group's name and description (absent: unchanged).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupChange {
    /// A new name.
    pub name: Option<Label>,
    /// A new description (`Some(None)` removes it).
    pub description: Option<Option<Description>>,
}

/// Refusals of the group use cases.
#[derive(Debug, Error)]
pub enum GroupError {
    /// No such group, or one the caller may not see (the same answer, so a group's existence does
    /// not leak).
    #[error("Group not found")]
    NotFound(GroupId),
    /// The caller sees the group but does not hold the seat this needs.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The new owner of a transfer has no account.
    #[error("User with ID {0} not found")]
    NewOwnerNotFound(UserId),
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standing_is_the_strongest_seat() {
        assert_eq!(GroupStanding::of(true, true, true), GroupStanding::Owner);
        assert_eq!(GroupStanding::of(false, true, true), GroupStanding::Manager);
        assert_eq!(GroupStanding::of(false, false, true), GroupStanding::Member);
        assert_eq!(
            GroupStanding::of(false, false, false),
            GroupStanding::Outsider
        );
        assert!(GroupStanding::Manager > GroupStanding::Member);
    }
}
