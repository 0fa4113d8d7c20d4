"""How a stage's result becomes Airflow state: rejections first (top of the task log, and one
``quarantine`` event per rejected file), then fail (no retry), skip (no event, downstream
does not fire), or the event's extra. A failed task emits no events, so a DAG whose task
may reject input gets ``record_rejections`` (posts them) and ``fail_the_run`` (keeps it red).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from tasks.config import Settings
from tasks.orchestration.alerting import AlreadyReported, alert_rejections, alert_result
from tasks.orchestration.assets import DRIFTED, QUARANTINED, chain_assets
from tasks.results import StageResult
from tasks.store import part_uri
from tasks.store.backend import StorageUnavailable

REJECTIONS_XCOM = "rejections"
log = logging.getLogger(__name__)


def rejection_event(rejection: dict[str, Any]) -> dict[str, Any]:
    """The ``quarantine`` event extra for one rejected file: what, where it went, why."""
    where = f"{part_uri(Settings.from_env().data_url, 'quarantine')}/{rejection['quarantine_id']}/"
    return {**rejection, "moved_to": where, "reason_file": f"{where}reason.json"}


def emit(context: dict[str, Any], result: StageResult, outlet: Asset | None = None) -> dict[str, Any]:
    """Report a stage's result to Airflow: rejections first (top of the task log, and as
    ``quarantine`` events), then fail (no retry), skip (no event, downstream does not
    fire), or set the event's extra."""
    rejections = [rejection_event(r) for r in result.rejections()]
    for r in rejections:
        log.warning("REJECTED %s at %s -> %s\n    %s", r["file"], r["stage"], r["moved_to"], r["reason"])
    for line in result.log_lines():
        log.info(line)
    if rejections:
        # A failing task emits no asset events: ``record_rejections`` posts them from this.
        context["ti"].xcom_push(key=REJECTIONS_XCOM, value=rejections)
        alert_rejections(context, rejections)
    alert_result(result)
    if failure := result.failure():
        raise (AlreadyReported if rejections else AirflowFailException)(failure)
    for r in rejections:
        context["outlet_events"][QUARANTINED].add(chain_assets().quarantine, extra=r)
    for check in result.drift_checks():
        context["outlet_events"][DRIFTED].add(chain_assets().drift, extra=check)
    if outlet is not None:
        if reason := result.nothing_new():
            raise AirflowSkipException(reason)
        context["outlet_events"][outlet].extra = result.event_extra()
    return result.summary()


@contextmanager
def storage_errors_retried() -> Iterator[None]:
    """Around a task's work: a storage failure is not a rejection. It fails the try with one
    line first (what failed, where, that Airflow retries) and no traceback of the stage's
    internals; anything else (rejections, bugs) passes through unchanged."""
    try:
        yield
    except StorageUnavailable as exc:
        message = f"{exc}. Not a data problem, nothing was rejected: Airflow retries this task"
        log.error(message)
        raise StorageUnavailable(message) from None


def fail_the_run(rejected: int) -> None:
    """After ``record_rejections``: a run that let nothing through must not look green."""
    if not rejected:
        raise AlreadyReported(
            "nothing was rejected: the task before failed on something other than the data "
            "(storage unreachable, or a bug): its log says what; nothing downstream runs"
        )
    raise AlreadyReported(f"{rejected} rejected file(s) and nothing let through: see the 'quarantine' asset's events")


def record_rejections(context: dict[str, Any], rejecting_task_id: str) -> int:
    """After ``rejecting_task_id`` failed on rejected input: one ``quarantine`` event per
    rejected file (a failed task emits none itself)."""
    rejections = context["ti"].xcom_pull(task_ids=rejecting_task_id, key=REJECTIONS_XCOM) or []
    for r in rejections:
        context["outlet_events"][QUARANTINED].add(chain_assets().quarantine, extra=r)
    return len(rejections)


def report_rejections_of(rejecting: Any) -> None:
    """Inside a DAG: after ``rejecting`` (the task that may reject input), a
    ``record_rejections`` task that runs only when it failed and posts its rejections as
    ``quarantine`` events, then ``fail_the_run`` to keep that run red. On success the
    scheduler skips both without starting a process."""
    from airflow.sdk import task

    rejecting_id = rejecting.operator.task_id

    # inlet: the Assets page lists the quarantine asset before any rejection
    @task(task_id="record_rejections", outlets=[QUARANTINED], inlets=[chain_assets().quarantine], trigger_rule="one_failed")
    def record(**context) -> int:
        return record_rejections(context, rejecting_id)

    @task(task_id="fail_the_run")
    def fail(rejected: int) -> None:
        fail_the_run(rejected)

    rejected = record()
    rejecting >> rejected
    fail(rejected)
