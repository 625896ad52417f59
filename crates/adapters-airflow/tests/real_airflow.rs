//! The adapter against a real Airflow 2 (the one `cargo xtask test` starts, with the test DAGs of
//! `tests/airflow/dags/`): `reefguide_echo` succeeds, `reefguide_fail` fails in task `explode`,
//! `reefguide_sleep` sleeps long. Its URL and basic-auth credentials come from
//! `REEFGUIDE_TEST_AIRFLOW_URL`, `REEFGUIDE_TEST_AIRFLOW_USERNAME` and
//! `REEFGUIDE_TEST_AIRFLOW_PASSWORD`; a missing one fails the test.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::Utc;
use reefguide_adapters_airflow::Airflow;
use reefguide_domain::job::JobId;
use reefguide_domain::workflow::{AirflowRunState, DagId, DagRunId};
use reefguide_ports::workflow_engine::{
    EngineError, EngineHealth, RunStatus, TriggerRequest, Triggered, WorkflowEngine,
};
use secrecy::SecretString;
use serde_json::{Map, Value, json};

/// How long a run may take to reach the state waited for.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The environment variable `name`, which `cargo xtask test` sets.
fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "the real-Airflow tests need {name}: run them with `cargo xtask test`, which starts \
             Airflow and sets REEFGUIDE_TEST_AIRFLOW_URL, _USERNAME and _PASSWORD"
        )
    })
}

/// The adapter on the test Airflow, with `password`.
fn airflow_with(password: &str) -> Airflow {
    Airflow::rest(
        &env("REEFGUIDE_TEST_AIRFLOW_URL"),
        env("REEFGUIDE_TEST_AIRFLOW_USERNAME"),
        SecretString::from(password.to_owned()),
        Duration::from_secs(10),
    )
    .expect("an adapter")
}

fn dag(id: &str) -> DagId {
    DagId::parse(id).expect("a dag id")
}

/// A run id no earlier test run used (from the clock's milliseconds, which the job id and the
/// attempt share out), `offset` (0 to 9) apart within one test run.
fn fresh_run_id(offset: u8) -> DagRunId {
    /// Job ids are positive `i32`s: the milliseconds modulo this, times ten, fit.
    const SPAN: u128 = 200_000_000;
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis();
    let job = i64::try_from(millis % SPAN).expect("a small number") * 10 + i64::from(offset);
    DagRunId {
        job: JobId::new(job + 1).expect("a job id"),
        attempt: u32::try_from(millis / SPAN + 1).expect("a small number"),
    }
}

/// A run of `dag_id` whose outputs go below `out_dir` (a local directory, as the test DAGs
/// expect), with `extra` added to its conf.
fn trigger_request(
    dag_id: &str,
    run_id: DagRunId,
    out_dir: &Path,
    extra: &[(&str, Value)],
) -> TriggerRequest {
    let mut conf = Map::new();
    conf.insert("job_id".to_owned(), json!(run_id.job.get()));
    conf.insert("username".to_owned(), json!("tester"));
    conf.insert("out_bucket".to_owned(), json!(""));
    let out_prefix = out_dir.join(run_id.to_string());
    conf.insert(
        "out_prefix".to_owned(),
        json!(out_prefix.display().to_string()),
    );
    for (key, value) in extra {
        conf.insert((*key).to_owned(), value.clone());
    }
    TriggerRequest {
        dag_id: dag(dag_id),
        run_id,
        conf,
    }
}

