"""The Airflow edge, on a real event loop: the inbox trigger on both backends, the SQS watcher
against the real SQS server fed by real S3 notifications, and how results become Airflow state."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import subprocess
import sys
import time
from types import SimpleNamespace
from urllib.parse import unquote_plus

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.triggers.base import BaseEventTrigger

from tasks import orchestration
from tasks.orchestration import InboxTrigger, emit, files_already_claimed, inbox_watchers
from tasks.orchestration.inbox_trigger import QUEUE_SAFETY_SWEEP_S
from tasks.stages.ingest import IngestResult
from tasks.stages.validate import GateResult


def test_the_trigger_is_an_event_trigger_that_round_trips_through_serialize(data_url):
    trigger = InboxTrigger(data_url, poll_interval=0.5)
    assert isinstance(trigger, BaseEventTrigger)
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)  # what the triggerer does
    assert rebuilt.serialize() == (classpath, kwargs)


def test_the_trigger_fires_once_per_drop_and_keeps_watching(store):
    trigger = InboxTrigger(store.url, poll_interval=0.05)

    async def scenario():
        events = []
        stream = trigger.run()
        for name in ("one.csv", "two.csv"):
            await asyncio.to_thread(store.inbox.put, name, b"a\n1\n")
            if store.backend.can_rename:  # local files must look settled
                past = time.time() - 5
                os.utime(store.backend.path(f"inbox/{name}"), (past, past))
            events.append(await asyncio.wait_for(anext(stream), timeout=10))
        await stream.aclose()
        return events

    events = asyncio.run(scenario())
    assert [e.payload["files"] for e in events] == [["one.csv"], ["two.csv"]]
    assert sorted(c.name for c in store.inbox.pending()) == ["one.csv", "two.csv"]
    assert store.inbox.waiting() == []


def test_a_local_drop_is_claimed_as_soon_as_it_is_written_not_when_it_settles(tmp_path):
    from tasks.store import open_store

    store = open_store(str(tmp_path / "data"))
    trigger = InboxTrigger(store.url, poll_interval=60)  # one scan at start, then only inotify

    async def scenario():
        stream = trigger.run()
        first = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.5)  # the trigger is listening
        # After the start-up scan only inotify can report it (the next scan is 60 s away).
        await asyncio.to_thread(store.inbox.put, "fresh.csv", b"a\n1\n")
        event = await asyncio.wait_for(first, timeout=10)
        await stream.aclose()
        return event

    event = asyncio.run(scenario())
    assert event.payload["files"] == ["fresh.csv"]
    assert [c.name for c in store.inbox.pending()] == ["fresh.csv"]


def test_with_a_queue_the_inbox_has_a_notification_watcher_and_a_listing_safety_net(s3_server):
    watchers = inbox_watchers("s3://b/data", "http://127.0.0.1:1/123/q")
    assert [w.name for w in watchers] == ["inbox_notifications", "inbox_safety_sweep", "resume_claims"]
    assert watchers[0].trigger.serialize()[0].endswith("SqsSensorTrigger")
    assert watchers[1].trigger.poll_interval == QUEUE_SAFETY_SWEEP_S


def test_the_queue_watcher_fires_when_a_file_is_uploaded_to_the_inbox(s3_server):
    import boto3

    bucket = s3_server.new_bucket()
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    queue_url = sqs.create_queue(QueueName=f"{bucket}-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "data/inbox/"}]}},
                }
            ]
        },
    )
    sqs.purge_queue(QueueUrl=queue_url)  # the s3:TestEvent sent when the notification is set
    trigger = inbox_watchers(f"s3://{bucket}/data", queue_url)[0].trigger

    async def first_event():
        stream = trigger.run()
        await asyncio.sleep(0.5)
        await asyncio.to_thread(s3.put_object, Bucket=bucket, Key="data/inbox/upload.csv", Body=b"a\n1\n")
        event = await asyncio.wait_for(anext(stream), timeout=30)
        await stream.aclose()
        return event

    (message,) = asyncio.run(first_event()).payload["message_batch"]
    (record,) = json.loads(message["Body"])["Records"]
    assert record["eventName"].startswith("ObjectCreated")
    assert unquote_plus(record["s3"]["object"]["key"]) == "data/inbox/upload.csv"


class XComShelf:
    """The task instance's XCom push/pull, kept in memory (the real one needs a supervisor)."""

    def __init__(self):
        self.values: dict[str, object] = {}

    def xcom_push(self, key, value):
        self.values[key] = value

    def xcom_pull(self, task_ids, key):
        return self.values.get(key)


def _context(*payloads):
    from airflow.sdk.execution_time.context import OutletEventAccessors

    events = [SimpleNamespace(extra={"from_trigger": True, "payload": p}) for p in payloads]
    return {
        "triggering_asset_events": {orchestration.chain_assets().inbox: events},
        "outlet_events": OutletEventAccessors(),
        "ti": XComShelf(),
    }


def _quarantine_events(context):
    return [e.extra for e in context["outlet_events"][orchestration.QUARANTINED].asset_alias_events]


def test_only_runs_started_by_claiming_watcher_events_skip_the_sweep():
    assert files_already_claimed(_context({"claimed": ["c1"], "files": ["a.csv"]}))
    assert not files_already_claimed(_context())  # daily or manual run
    assert not files_already_claimed(_context({"message_batch": [{"Body": "{}"}]}))  # a queue notification
    assert not files_already_claimed(_context({"claimed": ["c1"]}, {"message_batch": []}))


