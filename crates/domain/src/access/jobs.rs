//! Who may see and change jobs, work the queue, and manage the result cache.

use crate::user::{Role, User, UserId};

/// Whether `actor` may read a job owned by `owner`: its owner, a user who requested it through a
/// cache hit (`requested`), or an administrator.
pub fn may_view_job(actor: &User, owner: UserId, requested: bool) -> bool {
    actor.id == owner || requested || actor.roles.is_admin()
}

/// Whether `actor` may cancel a job owned by `owner`: its owner or an administrator. A user who
/// only reused the job through the cache may not cancel it for everyone else.
pub fn may_cancel_job(actor: &User, owner: UserId) -> bool {
    actor.id == owner || actor.roles.is_admin()
}

/// Whether `actor` may work the job queue (poll, assign, claim, heartbeat, report results, ask
/// for upload URLs): accounts with the WORKER role and administrators. Contract §9: R1 let any
/// logged-in user act as a worker; reefguide does not.
pub fn may_act_as_worker(actor: &User) -> bool {
    actor.roles.is_admin() || actor.roles.contains(Role::Worker)
}

/// Whether `actor` may act on an assignment claimed by `holder` (heartbeat, result, upload
/// URLs): the claiming account or an administrator. Applies on top of [`may_act_as_worker`].
pub fn may_work_assignment(actor: &User, holder: UserId) -> bool {
    actor.id == holder || actor.roles.is_admin()
}

/// Whether `actor` may invalidate the cached results of a job type (every user's next identical
/// submission then runs again): administrators only.
pub fn may_invalidate_cache(actor: &User) -> bool {
    actor.roles.is_admin()
}

/// Whether `actor` may time out stale jobs in bulk: administrators only.
pub fn may_time_out_jobs(actor: &User) -> bool {
    actor.roles.is_admin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::test_support::{id_of as id, user};

    #[test]
    fn owner_requester_and_admin_view_jobs() {
        assert!(may_view_job(&user(1, &[]), id(1), false));
        assert!(may_view_job(&user(2, &[]), id(1), true));
        assert!(!may_view_job(&user(2, &[]), id(1), false));
        assert!(!may_view_job(&user(2, &[Role::Worker]), id(1), false));
        assert!(may_view_job(&user(3, &[Role::Admin]), id(1), false));
    }

    #[test]
    fn only_owner_and_admin_cancel() {
        assert!(may_cancel_job(&user(1, &[]), id(1)));
        assert!(!may_cancel_job(&user(2, &[Role::Analyst]), id(1)));
        assert!(may_cancel_job(&user(3, &[Role::Admin]), id(1)));
    }

    #[test]
    fn workers_and_admins_work_the_queue_users_do_not() {
        assert!(may_act_as_worker(&user(1, &[Role::Worker])));
        assert!(may_act_as_worker(&user(1, &[Role::Worker, Role::Analyst])));
        assert!(may_act_as_worker(&user(1, &[Role::Admin])));
        assert!(!may_act_as_worker(&user(1, &[])));
        assert!(!may_act_as_worker(&user(1, &[Role::Analyst])));
    }

    #[test]
    fn the_claiming_account_and_admin_work_an_assignment() {
        assert!(may_work_assignment(&user(4, &[Role::Worker]), id(4)));
        assert!(!may_work_assignment(&user(5, &[Role::Worker]), id(4)));
        assert!(may_work_assignment(&user(3, &[Role::Admin]), id(4)));
    }

    #[test]
    fn only_admins_invalidate_the_cache() {
        assert!(may_invalidate_cache(&user(3, &[Role::Admin])));
        assert!(!may_invalidate_cache(&user(1, &[])));
        assert!(!may_invalidate_cache(&user(1, &[Role::Analyst])));
        assert!(!may_invalidate_cache(&user(4, &[Role::Worker])));
    }

    #[test]
    fn only_admins_time_out_jobs() {
        assert!(may_time_out_jobs(&user(3, &[Role::Admin])));
        assert!(!may_time_out_jobs(&user(1, &[])));
        assert!(!may_time_out_jobs(&user(1, &[Role::Analyst])));
        assert!(!may_time_out_jobs(&user(4, &[Role::Worker])));
    }
}
