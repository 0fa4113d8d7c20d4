"""What every DAG of the chain shares, and what its tasks ask of their context."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tasks.config import Settings
from tasks.orchestration.assets import chain_assets


def _alert_task_failed(context: dict[str, Any]) -> None:
    from tasks.orchestration.alerting import alert_task_failed

    alert_task_failed(context)


# One run at a time (runs work from the stored data, so a second concurrent run would race
# the first), no backfill, retries with backoff.
DAG_SETTINGS: dict[str, Any] = {
    "start_date": datetime(2026, 1, 1, tzinfo=UTC),
    "catchup": False,
    "max_active_runs": 1,
    "default_args": {
        "retries": 2,
        "retry_delay": timedelta(seconds=10),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=5),
        "on_failure_callback": _alert_task_failed,  # after the last retry only (3.3 calls retries' own callback)
    },
}


def settings() -> Settings:
    """Where the data and the parameters file are (the environment, read when asked)."""
    return Settings.from_env()


def config():
    """The parameters file's settings (``PIPELINE_CONFIG``), read when a task asks."""
    from tasks.config import load_config

    return load_config(settings().config_file)


_PROMISES_CHECKED: set[str] = set()  # data roots this process checked (a worker checks once)


def store():
    """The store every task works on (``PIPELINE_DATA_URL``), checked to refuse a second
    conditional create (exactly-once claims depend on it) and to hold the configured data
    set: a task never mixes another data set's rows into it."""
    from tasks.store import open_store

    where = settings()
    opened = open_store(where.data_url)
    if where.data_url not in _PROMISES_CHECKED:
        opened.backend.check_exclusive_create()
        _PROMISES_CHECKED.add(where.data_url)
    opened.dataset.bind(config().dataset.identity(), described_by=str(where.config_file))
    return opened


def files_already_claimed(context: dict[str, Any]) -> bool:
    """True when the run was started only by ``InboxTrigger`` events, whose files are
    claimed already; daily, manual and queue-notified runs must sweep the inbox."""
    events = context["triggering_asset_events"].get(chain_assets().inbox, [])
    return bool(events) and all("claimed" in (e.extra or {}).get("payload", {}) for e in events)


def retrain_requested(context: dict[str, Any]) -> bool:
    """A run triggered with ``{"retrain": true}`` (``pipeline retrain``) fits a new version even
    when one exists for the same data and settings."""
    return bool((context["dag_run"].conf or {}).get("retrain"))
