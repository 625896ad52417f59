//! Authentication use cases: register, login, refresh, logout, authenticate, change password.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use rand::RngCore as _;
use rand::rngs::OsRng;
use reefguide_domain::auth::errors::{
    AuthenticateError, ChangePasswordError, LoginError, RefreshError, RegisterError,
};
use reefguide_domain::user::errors::CreateUserError;
use reefguide_domain::user::pre_approval::plan_registration;
use reefguide_domain::{
    Email, NewUserLogEntry, Password, RefreshTokenRecord, RefreshTokenSecret, User, UserAction,
    UserId,
};
use serde_json::json;

use crate::clock::Clock;
use crate::crypto::{
    ExternalTokenError, ExternalTokenVerifier, PasswordHasher, TokenIssuer, TokenVerifier,
};
use crate::repositories::{NewUser, PreApprovalRepository, Registered};
use crate::services::AccountStore;

/// Bytes of entropy in a refresh token.
const REFRESH_TOKEN_BYTES: usize = 32;

/// Times a registration reads its address's pre-approval and tries again when it changed
/// meanwhile, before giving up.
const REGISTER_ATTEMPTS: usize = 3;

/// Lifetimes and policies of the authentication use cases.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// How long a refresh token may be exchanged.
    pub refresh_token_ttl: Duration,
    /// Whether exchanging a refresh token replaces it (with reuse detection). Off by default
    /// because ReefGuide workers reuse one refresh token for their whole life.
    pub rotate_refresh_tokens: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            refresh_token_ttl: Duration::hours(48),
            rotate_refresh_tokens: false,
        }
    }
}

/// What a successful login hands back.
#[derive(Debug, Clone)]
pub struct LoginTokens {
    /// Signed access token.
    pub access_token: String,
    /// Opaque refresh token (shown once, stored only as a digest).
    pub refresh_token: RefreshTokenSecret,
}

/// What a successful refresh hands back.
#[derive(Debug, Clone)]
pub struct RefreshedTokens {
    /// A new access token.
    pub access_token: String,
    /// The successor refresh token when rotation is on.
    pub refresh_token: Option<RefreshTokenSecret>,
}

/// The authentication use cases.
#[derive(Clone)]
pub struct AuthService<S, H, T, C> {
    store: S,
    hasher: H,
    tokens: T,
    clock: C,
    settings: AuthSettings,
    external: Option<Arc<dyn ExternalTokenVerifier>>,
}

impl<S, H, T, C> std::fmt::Debug for AuthService<S, H, T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService")
            .field("settings", &self.settings)
            .field("external_issuers", &self.external.is_some())
            .finish_non_exhaustive()
    }
}

