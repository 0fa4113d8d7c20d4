"""The watcher's trigger, run on a real event loop against a real folder (no Airflow runtime needed)."""

from __future__ import annotations

import asyncio
import importlib
import os
import time

from airflow.triggers.base import BaseEventTrigger

from tasks.inbox_trigger import InboxClaimTrigger


def test_is_an_event_trigger_that_round_trips_through_serialize(dirs):
    trigger = InboxClaimTrigger(inbox=str(dirs.inbox), claimed_dir=str(dirs.claimed), poll_interval=0.5)
    assert isinstance(trigger, BaseEventTrigger)
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)  # what the triggerer does
    assert rebuilt.serialize() == (classpath, kwargs)


def test_fires_once_per_drop_and_keeps_watching(dirs):
    trigger = InboxClaimTrigger(inbox=str(dirs.inbox), claimed_dir=str(dirs.claimed), poll_interval=0.05, settle_s=0.1)

    async def scenario():
        events = []
        stream = trigger.run()
        for name in ("one.csv", "two.csv"):
            path = dirs.inbox / name
            path.write_text("a\n1\n")
            past = time.time() - 1
            os.utime(path, (past, past))
            events.append(await asyncio.wait_for(anext(stream), timeout=5))
        await stream.aclose()
        return events

    events = asyncio.run(scenario())
    assert [e.payload["files"] for e in events] == [["one.csv"], ["two.csv"]]
    assert list(dirs.inbox.iterdir()) == []
    assert sorted(p.name.split("__", 1)[1] for p in dirs.claimed.iterdir()) == ["one.csv", "two.csv"]


def test_creates_a_missing_inbox(dirs):
    inbox = dirs.root / "new-inbox"
    trigger = InboxClaimTrigger(inbox=str(inbox), claimed_dir=str(dirs.claimed), poll_interval=0.05)

    async def scenario():
        stream = trigger.run()
        task = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.2)
        task.cancel()

    asyncio.run(scenario())
    assert inbox.is_dir()
