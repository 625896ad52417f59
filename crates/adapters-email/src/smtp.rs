//! Sending through an SMTP server with `lettre`.

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use reefguide_ports::{EmailError, EmailMessage, EmailSender};
use secrecy::{ExposeSecret as _, SecretString};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// No TLS (a relay on the same host or network, or a test server).
    None,
    /// Plain connection upgraded with STARTTLS, which is required (usually port 587).
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// The server's host name (also the name its certificate must carry).
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection is protected.
    pub security: SmtpSecurity,
    /// The user name to log in with, if the server wants one.
    pub username: Option<String>,
    /// Its password.
    pub password: Option<SecretString>,
    /// The sender (`From:`), an address or `Name <address>`.
    pub from: String,
}

/// Sends each message over a connection from a small pool to the configured server.
#[derive(Clone)]
pub struct SmtpEmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpEmailSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpEmailSender")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpEmailSender {
    /// A sender for `settings`; nothing is connected until the first message.
    ///
    /// # Errors
    /// [`EmailError::Message`] when `from` is not an address, and [`EmailError::Transport`]
    /// when TLS cannot be set up for `host`.
    pub fn new(settings: &SmtpSettings) -> Result<Self, EmailError> {
        check_sender(&settings.from)?;
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|error| EmailError::Message(format!("sender: {error}")))?;
        let tls = match settings.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::StartTls => Tls::Required(tls_parameters(&settings.host)?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_parameters(&settings.host)?),
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.as_str())
                .port(settings.port)
                .tls(tls);
        if let Some(username) = &settings.username {
            let password = settings
                .password
                .as_ref()
                .map(|password| password.expose_secret().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }
}

/// Checks that `from` can be a sender (`address` or `Name <address>`).
///
/// # Errors
/// [`EmailError::Message`] saying why not.
pub fn check_sender(from: &str) -> Result<(), EmailError> {
    from.parse::<Mailbox>()
        .map(|_| ())
        .map_err(|error| EmailError::Message(format!("sender `{from}`: {error}")))
}

/// TLS for a connection to `host`, checked against the platform's trusted roots.
fn tls_parameters(host: &str) -> Result<TlsParameters, EmailError> {
    TlsParameters::new(host.to_owned())
        .map_err(|error| EmailError::Transport(format!("TLS for {host}: {error}")))
}

#[async_trait]
impl EmailSender for SmtpEmailSender {
    async fn send(&self, message: EmailMessage) -> Result<(), EmailError> {
        let to: Mailbox = message
            .to
            .as_str()
            .parse()
            .map_err(|error| EmailError::Message(format!("recipient: {error}")))?;
        let email = Message::builder()
            .message_id(None)
            .from(self.from.clone())
            .to(to)
            .subject(message.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(message.body)
            .map_err(|error| EmailError::Message(error.to_string()))?;
        self.transport
            .send(email)
            .await
            .map(|_| ())
            .map_err(|error| EmailError::Transport(error.to_string()))
    }
}
