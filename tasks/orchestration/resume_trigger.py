"""The watcher that resumes work a failed run left behind, once storage works again.

A run whose last retry failed (storage down or full, a crash) leaves its input in the store:
a claim not ingested, a feature set no version was trained on, a version not evaluated, a
champion not live. Nothing new would ring its stage again, so each stage's input asset has
this watcher: every ``CHECK_S`` seconds it asks the store what of its kind has waited more
than ``LEFT_BEHIND_AFTER_S``, and while the storage takes writes it fires once for it (the
store records the ring with an exclusive create), so the stage runs again with no new drop
and a stage that fails for another reason is not started over and over.

With ``after_s=0`` it rings for new work of its kind too: the scoring server's drift checks,
which only the score DAG can post to Airflow.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

CHECK_S = 15.0  # how often the store is asked (a few small reads)
LEFT_BEHIND_AFTER_S = 60.0  # waiting longer than this: the run that should have taken it failed


class LeftBehindTrigger(BaseEventTrigger):
    """Fires once per piece of left-behind work of ``kind`` (one of the store's ``LEFT_BEHIND``)."""

    def __init__(self, data_url: str, kind: str, check_s: float = CHECK_S, after_s: float = LEFT_BEHIND_AFTER_S):
        super().__init__()
        from tasks.store import LEFT_BEHIND

        if kind not in LEFT_BEHIND:
            raise ValueError(f"unknown kind of work {kind!r}: one of {', '.join(LEFT_BEHIND)}")
        self.data_url, self.kind, self.check_s, self.after_s = data_url, kind, check_s, after_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"data_url": self.data_url, "kind": self.kind, "check_s": self.check_s, "after_s": self.after_s},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from tasks.store import open_store
        from tasks.store.backend import StorageUnavailable

        store = await asyncio.to_thread(open_store, self.data_url)
        while True:
            try:
                items = await asyncio.to_thread(self._to_resume, store)
            except StorageUnavailable as exc:  # still down: the next check tries again
                self.log.warning("%s; looking for %s again in %.0f s", exc, self.kind, self.check_s)
                items = []
            if items:
                self.log.info("Ringing for %s: %s", self.kind, items)
                yield TriggerEvent({"resumed": self.kind, "left_behind": items})
            await asyncio.sleep(self.check_s)

    def _to_resume(self, store) -> list[str]:
        """The left-behind items to ring for now: none while storage cannot take writes (the
        stage would fail again), and none already rung for."""
        if store.space_problem():
            return []
        items = store.left_behind(self.kind, self.after_s)
        return items if items and store.resumes.ring_once(self.kind, items) else []
