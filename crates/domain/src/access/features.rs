//! Which parts of the API an account may use at all, decided by its roles alone.

use crate::user::{Role, User, UserId};

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

/// Whose items a listing shows to `actor`: `None` for everyone's (administrators), else the
/// actor's own.
pub fn listing_scope(actor: &User) -> Option<UserId> {
    (!actor.roles.is_admin()).then_some(actor.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::test_support::{id_of as id, user};

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
