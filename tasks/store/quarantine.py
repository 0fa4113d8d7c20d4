"""Rejected input: ``quarantine/<id>/``, the original beside a ``reason.json`` a person can act on.

``reason.json`` is written last and commits the entry: a folder without it is an
unfinished attempt that a re-run overwrites, and listings ignore it. The original keeps
its dropped name under ``original/``, so no name a dropper picks (``reason.json``,
``data_docs``) can land on one of the entry's own files. Entries from before that
rule hold the original at ``<id>/<file>``; ``original_name`` knows both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks.store.backend import StorePart

QUARANTINE, REASON, ORIGINAL = "quarantine", "reason.json", "original"


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
        original_key: str | None = None,
        copies: dict[str, str] | None = None,
        files: dict[str, bytes] | None = None,
        trees: dict[str, Path] | None = None,
    ) -> dict[str, Any]:
        """Write everything that explains a rejection, then ``reason.json``.

        ``original``: a local file, or ``original_key``: a key in the store, kept as
        ``<id>/original/<file>``; ``copies``: keys in the store copied to ``<id>/<name>``;
        ``files``: bytes; ``trees``: local folders (Data Docs)."""
        kept = f"{ORIGINAL}/{file}"
        if original is not None:
            self.backend.put_local(original, self.key(quarantine_id, kept))
        if original_key is not None and self.backend.exists(original_key):
            self.backend.copy(original_key, self.key(quarantine_id, kept))
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
            **({"original": kept} if original is not None or original_key is not None else {}),
            **(details or {}),
        }
        self.backend.write_json(self.key(quarantine_id, REASON), record)
        return record

    def reason(self, quarantine_id: str) -> dict[str, Any] | None:
        return self.backend.read_json_or_none(self.key(quarantine_id, REASON))

    @staticmethod
    def original_name(record: dict[str, Any]) -> str:
        """Where in its entry the dropped original is (see the module docstring)."""
        return record.get("original", record["file"])

    def file(self, quarantine_id: str, name: str) -> bytes:
        """One file of a committed entry (the original, ``gx_result.json``, a Data Docs page).

        FileNotFoundError for a name that is no file of the entry: missing, a folder, or
        leaving the entry's folder. ValueError for a name no file can have (a null byte)."""
        for part in (quarantine_id, name):
            if any(ord(c) < 32 or ord(c) == 127 for c in part):
                raise ValueError(f"{part!r} holds a control character")
        parts = name.split("/")
        if not name or any(p in ("", ".", "..") for p in parts) or "/" in quarantine_id or not self.holds(quarantine_id):
            raise FileNotFoundError(f"{QUARANTINE}/{quarantine_id}/{name}")
        try:
            return self.backend.read_bytes(self.key(quarantine_id, name))
        except IsADirectoryError:
            raise FileNotFoundError(f"{QUARANTINE}/{quarantine_id}/{name} is a folder") from None

    def remove(self, quarantine_id: str) -> None:
        """Take an entry out (it was released): ``reason.json`` first, so it stops being listed."""
        self.backend.delete(self.key(quarantine_id, REASON))
        self.backend.delete_tree(self.key(quarantine_id))

    def unfinished(self) -> list[str]:
        """Ids of folders without ``reason.json`` (one listing of the whole part)."""
        folders: dict[str, set[str]] = {}
        for key in self.backend.walk_files(QUARANTINE):
            qid, _, rest = key.partition("/")
            folders.setdefault(qid, set()).add(rest)
        return sorted(qid for qid, files in folders.items() if REASON not in files)

    def discard(self, quarantine_id: str) -> None:
        """Remove an unfinished attempt (never a committed entry: that is ``remove``)."""
        if not self.holds(quarantine_id):
            self.backend.delete_tree(self.key(quarantine_id))

    def entries(self) -> list[dict[str, Any]]:
        """Every committed entry with its reason, oldest first."""
        records = [{"id": qid, **r} for qid in self.backend.children(QUARANTINE) if (r := self.reason(qid))]
        return sorted(records, key=lambda r: (r["quarantined_at"], r["id"]))
