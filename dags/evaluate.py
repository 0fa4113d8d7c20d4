"""Evaluate: score each new model against the champion on held-out data, promote or not.

Consumes ``model`` (from ``train.py``); produces ``metrics``, the end of the chain.
"""

from __future__ import annotations

from airflow.sdk import dag, task
from airflow.sdk.exceptions import AirflowSkipException

from tasks import catalog


@dag(
    dag_id="evaluate",
    schedule=[catalog.MODEL],
    **catalog.DAG_SETTINGS,
    tags=["consumes:model", "produces:metrics"],
)
def evaluate():
    @task(outlets=[catalog.METRICS])
    def evaluate_new_models(**context) -> dict:
        from tasks.config import load_config
        from tasks.evaluation import evaluate_version, unevaluated_versions

        config = load_config(catalog.CONFIG_FILE)
        pending = unevaluated_versions(catalog.MODELS_DIR)
        if not pending:
            raise AirflowSkipException("Every model version is already evaluated")
        results = [evaluate_version(catalog.MODELS_DIR, catalog.FEATURES_DIR, catalog.METRICS_DIR, v, config) for v in pending]
        for m in results:
            print(f"{m['version']}: {m['decision']} - {m['reason']}")
        last = results[-1]
        context["outlet_events"][catalog.METRICS].extra = {
            "version": last["version"],
            "decision": last["decision"],
            "reason": last["reason"],
            "accuracy": round(last["challenger"]["accuracy"], 4),
            "f1_macro": round(last["challenger"]["f1_macro"], 4),
            "champion_f1_macro": None if last["champion"] is None else round(last["champion"]["f1_macro"], 4),
            "test_rows": last["test_rows"],
            "evaluated": [m["version"] for m in results],
        }
        return {m["version"]: m["decision"] for m in results}

    evaluate_new_models()


evaluate()
