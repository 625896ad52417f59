//! The `reefguide` binary.

use std::process::ExitCode;

use clap::Parser as _;
use reefguide_http_actix::cli::{Cli, run};

/// mimalloc rather than glibc's malloc: it hands freed memory back to the system (glibc's
/// per-thread arenas kept every argon2id block of concurrent logins, hundreds of MB) and is
/// faster on the many small allocations of request handling (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
