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

LOCAL_POLL_S = 0.5  # local inbox scan interval (files also need ~1 s to settle)
HEARD_POLL_S = 5.0  # with inotify, scans only catch what it cannot hear (e.g. writes over NFS)
OBJECT_POLL_S = 1.0  # one LIST request per second on S3
QUEUE_SAFETY_SWEEP_S = 30.0  # with SQS notifications, how often the listing safety net runs


class InboxTrigger(BaseEventTrigger):
    """Claims new inbox files every ``poll_interval`` seconds and fires once per batch of
    claims. Keeps running after it fires, so later drops do not wait for a restart."""

    def __init__(self, data_url: str, poll_interval: float):
        super().__init__()
        self.data_url = data_url
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"data_url": self.data_url, "poll_interval": self.poll_interval},
        )

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
        self.log.info(
            "Watching the inbox: %s", f"inotify, and a scan every {interval:.0f} s" if heard else f"a scan every {interval:.1f} s"
        )
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
