//! Developer tasks: `cargo xtask <task>`.
//!
//! - `test`: the whole test suite against a real Postgres (and SQLite), see [`test`].
//! - `bench`: release-build benchmarks against Postgres, see [`bench`].

mod bench;

use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

/// The Postgres used when `DATABASE_URL` is not set.
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "reefguide developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Run the whole test suite (unit, contract tests on SQLite and Postgres, black-box HTTP).
    /// Uses DATABASE_URL when set, else Postgres at 127.0.0.1:5432; each test creates and drops
    /// its own database there.
    Test {
        /// Extra arguments for `cargo test` (e.g. a test-name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Benchmark the release build against Postgres (DATABASE_URL or 127.0.0.1:5432); prints a
    /// table and writes target/bench/<scenario>.json.
    Bench {
        /// Which scenario: `submit` (job submission at 0 and 100,000 stored jobs).
        #[arg(default_value = "submit")]
        scenario: String,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.task {
        Task::Test { args } => test(&args),
        Task::Bench { scenario } => bench::run(&postgres_url()?, &scenario),
    }
}

/// Runs `cargo test --workspace` with `REEFGUIDE_TEST_DATABASE_URL` pointing at a reachable
/// Postgres server; stops early with instructions when none is reachable.
fn test(args: &[String]) -> anyhow::Result<()> {
    let url = postgres_url()?;
    let address = host_port(&url).context("cannot read host and port from DATABASE_URL")?;
    if !reachable(&address) {
        bail!(
            "no Postgres reachable at {address}.\n\
             The test suite needs a Postgres server it may create databases on. Either start one \
             locally (trust auth for user postgres on 127.0.0.1:5432), or point DATABASE_URL at \
             one, e.g.\n  DATABASE_URL=postgres://user:password@host:5432/postgres cargo xtask test"
        );
    }
    eprintln!("xtask: testing against Postgres at {address}");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["test", "--workspace", "--no-fail-fast"])
        .args(args)
        .env("REEFGUIDE_TEST_DATABASE_URL", &url)
        .status()
        .context("cannot run cargo test")?;
    if !status.success() {
        bail!("tests failed");
    }
    Ok(())
}

/// `DATABASE_URL` (it must be a Postgres URL) or the local default.
fn postgres_url() -> anyhow::Result<String> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
    if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        bail!("DATABASE_URL must be a postgres:// URL (got a different scheme)");
    }
    Ok(url)
}

/// `host:port` of a database URL (default port 5432).
fn host_port(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if host_port.is_empty() {
        return None;
    }
    Some(if host_port.contains(':') && !host_port.ends_with(']') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    })
}

fn reachable(address: &str) -> bool {
    address
        .to_socket_addrs()
        .map(|mut addrs| {
            addrs.any(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok())
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn host_and_port_are_read_from_urls() {
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5432/postgres").as_deref(),
            Some("127.0.0.1:5432")
        );
        assert_eq!(
            host_port("postgres://u:p@db.example/x").as_deref(),
            Some("db.example:5432")
        );
        assert_eq!(
            host_port("postgresql://localhost:6543").as_deref(),
            Some("localhost:6543")
        );
        assert_eq!(host_port("postgres:///x"), None);
    }
}
