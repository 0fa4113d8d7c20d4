"""Evaluate: score each new model against the champion on held-out data, promote or not.

Consumes ``model`` (from ``train.py``); produces ``metrics``, the end of the chain.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from tasks import orchestration as o


@dag(
    dag_id="evaluate",
    schedule=[o.MODEL],
    **o.DAG_SETTINGS,
    tags=["consumes:model", "produces:metrics"],
)
def evaluate():
    @task(outlets=[o.METRICS])
    def evaluate_new_models(**context) -> dict:
        from tasks.config import load_config
        from tasks.stages.evaluate import evaluate_pending

        return o.emit(context, evaluate_pending(o.store(), load_config(o.SETTINGS.config_file)), o.METRICS)

    evaluate_new_models()


evaluate()
