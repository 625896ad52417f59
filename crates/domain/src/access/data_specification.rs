//! Who may change ReefGuide's data specification (its regions, criteria and ranges) and ask the
//! workers to recompute it. Reading it is one of the user features (see `features`).

use crate::user::User;

/// Whether `actor` may replace the data specification or request its recomputation (a
/// `DATA_SPECIFICATION_UPDATE` job): administrators only, as ReefGuide R2.
///
/// R2's worker posts the recomputed specification with its own account, which R2 makes an
/// administrator; reefguide's worker accounts have the WORKER role, so a deployment running R2's
/// worker gives it an administrator's credentials for that job.
pub fn may_manage_data_specification(actor: &User) -> bool {
    actor.roles.is_admin()
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
}
