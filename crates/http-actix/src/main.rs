//! The `reefguide` binary.

use std::process::ExitCode;

use clap::Parser as _;
use reefguide_http_actix::cli::{Cli, run};

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
