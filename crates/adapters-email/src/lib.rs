//! E-mail adapters of reefguide's [`EmailSender`](reefguide_ports::EmailSender) port (issue 27):
//!
//! - [`SmtpEmailSender`]: sends through an SMTP server with `lettre` (plain, STARTTLS or TLS;
//!   optional credentials);
//! - [`LogEmailSender`]: the zero-setup default, which sends nothing and writes each message,
//!   reset code included, to the server log with a warning;
//! - [`QueuedEmailSender`]: hands messages to a background task that sends them with another
//!   sender, so a request never waits on (or is timed by) the mail server.

mod log;
mod queue;
mod smtp;

pub use log::LogEmailSender;
pub use queue::QueuedEmailSender;
pub use smtp::{SmtpEmailSender, SmtpSecurity, SmtpSettings, check_sender};
