//! The password reset use cases (issue 27): ask for a code by e-mail, then set a new password
//! with it. The rules of codes are in [`reefguide_domain::auth::reset`].
//!
//! **Nothing tells whether an address has an account.** A request does the same work for every
//! well-formed address: one account lookup, one cooldown check, one code generated and stored
//! (for an address without an account the stored reset can never be used) and one e-mail handed
//! to the [`EmailSender`] (the code to an account's address; to any other address a note that
//! no account uses it, so someone who typed another of their addresses learns why no code
//! came). Within the cooldown nothing is stored or sent, for both alike. The answer is always
//! the same, and the e-mail sender is expected to send off the request path (the server wires a
//! queue), so the time taken tells nothing either.

use rand::RngCore as _;
use rand::rngs::OsRng;
use reefguide_domain::auth::errors::PasswordResetError;
use reefguide_domain::auth::reset::{
    NewPasswordReset, RESEND_COOLDOWN, RESET_CODE_LEN, RESET_CODE_LIFETIME, ResetCode, ResetVerdict,
};
use reefguide_domain::{Email, NewUserLogEntry, Password, UserAction};
use serde_json::json;

use crate::clock::Clock;
use crate::crypto::PasswordHasher;
use crate::email::{EmailMessage, EmailSender};
use crate::repositories::PasswordResetRepository;
use crate::services::AccountStore;

/// Codes generated before giving up when each one's selector is taken by a live reset (with
/// about a million selectors and few live resets, the first almost always fits).
const SELECTOR_TRIES: usize = 8;

/// The password reset use cases.
#[derive(Debug, Clone)]
pub struct PasswordResetService<S, H, C, E> {
    store: S,
    hasher: H,
    clock: C,
    email: E,
    product: String,
}

impl<S, H, C, E> PasswordResetService<S, H, C, E>
where
    S: AccountStore + PasswordResetRepository,
    H: PasswordHasher,
    C: Clock,
    E: EmailSender,
{
    /// Wires the service; `product` names the service in e-mails ("ReefGuide").
    pub fn new(store: S, hasher: H, clock: C, email: E, product: impl Into<String>) -> Self {
        Self {
            store,
            hasher,
            clock,
            email,
            product: product.into(),
        }
    }

    /// Asks for a reset code for `email` (see the module documentation: the same work and the
    /// same outcome whether or not it has an account). Fails only when storage does; a failure
    /// to hand the e-mail over is logged, not returned, since the answer must not differ.
    pub async fn request(&self, email: &Email) -> anyhow::Result<()> {
        let now = self.clock.now();
        let account = self.store.find_credentials_by_email(email).await?;
        let recent = self
            .store
            .latest_unused_reset(email)
            .await?
            .is_some_and(|asked| now - asked < RESEND_COOLDOWN);
        if recent {
            return Ok(());
        }
        let user_id = account.map(|credentials| credentials.user.id);
        let code = self.store_new_code(email, user_id, now).await?;
        let message = match user_id {
            Some(_) => self.code_message(email, &code),
            None => self.no_account_message(email),
        };
        if let Err(error) = self.email.send(message).await {
            tracing::error!(%error, "a password reset e-mail was not sent");
        }
        Ok(())
    }

    /// Sets a new password with the code of a reset e-mail. Every refusal of the code itself
    /// (malformed, unknown, wrong, expired, used, superseded, out of attempts) is the same
    /// [`PasswordResetError::InvalidCode`]; a wrong code counts against the reset it names. On
    /// success every refresh token of the account is revoked.
    pub async fn confirm(
        &self,
        typed_code: &str,
        new_password: &Password,
        confirmation: &str,
    ) -> Result<(), PasswordResetError> {
        if new_password.expose() != confirmation {
            return Err(PasswordResetError::ConfirmationMismatch);
        }
        let code = ResetCode::parse(typed_code).ok_or(PasswordResetError::InvalidCode)?;
        let Some(reset) = self.store.find_password_reset(&code.selector()).await? else {
            return Err(PasswordResetError::InvalidCode);
        };
        let now = self.clock.now();
        let user_id = match reset.judge(&code, now) {
            ResetVerdict::Accept(user_id) => user_id,
            ResetVerdict::WrongCode => {
                self.store.count_reset_attempt(reset.id).await?;
                return Err(PasswordResetError::InvalidCode);
            }
            ResetVerdict::Unusable => return Err(PasswordResetError::InvalidCode),
        };
        let new_hash = self.hasher.hash(new_password).await?;
        if !self
            .store
            .use_password_reset(reset.id, user_id, &new_hash, now)
            .await?
        {
            return Err(PasswordResetError::InvalidCode);
        }
        self.store
            .append_user_log(&NewUserLogEntry {
                user_id,
                action: UserAction::ChangePassword,
                metadata: Some(json!({"via": "password-reset"})),
                time: now,
            })
            .await?;
        Ok(())
    }

    /// Generates a code and stores its reset, drawing again while its selector is taken.
    async fn store_new_code(
        &self,
        email: &Email,
        user_id: Option<reefguide_domain::UserId>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<ResetCode> {
        for _ in 0..SELECTOR_TRIES {
            let mut random = [0_u8; RESET_CODE_LEN];
            OsRng.fill_bytes(&mut random);
            let code = ResetCode::from_random(random);
            let reset = NewPasswordReset::new(email.clone(), user_id, &code, now);
            if self.store.insert_password_reset(&reset).await? {
                return Ok(code);
            }
        }
        anyhow::bail!("no free reset selector after {SELECTOR_TRIES} codes")
    }

    /// The e-mail carrying a code.
    fn code_message(&self, to: &Email, code: &ResetCode) -> EmailMessage {
        let product = &self.product;
        let minutes = RESET_CODE_LIFETIME.num_minutes();
        EmailMessage {
            to: to.clone(),
            subject: format!("Your {product} password reset code"),
            body: format!(
                "Someone (hopefully you) asked to reset the {product} password of {to}.\n\n\
                 Your reset code is: {code}\n\n\
                 It works once, within {minutes} minutes. If you did not ask for it, ignore this \
                 e-mail: your password stays as it is.\n",
                to = to.as_str(),
                code = code.expose(),
            ),
        }
    }

    /// The e-mail to an address without an account.
    fn no_account_message(&self, to: &Email) -> EmailMessage {
        let product = &self.product;
        EmailMessage {
            to: to.clone(),
            subject: format!("{product} password reset"),
            body: format!(
                "Someone (hopefully you) asked to reset the {product} password of {to}, but no \
                 {product} account uses this address. If you have an account, ask again with \
                 the address you registered with. If you did not ask, ignore this e-mail.\n",
                to = to.as_str(),
            ),
        }
    }
}

#[cfg(test)]
mod tests;
