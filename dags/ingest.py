"""Ingest: files dropped in ``data/inbox`` become raw batches.

Consumes ``inbox`` (the watcher claims each new file) OR runs daily; produces
``raw``, consumed by ``preprocess.py``. The daily or manual run also sweeps the
inbox and finishes files a crash left claimed. Nothing new: no ``raw`` event.
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from tasks import catalog


@dag(
    dag_id="ingest",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("@daily", timezone="UTC"), assets=[catalog.INBOX]
    ),
    **catalog.DAG_SETTINGS,
    tags=["consumes:inbox", "produces:raw"],
)
def ingest():
    @task(outlets=[catalog.RAW])
    def ingest_claimed_files(**context) -> dict:
        from tasks.inbox import sweep_inbox
        from tasks.ingest import ingest_claimed

        events = context["triggering_asset_events"].get(catalog.INBOX, [])
        if not events:  # daily or manual run: take what the watcher has not
            swept = sweep_inbox(catalog.INBOX_DIR, catalog.CLAIMED_DIR)
            print(f"Swept {len(swept)} file(s) from the inbox")
        report = ingest_claimed(catalog.CLAIMED_DIR, catalog.RAW_DIR, catalog.ARCHIVE_DIR, catalog.QUARANTINE_DIR)
        for q in report.quarantined:
            print(f"QUARANTINED {q['file']} -> quarantine/{q['quarantine_id']}: {q['reason']}")
        if not report.new_batches:
            raise AirflowSkipException("No new batch: nothing to emit on 'raw'")
        context["outlet_events"][catalog.RAW].extra = {
            "batches": [b["batch_id"] for b in report.new_batches],
            "files": [b["file"] for b in report.new_batches],
            "rows_added": report.rows_added,
            "sha256": {b["batch_id"]: b["sha256"] for b in report.new_batches},
            "quarantined": [{"file": q["file"], "reason": q["reason"]} for q in report.quarantined],
        }
        return report.to_dict()

    ingest_claimed_files()


ingest()
