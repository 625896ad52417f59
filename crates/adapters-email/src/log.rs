//! The log-only sender: the default when no SMTP server is configured.

use async_trait::async_trait;
use reefguide_ports::{EmailError, EmailMessage, EmailSender};

/// Sends nothing: writes every message to the server log at `WARN`, so that on a machine
/// without a mail server an operator can still read a reset code and pass it on. Not for a
/// deployment whose log others can read.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogEmailSender;

#[async_trait]
impl EmailSender for LogEmailSender {
    async fn send(&self, message: EmailMessage) -> Result<(), EmailError> {
        tracing::warn!(
            to = message.to.as_str(),
            subject = %message.subject,
            body = %message.body,
            "no SMTP server is configured (smtp_host): this e-mail was written to the log \
             instead of being sent"
        );
        Ok(())
    }
}
