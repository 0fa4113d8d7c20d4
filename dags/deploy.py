"""Deploy: make a newly promoted champion live in the scoring server, without a restart.

Consumes ``metrics`` (from ``evaluate.py``); produces ``deployment``. Not promoted (the
champion is live already): skipped, no event. A server that cannot load the champion fails
the task with the reason, and the version before keeps serving.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from tasks import orchestration as o

assets = o.chain_assets()


@dag(
    dag_id="deploy",
    schedule=[assets.metrics],
    **o.DAG_SETTINGS,
    tags=["consumes:metrics", "produces:deployment"],
)
def deploy():
    @task(outlets=[assets.deployment])
    def deploy_champion(**context) -> dict:
        from tasks.stages.deploy import deploy_champion as run

        with o.storage_errors_retried():
            return o.emit(context, run(o.store(), o.settings().serve_url), assets.deployment)

    deploy_champion()


deploy()
