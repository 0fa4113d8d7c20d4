"""Drift checks, newest last: ``drift/<when>-<id>.json``.

Each record is one check of rows against the champion's reference (``tasks.ml.drift``): where
the rows came from (a dropped batch, a scoring file, the scoring server's window), which model,
each feature's scores, which drifted, and whether the data set did. Written whole, once.

A check made outside Airflow (the scoring server's windows) is also marked to announce
(``drift/to_announce/<id>.json``, written after the check): the score DAG, rung by a watcher
on these marks, posts it as a ``drift`` event and an alert, then removes the mark.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from tasks.store.backend import StorePart

DRIFT = "drift"
TO_ANNOUNCE = f"{DRIFT}/to_announce"


class DriftLog(StorePart):
    folder = DRIFT

    def record(self, check: dict[str, Any], *, announce: bool = False) -> dict[str, Any]:
        """Keep one check; returns it with its ``id`` and ``checked_at``. ``announce``: a check
        no Airflow task made, for the score DAG to post (``to_announce``)."""
        now = datetime.now(UTC)
        record = {
            "id": f"{now:%Y%m%dT%H%M%S.%f}-{uuid.uuid4().hex[:8]}",
            "checked_at": now.isoformat(timespec="seconds"),
            **check,
        }
        self.backend.write_json(f"{DRIFT}/{record['id']}.json", record)
        if announce:  # the mark after the check: a mark always names a whole check
            self.backend.write_json(f"{TO_ANNOUNCE}/{record['id']}.json", {"source": record.get("source")})
        return record

    def check(self, check_id: str) -> dict[str, Any] | None:
        return self.backend.read_json_or_none(f"{DRIFT}/{check_id}.json")

    def to_announce(self) -> list[str]:
        """The ids of checks waiting to be posted to Airflow, oldest first."""
        return sorted(n.removesuffix(".json") for n in self.backend.children(TO_ANNOUNCE) if n.endswith(".json"))

    def announced(self, check_id: str) -> None:
        self.backend.delete(f"{TO_ANNOUNCE}/{check_id}.json")

    @staticmethod
    def made_at(check_id: str) -> float:
        """When the check ``check_id`` was made (epoch seconds), from its id."""
        return datetime.strptime(check_id.split("-", 1)[0], "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC).timestamp()

    def recent(self, count: int) -> list[dict[str, Any]]:
        """The ``count`` newest checks, newest first."""
        names = sorted((n for n in self.backend.children(DRIFT) if n.endswith(".json")), reverse=True)[:count]
        return [r for n in names if (r := self.backend.read_json_or_none(f"{DRIFT}/{n}")) is not None]
