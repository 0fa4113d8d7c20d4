"""Where the chain tells people (the Airflow side): a task failed after its last retry (the
DAGs' ``on_failure_callback``), files quarantined, and what a stage's result asks to be told
(a champion live, a challenger refused). Each is recorded as one event in the store (one
small write); the alert deliverer groups and sends them, so no task waits for a channel.
With no ``[alerts]`` table nothing is recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from tasks.store.backend import StorageUnavailable

log = logging.getLogger(__name__)


class AlreadyReported(AirflowFailException):
    """A run kept red for a cause told elsewhere (its files' quarantine alert, or the failing
    task's own alert): no second alert for it."""


def record_alert(kind: str, level: str, fields: Callable[[], dict[str, Any]]) -> None:
    """Keep one alert event, when alerts are configured (``fields`` is built only then). A
    failure to record is logged, never raised: telling people must not fail the work."""
    from tasks.config import Settings, load_config
    from tasks.store import open_store

    settings = Settings.from_env()
    parameters = load_config(settings.config_file)
    if parameters.alerts is None:
        return
    try:
        open_store(settings.data_url).alerts.record(kind, level, {"dataset": parameters.dataset.name, **fields()})
    except StorageUnavailable as exc:
        log.warning("Could not record the %s alert: %s", kind, exc)


def _ui_base() -> str:
    from airflow.configuration import conf

    return conf.get("api", "base_url", fallback="http://localhost:8080/").rstrip("/")


def run_link(context: dict[str, Any]) -> str:
    """The run's page in the Airflow UI."""
    return f"{_ui_base()}/dags/{context['dag'].dag_id}/runs/{context['run_id']}"


def page_link(page: str) -> str:
    """A page of the Pipeline plugin (``page`` relative to it, e.g. ``drift/<id>``) in the Airflow UI."""
    from tasks.orchestration.ui_plugin import URL_PREFIX

    return f"{_ui_base()}{URL_PREFIX}/{page}"


def alert_rejections(context: dict[str, Any], rejections: list[dict[str, Any]]) -> None:
    """One event for the files a task quarantined, each with its reason's first line."""
    items = [
        {"what": f"{r['file']} quarantined at {r['stage']}", "why": str(r["reason"]).splitlines()[0], "fix": r.get("fix", "")}
        for r in rejections
    ]
    record_alert(
        "quarantine",
        "warning",
        lambda: {
            "what": f"{len(items)} file(s) quarantined",
            "items": items,
            "files": [r["file"] for r in rejections],
            "link": run_link(context),
        },
    )


def alert_task_failed(context: dict[str, Any]) -> None:
    """``on_failure_callback``: Airflow 3.3 calls it once a task failed after its last retry
    (a retry calls ``on_retry_callback`` instead; tests/test_alerts_e2e.py checks it)."""
    error = context.get("exception")
    if isinstance(error, AlreadyReported):
        return
    ti = context["ti"]
    last_line = (str(error).strip().splitlines() or [type(error).__name__])[-1] if error else "unknown error"
    record_alert(
        "task_failed",
        "error",
        lambda: {
            "what": f"{ti.dag_id}.{ti.task_id} failed after {ti.try_number} tries (run {ti.run_id})",
            "why": last_line,
            "fix": "read the task's log (link); once fixed, Clear the task in the UI to run it again",
            "link": ti.log_url,
        },
    )


def alert_result(result) -> None:
    """What a stage's result asks to tell (``StageResult.alerts``)."""
    for alert in result.alerts():
        if page := alert.pop("page", None):  # a stage names the plugin's page; the link needs the UI's address
            alert.setdefault("link", page_link(page))
        record_alert(alert["kind"], alert["level"], lambda a=alert: {k: v for k, v in a.items() if k not in ("kind", "level")})
