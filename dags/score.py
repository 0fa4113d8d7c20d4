"""Score: unlabelled files dropped in the scoring inbox are scored by the champion.

Consumes ``scoring_inbox`` (its watcher claims each new file); produces ``predictions``.
A file that fails the checks (or arrives before any champion) is quarantined with its
reason, as a ``quarantine`` event; when every file was rejected the run stays red. Each
scored file, and each window of the scoring server's requests, is a ``drift`` event.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from tasks import orchestration as o

assets = o.chain_assets()


@dag(
    dag_id="score",
    schedule=[assets.scoring_inbox],
    **o.DAG_SETTINGS,
    tags=["consumes:scoring_inbox", "produces:predictions", "produces:drift"],
)
def score():
    @task(outlets=[assets.predictions, o.QUARANTINED, o.DRIFTED])
    def score_claimed_files(**context) -> dict:
        from tasks.stages.score import score_pending

        with o.storage_errors_retried():
            return o.emit(context, score_pending(o.store(), o.config()), assets.predictions)

    @task(outlets=[o.DRIFTED])
    def post_server_drift_checks(**context) -> dict:
        from tasks.stages.score import announce_server_checks

        with o.storage_errors_retried():
            return o.emit(context, announce_server_checks(o.store()))

    o.report_rejections_of(score_claimed_files())
    post_server_drift_checks()


score()
