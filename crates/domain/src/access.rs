//! Ownership and feature-access rules, as pure functions the services apply.
//!
//! One place decides who may see or change what, so the routes cannot drift apart (broken
//! object-level authorisation is the classic API flaw this guards against).

use thiserror::Error;

use crate::note::NoteId;
use crate::polygon::PolygonId;
use crate::user::{Role, User, UserId};

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

/// Whose items a listing shows to `actor`: `None` for everyone's (administrators), else the
/// actor's own.
pub fn listing_scope(actor: &User) -> Option<UserId> {
    (!actor.roles.is_admin()).then_some(actor.id)
}

/// Whether `actor` may use the user features (polygons, notes, jobs) at all. Administrators
/// always may; an account whose only role is WORKER is a service account and may not (workers
/// use the worker routes, nothing a user owns); otherwise, when the deployment requires a role
/// (`required_role`, e.g. ANALYST), the actor must hold it.
pub fn may_use_user_features(actor: &User, required_role: Option<Role>) -> bool {
    let roles = actor.roles.as_slice();
    if actor.roles.is_admin() {
        return true;
    }
    if !roles.is_empty() && roles.iter().all(|role| *role == Role::Worker) {
        return false;
    }
    required_role.is_none_or(|role| actor.roles.contains(role))
}

/// Reading, changing or deleting one polygon (and listing its notes).
#[derive(Debug, Error)]
pub enum PolygonAccessError {
    /// No such polygon.
    #[error("Polygon not found")]
    NotFound(PolygonId),
    /// It exists but is not the caller's.
    #[error("You do not have access to this polygon")]
    Forbidden,
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Adding a note to a polygon.
#[derive(Debug, Error)]
pub enum CreateNoteError {
    /// No such polygon.
    #[error("Polygon not found")]
    PolygonNotFound(PolygonId),
    /// The polygon is not the caller's.
    #[error("You can only add notes to your own polygons")]
    Forbidden,
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Changing or deleting one note.
#[derive(Debug, Error)]
pub enum NoteAccessError {
    /// No such note.
    #[error("Note not found")]
    NotFound(NoteId),
    /// Not the author and not an administrator.
    #[error("You can only change your own notes")]
    Forbidden,
    /// Anything else; the cause is logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::{Email, Roles};

    fn user(id: i64, roles: &[Role]) -> User {
        User {
            id: UserId::new(id).expect("positive"),
            email: Email::parse(&format!("u{id}@example.com")).expect("email"),
            roles: roles.iter().copied().collect::<Roles>(),
        }
    }

    fn id(raw: i64) -> UserId {
        UserId::new(raw).expect("positive")
    }

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

    #[test]
    fn admins_list_everything_others_their_own() {
        assert_eq!(listing_scope(&user(1, &[])), Some(id(1)));
        assert_eq!(listing_scope(&user(3, &[Role::Admin])), None);
    }

    #[test]
    fn feature_gate() {
        assert!(may_use_user_features(&user(1, &[]), None));
        assert!(!may_use_user_features(&user(1, &[]), Some(Role::Analyst)));
        assert!(may_use_user_features(
            &user(1, &[Role::Analyst]),
            Some(Role::Analyst)
        ));
        assert!(!may_use_user_features(&user(1, &[Role::Worker]), None));
        assert!(may_use_user_features(
            &user(1, &[Role::Worker, Role::Analyst]),
            None
        ));
        assert!(may_use_user_features(
            &user(1, &[Role::Admin]),
            Some(Role::Analyst)
        ));
    }
}
