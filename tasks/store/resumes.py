"""Doorbells rung for work a failed run left behind: ``resumes/<kind>/<digest>.json``.

When storage fails past a task's last retry, its work waits in the store (a claim not
ingested, a feature set not trained on, a version not evaluated, ...). A watcher rings the
stage again once storage works; this record, made with an exclusive create, makes that ring
happen once per piece of work, even with two triggerers or a triggerer restarted, so a stage
that keeps failing for another reason is not started over and over.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from tasks.store.backend import StorePart

RESUMES = "resumes"


class Resumes(StorePart):
    folder = RESUMES

    def ring_once(self, kind: str, items: list[str]) -> bool:
        """True the first time ``items`` of ``kind`` are asked for (then the caller rings)."""
        digest = hashlib.sha256("\n".join(sorted(items)).encode()).hexdigest()[:24]
        record = {"kind": kind, "items": sorted(items), "rung_at": datetime.now(UTC).isoformat(timespec="seconds")}
        return self.backend.create_exclusive(f"{RESUMES}/{kind}/{digest}.json", json.dumps(record).encode())

    def rung(self, kind: str) -> list[dict]:
        """Every ring recorded for ``kind``, oldest first."""
        records = [self.backend.read_json_or_none(f"{RESUMES}/{kind}/{n}") for n in self.backend.children(f"{RESUMES}/{kind}")]
        return sorted((r for r in records if r), key=lambda r: r["rung_at"])
