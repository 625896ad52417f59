//! Authentication use cases: register, login, refresh, logout, authenticate, change password.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use rand::RngCore as _;
use rand::rngs::OsRng;
use reefguide_domain::auth::errors::{
    AuthenticateError, ChangePasswordError, LoginError, RefreshError,
};
use reefguide_domain::user::errors::CreateUserError;
use reefguide_domain::{
    Email, NewUserLogEntry, Password, RefreshTokenRecord, RefreshTokenSecret, Roles, User,
    UserAction, UserId,
};
use serde_json::json;

use crate::clock::Clock;
use crate::crypto::{PasswordHasher, TokenIssuer, TokenVerifier};
use crate::repositories::NewUser;
use crate::services::AccountStore;

/// Bytes of entropy in a refresh token.
const REFRESH_TOKEN_BYTES: usize = 32;

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
#[derive(Debug, Clone)]
pub struct AuthService<S, H, T, C> {
    store: S,
    hasher: H,
    tokens: T,
    clock: C,
    settings: AuthSettings,
}

impl<S, H, T, C> AuthService<S, H, T, C>
where
    S: AccountStore,
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
        }
    }

    /// Self-registration: a new user with no roles.
    pub async fn register(
        &self,
        email: Email,
        password: &Password,
    ) -> Result<UserId, CreateUserError> {
        let password_hash = self.hasher.hash(password).await?;
        let user = self
            .store
            .create_user(NewUser {
                email,
                password_hash,
                roles: Roles::none(),
            })
            .await?;
        self.log(user.id, UserAction::Created, Some(json!({"via": "register"})))
            .await?;
        Ok(user.id)
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
        let user = match credentials {
            Some(credentials) if verified => credentials.user,
            _ => return Err(LoginError::InvalidCredentials),
        };

        let now = self.clock.now();
        let access = self.tokens.issue(&user, now)?;
        let refresh_token = self.start_refresh_family(user.id).await?;
        self.log(user.id, UserAction::Login, None).await?;
        Ok(LoginTokens {
            access_token: access.token,
            refresh_token,
        })
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
    pub async fn authenticate(&self, bearer: &str) -> Result<User, AuthenticateError> {
        let claims = self
            .tokens
            .verify(bearer)
            .map_err(AuthenticateError::InvalidToken)?;
        self.store
            .find_user(claims.user_id)
            .await?
            .ok_or(AuthenticateError::UserGone)
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
        let credentials = self
            .store
            .find_credentials(user_id)
            .await?
            .ok_or(ChangePasswordError::UserGone)?;
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

/// A fresh URL-safe token with [`REFRESH_TOKEN_BYTES`] bytes from the operating system's CSPRNG.
fn random_token() -> String {
    let mut bytes = [0u8; REFRESH_TOKEN_BYTES];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
