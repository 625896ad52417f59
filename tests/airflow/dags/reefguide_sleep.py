"""reefguide_sleep: the test DAG that only sleeps, for cancel tests.

Its one task, `sleep`, sleeps `sleep_seconds` from the run's conf (600 when absent) and checks
nothing else.
"""

import time

import pendulum
from airflow import DAG
from airflow.operators.python import PythonOperator


def sleep(dag_run=None, **_context):
    time.sleep((dag_run.conf or {}).get("sleep_seconds", 600))


with DAG(
    dag_id="reefguide_sleep",
    description="Sleeps sleep_seconds (default 600) in its one task, sleep (reefguide tests).",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["reefguide-test"],
    default_args={"retries": 0},
):
    PythonOperator(task_id="sleep", python_callable=sleep)
