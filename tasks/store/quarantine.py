"""Rejected input: ``quarantine/<id>/``, the original beside a ``reason.json`` a person can act on.

``reason.json`` is written last and commits the entry: a folder without it is an
unfinished attempt that a re-run overwrites, and listings ignore it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks.store.backend import StorePart

QUARANTINE, REASON = "quarantine", "reason.json"


class Quarantine(StorePart):
    folder = QUARANTINE

    def key(self, quarantine_id: str, name: str = "") -> str:
        return f"{QUARANTINE}/{quarantine_id}/{name}".rstrip("/")

    def holds(self, quarantine_id: str) -> bool:
        return self.backend.exists(self.key(quarantine_id, REASON))

    def commit(
        self,
        quarantine_id: str,
        *,
        file: str,
        stage: str,
        reason: str,
        details: dict[str, Any] | None = None,
        original: Path | None = None,
        copies: dict[str, str] | None = None,
        files: dict[str, bytes] | None = None,
        trees: dict[str, Path] | None = None,
    ) -> dict[str, Any]:
        """Write everything that explains a rejection, then ``reason.json``.

        ``original``: a local file stored as ``<id>/<file>``; ``copies``: keys in the store
        copied to ``<id>/<name>``; ``files``: bytes; ``trees``: local folders (Data Docs)."""
        if original is not None:
            self.backend.put_local(original, self.key(quarantine_id, file))
        for name, src in (copies or {}).items():
            if self.backend.exists(src):
                self.backend.copy(src, self.key(quarantine_id, name))
        for name, data in (files or {}).items():
            self.backend.write_bytes(self.key(quarantine_id, name), data)
        for name, folder in (trees or {}).items():
            if folder.is_dir():
                self.backend.upload_tree(folder, self.key(quarantine_id, name))
        record = {
            "id": quarantine_id,
            "file": file,
            "stage": stage,
            "reason": reason,
            "quarantined_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            **(details or {}),
        }
        self.backend.write_json(self.key(quarantine_id, REASON), record)
        return record

    def reason(self, quarantine_id: str) -> dict[str, Any] | None:
        return self.backend.read_json_or_none(self.key(quarantine_id, REASON))

    def file(self, quarantine_id: str, name: str) -> bytes:
        """One file of a committed entry (the original, ``gx_result.json``, a Data Docs page).
        Refuses names that would leave the entry's folder."""
        parts = name.split("/")
        if not name or any(p in ("", ".", "..") for p in parts) or not self.holds(quarantine_id) or "/" in quarantine_id:
            raise FileNotFoundError(f"{QUARANTINE}/{quarantine_id}/{name}")
        return self.backend.read_bytes(self.key(quarantine_id, name))

    def remove(self, quarantine_id: str) -> None:
        """Take an entry out (it was released): ``reason.json`` first, so it stops being listed."""
        self.backend.delete(self.key(quarantine_id, REASON))
        self.backend.delete_tree(self.key(quarantine_id))

    def entries(self) -> list[dict[str, Any]]:
        """Every committed entry with its reason, oldest first."""
        records = [{"id": qid, **r} for qid in self.backend.children(QUARANTINE) if (r := self.reason(qid))]
        return sorted(records, key=lambda r: (r["quarantined_at"], r["id"]))

