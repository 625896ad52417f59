"""reefguide_fail: the test DAG whose one task, `explode`, always fails."""

import pendulum
from airflow import DAG
from airflow.operators.python import PythonOperator


def explode(**_context):
    raise RuntimeError("reefguide_fail: the explode task fails on purpose")


with DAG(
    dag_id="reefguide_fail",
    description="Fails in its one task, explode (reefguide tests).",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["reefguide-test"],
    default_args={"retries": 0},
):
    PythonOperator(task_id="explode", python_callable=explode)
