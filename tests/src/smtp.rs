//! The tests' SMTP server (aiosmtpd, started once per run by `cargo xtask test`, which names it
//! in `REEFGUIDE_TEST_SMTP_HOST`, `_PORT` and `_MAILDIR`) and the e-mail it received: every
//! message it accepts is a file in its Maildir's `new/`, read here with `mailparse`. Tests share
//! the server, so each sends to addresses of its own.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reefguide_http_actix::Settings;
use reefguide_http_actix::config::SmtpSecurityKind;

/// How long a message may take to arrive.
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(30);

/// The tests' SMTP server.
#[derive(Debug, Clone)]
pub struct TestSmtp {
    host: String,
    port: u16,
    maildir: PathBuf,
}

/// A message the server received.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// `From:`.
    pub from: String,
    /// `To:`.
    pub to: String,
    /// `Subject:`.
    pub subject: String,
    /// The decoded text body.
    pub body: String,
}

impl ReceivedMail {
    /// The code on the body's `Your reset code is: …` line, if there is one.
    pub fn reset_code(&self) -> Option<String> {
        self.body
            .lines()
            .find_map(|line| line.trim().strip_prefix("Your reset code is: "))
            .map(str::to_owned)
    }
}

impl TestSmtp {
    /// The server `cargo xtask test` started.
    ///
    /// # Panics
    /// When the variables are not set (the tests were not run through `cargo xtask test`).
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!(
                    "{name} is not set: the e-mail tests need the SMTP server that `cargo xtask \
                     test` starts (or set REEFGUIDE_TEST_SMTP_HOST, _PORT and _MAILDIR)"
                )
            })
        };
        Self {
            host: var("REEFGUIDE_TEST_SMTP_HOST"),
            port: var("REEFGUIDE_TEST_SMTP_PORT")
                .parse()
                .expect("REEFGUIDE_TEST_SMTP_PORT is a port"),
            maildir: PathBuf::from(var("REEFGUIDE_TEST_SMTP_MAILDIR")),
        }
    }

    /// Points `settings` at this server (no TLS: it is on loopback).
    pub fn configure(&self, settings: &mut Settings) {
        settings.email.smtp_host = Some(self.host.clone());
        settings.email.smtp_port = Some(self.port);
        settings.email.smtp_security = SmtpSecurityKind::None;
    }

    /// Every message received so far for `to`.
    pub fn received_for(&self, to: &str) -> Vec<ReceivedMail> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut mails: Vec<(std::time::SystemTime, ReceivedMail)> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let modified = entry.metadata().ok()?.modified().ok()?;
                let raw = std::fs::read(entry.path()).ok()?;
                Some((modified, parse(&raw)?))
            })
            .filter(|(_, mail)| mail.to.contains(to))
            .collect();
        mails.sort_by_key(|(modified, _)| *modified);
        mails.into_iter().map(|(_, mail)| mail).collect()
    }

    /// Waits until `count` messages for `to` have arrived and returns them.
    ///
    /// # Panics
    /// When they do not arrive in time.
    pub async fn wait_for(&self, to: &str, count: usize) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + ARRIVAL_TIMEOUT;
        loop {
            let received = self.received_for(to);
            if received.len() >= count {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "{count} e-mail(s) for {to} did not arrive within {} s (got {})",
                ARRIVAL_TIMEOUT.as_secs(),
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A stored message's headers and text body.
fn parse(raw: &[u8]) -> Option<ReceivedMail> {
    use mailparse::MailHeaderMap as _;
    let parsed = mailparse::parse_mail(raw).ok()?;
    let header = |name: &str| parsed.headers.get_first_value(name).unwrap_or_default();
    Some(ReceivedMail {
        from: header("From"),
        to: header("To"),
        subject: header("Subject"),
        body: parsed.get_body().ok()?,
    })
}
