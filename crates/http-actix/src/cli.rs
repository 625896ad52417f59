//! The `reefguide` command line.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::app::{Application, connect_store};
use crate::config::{LogFormat, Settings};
use crate::crypto::RsaKeyPair;
use crate::openapi::ApiDoc;
use crate::telemetry;

/// ReefGuide API server and tools.
#[derive(Debug, Parser)]
#[command(name = "reefguide", version, about)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// JWT key management.
    Keys {
        /// The key action.
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// Print the OpenAPI document of this configuration (its job types and limits).
    Openapi,
    /// Run only the capacity manager (no HTTP): start workers as the queue grows.
    Manager,
    /// Run a worker for `TEST` jobs (the worker SDK's ready-made handler) against a server;
    /// the local compute pool starts these.
    Worker(WorkerArgs),
    /// Import another system's database into the configured (empty) one.
    Import {
        /// What to import.
        #[command(subcommand)]
        source: ImportSource,
    },
}

/// The systems `reefguide import` reads.
#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// A ReefGuide (R1 or R2) Postgres database: users (bcrypt passwords kept), polygons, notes,
    /// jobs with their requests, assignments and results, ids preserved. Exit status 2 when
    /// refused (a target holding data, case-only duplicate emails), 1 when it fails.
    Reefguide(crate::import_cli::ImportArgs),
}

/// Options of `reefguide worker` (also read from the environment).
#[derive(Debug, clap::Args)]
#[command(after_help = WORKER_S3_HELP)]
pub struct WorkerArgs {
    /// The server's base URL.
    #[arg(
        long,
        env = "REEFGUIDE_API_URL",
        default_value = "http://127.0.0.1:5000"
    )]
    pub api_url: String,
    /// The worker account's email.
    #[arg(long, env = "WORKER_USERNAME")]
    pub username: String,
    /// The worker account's password.
    #[arg(long, env = "WORKER_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// Jobs run at once.
    #[arg(long, env = "WORKER_CONCURRENCY", default_value_t = 1)]
    pub concurrency: usize,
    /// Exit after this many seconds without a job (default: run until stopped).
    #[arg(long, env = "WORKER_IDLE_TIMEOUT_SECONDS")]
    pub idle_timeout_seconds: Option<u64>,
}

/// How `reefguide worker` stores result files on servers without upload URLs (R1) whose
/// storage is S3: the worker SDK uploads directly, configured by the AWS SDK's own variables.
const WORKER_S3_HELP: &str = "\
Result files on servers without upload URLs (ReefGuide R1) that store results in S3 are PUT
directly into the bucket, configured by the standard AWS environment:
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE
                       credentials (or the ECS task role / instance metadata)
  AWS_REGION           the bucket's region (default us-east-1)
  AWS_ENDPOINT_URL_S3  an S3-compatible endpoint such as MinIO or moto (path-style addressing),
                       else AWS_ENDPOINT_URL";

/// Key actions.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate an RS256 key pair and key id. Prints environment lines, or writes
    /// `jwt-private.pem` / `jwt-public.pem` into `--out-dir`.
    Generate {
        /// Directory to write PEM files into (the private key with mode 0600).
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

/// Runs the command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let settings = Settings::load()?;
            telemetry::init(&settings.server.log_level, settings.server.log_format);
            actix_web::rt::System::new().block_on(serve(settings))
        }
        Command::Migrate => {
            let settings = Settings::load()?;
            telemetry::init(&settings.server.log_level, settings.server.log_format);
            actix_web::rt::System::new().block_on(async {
                connect_store(&settings, true).await?;
                println!("migrations applied");
                Ok(())
            })
        }
        Command::Keys {
            action: KeysCommand::Generate { out_dir },
        } => generate_keys(out_dir),
        Command::Openapi => {
            let settings = Settings::load()?;
            let registry = settings.jobs.registry()?;
            println!("{}", ApiDoc::render(&settings.deployment(&registry))?);
            Ok(())
        }
        Command::Manager => {
            let settings = Settings::load()?;
            telemetry::init(&settings.server.log_level, settings.server.log_format);
            actix_web::rt::System::new().block_on(manage(settings))
        }
        Command::Worker(args) => {
            telemetry::init("info", LogFormat::Text);
            tokio::runtime::Runtime::new()?.block_on(run_worker(args))
        }
        Command::Import {
            source: ImportSource::Reefguide(args),
        } => {
            let settings = Settings::load()?;
            telemetry::init("warn", LogFormat::Text);
            tokio::runtime::Runtime::new()?.block_on(crate::import_cli::run(&settings, &args))
        }
    }
}

