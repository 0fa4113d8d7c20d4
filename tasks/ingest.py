"""Ingest: turn claimed drops into immutable, content-hashed raw batches.

Each claimed file ends in exactly one place:
- a new batch ``raw/<batch_id>/`` (``data.parquet`` + ``manifest.json``), its original
  archived as ``archive/<batch_id>/<original name>``; or
- ``quarantine/<claim id>/`` with a ``reason.json`` (unreadable, or a duplicate).
Only structure is checked here (is it a readable CSV?); the data contract is the
Great Expectations gate in ``preprocess``.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from tasks import atomic_io
from tasks.inbox import CLAIM_SEPARATOR, claim_id, list_claimed, original_name
from tasks.quarantine import quarantine_file

MANIFEST = "manifest.json"
DATA_FILE = "data.parquet"
SEED_NAME = "iris_seed.csv"


class UnreadableDrop(ValueError):
    """A dropped file that is not a readable CSV; the message says why, for a person."""


@dataclass
class IngestReport:
    new_batches: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows_added(self) -> int:
        return sum(b["rows"] for b in self.new_batches)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_added": self.rows_added}


def batch_id_for(sha256: str) -> str:
    return f"b-{sha256[:16]}"


def read_drop(path: Path, *, display_name: str | None = None) -> pd.DataFrame:
    """Parse a dropped file as a comma-separated UTF-8 CSV with a header and data rows.

    Raises ``UnreadableDrop`` with a reason a person can act on.
    """
    name = display_name or path.name
    if not name.lower().endswith(".csv"):
        raise UnreadableDrop(f"'{name}' is not a .csv file: only CSV files are accepted")
    size = path.stat().st_size
    if size == 0:
        raise UnreadableDrop("the file is empty (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(64 * 1024)
    if b"\x00" in head:
        raise UnreadableDrop("the file contains binary data (NUL bytes); expected a text CSV")
    try:
        head_text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the 64 KiB boundary is fine; anything earlier is not UTF-8.
        if exc.start < len(head) - 4:
            raise UnreadableDrop(_not_utf8(exc)) from None
        head_text = head[: exc.start].decode("utf-8")
    header_line = head_text.lstrip("\ufeff").splitlines()[0] if head_text.strip() else ""
    header = next(csv.reader(io.StringIO(header_line)), [])
    if not any(h.strip() for h in header):
        raise UnreadableDrop("the first line is blank: expected a header row of column names")
    if len(header) == 1:
        for sep, label in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
            if sep in header[0]:
                raise UnreadableDrop(f"the file is {label}-delimited; expected comma-separated values")
        raise UnreadableDrop(f"the header has a single column ({header[0]!r}); expected comma-separated values")
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise UnreadableDrop(f"the header repeats column name(s) {duplicated}")
    try:
        with warnings.catch_warnings():
            # index_col=False: a too-wide first row must not become an index; pandas then
            # warns that it would drop fields, which is an error here.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(path, sep=",", encoding="utf-8-sig", encoding_errors="strict", index_col=False)
    except pd.errors.ParserWarning:
        raise UnreadableDrop(f"malformed CSV: a row has more fields than the header's {len(header)}") from None
    except UnicodeDecodeError as exc:
        raise UnreadableDrop(_not_utf8(exc)) from None
    except pd.errors.ParserError as exc:
        raise UnreadableDrop(f"malformed CSV: {exc}".strip()) from None
    except pd.errors.EmptyDataError:
        raise UnreadableDrop("the file has no CSV content") from None
    if frame.empty:
        raise UnreadableDrop("the file has a header but no data rows")
    return frame


def _not_utf8(exc: UnicodeDecodeError) -> str:
    return (
        f"the file is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
        "save it as UTF-8 CSV"
    )


def write_batch(frame: pd.DataFrame, raw_dir: Path, batch_id: str, manifest: dict[str, Any]) -> Path:
    """Write ``raw/<batch_id>/`` atomically (temp folder, then rename). Never overwrites."""
    final = raw_dir / batch_id
    if final.exists():
        return final
    tmp = raw_dir / f".{batch_id}.tmp-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    atomic_io.write_parquet(tmp / DATA_FILE, frame)
    atomic_io.write_json(tmp / MANIFEST, manifest)
    try:
        os.rename(tmp, final)
    except OSError:  # a concurrent writer won the race with the same content
        if not final.exists():
            raise
    return final


def ingest_file(path: Path, raw_dir: Path, archive_dir: Path, quarantine_dir: Path, *, source_name: str | None = None) -> dict[str, Any]:
    """Ingest one claimed file; returns what happened to it (``outcome`` = batch | quarantined)."""
    name = source_name or original_name(path)
    sha256 = atomic_io.sha256_file(path)
    batch_id = batch_id_for(sha256)

    def reject(stage_reason: str, **details: Any) -> dict[str, Any]:
        folder = quarantine_file(
            path, quarantine_dir, claim_id(path), file_name=name, stage="ingest", reason=stage_reason,
            details={"sha256": sha256, **details},
        )
        return {"outcome": "quarantined", "file": name, "reason": stage_reason, "quarantine_id": folder.name}

    if (archive_dir / batch_id).exists():
        return reject(f"duplicate: identical content was already ingested as batch {batch_id}", duplicate_of=batch_id)
    if (quarantine_dir / batch_id).exists():
        return reject(f"duplicate: identical content was already quarantined as {batch_id}", duplicate_of=batch_id)
    try:
        frame = read_drop(path, display_name=name)
    except UnreadableDrop as exc:
        return reject(str(exc))
    manifest = {
        "batch_id": batch_id,
        "source_file": name,
        "sha256": sha256,
        "rows": len(frame),
        "columns": [str(c) for c in frame.columns],
        "ingested_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_batch(frame, raw_dir, batch_id, manifest)
    (archive_dir / batch_id).mkdir(parents=True, exist_ok=True)
    os.replace(path, archive_dir / batch_id / name)  # last step: marks the batch as ingested
    return {"outcome": "batch", "batch_id": batch_id, "file": name, "rows": len(frame), "sha256": sha256}


def list_batches(raw_dir: Path) -> list[str]:
    """Batch ids present in ``raw/``, in ingest order."""
    if not raw_dir.is_dir():
        return []
    batches = [p for p in raw_dir.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file()]
    return [p.name for p in sorted(batches, key=lambda p: (atomic_io.read_json(p / MANIFEST)["ingested_at"], p.name))]


def iris_seed_csv() -> bytes:
    """scikit-learn's bundled iris (150 rows) as the default data set, CSV bytes."""
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True)
    return iris.frame.to_csv(index=False).encode("utf-8")


def ingest_claimed(claimed_dir: Path, raw_dir: Path, archive_dir: Path, quarantine_dir: Path, *, seed_if_empty: bool = True) -> IngestReport:
    """Ingest every claimed file; seed iris first when the data set is empty."""
    report = IngestReport()
    if seed_if_empty and not list_batches(raw_dir) and not (archive_dir.is_dir() and any(archive_dir.iterdir())):
        claimed_dir.mkdir(parents=True, exist_ok=True)
        seed = claimed_dir / f"seed{CLAIM_SEPARATOR}{SEED_NAME}"
        atomic_io.write_bytes(seed, iris_seed_csv())
    for path in list_claimed(claimed_dir):
        result = ingest_file(path, raw_dir, archive_dir, quarantine_dir)
        (report.new_batches if result.pop("outcome") == "batch" else report.quarantined).append(result)
    return report
