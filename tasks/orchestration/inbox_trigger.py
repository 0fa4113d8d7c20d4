"""The inbox watcher's trigger: claims new files, then fires, so a file is never reported twice
(apache/airflow#49900). A local inbox on Linux is heard through inotify (a file is claimed
as soon as its writer closes it, or it is moved in), with a slow poll as the safety net; an
S3 prefix, or a folder inotify cannot watch, is polled. Lives in the installed package so
that the triggerer, and workers on other machines, can import it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

# BaseEventTrigger is not re-exported by airflow.sdk in 3.3; providers import it from here too.
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

LOCAL_POLL_S = 0.5  # local inbox scan interval (files written in place also need to settle)
HEARD_POLL_S = 5.0  # with inotify, scans only catch what it cannot hear (e.g. writes over NFS)
OBJECT_POLL_S = 1.0  # one LIST request per second on S3
QUEUE_SAFETY_SWEEP_S = 30.0  # with SQS notifications, how often the listing safety net runs


class InboxTrigger(BaseEventTrigger):
    """Claims new inbox files every ``poll_interval`` seconds and fires once per batch of
    claims. Keeps running after it fires, so later drops do not wait for a restart.
    ``inbox``: ``"inbox"`` (labelled drops, for training) or ``"scoring"`` (files to score)."""

    def __init__(self, data_url: str, poll_interval: float, settle_s: float | None = None, inbox: str = "inbox"):
        super().__init__()
        if inbox not in ("inbox", "scoring"):
            raise ValueError(f"unknown inbox {inbox!r}")
        self.data_url = data_url
        self.poll_interval = poll_interval
        self.settle_s = settle_s  # None: the store's default (older serialized triggers)
        self.inbox = inbox

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"data_url": self.data_url, "poll_interval": self.poll_interval, "settle_s": self.settle_s, "inbox": self.inbox},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from tasks.store import open_store
        from tasks.store.backend import StorageUnavailable
        from tasks.store.inbox import SettleClock

        store = await asyncio.to_thread(open_store, self.data_url)
        inbox = store.inbox if self.inbox == "inbox" else store.scoring_inbox
        if self.settle_s is not None and store.backend.can_rename:
            inbox.settle_s = self.settle_s
        await asyncio.to_thread(inbox.make_ready)
        snapshot: dict[str, str] = {}
        # Claims a crash left behind (claimed, never reported, or never ingested) need a
        # run now, not at the next daily run.
        if pending := await asyncio.to_thread(inbox.pending):
            self.log.info(
                "%d claimed file(s) in %s still waiting for their run: %s", len(pending), inbox.uri, [c.name for c in pending]
            )
            yield TriggerEvent({"claimed": [c.claim_id for c in pending], "files": [c.name for c in pending], "recovered": True})
        heard = inbox.finished_files()
        interval = self.poll_interval if heard is None else max(self.poll_interval, HEARD_POLL_S)
        self.log.info(
            "Watching %s: %s",
            inbox.uri,
            f"inotify, and a scan every {interval:.0f} s" if heard else f"a scan every {interval:.1f} s",
        )
        logged: set[str] = set()
        loop = asyncio.get_running_loop()
        clock = SettleClock(inbox.settle_s)
        try:
            while True:
                try:
                    claims, snapshot = await asyncio.to_thread(inbox.claim_settled, snapshot)
                    odd = await asyncio.to_thread(inbox.left_alone)
                except StorageUnavailable as exc:  # the watcher waits it out
                    self.log.warning("%s; the inbox watcher tries again", exc)
                    claims, odd = [], {}
                for name in sorted(set(odd) - logged):
                    self.log.warning("Inbox entry %r is %s", name, odd[name])
                logged = set(odd)
                if claims:
                    clock.forget([c.name for c in claims])
                    yield self._claimed(claims)
                next_scan = loop.time() + interval
                while heard is not None and (left := next_scan - loop.time()) > 0:
                    due_at = clock.next_due()
                    news = await heard.wait(left if due_at is None else max(0.0, min(left, due_at - loop.time())))
                    ready = clock.hear(news, loop.time()) + clock.due(loop.time())
                    if ready and (claims := await asyncio.to_thread(inbox.claim_finished, ready)):
                        yield self._claimed(claims)
                if heard is None:
                    await asyncio.sleep(interval)
        finally:
            if heard is not None:
                heard.close()

    def _claimed(self, claims: list) -> TriggerEvent:
        self.log.info("Claimed %d file(s): %s", len(claims), [c.name for c in claims])
        return TriggerEvent({"claimed": [c.claim_id for c in claims], "files": [c.name for c in claims]})
