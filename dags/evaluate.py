"""Evaluate: score each new model against the champion on held-out data, promote or not.

Consumes ``model`` (from ``train.py``); produces ``metrics``, which deploy consumes. With
``[deploy] approval = "always"`` a model the evaluation would promote waits for a person
(``ask_for_approval``, a Required Action in the UI); a yes promotes it (``promote_approved``,
another ``metrics`` event), a no or a newer candidate leaves the champion as it is.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from tasks import orchestration as o

assets = o.chain_assets()


@dag(
    dag_id="evaluate",
    schedule=[assets.model],
    # A run waiting for a person must not hold back the next model's evaluation.
    **{**o.DAG_SETTINGS, "max_active_runs": o.RUNS_AT_ONCE},
    tags=["consumes:model", "produces:metrics"],
)
def evaluate():
    # A short circuit: unless a model awaits approval, the approval tasks are skipped unstarted.
    @task.short_circuit(outlets=[assets.metrics], max_active_tis_per_dag=1)
    def evaluate_new_models(**context) -> dict:
        from tasks.stages.evaluate import evaluate_pending

        with o.storage_errors_retried():
            return o.held_for_approval(o.emit(context, evaluate_pending(o.store(), o.config()), assets.metrics))

    @task(outlets=[assets.metrics], max_active_tis_per_dag=1)
    def promote_approved(**context) -> dict:
        from tasks.stages.approve import promote_approved as run

        with o.storage_errors_retried():
            return o.emit(context, run(o.store(), o.held_version(context, "evaluate_new_models")), assets.metrics)

    asked = o.ModelApproval(task_id="ask_for_approval", evaluated_by="evaluate_new_models")
    evaluate_new_models() >> asked >> promote_approved()


evaluate()
