"""Preprocess: the Great Expectations gate, then the train/test split.

Consumes ``raw`` (from ``ingest.py``); produces ``features``, consumed by
``train.py``. Failing batches are quarantined with their reasons; when no new
batch passes, the gate task fails and nothing downstream runs.
"""

from __future__ import annotations

from airflow.sdk import dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from tasks import catalog


@dag(
    dag_id="preprocess",
    schedule=[catalog.RAW],
    **catalog.DAG_SETTINGS,
    tags=["consumes:raw", "produces:features"],
)
def preprocess():
    @task
    def validate_new_batches() -> dict:
        from tasks.validation import gate_pending_batches

        report = gate_pending_batches(catalog.RAW_DIR, catalog.ARCHIVE_DIR, catalog.QUARANTINE_DIR, catalog.EXPECTATIONS_FILE)
        for b in report.passed:
            print(f"PASSED {b['batch_id']} ({b['file']}, {b['rows']} rows)")
        for q in report.quarantined:
            print(f"QUARANTINED {q['batch_id']} ({q['file']}) -> quarantine/{q['quarantine_id']}: {q['reason']}")
        if report.quarantined and not report.passed:
            # Bad data does not get better on retry: fail now, with the reasons.
            raise AirflowFailException("Validation failed: " + " | ".join(f"{q['file']}: {q['reason']}" for q in report.quarantined))
        return {"passed": report.passed, "quarantined": report.quarantined}

    @task(outlets=[catalog.FEATURES])
    def build_features(gate: dict, **context) -> dict:
        from tasks.config import load_config
        from tasks.features import build_features as build
        from tasks.validation import validated_batches

        config = load_config(catalog.CONFIG_FILE)
        manifest = build(catalog.RAW_DIR, catalog.FEATURES_DIR, validated_batches(catalog.RAW_DIR), test_size=config.test_size, seed=config.seed)
        if manifest is None:
            raise AirflowSkipException("Features are already built from exactly these batches")
        context["outlet_events"][catalog.FEATURES].extra = {
            "fingerprint": manifest["fingerprint"],
            "passed_batches": [b["batch_id"] for b in gate["passed"]],
            "quarantined": [{"batch_id": q["batch_id"], "file": q["file"], "reason": q["reason"]} for q in gate["quarantined"]],
            "total_batches": len(manifest["batches"]),
            "rows_train": manifest["rows_train"],
            "rows_test": manifest["rows_test"],
        }
        return {k: manifest[k] for k in ("fingerprint", "rows_train", "rows_test")}

    build_features(validate_new_batches())


preprocess()