/// Runs the capacity manager (and the workflow dispatcher, when Airflow is configured) until
/// SIGINT.
async fn manage(settings: Settings) -> anyhow::Result<()> {
    let state =
        crate::app::build_state(&settings, &settings.server.urls(settings.server.port)).await?;
    let manager = crate::capacity::build_manager(
        &settings,
        state.runtime.store.clone(),
        state.cluster.cluster().clone(),
    )?;
    tracing::info!(
        interval_ms = settings.compute.capacity_interval_ms,
        "capacity manager started"
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let dispatch = async {
        if let Some(dispatcher) = state.runtime.dispatcher.clone() {
            tracing::info!(
                interval_ms = state.runtime.dispatch_interval.as_millis(),
                "workflow dispatcher started"
            );
            crate::workflows::run_loop(
                dispatcher,
                state.runtime.store.clone(),
                state.runtime.dispatch_interval,
                stop.clone(),
            )
            .await;
        }
    };
    let manage = crate::capacity::run_loop(
        manager,
        state.runtime.store.clone(),
        std::time::Duration::from_millis(settings.compute.capacity_interval_ms),
        stop.clone(),
    );
    let interrupted = async {
        let interrupted = tokio::signal::ctrl_c().await;
        // Cycles under way finish; the roles pass on to another instance.
        stop.cancel();
        interrupted
    };
    let ((), (), interrupted) = tokio::join!(manage, dispatch, interrupted);
    interrupted.context("cannot wait for Ctrl-C")?;
    if let Some(pool) = &state.runtime.local_pool {
        pool.shutdown();
    }
    Ok(())
}

/// Runs the TEST worker until SIGINT/SIGTERM or its idle timeout.
async fn run_worker(args: WorkerArgs) -> anyhow::Result<()> {
    use reefguide_worker_sdk::{Worker, test_job};
    let mut builder = Worker::builder()
        .api_url(args.api_url)
        .credentials(args.username, args.password)
        .handler(test_job::JOB_TYPE, test_job::handler())
        .concurrency(args.concurrency);
    if let Some(seconds) = args.idle_timeout_seconds {
        builder = builder.idle_timeout(std::time::Duration::from_secs(seconds));
    }
    let summary = builder.build()?.run().await?;
    tracing::info!(?summary, "worker stopped");
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let database = settings.effective_database_url();
    let app = Application::build(settings.clone()).await?;
    app.stop_on_signals();
    tracing::info!(
        address = %format!("http://{}", std::net::SocketAddr::new(settings.server.host, app.port())),
        database = %mask_password(&database),
        data_dir = %settings.server.data_dir.display(),
        "reefguide listening"
    );
    app.run_until_stopped().await.context("server failed")
}

fn generate_keys(out_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let pair = RsaKeyPair::generate()?;
    let kid = pair.thumbprint();
    match out_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let private = dir.join("jwt-private.pem");
            write_new_file(&private, pair.private_pem(), true)?;
            let public = dir.join("jwt-public.pem");
            write_new_file(&public, pair.public_pem(), false)?;
            println!("wrote {} and {}", private.display(), public.display());
            println!("JWT_KEY_ID={kid}");
        }
        None => {
            println!(
                "JWT_PRIVATE_KEY=\"{}\"",
                pair.private_pem().trim_end().replace('\n', "\\n")
            );
            println!(
                "JWT_PUBLIC_KEY=\"{}\"",
                pair.public_pem().trim_end().replace('\n', "\\n")
            );
            println!("JWT_KEY_ID={kid}");
        }
    }
    Ok(())
}

fn write_new_file(path: &std::path::Path, contents: &str, private: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {} (does it exist already?)", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Hides the password of a database URL for logging.
pub fn mask_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_password("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(mask_password("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            mask_password("sqlite://x.db?mode=rwc"),
            "sqlite://x.db?mode=rwc"
        );
    }
}
