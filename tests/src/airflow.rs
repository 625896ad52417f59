//! The real Airflow that `cargo xtask test` starts for the workflow tests: where it is, and what
//! it holds (read straight from its REST API, not through the server under test).

use serde_json::Value;

/// The test Airflow, named by `REEFGUIDE_TEST_AIRFLOW_URL`, `_USERNAME` and `_PASSWORD`.
#[derive(Debug, Clone)]
pub struct TestAirflow {
    /// Its base URL (the REST API is under `/api/v1`).
    pub url: String,
    /// A user allowed to use the REST API.
    pub username: String,
    /// That user's password.
    pub password: String,
}

impl TestAirflow {
    /// The Airflow of this test run; fails the test, saying how to start one, when none is named.
    #[must_use]
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!(
                    "the workflow tests need {name}: run them with `cargo xtask test`, which \
                     starts Airflow (or `cargo xtask airflow` and its export lines)"
                )
            })
        };
        Self {
            url: var("REEFGUIDE_TEST_AIRFLOW_URL"),
            username: var("REEFGUIDE_TEST_AIRFLOW_USERNAME"),
            password: var("REEFGUIDE_TEST_AIRFLOW_PASSWORD"),
        }
    }

    /// The latest 100 runs of `dag_id` whose id starts with `prefix`: `(run id, state)`, newest
    /// first.
    pub async fn runs(&self, dag_id: &str, prefix: &str) -> Vec<(String, String)> {
        let body: Value = reqwest::Client::new()
            .get(format!(
                "{}/api/v1/dags/{dag_id}/dagRuns?limit=100&order_by=-id",
                self.url
            ))
            .basic_auth(&self.username, Some(&self.password))
            .send()
            .await
            .expect("Airflow answers")
            .json()
            .await
            .expect("JSON runs");
        body["dag_runs"]
            .as_array()
            .expect("runs")
            .iter()
            .filter_map(|run| {
                let id = run["dag_run_id"].as_str()?;
                let state = run["state"].as_str().unwrap_or_default();
                id.starts_with(prefix)
                    .then(|| (id.to_owned(), state.to_owned()))
            })
            .collect()
    }
}