/// Polls `probe` every half second until it returns `Some`, for at most `timeout`.
async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until run `run_id` of `dag_id` is in `state`, failing at once in another final state.
async fn wait_for_state(
    airflow: &Airflow,
    dag_id: &str,
    run_id: &str,
    state: AirflowRunState,
) -> RunStatus {
    wait_for(
        &format!("{run_id} to be {}", state.as_str()),
        RUN_TIMEOUT,
        || async {
            let run = airflow.run(&dag(dag_id), run_id).await.expect("the run");
            let finished = matches!(
                run.state,
                AirflowRunState::Success | AirflowRunState::Failed
            );
            assert!(
                run.state == state || !finished,
                "{run_id} ended {:?}, not {state:?}",
                run.state
            );
            (run.state == state).then_some(run)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_succeed_fail_and_are_cancelled_on_a_real_airflow() {
    let airflow = airflow_with(&env("REEFGUIDE_TEST_AIRFLOW_PASSWORD"));
    let started = Utc::now() - chrono::Duration::seconds(5);
    // Airflow runs on this machine and writes the runs' outputs here.
    let out_dir =
        std::env::temp_dir().join(format!("reefguide-airflow-adapter-{}", std::process::id()));

    // The scheduler may still be starting, and the DAGs still being parsed.
    wait_for("a healthy Airflow", Duration::from_secs(30), || async {
        (airflow.health().await == EngineHealth::Healthy).then_some(())
    })
    .await;
    let wanted = ["reefguide_echo", "reefguide_fail", "reefguide_sleep"];
    wait_for("the test DAGs", Duration::from_secs(30), || async {
        let dags = airflow.dags().await.expect("the DAGs");
        wanted
            .iter()
            .all(|id| dags.iter().any(|info| info.dag_id.as_str() == *id))
            .then_some(())
    })
    .await;
    for id in wanted {
        airflow.unpause(&dag(id)).await.expect("unpaused");
    }
    let dags = airflow.dags().await.expect("the DAGs");
    for id in wanted {
        let info = dags.iter().find(|info| info.dag_id.as_str() == id);
        assert_eq!(info.map(|info| info.is_paused), Some(false), "{id}");
    }

    // A run that succeeds, triggered twice: the second trigger finds it.
    let echo = fresh_run_id(0);
    let echo_id = echo.to_string();
    let request = trigger_request("reefguide_echo", echo, &out_dir, &[]);
    let triggered = airflow.trigger(&request).await;
    assert_eq!(triggered.expect("a trigger"), Triggered::Created);
    let triggered = airflow.trigger(&request).await;
    assert_eq!(triggered.expect("a trigger"), Triggered::AlreadyExists);
    let fail = fresh_run_id(1);
    let fail_id = fail.to_string();
    let request = trigger_request("reefguide_fail", fail, &out_dir, &[]);
    let triggered = airflow.trigger(&request).await;
    assert_eq!(triggered.expect("a trigger"), Triggered::Created);

    let succeeded = wait_for("the echo run to succeed", RUN_TIMEOUT, || async {
        let runs = airflow
            .runs_changed_since(&dag("reefguide_echo"), started)
            .await
            .expect("the runs");
        runs.into_iter()
            .find(|run| run.run_id == echo_id && run.state == AirflowRunState::Success)
    })
    .await;
    assert!(succeeded.start_date.is_some() && succeeded.end_date.is_some());
    assert!(succeeded.start_date <= succeeded.end_date);
    // The run got its conf.
    let greeting = std::fs::read_to_string(out_dir.join(&echo_id).join("output.txt"));
    assert_eq!(greeting.expect("the echo output").trim(), "hello tester");
    let later = Utc::now() + chrono::Duration::hours(1);
    let none = airflow
        .runs_changed_since(&dag("reefguide_echo"), later)
        .await;
    assert_eq!(none.expect("no runs"), []);

    let unknown = airflow.run(&dag("reefguide_echo"), "reefguide-1-999").await;
    assert!(
        matches!(unknown, Err(EngineError::NotFound(_))),
        "{unknown:?}"
    );

    // A run that fails in `explode`.
    wait_for_state(
        &airflow,
        "reefguide_fail",
        &fail_id,
        AirflowRunState::Failed,
    )
    .await;
    let failed = airflow.failed_tasks(&dag("reefguide_fail"), &fail_id).await;
    assert_eq!(failed.expect("the failed tasks"), ["explode"]);

    // A long run, cancelled once it runs (its task notices and stops).
    let sleep = fresh_run_id(2);
    let sleep_id = sleep.to_string();
    let nap = [("sleep_seconds", json!(60))];
    let request = trigger_request("reefguide_sleep", sleep, &out_dir, &nap);
    let triggered = airflow.trigger(&request).await;
    assert_eq!(triggered.expect("a trigger"), Triggered::Created);
    wait_for_state(
        &airflow,
        "reefguide_sleep",
        &sleep_id,
        AirflowRunState::Running,
    )
    .await;
    let cancelled = airflow.cancel(&dag("reefguide_sleep"), &sleep_id).await;
    cancelled.expect("cancelled");
    // The LocalExecutor's task may report itself running once more before it is killed: the
    // run settles as failed shortly after the PATCH, not necessarily at once.
    wait_for_state(
        &airflow,
        "reefguide_sleep",
        &sleep_id,
        AirflowRunState::Failed,
    )
    .await;
    let missing = airflow
        .cancel(&dag("reefguide_sleep"), "reefguide-1-999")
        .await;
    assert!(
        matches!(missing, Err(EngineError::NotFound(_))),
        "{missing:?}"
    );

    // The wrong password.
    let intruder = airflow_with("not-the-password");
    let refused = intruder.dags().await;
    assert!(
        matches!(refused, Err(EngineError::CredentialsRefused(_))),
        "{refused:?}"
    );
    assert!(matches!(intruder.health().await, EngineHealth::Degraded(_)));
    let _ = std::fs::remove_dir_all(&out_dir);
}
