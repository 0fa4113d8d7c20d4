"""make quarantine: newest first, and quiet when its reader stops early (| head)."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO_ROOT

from tasks.store import open_store


def _quarantine(tmp_path, count: int) -> str:
    url = str(tmp_path / "data")
    store = open_store(url)
    for i in range(count):
        store.quarantine.commit(f"q-{i:04d}", file=f"file-{i:04d}.csv", stage="ingest", reason="the file is empty (0 bytes)")
    return url


def _listing(url: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tasks.cli", "quarantine"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PIPELINE_DATA_URL": url},
    )


def test_the_newest_rejection_comes_first(tmp_path):
    out, err = _listing(_quarantine(tmp_path, 3)).communicate(timeout=60)
    files = [line.split()[1] for line in out.decode().splitlines() if not line.startswith(" ")]
    assert files == ["file-0002.csv", "file-0001.csv", "file-0000.csv"] and not err


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    listing = _listing(_quarantine(tmp_path, 1500))  # far more than a pipe holds
    first = listing.stdout.readline()
    listing.stdout.close()  # what `| head -1` does
    _, err = listing.communicate(timeout=60)
    assert first.startswith(b"20") and listing.returncode == 0 and b"Traceback" not in err, err.decode()[-500:]
