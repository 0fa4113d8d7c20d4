"""Train: fit the configured model on the current features, store it as a new version.

Consumes ``features`` (from ``preprocess.py``); produces ``model``, consumed by
``evaluate.py``.
"""

from __future__ import annotations

from airflow.sdk import dag, task
from airflow.sdk.exceptions import AirflowSkipException

from tasks import catalog


@dag(
    dag_id="train",
    schedule=[catalog.FEATURES],
    **catalog.DAG_SETTINGS,
    tags=["consumes:features", "produces:model"],
)
def train():
    @task(outlets=[catalog.MODEL])
    def train_model(**context) -> dict:
        from tasks.config import load_config
        from tasks.training import train_model as fit, version_on_current_features

        if version := version_on_current_features(catalog.MODELS_DIR, catalog.FEATURES_DIR):
            raise AirflowSkipException(f"{version} is already trained on the current features")
        card = fit(catalog.RAW_DIR, catalog.FEATURES_DIR, catalog.MODELS_DIR, load_config(catalog.CONFIG_FILE))
        context["outlet_events"][catalog.MODEL].extra = {
            k: card[k] for k in ("version", "estimator", "features", "rows_used", "train_seconds", "sha256")
        } | {"training_batches": len(card["training_batches"])}
        return {"version": card["version"]}

    train_model()


train()
