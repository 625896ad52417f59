//! Who may see and change polygons and their notes: their owner (or author) and administrators;
//! whoever sees a polygon's project also sees the polygon and its notes, and may annotate it.

use crate::user::{User, UserId};

/// Whether `actor` may read, change, delete or export a polygon owned by `owner`: its owner or an
/// administrator.
pub fn may_manage_polygon(actor: &User, owner: UserId) -> bool {
    actor.id == owner || actor.roles.is_admin()
}

/// Whether `actor` may see a polygon owned by `owner`, read its notes and add notes to it: its
/// owner, an administrator, or anyone who sees the project it is in (`sees_its_project`, R2).
pub fn may_see_polygon(actor: &User, owner: UserId, sees_its_project: bool) -> bool {
    may_manage_polygon(actor, owner) || sees_its_project
}

/// Whether `actor` may change or delete a note written by `author`: its author or an
/// administrator.
pub fn may_edit_note(actor: &User, author: UserId) -> bool {
    actor.id == author || actor.roles.is_admin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::test_support::{id_of as id, user};
    use crate::user::Role;

    #[test]
    fn owner_and_admin_manage_polygons_others_do_not() {
        assert!(may_manage_polygon(&user(1, &[]), id(1)));
        assert!(!may_manage_polygon(&user(2, &[]), id(1)));
        assert!(!may_manage_polygon(
            &user(2, &[Role::Analyst, Role::Worker]),
            id(1)
        ));
        assert!(may_manage_polygon(&user(3, &[Role::Admin]), id(1)));
        assert!(may_see_polygon(&user(1, &[]), id(1), false));
        assert!(!may_see_polygon(&user(2, &[]), id(1), false));
        assert!(
            may_see_polygon(&user(2, &[]), id(1), true),
            "through its project"
        );
    }

    #[test]
    fn author_and_admin_edit_notes() {
        assert!(may_edit_note(&user(1, &[]), id(1)));
        assert!(!may_edit_note(&user(2, &[]), id(1)));
        assert!(may_edit_note(&user(3, &[Role::Admin]), id(1)));
    }
}
