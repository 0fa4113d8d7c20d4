"""Undo: take a batch out of the data set (retract), or let a wrongly quarantined one in (release).

Each step is recorded next to the batch (who, when, why) and returns a result whose
``event_extra()`` goes on the ``raw`` asset event that makes the pipeline rebuild: features
without (or with) the batch, a retrained model, and the champion judged again on the cleaned
held-out set. A champion trained on a retracted batch loses its title (see ``evaluate``).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tasks.results import StageResult
from tasks.store import Store


@dataclass
class UndoResult(StageResult):
    action: str  # retracted | released
    batch_id: str
    record: dict[str, Any]

    def event_extra(self) -> dict[str, Any]:
        return {self.action: self.batch_id, **{k: self.record[k] for k in ("by", "at", "why")}}

    def log_lines(self) -> list[str]:
        return [f"{self.action.upper()} {self.batch_id} by {self.record['by']} at {self.record['at']}: {self.record['why']}"]


def _record(why: str, by: str | None) -> dict[str, Any]:
    if not why.strip():
        raise ValueError("say why (it is kept next to the batch)")
    return {"by": by or getpass.getuser(), "at": datetime.now(UTC).isoformat(timespec="seconds"), "why": why.strip()}


def retract_batch(store: Store, batch_id: str, why: str, by: str | None = None) -> UndoResult:
    """Take ``batch_id`` out of the training and held-out data; the batch is kept, marked."""
    manifest = store.batches.manifest(batch_id)
    if manifest is None:
        raise KeyError(f"no batch {batch_id!r} in {store.batches.uri}")
    if previous := store.batches.retraction(batch_id):
        raise ValueError(f"{batch_id} was already retracted by {previous['by']} at {previous['at']}: {previous['why']}")
    record = {**_record(why, by), "file": manifest["source_file"]}
    store.batches.retract(batch_id, record)
    return UndoResult("retracted", batch_id, record)


def release_quarantined(store: Store, quarantine_id: str, why: str, by: str | None = None) -> UndoResult:
    """Let a batch the gate quarantined into the data set, overriding the gate (recorded)."""
    reason = store.quarantine.reason(quarantine_id)
    if reason is None:
        raise KeyError(f"no quarantine entry {quarantine_id!r} in {store.quarantine.uri}")
    record = {
        **_record(why, by),
        "quarantine_id": quarantine_id,
        "overrode": {"stage": reason["stage"], "reason": reason["reason"]},
    }
    manifest = store.release_batch(quarantine_id, {"released": record, "validated_at": record["at"]})
    return UndoResult("released", manifest["batch_id"], record)
