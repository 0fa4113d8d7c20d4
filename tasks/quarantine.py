"""Quarantine: where rejected input goes, always with a ``reason.json`` a person can act on."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks import atomic_io


def unique_dir(parent: Path, name: str) -> Path:
    """``parent/name``, or ``parent/name-2``... if taken: quarantine never overwrites."""
    parent.mkdir(parents=True, exist_ok=True)
    candidate, n = parent / name, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1
            candidate = parent / f"{name}-{n}"


def quarantine_file(
    source: Path, quarantine_root: Path, quarantine_id: str, *, file_name: str, stage: str, reason: str, details: dict[str, Any] | None = None
) -> Path:
    """Move ``source`` into ``quarantine_root/<id>/<file_name>`` beside its ``reason.json``."""
    folder = unique_dir(quarantine_root, quarantine_id)
    write_reason(folder, file=file_name, stage=stage, reason=reason, details=details)
    os.replace(source, folder / file_name)
    return folder


def write_reason(folder: Path, *, file: str, stage: str, reason: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    record = {
        "file": file,
        "stage": stage,
        "reason": reason,
        "quarantined_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **(details or {}),
    }
    atomic_io.write_json(folder / "reason.json", record)
    return record


def list_quarantined(quarantine_root: Path) -> list[dict[str, Any]]:
    """Every quarantined item with its reason, oldest first (what the README points to)."""
    if not quarantine_root.is_dir():
        return []
    out = []
    for folder in sorted(p for p in quarantine_root.iterdir() if p.is_dir()):
        reason_file = folder / "reason.json"
        if reason_file.is_file():
            out.append({"id": folder.name, **atomic_io.read_json(reason_file)})
    return out


def main() -> None:
    """``python -m tasks.quarantine``: what was rejected, and why."""
    from tasks import catalog

    items = list_quarantined(catalog.QUARANTINE_DIR)
    if not items:
        print(f"Nothing quarantined in {catalog.QUARANTINE_DIR}")
    for item in items:
        print(f"{item['quarantined_at']}  {item['file']}  [{item['stage']}]  quarantine/{item['id']}\n    {item['reason']}")


if __name__ == "__main__":
    main()
