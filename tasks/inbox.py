"""The drop zone: find files that have stopped growing and claim them atomically.

A claim is a rename from ``inbox/`` into ``claimed/`` (same file system, so atomic):
whoever renames first owns the file; a second claimer gets ``FileNotFoundError``
and moves on. A claimed file keeps its original name behind a unique prefix.
"""

from __future__ import annotations

import fnmatch
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

# What the file system told us about a file at one scan; unchanged across two
# scans (and old enough) means the writer is done with it.
FileState = tuple[int, int]  # (size, mtime_ns)
Snapshot = dict[str, FileState]

CLAIM_SEPARATOR = "__"
CSV_PATTERN = "*.csv"
# A file that is not a CSV is left alone this long (it may be a browser's
# ``.crdownload`` still being written) before the daily sweep quarantines it.
STALE_OTHER_FILE_S = 3600.0


@dataclass(frozen=True)
class ClaimedFile:
    claimed_path: Path
    original_name: str


def scan_inbox(inbox: Path, pattern: str = "*") -> Snapshot:
    """Regular, non-hidden files in ``inbox`` matching ``pattern`` (any case), with size and mtime.

    Hidden files are skipped: copy tools write ``.name.tmp`` and rename when done.
    """
    snapshot: Snapshot = {}
    try:
        entries = list(os.scandir(inbox))
    except FileNotFoundError:
        return snapshot
    for entry in entries:
        if entry.name.startswith(".") or not fnmatch.fnmatch(entry.name.lower(), pattern):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        snapshot[entry.name] = (st.st_size, st.st_mtime_ns)
    return snapshot


def settled_names(previous: Snapshot, current: Snapshot, *, min_age_s: float, now_ns: int | None = None) -> list[str]:
    """Names whose size and mtime did not change between two scans and are ``min_age_s`` old."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    min_age_ns = int(min_age_s * 1e9)
    return sorted(
        name
        for name, state in current.items()
        if previous.get(name) == state and now_ns - state[1] >= min_age_ns
    )


def claim_name(original_name: str) -> str:
    """A unique name in ``claimed/``: sorts by claim time, keeps the original name readable."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{stamp}-{uuid.uuid4().hex[:8]}{CLAIM_SEPARATOR}{original_name}"


def original_name(claimed_path: Path) -> str:
    prefix, sep, rest = claimed_path.name.partition(CLAIM_SEPARATOR)
    return rest if sep else claimed_path.name


def claim_id(claimed_path: Path) -> str:
    """The unique prefix of a claimed file's name (its quarantine folder if rejected)."""
    prefix, sep, _ = claimed_path.name.partition(CLAIM_SEPARATOR)
    return prefix if sep else claimed_path.stem


def claim_file(inbox: Path, name: str, claimed_dir: Path) -> ClaimedFile | None:
    """Rename ``inbox/name`` into ``claimed_dir``; ``None`` if someone else claimed it first."""
    claimed_dir.mkdir(parents=True, exist_ok=True)
    target = claimed_dir / claim_name(name)
    try:
        os.rename(inbox / name, target)  # unique target: never overwrites
    except FileNotFoundError:
        return None
    return ClaimedFile(claimed_path=target, original_name=name)


def claim_files(inbox: Path, names: list[str], claimed_dir: Path) -> list[ClaimedFile]:
    """Claim each name; the ones someone else claimed first are left out."""
    return [c for name in names if (c := claim_file(inbox, name, claimed_dir)) is not None]


def claim_settled_files(
    inbox: Path, claimed_dir: Path, previous: Snapshot, *, min_age_s: float, pattern: str = CSV_PATTERN
) -> tuple[list[ClaimedFile], Snapshot]:
    """One watcher step: claim what settled since ``previous``; return the new snapshot."""
    current = scan_inbox(inbox, pattern)
    claimed = claim_files(inbox, settled_names(previous, current, min_age_s=min_age_s), claimed_dir)
    for c in claimed:
        current.pop(c.original_name, None)
    return claimed, current


def sweep_inbox(inbox: Path, claimed_dir: Path, *, settle_s: float = 1.0, stale_other_s: float = STALE_OTHER_FILE_S) -> list[ClaimedFile]:
    """The daily run's sweep: claim CSVs unchanged over ``settle_s``, and any other file
    unchanged for ``stale_other_s`` (ingest then quarantines it as not a CSV)."""
    first = scan_inbox(inbox)
    if not first:
        return []
    time.sleep(settle_s)
    current = scan_inbox(inbox)
    now = time.time_ns()
    names = [
        n
        for n in settled_names(first, current, min_age_s=settle_s, now_ns=now)
        if fnmatch.fnmatch(n.lower(), CSV_PATTERN) or now - current[n][1] >= stale_other_s * 1e9
    ]
    return claim_files(inbox, names, claimed_dir)


def list_claimed(claimed_dir: Path) -> list[Path]:
    """Claimed files waiting for ingest, oldest claim first."""
    if not claimed_dir.is_dir():
        return []
    return sorted(p for p in claimed_dir.iterdir() if p.is_file() and not p.name.startswith("."))
