//! Who may administer accounts before they exist.

use crate::user::User;

/// Whether `actor` may make, read, change and delete pre-approved users: administrators only.
pub fn may_manage_pre_approvals(actor: &User) -> bool {
    actor.roles.is_admin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::test_support::user;
    use crate::user::Role;

    #[test]
    fn only_admins_manage_pre_approvals() {
        assert!(may_manage_pre_approvals(&user(3, &[Role::Admin])));
        assert!(!may_manage_pre_approvals(&user(1, &[])));
        assert!(!may_manage_pre_approvals(&user(1, &[Role::Analyst])));
        assert!(!may_manage_pre_approvals(&user(4, &[Role::Worker])));
    }
}
