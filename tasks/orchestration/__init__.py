"""The Airflow edge: the only part of the package that imports Airflow (besides ``dags/``).

- ``assets``: the chain's assets and the inbox's watchers, built when a DAG file asks;
- ``inbox_trigger``: the trigger that claims inbox files (``InboxTrigger``);
- ``resume_trigger``: the trigger that rings a stage again for work a failed run left behind;
- ``approval``: the Required Action holding a model for a person's yes (``ModelApproval``);
- ``rejections``: how a stage's result becomes Airflow state (``emit``) and rejections events;
- ``dag_defaults``: what every DAG shares, and what tasks ask of their context;
- ``ui_plugin``, ``run_notes``: the Pipeline view in the Airflow UI, notes on rejecting runs;
- ``child_exit``: a fix the launcher applies inside Airflow's components (a stopped child's exit noticed at once).

Importing this package reads no environment and builds no trigger. ``InboxTrigger`` is also
re-exported here: deployments that serialized it as ``tasks.orchestration.InboxTrigger``
keep working.
"""

from tasks.orchestration.approval import RUNS_AT_ONCE, ModelApproval, held_for_approval, held_version
from tasks.orchestration.assets import DRIFTED, QUARANTINE_NAME, QUARANTINED, ChainAssets, chain_assets, inbox_watchers
from tasks.orchestration.dag_defaults import DAG_SETTINGS, config, files_already_claimed, retrain_requested, settings, store
from tasks.orchestration.inbox_trigger import InboxTrigger
from tasks.orchestration.rejections import (
    emit,
    fail_the_run,
    record_rejections,
    rejection_event,
    report_rejections_of,
    storage_errors_retried,
)

__all__ = [
    "DAG_SETTINGS",
    "DRIFTED",
    "QUARANTINED",
    "QUARANTINE_NAME",
    "ChainAssets",
    "InboxTrigger",
    "ModelApproval",
    "RUNS_AT_ONCE",
    "chain_assets",
    "config",
    "emit",
    "fail_the_run",
    "files_already_claimed",
    "held_for_approval",
    "held_version",
    "inbox_watchers",
    "record_rejections",
    "rejection_event",
    "report_rejections_of",
    "retrain_requested",
    "settings",
    "storage_errors_retried",
    "store",
]
