"""Event trigger behind the ``inbox`` asset's watcher.

Scans the inbox every ``poll_interval`` seconds, claims ``*.csv`` files that stopped
growing (rename into ``claimed/``) and fires one event naming what it claimed.
It keeps running after firing, so files dropped right after an event are not
left waiting for a restart. Claiming before reporting means a file is never
reported twice (apache/airflow#49900: a trigger that leaves its file in place
fires forever). Lives in the installed package so the triggerer can import it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

# BaseEventTrigger is not re-exported by airflow.sdk in 3.3; providers import it from here too.
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from tasks.inbox import Snapshot, claim_settled_files


class InboxClaimTrigger(BaseEventTrigger):
    def __init__(self, inbox: str, claimed_dir: str, poll_interval: float = 0.5, settle_s: float = 1.0):
        super().__init__()
        self.inbox = inbox
        self.claimed_dir = claimed_dir
        self.poll_interval = poll_interval
        self.settle_s = settle_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "inbox": self.inbox,
                "claimed_dir": self.claimed_dir,
                "poll_interval": self.poll_interval,
                "settle_s": self.settle_s,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        inbox, claimed_dir = Path(self.inbox), Path(self.claimed_dir)
        await asyncio.to_thread(inbox.mkdir, parents=True, exist_ok=True)
        previous: Snapshot = {}
        while True:
            claimed, previous = await asyncio.to_thread(
                claim_settled_files, inbox, claimed_dir, previous, min_age_s=self.settle_s
            )
            if claimed:
                self.log.info("Claimed %d file(s): %s", len(claimed), [c.original_name for c in claimed])
                yield TriggerEvent(
                    {
                        "claimed": [c.claimed_path.name for c in claimed],
                        "files": [c.original_name for c in claimed],
                    }
                )
            await asyncio.sleep(self.poll_interval)
