"""reefguide_echo: the test DAG that writes what it was given.

Its one task, `echo`, writes `conf.json` (the run's whole conf, as JSON) and `output.txt`
(`hello <username>`) into the run's output folder: with an empty `out_bucket`, the local directory
`out_prefix` (an absolute path, created when missing); else the S3 keys under `out_prefix` in
`out_bucket`, through boto3 (the endpoint from `AWS_ENDPOINT_URL_S3`, as xtask sets it for the
tests' moto). A numeric `sleep_seconds` in the conf makes it sleep that long first.
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


def _write_local(out_prefix, files):
    """Writes `files` (name → text) into the directory `out_prefix`."""
    if not isinstance(out_prefix, str) or not os.path.isabs(out_prefix):
        raise ValueError(f"out_prefix must be an absolute directory path, got {out_prefix!r}")
    os.makedirs(out_prefix, exist_ok=True)
    for name, text in files.items():
        _write(os.path.join(out_prefix, name), text)


def _write_s3(out_bucket, out_prefix, files):
    """Uploads `files` (name → text) under the key prefix `out_prefix` of `out_bucket`."""
    if not isinstance(out_prefix, str) or not out_prefix or out_prefix.startswith("/"):
        raise ValueError(f"out_prefix must be a relative S3 key prefix, got {out_prefix!r}")
    import boto3  # only S3 runs need it

    client = boto3.client("s3")
    folder = out_prefix.rstrip("/")
    for name, text in files.items():
        client.put_object(Bucket=out_bucket, Key=f"{folder}/{name}", Body=text.encode("utf-8"))


def echo(dag_run=None, **_context):
    conf = dict(dag_run.conf or {})
    out_bucket = conf.get("out_bucket") or ""
    out_prefix = conf.get("out_prefix")
    sleep_seconds = conf.get("sleep_seconds")
    if sleep_seconds is not None:
        if isinstance(sleep_seconds, bool) or not isinstance(sleep_seconds, (int, float)):
            raise ValueError(f"sleep_seconds must be a number, got {sleep_seconds!r}")
        time.sleep(sleep_seconds)
    files = {
        "conf.json": json.dumps(conf, indent=2, sort_keys=True) + "\n",
        "output.txt": f"hello {conf.get('username', '')}\n",
    }
    if out_bucket:
        _write_s3(out_bucket, out_prefix, files)
    else:
        _write_local(out_prefix, files)
    where = f"s3://{out_bucket}/{out_prefix}" if out_bucket else out_prefix
    print(f"reefguide_echo: wrote conf.json and output.txt to {where}")


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
