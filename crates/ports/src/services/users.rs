//! User administration use cases (administrators only; the HTTP layer enforces the role).

use reefguide_domain::user::errors::{CreateUserError, UserLookupError};
use reefguide_domain::{
    Email, LogPage, LogQuery, NewUserLogEntry, Password, Roles, User, UserAction, UserId,
};
use serde_json::json;

use crate::clock::Clock;
use crate::crypto::PasswordHasher;
use crate::repositories::NewUser;
use crate::services::AccountStore;

/// The user-administration use cases.
#[derive(Debug, Clone)]
pub struct UserAdminService<S, H, C> {
    store: S,
    hasher: H,
    clock: C,
}

impl<S, H, C> UserAdminService<S, H, C>
where
    S: AccountStore,
    H: PasswordHasher,
    C: Clock,
{
    /// Wires the service.
    pub fn new(store: S, hasher: H, clock: C) -> Self {
        Self {
            store,
            hasher,
            clock,
        }
    }

    /// Every user.
    pub async fn list(&self) -> anyhow::Result<Vec<User>> {
        self.store.list_users().await
    }

    /// One user.
    pub async fn get(&self, id: UserId) -> Result<User, UserLookupError> {
        self.store
            .find_user(id)
            .await?
            .ok_or(UserLookupError::NotFound(id))
    }

    /// Creates a user with the given roles on behalf of `actor`.
    pub async fn create(
        &self,
        actor: &User,
        email: Email,
        password: &Password,
        roles: Roles,
    ) -> Result<UserId, CreateUserError> {
        let password_hash = self.hasher.hash(password).await?;
        let user = self
            .store
            .create_user(NewUser {
                email,
                password_hash,
                roles,
            })
            .await?;
        self.log(
            user.id,
            UserAction::Created,
            json!({"by": actor.id, "roles": user.roles}),
        )
        .await?;
        Ok(user.id)
    }

    /// Replaces a user's roles.
    pub async fn set_roles(
        &self,
        actor: &User,
        id: UserId,
        roles: Roles,
    ) -> Result<User, UserLookupError> {
        let user = self
            .store
            .set_roles(id, &roles)
            .await?
            .ok_or(UserLookupError::NotFound(id))?;
        self.log(
            id,
            UserAction::Updated,
            json!({"by": actor.id, "roles": roles}),
        )
        .await?;
        Ok(user)
    }

    /// Sets a user's password and revokes every refresh token it holds.
    pub async fn reset_password(
        &self,
        actor: &User,
        id: UserId,
        password: &Password,
    ) -> Result<(), UserLookupError> {
        if self.get(id).await?.email().is_none() {
            return Err(UserLookupError::NoPassword(id));
        }
        let hash = self.hasher.hash(password).await?;
        self.store
            .revoke_user_refresh_tokens(id, self.clock.now())
            .await?;
        if !self.store.set_password_hash(id, &hash).await? {
            return Err(UserLookupError::NotFound(id));
        }
        self.log(id, UserAction::ChangePassword, json!({"by": actor.id}))
            .await?;
        Ok(())
    }

    /// Deletes a user with what it owns; its audit-log entries stay.
    pub async fn delete(&self, actor: &User, id: UserId) -> Result<(), UserLookupError> {
        let user = self.get(id).await?;
        if !self.store.delete_user(id).await? {
            return Err(UserLookupError::NotFound(id));
        }
        self.log(
            id,
            UserAction::Deleted,
            json!({"by": actor.id, "email": user.email(), "username": user.username()}),
        )
        .await?;
        Ok(())
    }

    /// One page of the audit log.
    pub async fn logs(&self, query: LogQuery) -> anyhow::Result<LogPage> {
        self.store.list_user_logs(query).await
    }

    /// Makes sure a configured service account exists with this password and at least these
    /// roles (used at start-up for the ADMIN/WORKER/MANAGER accounts). Idempotent.
    pub async fn ensure_service_account(
        &self,
        email: Email,
        password: &Password,
        roles: Roles,
    ) -> anyhow::Result<UserId> {
        if let Some(existing) = self.store.find_credentials_by_email(&email).await? {
            let id = existing.user.id;
            if !self
                .hasher
                .verify(password, Some(existing.password_hash.clone()))
                .await?
            {
                let hash = self.hasher.hash(password).await?;
                self.store.set_password_hash(id, &hash).await?;
            }
            let wanted: Roles = existing
                .user
                .roles
                .as_slice()
                .iter()
                .chain(roles.as_slice())
                .copied()
                .collect();
            if wanted != existing.user.roles {
                self.store.set_roles(id, &wanted).await?;
            }
            return Ok(id);
        }
        let password_hash = self.hasher.hash(password).await?;
        match self
            .store
            .create_user(NewUser {
                email: email.clone(),
                password_hash,
                roles: roles.clone(),
            })
            .await
        {
            Ok(user) => Ok(user.id),
            // Another instance created it concurrently: converge on the next start.
            Err(CreateUserError::UserExists) => {
                anyhow::bail!(
                    "service account {email} was created concurrently; restart to converge"
                )
            }
            Err(CreateUserError::Unexpected(error)) => Err(error),
        }
    }

    async fn log(
        &self,
        user_id: UserId,
        action: UserAction,
        metadata: serde_json::Value,
    ) -> anyhow::Result<()> {
        self.store
            .append_user_log(&NewUserLogEntry {
                user_id,
                action,
                metadata: Some(metadata),
                time: self.clock.now(),
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;
    use crate::crypto::MockPasswordHasher;
    use crate::services::test_support::{MockStore, credentials, now, user};
    use reefguide_domain::Role;

    fn service(
        store: MockStore,
        hasher: MockPasswordHasher,
    ) -> UserAdminService<MockStore, MockPasswordHasher, MockClock> {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        UserAdminService::new(store, hasher, clock)
    }

    #[tokio::test]
    async fn deleting_logs_the_deletion_after_it_happened() {
        let mut store = MockStore::new();
        store.expect_find_user().returning(|_| Ok(Some(user())));
        store.expect_delete_user().times(1).returning(|_| Ok(true));
        store
            .expect_append_user_log()
            .withf(|entry| entry.action == UserAction::Deleted && entry.user_id == user().id)
            .times(1)
            .returning(|_| Ok(()));
        service(store, MockPasswordHasher::new())
            .delete(&user(), user().id)
            .await
            .expect("deleted");
    }

    #[tokio::test]
    async fn unknown_user_is_not_found() {
        let mut store = MockStore::new();
        store.expect_set_roles().returning(|_, _| Ok(None));
        let result = service(store, MockPasswordHasher::new())
            .set_roles(&user(), user().id, Roles::none())
            .await;
        assert!(matches!(result, Err(UserLookupError::NotFound(_))));
    }

    #[tokio::test]
    async fn service_account_gains_missing_roles_and_keeps_its_password() {
        let mut store = MockStore::new();
        store
            .expect_find_credentials_by_email()
            .returning(|_| Ok(Some(credentials())));
        store
            .expect_set_roles()
            .withf(|_, roles| roles.contains(Role::Worker))
            .times(1)
            .returning(|_, _| Ok(Some(user())));
        store.expect_set_password_hash().never();
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_verify().returning(|_, _| Ok(true));
        let id = service(store, hasher)
            .ensure_service_account(
                user().email().cloned().expect("a local user"),
                &Password::new("service-pass-1").expect("valid"),
                [Role::Worker].into_iter().collect(),
            )
            .await
            .expect("ensured");
        assert_eq!(id, user().id);
    }
}
