"""Preprocess: the Great Expectations gate, then the train/test split.

Consumes ``raw`` (from ``ingest.py``); produces ``features``, consumed by ``train.py``.
Failing batches are quarantined with their reasons and become ``quarantine`` events; when
no new batch passes, the gate task fails, nothing downstream runs, and
``record_rejections`` posts those events.
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
    @task(outlets=[o.QUARANTINED])
    def validate_new_batches(**context) -> dict:
        from tasks.config import load_config
        from tasks.stages.validate import validate_pending

        return o.emit(context, validate_pending(o.store(), o.SETTINGS.suite_file, load_config(o.SETTINGS.config_file)))

    @task(outlets=[o.FEATURES])
    def build_features(gate: dict, **context) -> dict:
        from tasks.config import load_config
        from tasks.stages.split import build_features as build

        return o.emit(context, build(o.store(), load_config(o.SETTINGS.config_file), gate), o.FEATURES)

    @task(outlets=[o.QUARANTINED], inlets=[o.QUARANTINE], trigger_rule="one_failed")  # inlet: lists the asset before any rejection
    def record_rejections(**context) -> int:
        return o.record_rejections(context, "validate_new_batches")

    gate = validate_new_batches()
    build_features(gate)
    gate >> record_rejections()


preprocess()
