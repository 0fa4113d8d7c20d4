"""Ingest: files dropped in the inbox become raw batches.

Consumes ``inbox`` (the watcher claims each new file) OR runs daily; produces ``raw``,
consumed by ``preprocess.py``. Daily, manual and queue-notified runs also sweep the
inbox; every run finishes claims a crash left behind. Nothing new: no ``raw`` event.
Rejected files become ``quarantine`` events; when every file was rejected the task fails,
``record_rejections`` posts those events and ``fail_the_run`` keeps the run red (these two
run only then: on success the scheduler skips them without starting a process).
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from tasks import orchestration as o

assets = o.chain_assets()


@dag(
    dag_id="ingest",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("@daily", timezone="UTC"), assets=[assets.inbox]),
    **o.DAG_SETTINGS,
    tags=["consumes:inbox", "produces:raw"],
)
def ingest():
    @task(outlets=[assets.raw, o.QUARANTINED])
    def ingest_claimed_files(**context) -> dict:
        from tasks.stages.ingest import ingest as run

        seed = o.config().dataset.seed
        with o.storage_errors_retried():
            return o.emit(context, run(o.store(), sweep=not o.files_already_claimed(context), seed=seed), assets.raw)

    o.report_rejections_of(ingest_claimed_files())


ingest()
