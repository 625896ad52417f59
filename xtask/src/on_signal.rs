//! Stopping the services xtask started (moto, Airflow, the SMTP server) when xtask is
//! interrupted: a process dying of a signal runs no destructors, so each service registers how
//! to stop it, and one thread, installed with the first registration, runs every registered
//! stop on SIGINT, SIGTERM or SIGHUP and then exits with status 130. (Before, each service had
//! its own handler thread, and the first to finish exited the process under the others.)

use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread;

use anyhow::Context as _;

/// How to stop one service, and its name for the message.
type Stop = (&'static str, Box<dyn FnOnce() + Send>);

/// The stops registered so far, run in reverse order of registration.
static STOPS: Mutex<Vec<Stop>> = Mutex::new(Vec::new());
/// Whether the handler thread runs (or why it could not be started).
static HANDLER: OnceLock<Result<(), String>> = OnceLock::new();

/// Registers `stop` to run when xtask is interrupted; `name` says what it stopped.
///
/// # Errors
/// When the signal handlers cannot be installed.
pub fn stop_on_signal(
    name: &'static str,
    stop: impl FnOnce() + Send + 'static,
) -> anyhow::Result<()> {
    HANDLER
        .get_or_init(|| install().map_err(|error| format!("{error:#}")))
        .clone()
        .map_err(anyhow::Error::msg)?;
    STOPS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((name, Box::new(stop)));
    Ok(())
}

/// Starts the thread that waits for a signal, stops everything registered and exits. The
/// thread builds its own runtime, so this may be called from inside another runtime.
fn install() -> anyhow::Result<()> {
    let (installed, outcome) = std::sync::mpsc::channel();
    thread::Builder::new()
        .name("xtask-signals".into())
        .spawn(move || {
            let ready = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .context("cannot start the signal-handling runtime")
                .and_then(|runtime| {
                    let signals = runtime.block_on(async { Signals::install() })?;
                    Ok((runtime, signals))
                });
            let (runtime, signals) = match ready {
                Ok(ready) => {
                    let _ = installed.send(Ok(()));
                    ready
                }
                Err(error) => {
                    let _ = installed.send(Err(error));
                    return;
                }
            };
            runtime.block_on(signals.next());
            let stops = std::mem::take(&mut *STOPS.lock().unwrap_or_else(PoisonError::into_inner));
            for (name, stop) in stops.into_iter().rev() {
                stop();
                eprintln!("xtask: interrupted; {name} stopped");
            }
            std::process::exit(130);
        })
        .context("cannot start the signal-handling thread")?;
    outcome
        .recv()
        .context("the signal-handling thread ended before installing its handlers")?
}

/// The handlers of the signals that should stop the services.
pub struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Replaces the default (process-ending) action of SIGINT, SIGTERM and SIGHUP. Needs a
    /// Tokio runtime with I/O enabled.
    ///
    /// # Errors
    /// When a handler cannot be installed.
    pub fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            hangup: signal(SignalKind::hangup()).context("cannot handle SIGHUP")?,
        })
    }

    /// Waits for any of them.
    pub async fn next(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
            _ = self.hangup.recv() => {}
        }
    }
}
