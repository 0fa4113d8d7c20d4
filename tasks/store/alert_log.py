"""What people were told, or are about to be: ``alerts/events/`` and ``alerts/messages/``.

An event (something happened: a file quarantined, a task failed after its last retry, a
champion live) is one small immutable file any process writes, so recording it costs a task
one write and nothing more. The alert deliverer alone turns events into messages (events of
one kind within the group window make one message) and records each channel's delivery state
in the message, so ``pipeline alerts`` and the Pipeline page show what was delivered, what
waits for a retry, and what was given up. Once a message is saved its events are removed, and
messages are kept for a while (the deliverer's ``MESSAGES_KEPT_DAYS``), so neither folder grows
without end.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from tasks.store.backend import StorePart

ALERTS = "alerts"
EVENTS, MESSAGES = f"{ALERTS}/events", f"{ALERTS}/messages"


def _stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S.%f")


class AlertLog(StorePart):
    folder = ALERTS

    def record(self, kind: str, level: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Keep one event (``fields``: what a message about it says). Returns it, with its id."""
        now = datetime.now(UTC)
        event = {
            "id": f"{_stamp(now)}-{uuid.uuid4().hex[:8]}",
            "kind": kind,
            "level": level,
            "at": now.isoformat(timespec="milliseconds"),
            **fields,
        }
        self.backend.write_json(f"{EVENTS}/{event['id']}.json", event)
        return event

    def event_ids(self) -> list[str]:
        """Every kept event's id, oldest first."""
        return sorted(n.removesuffix(".json") for n in self.backend.children(EVENTS) if n.endswith(".json"))

    def event(self, event_id: str) -> dict[str, Any] | None:
        return self.backend.read_json_or_none(f"{EVENTS}/{event_id}.json")

    def forget_events(self, event_ids: list[str]) -> None:
        """Remove events a saved message now holds (the folder keeps only what waits)."""
        for event_id in event_ids:
            self.backend.delete(f"{EVENTS}/{event_id}.json")

    def forget_messages_before(self, cutoff: datetime, keep: set[str]) -> int:
        """Remove messages made before ``cutoff`` except those in ``keep``; how many."""
        stamp = _stamp(cutoff)
        old = [
            n
            for n in self.backend.children(MESSAGES)
            if n.endswith(".json") and n < stamp and n.removesuffix(".json") not in keep
        ]
        for name in old:
            self.backend.delete(f"{MESSAGES}/{name}")
        return len(old)

    def save_message(self, message: dict[str, Any]) -> None:
        """Write (or rewrite, with its delivery state) one message; ``message["id"]`` names it."""
        self.backend.write_json(f"{MESSAGES}/{message['id']}.json", message)

    def messages(self, newest: int | None = None) -> list[dict[str, Any]]:
        """Messages, oldest first (the ``newest`` N only, when given)."""
        names = sorted(n for n in self.backend.children(MESSAGES) if n.endswith(".json"))
        if newest is not None:
            names = names[-newest:] if newest else []
        return [m for n in names if (m := self.backend.read_json_or_none(f"{MESSAGES}/{n}")) is not None]

    @staticmethod
    def message_id(kind: str, now: datetime | None = None) -> str:
        return f"{_stamp(now or datetime.now(UTC))}-{kind}"
