//! Pre-approved users (reefguide-r2 §3.2 `/api/auth/admin/pre-approved-users`): administrators
//! approve addresses with roles before their owners register (registering consumes them: see
//! [`AuthService::register`](crate::services::AuthService::register)). Every use case takes the
//! actor and applies [`may_manage_pre_approvals`]; the rules of the values are in
//! [`reefguide_domain::user::pre_approval`].

use std::collections::HashMap;

use reefguide_domain::access::may_manage_pre_approvals;
use reefguide_domain::user::errors::PreApprovalError;
use reefguide_domain::user::pre_approval::{
    CleanupAge, NewPreApproval, PreApproval, PreApprovalChange, PreApprovalId, PreApprovalQuery,
    PreApprovalRoles,
};
use reefguide_domain::{Email, User, UserId};

use crate::clock::Clock;
use crate::repositories::{PreApprovalRepository, UserRepository};

/// A pre-approval with the account of the administrator who made it (`None` once deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreApprovalView {
    /// The pre-approval.
    pub pre_approval: PreApproval,
    /// Its maker's account.
    pub creator: Option<User>,
}

/// A page of pre-approvals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreApprovalListing {
    /// The pre-approvals, newest first.
    pub pre_approvals: Vec<PreApprovalView>,
    /// Pre-approvals matching the filter in all.
    pub total: u64,
}

/// One entry of a bulk request that was refused.
#[derive(Debug)]
pub struct BulkRefusal {
    /// Its position in the request (0-based).
    pub index: usize,
    /// Why: [`PreApprovalError::AlreadyPreApproved`] or
    /// [`PreApprovalError::AlreadyRegistered`].
    pub error: PreApprovalError,
}

/// What a bulk request made and refused.
#[derive(Debug)]
pub struct BulkOutcome {
    /// The pre-approvals made, in request order.
    pub created: Vec<PreApprovalView>,
    /// The entries refused, in request order.
    pub refused: Vec<BulkRefusal>,
}

/// The pre-approval use cases.
#[derive(Debug, Clone)]
pub struct PreApprovalService<S, C> {
    store: S,
    clock: C,
}

