//! Tracing set-up.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Installs a global `tracing` subscriber writing one line per event to standard error. The
/// filter comes from `RUST_LOG` when set, else from `log_level`. Safe to call more than once.
pub fn init(log_level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
