//! The workflow dispatcher's loop (labcas-contract §2): every `airflow.sync_interval_ms`, the one
//! instance leading the dispatcher role (see [`crate::leading`]) triggers pending workflow jobs
//! on Airflow and reads their runs back (see `reefguide_ports::services::workflows`). Runs inside `reefguide serve` and
//! `reefguide manager` whenever `[airflow]` is configured.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use reefguide_adapters_airflow::{Airflow, MwaaSettings};
use reefguide_domain::job::registry::JobTypeRegistry;
use reefguide_domain::workflow::LocalRoot;
use reefguide_ports::services::{WorkflowDispatcher, Workflows};
use reefguide_ports::{ObjectStore, SystemClock, WorkflowEngine};

use tokio_util::sync::CancellationToken;

use crate::app::Store;
use crate::config::{AirflowEndpoint, AirflowSettings};
use crate::leading::{Role, Turn, Turns};

/// The dispatcher as wired.
pub type Dispatcher = WorkflowDispatcher<Store, SystemClock>;

/// The Airflow adapter the settings name.
///
/// # Errors
/// When the URL or the MWAA environment cannot be used.
pub async fn connect_engine(airflow: &AirflowSettings) -> anyhow::Result<Arc<dyn WorkflowEngine>> {
    let engine = match airflow.endpoint()? {
        AirflowEndpoint::Rest {
            url,
            username,
            password,
        } => Airflow::rest(&url, username, password, airflow.request_timeout())
            .context("airflow.url")?,
        AirflowEndpoint::Mwaa {
            environment,
            region,
        } => Airflow::mwaa(&MwaaSettings {
            region,
            request_timeout: airflow.request_timeout(),
            ..MwaaSettings::new(environment)
        })
        .await
        .context("airflow.mwaa_environment")?,
    };
    Ok(Arc::new(engine))
}

/// A dispatcher of the Airflow types of `registry` over `engine`.
pub fn build_dispatcher(
    store: Store,
    engine: Arc<dyn WorkflowEngine>,
    objects: Arc<dyn ObjectStore>,
    registry: JobTypeRegistry,
    workflows: Workflows,
    root: LocalRoot,
) -> Dispatcher {
    WorkflowDispatcher::new(
        store,
        SystemClock,
        engine,
        objects,
        registry,
        workflows,
        root,
    )
}

/// Runs a cycle every `interval` while this instance leads the workflow dispatcher role, until
/// `stop` is cancelled.
pub async fn run_loop(
    dispatcher: Arc<Dispatcher>,
    store: Store,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut turns = Turns::new(Role::WorkflowDispatcher, &store, interval, stop);
    while turns.next().await {
        match turns.take(dispatcher.run_cycle()).await {
            Turn::Followed { lost } => {
                if lost {
                    // What this instance knew of runs may be stale when it leads again.
                    dispatcher.reset();
                }
            }
            Turn::Led(Ok(report)) => {
                crate::metering::record_dispatch(&report);
                let busy = report.triggered
                    + report.adopted
                    + report.succeeded
                    + report.failed
                    + report.cancelled
                    + report.lost
                    > 0;
                if busy {
                    tracing::info!(
                        triggered = report.triggered,
                        adopted = report.adopted,
                        succeeded = report.succeeded,
                        failed = report.failed,
                        cancelled = report.cancelled,
                        lost = report.lost,
                        "workflow dispatch"
                    );
                }
                if let Some(error) = report.engine_error {
                    tracing::debug!(%error, "workflow engine unavailable this cycle");
                }
            }
            Turn::Led(Err(error)) => {
                crate::metering::record_dispatch_failure();
                tracing::warn!(
                    error = format!("{error:#}"),
                    "workflow dispatch cycle failed"
                );
            }
        }
    }
}