impl<S, C> PreApprovalService<S, C>
where
    S: PreApprovalRepository + UserRepository,
    C: Clock,
{
    /// Wires the service.
    pub fn new(store: S, clock: C) -> Self {
        Self { store, clock }
    }

    /// Approves `email` with `roles` on behalf of `actor`.
    ///
    /// # Errors
    /// [`PreApprovalError::Forbidden`] for a non-administrator; the store's refusals of an
    /// address that has a pre-approval or an account.
    pub async fn create(
        &self,
        actor: &User,
        email: Email,
        roles: PreApprovalRoles,
    ) -> Result<PreApprovalView, PreApprovalError> {
        allowed(actor)?;
        let made = self.insert(actor, email, roles).await?;
        Ok(self.with_creator(made).await?)
    }

    /// Approves each address with its roles, one after the other, as [`Self::create`] does;
    /// an address that has a pre-approval (including one made earlier in the same request) or
    /// an account is refused without stopping the others.
    ///
    /// # Errors
    /// [`PreApprovalError::Forbidden`] for a non-administrator, and any unexpected failure
    /// (the pre-approvals made before it stay).
    pub async fn create_many(
        &self,
        actor: &User,
        entries: Vec<(Email, PreApprovalRoles)>,
    ) -> Result<BulkOutcome, PreApprovalError> {
        allowed(actor)?;
        let mut made = Vec::new();
        let mut refused = Vec::new();
        for (index, (email, roles)) in entries.into_iter().enumerate() {
            match self.insert(actor, email, roles).await {
                Ok(pre_approval) => made.push(pre_approval),
                Err(
                    error @ (PreApprovalError::AlreadyPreApproved(_)
                    | PreApprovalError::AlreadyRegistered(_)),
                ) => refused.push(BulkRefusal { index, error }),
                Err(error) => return Err(error),
            }
        }
        Ok(BulkOutcome {
            created: self.with_creators(made).await?,
            refused,
        })
    }

    /// One page of the pre-approvals matching the query.
    ///
    /// # Errors
    /// [`PreApprovalError::Forbidden`] for a non-administrator.
    pub async fn list(
        &self,
        actor: &User,
        query: &PreApprovalQuery,
    ) -> Result<PreApprovalListing, PreApprovalError> {
        allowed(actor)?;
        let page = self.store.list_pre_approvals(query).await?;
        Ok(PreApprovalListing {
            pre_approvals: self.with_creators(page.pre_approvals).await?,
            total: page.total,
        })
    }

    /// One pre-approval.
    ///
    /// # Errors
    /// [`PreApprovalError::Forbidden`], [`PreApprovalError::NotFound`].
    pub async fn get(
        &self,
        actor: &User,
        id: PreApprovalId,
    ) -> Result<PreApprovalView, PreApprovalError> {
        allowed(actor)?;
        let found = self.find(id).await?;
        Ok(self.with_creator(found).await?)
    }

    /// Changes the address and/or roles of an unused pre-approval. Giving it its own address
    /// again changes nothing (R2 refused that as a duplicate of itself).
    ///
    /// # Errors
    /// [`PreApprovalError::Forbidden`], [`PreApprovalError::NotFound`],
    /// [`PreApprovalError::Used`] once it was used (also when used meanwhile), and the store's
    /// refusals of a new address that has a pre-approval or an account.
    pub async fn update(
        &self,
        actor: &User,
        id: PreApprovalId,
        change: PreApprovalChange,
    ) -> Result<PreApprovalView, PreApprovalError> {
        allowed(actor)?;
        let found = self.find(id).await?;
        if found.used {
            return Err(PreApprovalError::Used(id));
        }
        let change = PreApprovalChange {
            email: change.email.filter(|email| *email != found.email),
            roles: change.roles,
        };
        let now = self.clock.now();
        let Some(updated) = self.store.update_pre_approval(id, &change, now).await? else {
            // Used or deleted since it was read.
            return Err(match self.store.find_pre_approval(id).await? {
                Some(_) => PreApprovalError::Used(id),
                None => PreApprovalError::NotFound(id),
            });
        };
        Ok(self.with_creator(updated).await?)
    }

    /// Deletes a pre-approval, used or not.
    ///
    /// # Errors
    /// [`PreApprovalError::Forbidden`], [`PreApprovalError::NotFound`].
    pub async fn delete(&self, actor: &User, id: PreApprovalId) -> Result<(), PreApprovalError> {
        allowed(actor)?;
        if self.store.delete_pre_approval(id).await? {
            Ok(())
        } else {
            Err(PreApprovalError::NotFound(id))
        }
    }

    /// Deletes the used pre-approvals used more than `age` ago; how many.
    ///
    /// # Errors
    /// [`PreApprovalError::Forbidden`].
    pub async fn clean_up(&self, actor: &User, age: CleanupAge) -> Result<u64, PreApprovalError> {
        allowed(actor)?;
        let cutoff = age.cutoff(self.clock.now());
        Ok(self.store.delete_used_pre_approvals(cutoff).await?)
    }

    async fn insert(
        &self,
        actor: &User,
        email: Email,
        roles: PreApprovalRoles,
    ) -> Result<PreApproval, PreApprovalError> {
        self.store
            .insert_pre_approval(&NewPreApproval {
                email,
                roles,
                created_by: actor.id,
                at: self.clock.now(),
            })
            .await
    }

    async fn find(&self, id: PreApprovalId) -> Result<PreApproval, PreApprovalError> {
        self.store
            .find_pre_approval(id)
            .await?
            .ok_or(PreApprovalError::NotFound(id))
    }

    /// The pre-approval with its maker's account.
    async fn with_creator(&self, pre_approval: PreApproval) -> anyhow::Result<PreApprovalView> {
        let creator = match pre_approval.created_by {
            Some(id) => self.store.find_user(id).await?,
            None => None,
        };
        Ok(PreApprovalView {
            pre_approval,
            creator,
        })
    }

    /// The pre-approvals with their makers' accounts (one lookup for all).
    async fn with_creators(
        &self,
        pre_approvals: Vec<PreApproval>,
    ) -> anyhow::Result<Vec<PreApprovalView>> {
        let ids: Vec<UserId> = pre_approvals
            .iter()
            .filter_map(|pre_approval| pre_approval.created_by)
            .collect();
        let creators: HashMap<UserId, User> = self
            .store
            .find_users(&ids)
            .await?
            .into_iter()
            .map(|user| (user.id, user))
            .collect();
        Ok(pre_approvals
            .into_iter()
            .map(|pre_approval| PreApprovalView {
                creator: pre_approval
                    .created_by
                    .and_then(|id| creators.get(&id).cloned()),
                pre_approval,
            })
            .collect())
    }
}

/// Refuses a non-administrator.
fn allowed(actor: &User) -> Result<(), PreApprovalError> {
    if may_manage_pre_approvals(actor) {
        Ok(())
    } else {
        Err(PreApprovalError::Forbidden)
    }
}

#[cfg(test)]
mod tests;
