"""Ingest: turn claimed drops into immutable, content-hashed raw batches.

Each claimed file ends in exactly one place: a new batch (its original archived), or
quarantine with a reason (unreadable, or a duplicate of earlier content). Only
structure is checked here; the data contract is the gate in the validation stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks.quality.drops import UnreadableDrop, read_drop, row_fingerprint, without_index_column
from tasks.results import StageResult, where_each_went
from tasks.store import Store
from tasks.store.backend import sha256_file
from tasks.store.batches import batch_id_for
from tasks.store.inbox import Claim


@dataclass
class IngestResult(StageResult):
    new_batches: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    swept: int = 0
    unvalidated: list[str] = field(default_factory=list)  # batches a failed run left unvalidated
    cleaned: list[str] = field(default_factory=list)  # debris of failed writes, removed

    @property
    def rows_added(self) -> int:
        return sum(b["rows"] for b in self.new_batches)

    def nothing_new(self) -> str | None:
        return None if self.new_batches or self.unvalidated else "No new batch: nothing to emit on 'raw'"

    def failure(self) -> str | None:
        if self.quarantined and not self.new_batches:
            return "Every dropped file was rejected: " + where_each_went(self.quarantined)
        return None

    def rejections(self) -> list[dict[str, Any]]:
        return [{"stage": "ingest", **q} for q in self.quarantined]

    def event_extra(self) -> dict[str, Any]:
        return {
            "batches": [b["batch_id"] for b in self.new_batches],
            "files": [b["file"] for b in self.new_batches],
            "rows_added": self.rows_added,
            "sha256": {b["batch_id"]: b["sha256"] for b in self.new_batches},
            "quarantined": [{"file": q["file"], "reason": q["reason"]} for q in self.quarantined],
            **({"unvalidated_batches": self.unvalidated} if self.unvalidated else {}),
        }

    def summary(self) -> dict[str, Any]:
        return {"new_batches": self.new_batches, "quarantined": self.quarantined, "rows_added": self.rows_added}

    def log_lines(self) -> list[str]:
        return (
            [f"Swept {self.swept} file(s) from the inbox"] * bool(self.swept)
            + [f"BATCH {b['batch_id']} <- {b['file']} ({b['rows']} rows)" for b in self.new_batches]
            + [f"Not validated yet (a failed run left them): {', '.join(self.unvalidated)}"] * bool(self.unvalidated)
            + [f"Removed what a failed write left: {', '.join(self.cleaned)}"] * bool(self.cleaned)
        )


def ingest(store: Store, *, sweep: bool = False, seed: Path | None = None) -> IngestResult:
    """Ingest every pending claim. ``sweep``: first claim what is waiting in the inbox
    (daily/manual runs, and queue-driven runs on object storage). ``seed``: a CSV the data
    set bundles, ingested like a drop when the store has never held a batch."""
    result = IngestResult()
    result.cleaned = store.clean_debris()
    if sweep:
        result.swept = len(store.inbox.sweep())
    if seed is not None and store.batches.is_empty() and not store.inbox.pending():
        store.inbox.add_claimed(seed.name, seed.read_bytes())
    for claim in store.inbox.pending():
        outcome = ingest_claim(store, claim)
        if outcome is not None:
            (result.new_batches if outcome.pop("outcome") == "batch" else result.quarantined).append(outcome)
    if not result.new_batches:
        # Batches a failed preprocess run left behind: ring 'raw' again for them.
        result.unvalidated = [m["batch_id"] for m in store.batches.pending_validation()]
    return result


def ingest_claim(store: Store, claim: Claim) -> dict[str, Any] | None:
    """Store one claimed file as a batch or quarantine it; ``None`` if it was gone."""
    return store.inbox.settle(claim, lambda local: _store_drop(store, claim, local))


def _store_drop(store: Store, claim: Claim, local) -> dict[str, Any]:
    sha256 = sha256_file(local)

    def reject(reason: str, **details: Any) -> dict[str, Any]:
        store.quarantine.commit(
            claim.claim_id, file=claim.name, stage="ingest", reason=reason, details={"sha256": sha256, **details}, original=local
        )
        return {"outcome": "quarantined", "file": claim.name, "reason": reason, "quarantine_id": claim.claim_id}

    try:
        frame = read_drop(local, display_name=claim.name)
    except UnreadableDrop as exc:
        return reject(str(exc))
    frame, index_note = without_index_column(frame)
    # The batch id comes from the rows, not the bytes: the same rows re-encoded, re-quoted,
    # with columns or rows in another order are the same batch (a duplicate), never twice.
    fingerprint = row_fingerprint(frame)
    batch_id = batch_id_for(fingerprint)
    existing = store.batches.manifest(batch_id)
    if existing is not None and existing.get("claim_id") == claim.claim_id:
        # This very claim was committed before a crash: only the clean-up was missing.
        return {"outcome": "batch", "batch_id": batch_id, "file": claim.name, "rows": existing["rows"], "sha256": sha256}
    if existing is not None:
        return reject(
            f"duplicate: the same rows were already ingested as batch {batch_id} (from '{existing['source_file']}')",
            duplicate_of=batch_id,
        )
    if store.quarantine.holds(batch_id):
        return reject(f"duplicate: the same rows were already quarantined as {batch_id}", duplicate_of=batch_id)
    manifest = {
        "batch_id": batch_id,
        "source_file": claim.name,
        "claim_id": claim.claim_id,
        "sha256": sha256,
        "row_fingerprint": fingerprint,
        "rows": len(frame),
        "columns": [str(c) for c in frame.columns],
        "notes": [index_note] if index_note else [],
        "ingested_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    store.batches.commit(batch_id, frame, local, manifest)
    return {"outcome": "batch", "batch_id": batch_id, "file": claim.name, "rows": len(frame), "sha256": sha256}
