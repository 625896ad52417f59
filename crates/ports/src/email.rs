//! Sending e-mail (password reset codes): the port, and the message it sends.

use async_trait::async_trait;
use reefguide_domain::Email;
use thiserror::Error;

/// A plain-text e-mail to one recipient.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailMessage {
    /// The recipient.
    pub to: Email,
    /// The subject line.
    pub subject: String,
    /// The plain-text body (it may carry a secret such as a reset code: never log it whole).
    pub body: String,
}

impl std::fmt::Debug for EmailMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailMessage")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Why a message was not sent.
#[derive(Debug, Error)]
pub enum EmailError {
    /// The message cannot be built (an address the mail library refuses).
    #[error("the message cannot be built: {0}")]
    Message(String),
    /// The mail server refused the message or cannot be reached.
    #[error("the mail server did not take the message: {0}")]
    Transport(String),
    /// The sending queue is full or closed: the message was dropped.
    #[error("the e-mail queue did not take the message: {0}")]
    Queue(String),
}

/// Sends e-mail.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait EmailSender: Send + Sync + 'static {
    /// Sends `message`, or hands it to whatever sends it.
    async fn send(&self, message: EmailMessage) -> Result<(), EmailError>;
}
