//! Pre-approved users (reefguide-r2 §3.2) and the registration that consumes them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reefguide_domain::user::errors::{CreateUserError, PreApprovalError};
use reefguide_domain::user::pre_approval::{
    NewPreApproval, PreApproval, PreApprovalChange, PreApprovalId, PreApprovalQuery,
};
use reefguide_domain::{Email, User};

use super::NewUser;

/// A page of pre-approvals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreApprovalPage {
    /// The pre-approvals, newest first (ties: highest id first).
    pub pre_approvals: Vec<PreApproval>,
    /// Pre-approvals matching the filter in all.
    pub total: u64,
}

/// What [`PreApprovalRepository::register_user`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// The account was created (and the pre-approval, if one was given, consumed).
    Created(User),
    /// Nothing was created: the address's pre-approval is no longer as it was read (used,
    /// changed or deleted meanwhile, or one was made for an address read without any). Read it
    /// again and decide again.
    PreApprovalChanged,
}

/// Pre-approved users: addresses approved with roles before their owners register.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait PreApprovalRepository: Send + Sync + 'static {
    /// Stores a pre-approval (unused). Errors with
    /// [`PreApprovalError::AlreadyPreApproved`] when a pre-approval has the address and with
    /// [`PreApprovalError::AlreadyRegistered`] when an account has it; both hold under
    /// concurrent writers (a unique index, and a check in the same transaction that registering
    /// serialises with).
    async fn insert_pre_approval(
        &self,
        new: &NewPreApproval,
    ) -> Result<PreApproval, PreApprovalError>;

    /// The pre-approval with this id, if any.
    async fn find_pre_approval(&self, id: PreApprovalId) -> anyhow::Result<Option<PreApproval>>;

    /// The pre-approval of this (normalised) address, used or not, if any.
    async fn find_pre_approval_by_email(
        &self,
        email: &Email,
    ) -> anyhow::Result<Option<PreApproval>>;

    /// One page of the pre-approvals matching the query's filter, newest first, with their
    /// total.
    async fn list_pre_approvals(&self, query: &PreApprovalQuery)
    -> anyhow::Result<PreApprovalPage>;

    /// Applies `change` to pre-approval `id` at `now` (its `updated_at`), only while it is
    /// unused; `None`, changing nothing, when there is no unused pre-approval with this id.
    /// A new address is refused as [`PreApprovalRepository::insert_pre_approval`] refuses one.
    async fn update_pre_approval(
        &self,
        id: PreApprovalId,
        change: &PreApprovalChange,
        now: DateTime<Utc>,
    ) -> Result<Option<PreApproval>, PreApprovalError>;

    /// Deletes pre-approval `id`, used or not; `false` when there is none.
    async fn delete_pre_approval(&self, id: PreApprovalId) -> anyhow::Result<bool>;

    /// Deletes every used pre-approval used before `cutoff`; how many.
    async fn delete_used_pre_approvals(&self, cutoff: DateTime<Utc>) -> anyhow::Result<u64>;

    /// Creates the account `new_user` in one transaction with the fate of its address's
    /// pre-approval, at `now`:
    /// - with `consumes` (the unused pre-approval read for the address), marks it used at `now`
    ///   only if it is still unused with the same address and roles; otherwise creates nothing
    ///   and answers [`Registered::PreApprovalChanged`]. Of concurrent registrations at most one
    ///   consumes a pre-approval;
    /// - without, creates the account only if the address still has no pre-approval, else
    ///   [`Registered::PreApprovalChanged`].
    ///
    /// Errors with [`CreateUserError::UserExists`] when the address has an account, and then
    /// the pre-approval stays unused.
    async fn register_user(
        &self,
        new_user: NewUser,
        consumes: Option<PreApproval>,
        now: DateTime<Utc>,
    ) -> Result<Registered, CreateUserError>;
}
