"""Preprocess: the Great Expectations gate, the label check, then the train/test split.

Consumes ``raw`` (from ``ingest.py``); produces ``features``, consumed by ``train.py``.
One task, in that order: each new batch is validated, and split when it passes; then the
feature set (the list of validated batches' splits) is committed. Failing batches are
quarantined with their reasons and become ``quarantine`` events; when no new batch
passes, the task fails, nothing downstream runs, ``record_rejections`` posts those
events and ``fail_the_run`` keeps the run red (both run only then). Gate and split are one
task: once each batch is split at the gate, the feature set is one small write.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from tasks import orchestration as o

assets = o.chain_assets()


@dag(
    dag_id="preprocess",
    schedule=[assets.raw],
    **o.DAG_SETTINGS,
    tags=["consumes:raw", "produces:features"],
)
def preprocess():
    @task(outlets=[assets.features, o.QUARANTINED, o.DRIFTED])
    def validate_and_split(**context) -> dict:
        from tasks.stages.split import build_features
        from tasks.stages.validate import validate_pending

        with o.storage_errors_retried():
            store, config = o.store(), o.config()
            gate = o.emit(context, validate_pending(store, config))  # fails here if nothing passed
            return o.emit(context, build_features(store, config, gate), assets.features)

    o.report_rejections_of(validate_and_split())


preprocess()
