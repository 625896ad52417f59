//! Who may see and change projects and groups.
//!
//! A project is seen by its owner, administrators, everyone when it is public, the users it is
//! shared with, and the owner, managers and members of the groups it is shared with (R2's rule).
//! Seeing a project is not changing it: only its owner or an administrator may update, delete,
//! share or publish it (R2 let anyone who sees it do all of that, public projects included).
//!
//! A group is seen by its owner, managers and members; its managers (and owner) change its name,
//! description and members; only its owner deletes it, names its managers and hands it over.
//! Administrators may do everything.

use crate::group::GroupStanding;
use crate::user::{User, UserId};

/// Whether `actor` may see a project owned by `owner`; `shared` says whether it is shared with
/// the actor directly or through a group the actor is in.
pub fn may_view_project(actor: &User, owner: UserId, is_public: bool, shared: bool) -> bool {
    actor.roles.is_admin() || actor.id == owner || is_public || shared
}

/// Whether `actor` may update, delete, share, unshare or publish a project owned by `owner`.
pub fn may_change_project(actor: &User, owner: UserId) -> bool {
    actor.roles.is_admin() || actor.id == owner
}

/// Whether `actor` may see a group where they stand so.
pub fn may_view_group(actor: &User, standing: GroupStanding) -> bool {
    actor.roles.is_admin() || standing >= GroupStanding::Member
}

/// Whether `actor` may rename a group, change its description, or add and remove members.
pub fn may_manage_group(actor: &User, standing: GroupStanding) -> bool {
    actor.roles.is_admin() || standing >= GroupStanding::Manager
}

/// Whether `actor` may delete a group, add and remove managers, or transfer its ownership.
pub fn may_own_group(actor: &User, standing: GroupStanding) -> bool {
    actor.roles.is_admin() || standing == GroupStanding::Owner
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::test_support::{id_of as id, user};
    use crate::user::Role;
    use GroupStanding::{Manager, Member, Outsider, Owner};

    #[test]
    fn projects_are_seen_by_owner_admin_sharees_and_everyone_when_public() {
        let analyst = user(2, &[Role::Analyst]);
        assert!(may_view_project(&user(1, &[]), id(1), false, false));
        assert!(!may_view_project(&analyst, id(1), false, false));
        assert!(may_view_project(&analyst, id(1), true, false));
        assert!(may_view_project(&analyst, id(1), false, true));
        assert!(may_view_project(
            &user(3, &[Role::Admin]),
            id(1),
            false,
            false
        ));
    }

    #[test]
    fn seeing_a_project_is_not_changing_it() {
        assert!(may_change_project(&user(1, &[]), id(1)));
        assert!(may_change_project(&user(3, &[Role::Admin]), id(1)));
        // A sharee, or anyone on a public project, sees it but may not change it (R2's hole).
        assert!(!may_change_project(&user(2, &[Role::Analyst]), id(1)));
    }

    #[test]
    fn group_seats_rank_their_rights() {
        let analyst = user(2, &[Role::Analyst]);
        let admin = user(3, &[Role::Admin]);
        let rights = |standing| {
            (
                may_view_group(&analyst, standing),
                may_manage_group(&analyst, standing),
                may_own_group(&analyst, standing),
            )
        };
        assert_eq!(rights(Outsider), (false, false, false));
        assert_eq!(rights(Member), (true, false, false));
        assert_eq!(rights(Manager), (true, true, false));
        assert_eq!(rights(Owner), (true, true, true));
        assert!(may_view_group(&admin, Outsider));
        assert!(may_manage_group(&admin, Outsider));
        assert!(may_own_group(&admin, Outsider));
    }
}
