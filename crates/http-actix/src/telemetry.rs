//! Tracing set-up: the filter and the line format of the server's log (standard error).

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs a global `tracing` subscriber writing one line per event to standard error, as
/// `format` says. The filter comes from `RUST_LOG` when set, else from `log_level`. Safe to
/// call more than once (later calls change nothing).
pub fn init(log_level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        // The request's span (its id) in each line; the list of enclosing spans adds nothing,
        // as requests are the only spans.
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