impl<S, H, T, C> AuthService<S, H, T, C>
where
    S: AccountStore + PreApprovalRepository,
    H: PasswordHasher,
    T: TokenIssuer + TokenVerifier,
    C: Clock,
{
    /// Wires the service.
    pub fn new(store: S, hasher: H, tokens: T, clock: C, settings: AuthSettings) -> Self {
        Self {
            store,
            hasher,
            tokens,
            clock,
            settings,
            external: None,
        }
    }

    /// Also accepts the tokens of trusted external issuers (labcas-contract §4): their accounts
    /// are created on first use.
    #[must_use]
    pub fn with_external_tokens(mut self, verifier: Arc<dyn ExternalTokenVerifier>) -> Self {
        self.external = Some(verifier);
        self
    }

    /// Self-registration (reefguide-r2 §3.1): a new account with no roles, or, when an
    /// administrator pre-approved the address, with the pre-approval's roles, consuming it in
    /// the transaction that creates the account (should creating fail, it stays unused).
    /// Should the pre-approval change between reading and registering (used by a concurrent
    /// registration, edited, deleted, or made), it is read again and the decision made again.
    ///
    /// # Errors
    /// [`RegisterError::UserExists`] when the address has an account;
    /// [`RegisterError::PreApprovalUsed`] when its pre-approval was used already.
    pub async fn register(
        &self,
        email: Email,
        password: &Password,
    ) -> Result<UserId, RegisterError> {
        let password_hash = self.hasher.hash(password).await?;
        for _ in 0..REGISTER_ATTEMPTS {
            let found = self.store.find_pre_approval_by_email(&email).await?;
            let plan = plan_registration(found.as_ref())
                .map_err(|used| RegisterError::PreApprovalUsed(used.0))?;
            let consumed = plan.consumes.as_ref().map(|pre_approval| pre_approval.id);
            let new_user = NewUser {
                email: email.clone(),
                password_hash: password_hash.clone(),
                roles: plan.roles,
            };
            let user = match self
                .store
                .register_user(new_user, plan.consumes, self.clock.now())
                .await
            {
                Ok(Registered::Created(user)) => user,
                Ok(Registered::PreApprovalChanged) => continue,
                Err(CreateUserError::UserExists) => return Err(RegisterError::UserExists),
                Err(CreateUserError::Unexpected(error)) => return Err(error.into()),
            };
            let detail = match consumed {
                Some(id) => json!({"via": "register", "preApprovalId": id, "roles": user.roles}),
                None => json!({"via": "register"}),
            };
            self.log(user.id, UserAction::Created, Some(detail)).await?;
            return Ok(user.id);
        }
        Err(anyhow::anyhow!(
            "the pre-approval of {email} changed during each of {REGISTER_ATTEMPTS} attempts to \
             register"
        )
        .into())
    }

    /// Email and password login. Unknown email, malformed email and wrong password are the same
    /// [`LoginError::InvalidCredentials`], and all three pay for one password verification.
    pub async fn login(&self, email: &str, password: &str) -> Result<LoginTokens, LoginError> {
        let Some(password) = Password::candidate(password) else {
            return Err(LoginError::InvalidCredentials);
        };
        let credentials = match Email::parse(email) {
            Ok(email) => self.store.find_credentials_by_email(&email).await?,
            Err(_) => None,
        };
        let stored = credentials.as_ref().map(|c| c.password_hash.clone());
        let verified = self.hasher.verify(&password, stored).await?;
        let (user, stored) = match credentials {
            Some(credentials) if verified => (credentials.user, credentials.password_hash),
            _ => return Err(LoginError::InvalidCredentials),
        };
        if stored.needs_rehash() {
            self.rehash(&user, &password).await;
        }

        let now = self.clock.now();
        let access = self.tokens.issue(&user, now)?;
        let refresh_token = self.start_refresh_family(user.id).await?;
        self.log(user.id, UserAction::Login, None).await?;
        Ok(LoginTokens {
            access_token: access.token,
            refresh_token,
        })
    }

    /// Replaces `user`'s stored hash of an older scheme (an imported ReefGuide account's bcrypt)
    /// with an argon2id hash of the password just verified. A failure leaves the old hash, which
    /// still works, and is logged: it never fails the login.
    async fn rehash(&self, user: &User, password: &Password) {
        let replaced = match self.hasher.hash(password).await {
            Ok(hash) => self.store.set_password_hash(user.id, &hash).await,
            Err(error) => Err(error),
        };
        match replaced {
            Ok(_) => tracing::info!(user_id = %user.id, "password hash upgraded to argon2id"),
            Err(error) => {
                tracing::warn!(user_id = %user.id, "could not upgrade the password hash: {error:#}");
            }
        }
    }

    /// Exchanges a refresh token for a new access token (and, under rotation, a successor refresh
    /// token). Presenting an already rotated token revokes its whole family.
    pub async fn refresh(
        &self,
        presented: &RefreshTokenSecret,
    ) -> Result<RefreshedTokens, RefreshError> {
        let now = self.clock.now();
        let hash = presented.hash();
        let record = self
            .store
            .find_refresh_token(&hash)
            .await?
            .ok_or(RefreshError::InvalidToken)?;
        if record.rotated_at.is_some() {
            tracing::warn!(user_id = %record.user_id, "rotated refresh token reused: revoking its family");
            self.store
                .revoke_refresh_token_family(&record.family, now)
                .await?;
            return Err(RefreshError::InvalidToken);
        }
        if !record.is_usable_at(now) {
            return Err(RefreshError::InvalidToken);
        }
        let user = self
            .store
            .find_user(record.user_id)
            .await?
            .ok_or(RefreshError::InvalidToken)?;

        let successor = if self.settings.rotate_refresh_tokens {
            if !self.store.mark_refresh_token_rotated(&hash, now).await? {
                // Lost a race with another exchange of the same token: treat as reuse.
                self.store
                    .revoke_refresh_token_family(&record.family, now)
                    .await?;
                return Err(RefreshError::InvalidToken);
            }
            Some(self.issue_refresh_token(user.id, record.family).await?)
        } else {
            None
        };
        let access = self.tokens.issue(&user, now)?;
        Ok(RefreshedTokens {
            access_token: access.token,
            refresh_token: successor,
        })
    }

    /// Revokes a refresh token.
    pub async fn logout(&self, presented: &RefreshTokenSecret) -> Result<(), RefreshError> {
        let now = self.clock.now();
        let hash = presented.hash();
        let record = self
            .store
            .find_refresh_token(&hash)
            .await?
            .filter(|record| record.is_usable_at(now))
            .ok_or(RefreshError::InvalidToken)?;
        if !self.store.revoke_refresh_token(&hash, now).await? {
            return Err(RefreshError::InvalidToken);
        }
        self.log(record.user_id, UserAction::Logout, None).await?;
        Ok(())
    }

    /// Authenticates a bearer token and returns its user with the roles it has **now** (one
    /// lookup by primary key), so a demoted or deleted user loses access at once.
    ///
    /// A token that is not ours may be a trusted external issuer's: its account (created on
    /// first use) is the user.
    pub async fn authenticate(&self, bearer: &str) -> Result<User, AuthenticateError> {
        let rejection = match self.tokens.verify(bearer) {
            Ok(claims) => {
                return self
                    .store
                    .find_user(claims.user_id)
                    .await?
                    .ok_or(AuthenticateError::UserGone);
            }
            Err(rejection) => rejection,
        };
        let Some(external) = &self.external else {
            return Err(AuthenticateError::InvalidToken(rejection));
        };
        match external.verify(bearer).await {
            Ok(identity) => Ok(self
                .store
                .find_or_create_external(&identity, self.clock.now())
                .await?),
            Err(ExternalTokenError::UnknownIssuer) => {
                Err(AuthenticateError::InvalidToken(rejection))
            }
            Err(ExternalTokenError::Rejected(external_rejection)) => {
                Err(AuthenticateError::InvalidToken(external_rejection))
            }
            Err(error @ ExternalTokenError::KeysUnavailable { .. }) => {
                tracing::warn!(%error, "cannot check an external token");
                Err(AuthenticateError::IssuerUnavailable(error.to_string()))
            }
        }
    }

    /// Changes the caller's password after checking the old one; revokes every refresh token.
    pub async fn change_password(
        &self,
        user_id: UserId,
        old_password: &str,
        new_password: &Password,
        confirmation: &str,
    ) -> Result<(), ChangePasswordError> {
        if new_password.expose() != confirmation {
            return Err(ChangePasswordError::ConfirmationMismatch);
        }
        let Some(credentials) = self.store.find_credentials(user_id).await? else {
            // An external account has no credentials; a missing one is gone.
            return Err(match self.store.find_user(user_id).await? {
                Some(_) => ChangePasswordError::NoPassword,
                None => ChangePasswordError::UserGone,
            });
        };
        let old_ok = match Password::candidate(old_password) {
            Some(old) => {
                self.hasher
                    .verify(&old, Some(credentials.password_hash.clone()))
                    .await?
            }
            None => false,
        };
        if !old_ok {
            return Err(ChangePasswordError::WrongOldPassword);
        }
        let new_hash = self.hasher.hash(new_password).await?;
        // Revoke first: should the update then fail, the user is logged out but keeps the old
        // password, never the reverse.
        self.store
            .revoke_user_refresh_tokens(user_id, self.clock.now())
            .await?;
        if !self.store.set_password_hash(user_id, &new_hash).await? {
            return Err(ChangePasswordError::UserGone);
        }
        self.log(user_id, UserAction::ChangePassword, None).await?;
        Ok(())
    }

    async fn start_refresh_family(&self, user_id: UserId) -> anyhow::Result<RefreshTokenSecret> {
        self.issue_refresh_token(user_id, random_token()).await
    }

    async fn issue_refresh_token(
        &self,
        user_id: UserId,
        family: String,
    ) -> anyhow::Result<RefreshTokenSecret> {
        let secret = RefreshTokenSecret::new(random_token());
        let record = RefreshTokenRecord {
            hash: secret.hash(),
            user_id,
            family,
            expires_at: self.clock.now() + self.settings.refresh_token_ttl,
            revoked_at: None,
            rotated_at: None,
        };
        self.store.insert_refresh_token(&record).await?;
        Ok(secret)
    }

    async fn log(
        &self,
        user_id: UserId,
        action: UserAction,
        metadata: Option<serde_json::Value>,
    ) -> anyhow::Result<()> {
        self.store
            .append_user_log(&NewUserLogEntry {
                user_id,
                action,
                metadata,
                time: self.clock.now(),
            })
            .await
    }
}

