"""Drift checks, newest last: ``drift/<when>-<id>.json``.

Each record is one check of rows against the champion's reference (``tasks.ml.drift``): where
the rows came from (a dropped batch, a scoring file, the scoring server's window), which model,
each feature's scores, which drifted, and whether the data set did. Written whole, once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from tasks.store.backend import StorePart

DRIFT = "drift"


class DriftLog(StorePart):
    folder = DRIFT

    def record(self, check: dict[str, Any]) -> dict[str, Any]:
        """Keep one check; returns it with its ``id`` and ``checked_at``."""
        now = datetime.now(UTC)
        record = {
            "id": f"{now:%Y%m%dT%H%M%S.%f}-{uuid.uuid4().hex[:8]}",
            "checked_at": now.isoformat(timespec="seconds"),
            **check,
        }
        self.backend.write_json(f"{DRIFT}/{record['id']}.json", record)
        return record

    def recent(self, count: int) -> list[dict[str, Any]]:
        """The ``count`` newest checks, newest first."""
        names = sorted((n for n in self.backend.children(DRIFT) if n.endswith(".json")), reverse=True)[:count]
        return [r for n in names if (r := self.backend.read_json_or_none(f"{DRIFT}/{n}")) is not None]
