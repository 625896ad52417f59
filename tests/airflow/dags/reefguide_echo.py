"""reefguide_echo: the test DAG that writes what it was given.

Its one task, `echo`, writes `conf.json` (the run's whole conf, as JSON) and `output.txt`
(`hello <username>`) into the run's `out_prefix`, a local directory (created when missing). Local
output only: a non-empty `out_bucket` fails the task. A numeric `sleep_seconds` in the conf makes
it sleep that long first.
"""

import json
import os
import time

import pendulum
from airflow import DAG
from airflow.operators.python import PythonOperator


def _write(path, text):
    """Writes `text` to `path` whole: a reader never sees a partial file."""
    partial = f"{path}.partial"
    with open(partial, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(partial, path)


def echo(dag_run=None, **_context):
    conf = dict(dag_run.conf or {})
    out_bucket = conf.get("out_bucket") or ""
    if out_bucket:
        raise ValueError(
            f"reefguide_echo writes local output only, but out_bucket is {out_bucket!r}; "
            "give an empty out_bucket and an absolute directory as out_prefix"
        )
    out_prefix = conf.get("out_prefix")
    if not isinstance(out_prefix, str) or not os.path.isabs(out_prefix):
        raise ValueError(f"out_prefix must be an absolute directory path, got {out_prefix!r}")
    sleep_seconds = conf.get("sleep_seconds")
    if sleep_seconds is not None:
        if isinstance(sleep_seconds, bool) or not isinstance(sleep_seconds, (int, float)):
            raise ValueError(f"sleep_seconds must be a number, got {sleep_seconds!r}")
        time.sleep(sleep_seconds)
    os.makedirs(out_prefix, exist_ok=True)
    _write(os.path.join(out_prefix, "conf.json"), json.dumps(conf, indent=2, sort_keys=True) + "\n")
    _write(os.path.join(out_prefix, "output.txt"), f"hello {conf.get('username', '')}\n")
    print(f"reefguide_echo: wrote conf.json and output.txt to {out_prefix}")


with DAG(
    dag_id="reefguide_echo",
    description="Writes the run's conf and a greeting into out_prefix (reefguide tests).",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["reefguide-test"],
    default_args={"retries": 0},
):
    PythonOperator(task_id="echo", python_callable=echo)
