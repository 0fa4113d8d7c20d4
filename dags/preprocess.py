"""Preprocess: the Great Expectations gate, then the train/test split.

Consumes ``raw`` (from ``ingest.py``); produces ``features``, consumed by ``train.py``.
Failing batches are quarantined with their reasons; when no new batch passes, the gate
task fails and nothing downstream runs.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from tasks import orchestration as o


@dag(
    dag_id="preprocess",
    schedule=[o.RAW],
    **o.DAG_SETTINGS,
    tags=["consumes:raw", "produces:features"],
)
def preprocess():
    @task
    def validate_new_batches(**context) -> dict:
        from tasks.config import load_config
        from tasks.stages.validate import validate_pending

        return o.emit(context, validate_pending(o.store(), o.SETTINGS.suite_file, load_config(o.SETTINGS.config_file)))

    @task(outlets=[o.FEATURES])
    def build_features(gate: dict, **context) -> dict:
        from tasks.config import load_config
        from tasks.stages.split import build_features as build

        return o.emit(context, build(o.store(), load_config(o.SETTINGS.config_file), gate), o.FEATURES)

    build_features(validate_new_batches())


preprocess()