def test_emit_sets_the_extra_skips_when_nothing_is_new_and_fails_after_logging_the_reasons(caplog):
    context = _context()
    result = IngestResult(new_batches=[{"batch_id": "b-1", "file": "a.csv", "rows": 3, "sha256": "x" * 64}])
    assert emit(context, result, orchestration.chain_assets().raw)["rows_added"] == 3
    assert context["outlet_events"][orchestration.chain_assets().raw].extra["batches"] == ["b-1"]
    with pytest.raises(AirflowSkipException, match="No new batch"):
        emit(_context(), IngestResult(), orchestration.chain_assets().raw)
    gate = GateResult(
        quarantined=[
            {
                "batch_id": "b-2",
                "file": "bad.csv",
                "reason": "3 of 19 checks failed",
                "quarantine_id": "b-2",
                "stage": "validation",
            }
        ]
    )
    failed = _context()
    with (
        caplog.at_level(logging.INFO),
        pytest.raises(AirflowFailException, match="No batch passed the gate: bad.csv -> quarantine/b-2: 3 of 19"),
    ):
        emit(failed, gate)
    assert "REJECTED bad.csv at validation -> " in caplog.text and "3 of 19 checks failed" in caplog.text
    # A failed task emits no events: the rejections wait in XCom for record_rejections.
    assert _quarantine_events(failed) == []
    assert orchestration.record_rejections(failed, "validate_and_split") == 1
    (event,) = _quarantine_events(failed)
    assert event["file"] == "bad.csv" and event["stage"] == "validation" and event["moved_to"].endswith("/quarantine/b-2/")


def test_a_mixed_drop_emits_its_batches_and_one_quarantine_event_per_rejected_file():
    context = _context()
    result = IngestResult(
        new_batches=[{"batch_id": "b-1", "file": "a.csv", "rows": 3, "sha256": "x" * 64}],
        quarantined=[
            {"file": "x.txt", "reason": "not a CSV", "quarantine_id": "q1"},
            {"file": "y.csv", "reason": "empty", "quarantine_id": "q2"},
        ],
    )
    emit(context, result, orchestration.chain_assets().raw)
    assert context["outlet_events"][orchestration.chain_assets().raw].extra["batches"] == ["b-1"]
    assert [(e["file"], e["stage"], e["reason"]) for e in _quarantine_events(context)] == [
        ("x.txt", "ingest", "not a CSV"),
        ("y.csv", "ingest", "empty"),
    ]


def test_claims_a_crash_left_behind_are_reported_as_soon_as_the_trigger_starts(store):
    store.inbox.add_claimed("left-over.csv", b"a\n1\n")  # claimed, but the event was never stored
    trigger = InboxTrigger(store.url, poll_interval=60)

    async def first_event():
        stream = trigger.run()
        event = await asyncio.wait_for(anext(stream), timeout=10)
        await stream.aclose()
        return event

    event = asyncio.run(first_event())
    assert event.payload["files"] == ["left-over.csv"] and event.payload["recovered"]
    assert files_already_claimed(_context(event.payload))  # ingest takes the pending claims


def test_the_trigger_creates_a_missing_local_inbox(tmp_path):
    trigger = InboxTrigger(str(tmp_path / "new-data"), poll_interval=0.05)

    async def scenario():
        stream = trigger.run()
        task = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.5)
        task.cancel()

    asyncio.run(scenario())
    assert (tmp_path / "new-data" / "inbox").is_dir()


def test_importing_the_edge_reads_no_environment_and_builds_no_trigger():
    code = (
        "import os, sys\n"
        "os.environ.pop('PIPELINE_DATA_URL', None)\n"
        "import tasks.orchestration.inbox_trigger as t\n"
        "built = []\n"
        "t.InboxTrigger.__init__ = lambda self, *a, **k: built.append(a)\n"
        "import tasks.orchestration\n"
        "print('BUILT', len(built))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "BUILT 0" in done.stdout, done.stderr[-2000:]


def test_a_trigger_serialized_by_an_earlier_release_still_loads():
    """Running deployments stored ``tasks.orchestration.InboxTrigger`` in their database."""
    import importlib

    module, _, name = "tasks.orchestration.InboxTrigger".rpartition(".")
    assert getattr(importlib.import_module(module), name) is InboxTrigger


def test_the_triggerer_runner_wakes_when_a_trigger_yields_an_event():
    """The patch (``trigger_wake``) on Airflow's own module: the code it relies on is still
    there (an upgrade that changes it fails here), and an event appended to a runner's queue
    ends the loop's wait at once (bounded at 10 s here; the loop's wait is 60 s)."""
    import asyncio
    import inspect

    from airflow.jobs import triggerer_job_runner as module

    from tasks.orchestration.trigger_wake import EVENT_APPEND, PASS_WAIT, WakingEvents, wake_on_trigger_events

    assert inspect.getsource(module.TriggerRunner.arun).count(PASS_WAIT) == 1
    assert EVENT_APPEND in inspect.getsource(module.TriggerRunner.run_trigger)
    assert "self.events = deque()" in inspect.getsource(module.TriggerRunner.__init__)
    wake_on_trigger_events()
    wake_on_trigger_events()  # once only
    runner = module.TriggerRunner()
    assert type(runner.events) is WakingEvents

    async def loop_pass() -> bool:
        stop_event = module.anyio.Event()

        async def trigger_fires() -> None:
            await asyncio.sleep(0.05)
            runner.events.append("event")

        firing = asyncio.create_task(trigger_fires())
        with module.anyio.move_on_after(60) as wait:  # the loop's wait, as arun writes it
            await stop_event.wait()
        await firing
        return wait.cancel_called

    assert asyncio.run(asyncio.wait_for(loop_pass(), timeout=10)) and list(runner.events) == ["event"]
