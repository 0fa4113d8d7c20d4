"""Evaluate: score each new model against the champion on held-out data, promote or not.

Consumes ``model`` (from ``train.py``); produces ``metrics``, the end of the chain.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from tasks import orchestration as o

assets = o.chain_assets()


@dag(
    dag_id="evaluate",
    schedule=[assets.model],
    **o.DAG_SETTINGS,
    tags=["consumes:model", "produces:metrics"],
)
def evaluate():
    @task(outlets=[assets.metrics])
    def evaluate_new_models(**context) -> dict:
        from tasks.stages.evaluate import evaluate_pending

        with o.storage_errors_retried():
            return o.emit(context, evaluate_pending(o.store(), o.config()), assets.metrics)

    evaluate_new_models()


evaluate()
