"""The Airflow edge: assets, the inbox watcher's trigger, DAG defaults, and how a stage's
result becomes Airflow state. The only module of the package that imports Airflow
(besides ``dags/``); it lives in the installed package so that the triggerer, and
workers on other machines, can import the trigger class.

The inbox asset is watched by event triggers:
- default: ``InboxTrigger`` claims new files before it fires, so a file is never reported
  twice (apache/airflow#49900). A local inbox on Linux is heard through inotify (a file
  is claimed as soon as its writer closes it, or it is moved in), with a slow poll as
  the safety net; an S3 prefix, or a folder inotify cannot watch, is polled;
- ``PIPELINE_INBOX_QUEUE`` set (an SQS queue fed by the bucket's ObjectCreated
  notifications): Airflow's ``MessageQueueTrigger`` fires on each upload, and an
  ``InboxTrigger`` with a long interval stays as the safety net (notifications are
  at-least-once and may be lost). Ingest then claims what is in the inbox itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Asset, AssetAlias, AssetWatcher
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

# BaseEventTrigger is not re-exported by airflow.sdk in 3.3; providers import it from here too.
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from tasks.config import Settings
from tasks.results import StageResult
from tasks.store import part_uri

SETTINGS = Settings.from_env()
LOCAL_POLL_S = 0.5  # local inbox scan interval (files also need ~1 s to settle)
HEARD_POLL_S = 5.0  # with inotify, scans only catch what it cannot hear (e.g. writes over NFS)
OBJECT_POLL_S = 1.0  # one LIST request per second on S3
QUEUE_SAFETY_SWEEP_S = 30.0  # with SQS notifications, how often the listing safety net runs
log = logging.getLogger(__name__)


class InboxTrigger(BaseEventTrigger):
    """Claims new inbox files every ``poll_interval`` seconds and fires once per batch of
    claims. Keeps running after it fires, so later drops do not wait for a restart."""

    def __init__(self, data_url: str, poll_interval: float):
        super().__init__()
        self.data_url = data_url
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}", {"data_url": self.data_url, "poll_interval": self.poll_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from tasks.store import open_store

        store = await asyncio.to_thread(open_store, self.data_url)
        await asyncio.to_thread(store.inbox.make_ready)
        snapshot: dict[str, str] = {}
        # Claims a crash left behind (claimed, never reported, or never ingested) need an
        # ingest run now, not at the next daily run.
        if pending := await asyncio.to_thread(store.inbox.pending):
            self.log.info("%d claimed file(s) still waiting for ingest: %s", len(pending), [c.name for c in pending])
            yield TriggerEvent({"claimed": [c.claim_id for c in pending], "files": [c.name for c in pending], "recovered": True})
        heard = store.inbox.finished_files()
        interval = self.poll_interval if heard is None else max(self.poll_interval, HEARD_POLL_S)
        self.log.info("Watching the inbox: %s", "inotify, and a scan every %.0f s" % interval if heard else "a scan every %.1f s" % interval)
        logged: set[str] = set()
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    claims, snapshot = await asyncio.to_thread(store.inbox.claim_settled, snapshot)
                    odd = await asyncio.to_thread(store.inbox.left_alone)
                except OSError as exc:  # storage briefly unreachable: try again next round
                    self.log.warning("Inbox scan failed: %s", exc)
                    claims, odd = [], {}
                for name in sorted(set(odd) - logged):
                    self.log.warning("Inbox entry %r is %s", name, odd[name])
                logged = set(odd)
                if claims:
                    yield self._claimed(claims)
                next_scan = loop.time() + interval
                while heard is not None and (left := next_scan - loop.time()) > 0:
                    if names := await heard.wait(left):
                        if claims := await asyncio.to_thread(store.inbox.claim_finished, names):
                            yield self._claimed(claims)
                if heard is None:
                    await asyncio.sleep(interval)
        finally:
            if heard is not None:
                heard.close()

    def _claimed(self, claims: list) -> TriggerEvent:
        self.log.info("Claimed %d file(s): %s", len(claims), [c.name for c in claims])
        return TriggerEvent({"claimed": [c.claim_id for c in claims], "files": [c.name for c in claims]})


def inbox_watchers(settings: Settings) -> list[AssetWatcher]:
    if not settings.inbox_queue:
        interval = OBJECT_POLL_S if settings.on_object_storage else LOCAL_POLL_S
        return [AssetWatcher(name="inbox_new_files", trigger=InboxTrigger(settings.data_url, interval))]
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    return [
        AssetWatcher(
            name="inbox_notifications",
            trigger=MessageQueueTrigger(
                scheme="sqs",
                sqs_queue=settings.inbox_queue,
                aws_conn_id=None,  # the standard AWS_* variables, as for the data
                max_messages=10,
                waiter_delay=1,  # seconds between empty polls (default 60)
            ),
        ),
        AssetWatcher(name="inbox_safety_sweep", trigger=InboxTrigger(settings.data_url, QUEUE_SAFETY_SWEEP_S)),
    ]


def _asset(name: str, what: str, **kwargs: Any) -> Asset:
    return Asset(name=name, uri=part_uri(SETTINGS.data_url, name), extra={"what": what}, **kwargs)


INBOX = _asset("inbox", "drop zone: labelled CSVs dropped here start the pipeline", watchers=inbox_watchers(SETTINGS))
RAW = _asset("raw", "immutable, content-hashed batches of accepted drops")
FEATURES = _asset("features", "train/test split of every validated batch")
MODEL = _asset("model", "versioned scikit-learn pipelines and the champion pointer")
METRICS = _asset("metrics", "evaluation reports; latest/report.html is the newest")
QUARANTINE = _asset("quarantine", "rejected drops and batches, each with its reason (make quarantine)")
# Tasks that may reject input have this alias as an outlet: an event lands on QUARANTINE
# only when something was rejected (a plain outlet would fire on every success), one per
# rejected file, so the Assets page lists each rejection with its reason.
QUARANTINED = AssetAlias(name="quarantined")
REJECTIONS_XCOM = "rejections"

# What every DAG of the chain shares: one run at a time (runs work from the stored
# data, so a second concurrent run would race the first), no backfill, retries with backoff.
DAG_SETTINGS: dict[str, Any] = {
    "start_date": datetime(2026, 1, 1, tzinfo=UTC),
    "catchup": False,
    "max_active_runs": 1,
    "default_args": {
        "retries": 2,
        "retry_delay": timedelta(seconds=10),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=5),
    },
}


def store():
    """The store every task works on (``PIPELINE_DATA_URL``)."""
    from tasks.store import open_store

    return open_store(SETTINGS.data_url)


def files_already_claimed(context: dict[str, Any]) -> bool:
    """True when the run was started only by ``InboxTrigger`` events, whose files are
    claimed already; daily, manual and queue-notified runs must sweep the inbox."""
    events = context["triggering_asset_events"].get(INBOX, [])
    return bool(events) and all("claimed" in (e.extra or {}).get("payload", {}) for e in events)


def retrain_requested(context: dict[str, Any]) -> bool:
    """A run triggered with ``{"retrain": true}`` (``make retrain``) fits a new version even
    when one exists for the same data and settings."""
    return bool((context["dag_run"].conf or {}).get("retrain"))


def rejection_event(rejection: dict[str, Any]) -> dict[str, Any]:
    """The ``quarantine`` event extra for one rejected file: what, where it went, why."""
    where = f"{part_uri(SETTINGS.data_url, 'quarantine')}/{rejection['quarantine_id']}/"
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
    if failure := result.failure():
        raise AirflowFailException(failure)
    for r in rejections:
        context["outlet_events"][QUARANTINED].add(QUARANTINE, extra=r)
    if outlet is not None:
        if reason := result.nothing_new():
            raise AirflowSkipException(reason)
        context["outlet_events"][outlet].extra = result.event_extra()
    return result.summary()


def fail_the_run(rejected: int) -> None:
    """After ``record_rejections``: a run that let nothing through must not look green."""
    raise AirflowFailException(f"{rejected} rejected file(s) and nothing let through: see the 'quarantine' asset's events")


def record_rejections(context: dict[str, Any], rejecting_task_id: str) -> int:
    """After ``rejecting_task_id`` failed on rejected input: one ``quarantine`` event per
    rejected file (a failed task emits none itself)."""
    rejections = context["ti"].xcom_pull(task_ids=rejecting_task_id, key=REJECTIONS_XCOM) or []
    for r in rejections:
        context["outlet_events"][QUARANTINED].add(QUARANTINE, extra=r)
    return len(rejections)


def report_rejections_of(rejecting: Any) -> None:
    """Inside a DAG: after ``rejecting`` (the task that may reject input), a
    ``record_rejections`` task that runs only when it failed and posts its rejections as
    ``quarantine`` events, then ``fail_the_run`` to keep that run red. On success the
    scheduler skips both without starting a process."""
    from airflow.sdk import task

    rejecting_id = rejecting.operator.task_id

    # inlet: the Assets page lists the quarantine asset before any rejection
    @task(task_id="record_rejections", outlets=[QUARANTINED], inlets=[QUARANTINE], trigger_rule="one_failed")
    def record(**context) -> int:
        return record_rejections(context, rejecting_id)

    @task(task_id="fail_the_run")
    def fail(rejected: int) -> None:
        fail_the_run(rejected)

    rejected = record()
    rejecting >> rejected
    fail(rejected)
