//! Who may see and change polygons and their notes: their owner (or author) and administrators.

use crate::user::{User, UserId};

/// Whether `actor` may read, change, delete or export a polygon owned by `owner`: its owner or an
/// administrator.
pub fn may_manage_polygon(actor: &User, owner: UserId) -> bool {
    actor.id == owner || actor.roles.is_admin()
}

/// Whether `actor` may read a polygon's notes or add a note to it: the same rule as managing it.
pub fn may_annotate_polygon(actor: &User, polygon_owner: UserId) -> bool {
    may_manage_polygon(actor, polygon_owner)
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
        assert!(may_annotate_polygon(&user(1, &[]), id(1)));
        assert!(!may_annotate_polygon(&user(2, &[]), id(1)));
    }

    #[test]
    fn author_and_admin_edit_notes() {
        assert!(may_edit_note(&user(1, &[]), id(1)));
        assert!(!may_edit_note(&user(2, &[]), id(1)));
        assert!(may_edit_note(&user(3, &[Role::Admin]), id(1)));
    }
}
