//! The e-mail section: the SMTP server that sends password reset codes. Without `smtp_host`
//! nothing is sent: each e-mail is written to the server log with a warning (the zero-setup
//! default).

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// How the connection to the SMTP server is protected (`smtp_security`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurityKind {
    /// STARTTLS, required (the default; usually port 587).
    Starttls,
    /// TLS from the first byte (SMTPS; usually port 465).
    Tls,
    /// No TLS: only for a relay on the same host or a trusted network.
    None,
}

/// The SMTP server, the sender and the product name e-mails use.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EmailSettings {
    /// The SMTP server's host name; unset: e-mails are written to the log, not sent.
    pub smtp_host: Option<String>,
    /// Its port; default: 587 for `starttls`, 465 for `tls`, 25 for `none`.
    pub smtp_port: Option<u16>,
    /// `starttls` (default), `tls` or `none`.
    pub smtp_security: SmtpSecurityKind,
    /// The user name to log in with, if the server wants one.
    pub smtp_username: Option<String>,
    /// Its password.
    #[serde(skip_serializing)]
    pub smtp_password: Option<SecretString>,
    /// The sender: an address, or `Name <address>`.
    pub smtp_from: String,
    /// The name e-mails give the service.
    pub email_product_name: String,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            smtp_host: None,
            smtp_port: None,
            smtp_security: SmtpSecurityKind::Starttls,
            smtp_username: None,
            smtp_password: None,
            smtp_from: "ReefGuide <noreply@reefguide.invalid>".to_owned(),
            email_product_name: "ReefGuide".to_owned(),
        }
    }
}

impl EmailSettings {
    /// The port to use: the configured one or the usual one for the security.
    #[must_use]
    pub fn effective_port(&self) -> u16 {
        self.smtp_port.unwrap_or(match self.smtp_security {
            SmtpSecurityKind::Starttls => 587,
            SmtpSecurityKind::Tls => 465,
            SmtpSecurityKind::None => 25,
        })
    }

    /// Checks the host, the port, the credentials and the sender.
    ///
    /// # Errors
    /// The first setting that cannot work, by name.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self
            .smtp_host
            .as_deref()
            .is_some_and(|host| host.trim().is_empty())
        {
            return Err(ConfigError::invalid("smtp_host", "must not be empty"));
        }
        if self.smtp_port == Some(0) {
            return Err(ConfigError::invalid("smtp_port", "must be 1..=65535"));
        }
        if self.smtp_password.is_some() && self.smtp_username.is_none() {
            return Err(ConfigError::invalid(
                "smtp_password",
                "is set without smtp_username",
            ));
        }
        if reefguide_adapters_email::check_sender(&self.smtp_from).is_err() {
            return Err(ConfigError::invalid(
                "smtp_from",
                "must be an address or `Name <address>`",
            ));
        }
        if self.email_product_name.trim().is_empty() {
            return Err(ConfigError::invalid(
                "email_product_name",
                "must not be empty",
            ));
        }
        Ok(())
    }
}
