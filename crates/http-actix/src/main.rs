//! The `reefguide` binary.

use std::process::ExitCode;

use clap::Parser as _;
use reefguide_http_actix::cli::{Cli, run};
use reefguide_http_actix::import_cli::Refused;

/// jemalloc rather than glibc's malloc or mimalloc: its background threads hand freed memory
/// back to the system a second after it was freed (glibc's per-thread arenas kept every argon2id
/// block of concurrent logins, hundreds of MB; mimalloc kept tens of MB of freed pages
/// resident), with the speed of a modern allocator (see docs/performance.md). The
/// `system-allocator` feature keeps the system's malloc, for heap profilers that intercept it,
/// such as heaptrack.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is::<Refused>() => {
            eprintln!("refused: {error:#}");
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
