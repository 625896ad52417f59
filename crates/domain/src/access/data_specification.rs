//! Who may change ReefGuide's data specification (its regions, criteria and ranges) and ask the
//! workers to recompute it. Reading it is one of the user features (see `features`).

use crate::user::{Role, User};

/// Whether `actor` may request the specification's recomputation (a
/// `DATA_SPECIFICATION_UPDATE` job): administrators only, as ReefGuide R2.
pub fn may_manage_data_specification(actor: &User) -> bool {
    actor.roles.is_admin()
}

/// Whether `actor` may replace the data specification: administrators, and workers, since the
/// worker of a `DATA_SPECIFICATION_UPDATE` job posts the specification it computed (R2's worker
/// does so with its own account, an administrator in R2, a WORKER here).
pub fn may_replace_data_specification(actor: &User) -> bool {
    actor.roles.is_admin() || actor.roles.contains(Role::Worker)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::test_support::user;
    use crate::user::Role;

    #[test]
    fn only_admins_manage_the_data_specification() {
        assert!(may_manage_data_specification(&user(3, &[Role::Admin])));
        assert!(may_manage_data_specification(&user(
            3,
            &[Role::Analyst, Role::Admin]
        )));
        assert!(!may_manage_data_specification(&user(1, &[])));
        assert!(!may_manage_data_specification(&user(1, &[Role::Analyst])));
        assert!(!may_manage_data_specification(&user(4, &[Role::Worker])));
    }

    #[test]
    fn admins_and_workers_replace_the_data_specification() {
        assert!(may_replace_data_specification(&user(3, &[Role::Admin])));
        assert!(may_replace_data_specification(&user(4, &[Role::Worker])));
        assert!(!may_replace_data_specification(&user(1, &[Role::Analyst])));
        assert!(!may_replace_data_specification(&user(1, &[])));
    }
}
