"""Train: fit the configured model on the current features, store it as a new version.

Consumes ``features`` (from ``preprocess.py``); produces ``model``, consumed by ``evaluate.py``.
Trains when the features or the model settings in ``pipeline.toml`` changed, or when
triggered with ``{"retrain": true}`` (``make retrain``).
"""

from __future__ import annotations

from airflow.sdk import dag, task

from tasks import orchestration as o

assets = o.chain_assets()


@dag(
    dag_id="train",
    schedule=[assets.features],
    **o.DAG_SETTINGS,
    tags=["consumes:features", "produces:model"],
)
def train():
    @task(outlets=[assets.model])
    def train_model(**context) -> dict:
        from tasks.stages.train import train as fit

        with o.storage_errors_retried():
            return o.emit(context, fit(o.store(), o.config(), retrain=o.retrain_requested(context)), assets.model)

    train_model()


train()
