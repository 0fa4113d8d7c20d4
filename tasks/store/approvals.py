"""Models waiting for a person, and what was decided: ``approvals/<version>/``.

``request.json``: written by evaluation when a challenger it would promote must be approved
first (its metrics against the champion, the report). ``asked.json``: where Airflow asks
(the run and task holding the Required Action), written once the request is shown there.
``decision.json``: who decided, how and when; an exclusive create, so the first answer wins
and every later one (a second person, a late timeout, a superseded request's own answer)
learns it came too late. A request with no decision is waiting.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

from tasks.store.backend import StorePart

APPROVALS = "approvals"
REQUEST, ASKED, DECISION = "request.json", "asked.json", "decision.json"
WAITING_AMONG_NEWEST = 20  # a request this many versions back was superseded long ago


class Approvals(StorePart):
    folder = APPROVALS

    def _key(self, version: str, name: str) -> str:
        return f"{APPROVALS}/{version}/{name}"

    def request(self, version: str, record: dict[str, Any]) -> None:
        """Ask for a person's yes before ``version`` goes live."""
        self.backend.write_json(self._key(version, REQUEST), {"version": version, **record})

    def asked(self, version: str, where: dict[str, Any]) -> None:
        """Where Airflow asks (``dag_id``, ``run_id``, ``task_id``, ``map_index``)."""
        self.backend.write_json(self._key(version, ASKED), where)

    def where_asked(self, version: str) -> dict[str, Any] | None:
        return self.backend.read_json_or_none(self._key(version, ASKED))

    def decide(self, version: str, decision: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Record the decision on ``version`` unless one exists: (True, it) when this one
        counts, (False, the earlier one) when the version was decided already."""
        record = {"version": version, **decision}
        if self.backend.create_exclusive(self._key(version, DECISION), json.dumps(record, indent=2).encode()):
            return True, record
        return False, self.decision(version) or record

    def decision(self, version: str) -> dict[str, Any] | None:
        return self.backend.read_json_or_none(self._key(version, DECISION))

    def versions(self) -> list[str]:
        """Every version ever held for approval, oldest first."""
        return sorted(self.backend.children(APPROVALS))

    def entry(self, version: str) -> dict[str, Any] | None:
        """The request with its decision (``None`` while waiting) and where Airflow asks."""
        request = self.backend.read_json_or_none(self._key(version, REQUEST))
        if request is None:
            return None
        return {**request, "asked": self.where_asked(version), "decision": self.decision(version)}

    def _newest(self) -> Iterator[dict[str, Any]]:
        for version in reversed(self.versions()):
            if (entry := self.entry(version)) is not None:
                yield entry

    def waiting(self) -> list[dict[str, Any]]:
        """Requests no one has decided yet, oldest first. Each new request supersedes the older
        ones, so only the newest few are read, however long the history."""
        return [e for e in itertools.islice(self._newest(), WAITING_AMONG_NEWEST) if e["decision"] is None][::-1]

    def decided(self, newest: int) -> list[dict[str, Any]]:
        """The ``newest`` decided requests, newest first."""
        return list(itertools.islice((e for e in self._newest() if e["decision"] is not None), newest))