#[cfg(test)]
mod register_tests;

/// A fresh URL-safe token with [`REFRESH_TOKEN_BYTES`] bytes from the operating system's CSPRNG.
fn random_token() -> String {
    let mut bytes = [0u8; REFRESH_TOKEN_BYTES];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;
    use crate::crypto::{IssuedToken, MockPasswordHasher};
    use crate::services::test_support::{MockStore, credentials, now, user};
    use mockall::Sequence;
    use mockall::predicate::{always, eq};
    use reefguide_domain::AccessClaims;
    use reefguide_domain::auth::errors::TokenRejection;
    use reefguide_domain::{PasswordHash, Roles, UserCredentials};

    mockall::mock! {
        Tokens {}
        impl TokenIssuer for Tokens {
            fn issue(&self, user: &User, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<IssuedToken>;
        }
        impl TokenVerifier for Tokens {
            fn verify(&self, token: &str) -> Result<AccessClaims, TokenRejection>;
        }
    }

    fn clock() -> MockClock {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        clock
    }

    fn issuing_tokens() -> MockTokens {
        let mut tokens = MockTokens::new();
        tokens.expect_issue().returning(|_, now| {
            Ok(IssuedToken {
                token: "access".into(),
                expires_at: now,
            })
        });
        tokens
    }

    fn service(
        store: MockStore,
        hasher: MockPasswordHasher,
        tokens: MockTokens,
        settings: AuthSettings,
    ) -> AuthService<MockStore, MockPasswordHasher, MockTokens, MockClock> {
        AuthService::new(store, hasher, tokens, clock(), settings)
    }

    fn record(rotated: bool) -> RefreshTokenRecord {
        RefreshTokenRecord {
            hash: RefreshTokenSecret::new("presented".into()).hash(),
            user_id: user().id,
            family: "family-1".into(),
            expires_at: now() + Duration::hours(1),
            revoked_at: None,
            rotated_at: rotated.then(now),
        }
    }

    #[tokio::test]
    async fn unknown_email_still_pays_for_a_verification() {
        let mut store = MockStore::new();
        store
            .expect_find_credentials_by_email()
            .returning(|_| Ok(None));
        let mut hasher = MockPasswordHasher::new();
        hasher
            .expect_verify()
            .with(always(), eq(None))
            .times(1)
            .returning(|_, _| Ok(false));
        let auth = service(store, hasher, MockTokens::new(), AuthSettings::default());
        let result = auth.login("nobody@example.com", "whatever-pass").await;
        assert!(matches!(result, Err(LoginError::InvalidCredentials)));
    }

    #[tokio::test]
    async fn malformed_email_also_pays_for_a_verification() {
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_verify().times(1).returning(|_, _| Ok(false));
        let auth = service(
            MockStore::new(),
            hasher,
            MockTokens::new(),
            AuthSettings::default(),
        );
        let result = auth.login("not an email", "whatever-pass").await;
        assert!(matches!(result, Err(LoginError::InvalidCredentials)));
    }

    /// A store holding ana with `hash`, accepting a login (refresh token and log).
    fn store_for_login(hash: &'static str) -> MockStore {
        let mut store = MockStore::new();
        store
            .expect_find_credentials_by_email()
            .returning(move |_| {
                Ok(Some(UserCredentials {
                    password_hash: PasswordHash::from_phc(hash.into()),
                    ..credentials()
                }))
            });
        store.expect_insert_refresh_token().returning(|_| Ok(()));
        store.expect_append_user_log().returning(|_| Ok(()));
        store
    }

    #[rstest::rstest]
    #[case::bcrypt_is_replaced("$2a$10$imported", 1)]
    #[case::argon2id_is_kept("$argon2id$v=19$current", 0)]
    #[tokio::test]
    async fn a_login_replaces_an_imported_bcrypt_hash_with_argon2id(
        #[case] stored: &'static str,
        #[case] rehashes: usize,
    ) {
        let mut store = store_for_login(stored);
        store
            .expect_set_password_hash()
            .withf(|id, hash| id.get() == 7 && hash.as_str() == "$argon2id$fresh")
            .times(rehashes)
            .returning(|_, _| Ok(true));
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_verify().returning(|_, _| Ok(true));
        hasher
            .expect_hash()
            .times(rehashes)
            .returning(|_| Ok(PasswordHash::from_phc("$argon2id$fresh".into())));
        let auth = service(store, hasher, issuing_tokens(), AuthSettings::default());
        auth.login("ana@example.com", "right-password")
            .await
            .expect("login");
    }

    #[tokio::test]
    async fn a_failed_hash_upgrade_never_fails_the_login() {
        let mut store = store_for_login("$2b$10$imported");
        store
            .expect_set_password_hash()
            .times(1)
            .returning(|_, _| Err(anyhow::anyhow!("database gone")));
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_verify().returning(|_, _| Ok(true));
        hasher
            .expect_hash()
            .returning(|_| Ok(PasswordHash::from_phc("$argon2id$fresh".into())));
        let auth = service(store, hasher, issuing_tokens(), AuthSettings::default());
        auth.login("ana@example.com", "right-password")
            .await
            .expect("login despite the failed upgrade");
    }

    #[tokio::test]
    async fn login_stores_only_the_digest_of_the_refresh_token_and_logs() {
        let mut store = MockStore::new();
        store
            .expect_find_credentials_by_email()
            .returning(|_| Ok(Some(credentials())));
        store
            .expect_insert_refresh_token()
            .withf(|record| record.expires_at == now() + Duration::hours(48))
            .times(1)
            .returning(|_| Ok(()));
        store
            .expect_append_user_log()
            .withf(|entry| entry.action == UserAction::Login)
            .times(1)
            .returning(|_| Ok(()));
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_verify().returning(|_, _| Ok(true));
        let auth = service(store, hasher, issuing_tokens(), AuthSettings::default());
        let tokens = auth
            .login("ana@example.com", "right-password")
            .await
            .expect("login");
        assert_eq!(tokens.access_token, "access");
        assert_eq!(
            tokens.refresh_token.expose().len(),
            43,
            "32 bytes, base64url"
        );
    }

    #[tokio::test]
    async fn reuse_of_a_rotated_token_revokes_its_family() {
        let mut store = MockStore::new();
        store
            .expect_find_refresh_token()
            .returning(|_| Ok(Some(record(true))));
        store
            .expect_revoke_refresh_token_family()
            .with(eq("family-1"), eq(now()))
            .times(1)
            .returning(|_, _| Ok(2));
        let settings = AuthSettings {
            rotate_refresh_tokens: true,
            ..AuthSettings::default()
        };
        let auth = service(
            store,
            MockPasswordHasher::new(),
            MockTokens::new(),
            settings,
        );
        let result = auth
            .refresh(&RefreshTokenSecret::new("presented".into()))
            .await;
        assert!(matches!(result, Err(RefreshError::InvalidToken)));
    }

    #[tokio::test]
    async fn losing_a_rotation_race_is_treated_as_reuse() {
        let mut store = MockStore::new();
        store
            .expect_find_refresh_token()
            .returning(|_| Ok(Some(record(false))));
        store.expect_find_user().returning(|_| Ok(Some(user())));
        store
            .expect_mark_refresh_token_rotated()
            .returning(|_, _| Ok(false));
        store
            .expect_revoke_refresh_token_family()
            .times(1)
            .returning(|_, _| Ok(1));
        let settings = AuthSettings {
            rotate_refresh_tokens: true,
            ..AuthSettings::default()
        };
        let auth = service(
            store,
            MockPasswordHasher::new(),
            MockTokens::new(),
            settings,
        );
        let result = auth
            .refresh(&RefreshTokenSecret::new("presented".into()))
            .await;
        assert!(matches!(result, Err(RefreshError::InvalidToken)));
    }

    fn thomas() -> reefguide_domain::ExternalIdentity {
        reefguide_domain::ExternalIdentity {
            issuer: reefguide_domain::IssuerName::parse("LabCAS").expect("issuer"),
            username: reefguide_domain::Username::parse("thomas").expect("username"),
        }
    }

    /// A service whose own verifier refuses every token as malformed, trusting `external`.
    fn with_external(
        store: MockStore,
        external: crate::crypto::MockExternalTokenVerifier,
    ) -> AuthService<MockStore, MockPasswordHasher, MockTokens, MockClock> {
        let mut tokens = MockTokens::new();
        tokens
            .expect_verify()
            .returning(|_| Err(TokenRejection::Malformed));
        service(
            store,
            MockPasswordHasher::new(),
            tokens,
            AuthSettings::default(),
        )
        .with_external_tokens(Arc::new(external))
    }

    #[tokio::test]
    async fn an_external_token_authenticates_its_account_created_on_first_use() {
        let mut external = crate::crypto::MockExternalTokenVerifier::new();
        external.expect_verify().returning(|_| Ok(thomas()));
        let mut store = MockStore::new();
        let account = User {
            id: reefguide_domain::UserId::new(9).expect("id"),
            identity: reefguide_domain::Identity::External(thomas()),
            roles: Roles::none(),
        };
        let returned = account.clone();
        store
            .expect_find_or_create_external()
            .withf(|identity, at| *identity == thomas() && *at == now())
            .times(1)
            .return_once(move |_, _| Ok(returned));
        let user = with_external(store, external)
            .authenticate("labcas-token")
            .await
            .expect("authenticated");
        assert_eq!(user, account);
    }

    #[tokio::test]
    async fn a_token_of_no_trusted_issuer_gets_our_verifiers_answer() {
        let mut external = crate::crypto::MockExternalTokenVerifier::new();
        external
            .expect_verify()
            .returning(|_| Err(ExternalTokenError::UnknownIssuer));
        let result = with_external(MockStore::new(), external)
            .authenticate("junk")
            .await;
        assert!(matches!(
            result,
            Err(AuthenticateError::InvalidToken(TokenRejection::Malformed))
        ));
    }

    #[tokio::test]
    async fn a_refused_external_token_says_why_and_unreachable_keys_are_not_a_bad_token() {
        let mut external = crate::crypto::MockExternalTokenVerifier::new();
        external
            .expect_verify()
            .returning(|_| Err(ExternalTokenError::Rejected(TokenRejection::WrongAudience)));
        let result = with_external(MockStore::new(), external)
            .authenticate("labcas-token")
            .await;
        assert!(matches!(
            result,
            Err(AuthenticateError::InvalidToken(
                TokenRejection::WrongAudience
            ))
        ));

        let mut external = crate::crypto::MockExternalTokenVerifier::new();
        external.expect_verify().returning(|_| {
            Err(ExternalTokenError::KeysUnavailable {
                issuer: "LabCAS".into(),
                reason: "connection refused".into(),
            })
        });
        let result = with_external(MockStore::new(), external)
            .authenticate("labcas-token")
            .await;
        assert!(matches!(
            result,
            Err(AuthenticateError::IssuerUnavailable(_))
        ));
    }

    #[tokio::test]
    async fn authenticate_rereads_the_user() {
        let mut tokens = MockTokens::new();
        tokens.expect_verify().returning(|_| {
            Ok(AccessClaims {
                user_id: user().id,
                email: user().email().cloned().expect("a local user"),
                roles: [reefguide_domain::Role::Admin].into_iter().collect(),
                issued_at: now(),
                expires_at: now(),
            })
        });
        let mut store = MockStore::new();
        store
            .expect_find_user()
            .times(1)
            .returning(|_| Ok(Some(user())));
        let auth = service(
            store,
            MockPasswordHasher::new(),
            tokens,
            AuthSettings::default(),
        );
        let current = auth.authenticate("token").await.expect("authenticated");
        assert!(
            !current.roles.is_admin(),
            "roles come from storage, not the token"
        );
    }

    #[tokio::test]
    async fn change_password_revokes_tokens_before_replacing_the_hash() {
        let mut sequence = Sequence::new();
        let mut store = MockStore::new();
        store
            .expect_find_credentials()
            .returning(|_| Ok(Some(credentials())));
        store
            .expect_revoke_user_refresh_tokens()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_, _| Ok(3));
        store
            .expect_set_password_hash()
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_, _| Ok(true));
        store
            .expect_append_user_log()
            .withf(|entry| entry.action == UserAction::ChangePassword)
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_| Ok(()));
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_verify().returning(|_, _| Ok(true));
        hasher
            .expect_hash()
            .returning(|_| Ok(reefguide_domain::PasswordHash::from_phc("$new".into())));
        let auth = service(store, hasher, MockTokens::new(), AuthSettings::default());
        let new = Password::new("new-password-1").expect("valid");
        auth.change_password(user().id, "old-password", &new, "new-password-1")
            .await
            .expect("changed");
    }

    #[tokio::test]
    async fn change_password_checks_confirmation_first() {
        let auth = service(
            MockStore::new(),
            MockPasswordHasher::new(),
            MockTokens::new(),
            AuthSettings::default(),
        );
        let new = Password::new("new-password-1").expect("valid");
        let result = auth
            .change_password(user().id, "old-password", &new, "different-one")
            .await;
        assert!(matches!(
            result,
            Err(ChangePasswordError::ConfirmationMismatch)
        ));
    }
}
