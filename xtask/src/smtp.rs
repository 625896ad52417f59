//! A real SMTP server for the tests (issue 27: password reset e-mail): Python's `aiosmtpd` from
//! PyPI, installed once into a virtual environment under the target directory, started on a free
//! loopback port with its `Mailbox` handler, which stores every message it accepts in a Maildir
//! (`target/smtp-mail/new/`) where the tests read them. Its log is `target/smtp.log`; it is
//! stopped when [`SmtpServer`] is dropped or xtask is interrupted.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;

use crate::moto::free_loopback_address;
use crate::python::Venv;
use crate::service_process::ServiceProcess;

/// The aiosmtpd release the tests are known to pass against.
const AIOSMTPD_REQUIREMENT: &str = "aiosmtpd==1.4.6";
/// The virtual environment's directory under the target directory.
const VENV_DIR: &str = "smtp-venv";
/// The server's executable in the virtual environment.
const SERVER: &str = "aiosmtpd";
/// The Maildir the server stores messages in, under the target directory.
const MAILDIR: &str = "smtp-mail";
/// The server's log under the target directory.
const LOG_FILE: &str = "smtp.log";
/// How long the server may take to greet after it is spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The variables naming the server to the tests.
pub const HOST_VAR: &str = "REEFGUIDE_TEST_SMTP_HOST";
/// Its port.
pub const PORT_VAR: &str = "REEFGUIDE_TEST_SMTP_PORT";
/// Its Maildir.
pub const MAILDIR_VAR: &str = "REEFGUIDE_TEST_SMTP_MAILDIR";

/// A running aiosmtpd; killed (and reaped) on drop.
pub struct SmtpServer {
    _process: ServiceProcess,
    address: SocketAddr,
    maildir: PathBuf,
}

impl SmtpServer {
    /// Installs aiosmtpd into `<target_dir>/smtp-venv` unless already there, empties the
    /// Maildir, starts the server on a free loopback port, waits for its greeting (`220`) and
    /// has it stopped if xtask is interrupted.
    ///
    /// # Errors
    /// When Python, the installation, the spawn or the readiness wait fails (naming the log).
    pub fn start(target_dir: &Path) -> anyhow::Result<Self> {
        let venv = Venv::ensure(target_dir, VENV_DIR, &[AIOSMTPD_REQUIREMENT], &[SERVER])?;
        let maildir = target_dir.join(MAILDIR);
        if maildir.exists() {
            std::fs::remove_dir_all(&maildir)
                .with_context(|| format!("cannot empty {}", maildir.display()))?;
        }
        let address = free_loopback_address()?;
        let log = target_dir.join(LOG_FILE);
        let process = ServiceProcess::new(
            SERVER,
            spawn(&venv.bin(SERVER), address, &maildir, &log)?,
            &log,
        );
        process.wait_until(&format!("greeting on {address}"), READY_TIMEOUT, || {
            greets(address)
        })?;
        process.stop_on_signal()?;
        Ok(Self {
            _process: process,
            address,
            maildir,
        })
    }

    /// The variables that name the server and its Maildir to the tests.
    pub fn env(&self) -> [(&'static str, String); 3] {
        [
            (HOST_VAR, self.address.ip().to_string()),
            (PORT_VAR, self.address.port().to_string()),
            (MAILDIR_VAR, self.maildir.display().to_string()),
        ]
    }
}

/// Spawns `server` on `address`, storing mail in `maildir`, output appended to `log`.
fn spawn(server: &Path, address: SocketAddr, maildir: &Path, log: &Path) -> anyhow::Result<Child> {
    let mut out = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let listen = address.to_string();
    let args = [
        "--nosetuid",
        "--listen",
        listen.as_str(),
        "--class",
        "aiosmtpd.handlers.Mailbox",
    ];
    writeln!(
        out,
        "# {} {} {}",
        server.display(),
        args.join(" "),
        maildir.display()
    )?;
    let err = out
        .try_clone()
        .context("cannot share the SMTP server log")?;
    Command::new(server)
        .args(args)
        .arg(maildir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("cannot start {}", server.display()))
}

/// Whether a server at `address` greets with `220`.
fn greets(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut greeting = [0_u8; 4];
    let greeted = stream.read_exact(&mut greeting).is_ok() && greeting.starts_with(b"220");
    let _ = stream.write_all(b"QUIT\r\n");
    greeted
}
