"""A big drop against its floor: the gate and the split beside parsing the same file.

    PYTHONPATH=tests python benchmarks/big_drop.py [ROWS]      (default 4,000,000 iris-like rows)

Each step runs in a fresh process (``stage.py``), as a task would: the floor, the CSV parsed by
``pyarrow.csv.read_csv`` (median of 3); ``ingest`` (the batch stored, not counted in the
ratio); then ``validate`` (the GX gate on every row with the data set's suite, the label check,
the split), Great Expectations' import excluded. Prints each time and peak RSS, gate and split
against the parse (goal <= 3x) and the gate's peak against the file's size (goal <= 4x).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO_ROOT, iris_like, save, write_csv


def step(stage: str, data: Path, csv: Path | None = None) -> dict:
    args = [sys.executable, str(REPO_ROOT / "benchmarks" / "stage.py"), stage, str(data)] + ([str(csv)] if csv else [])
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{stage} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 4_000_000
    work = Path(tempfile.mkdtemp(prefix="bench-big-drop-"))
    csv, data = work / "big.csv", work / "data"
    started = time.perf_counter()
    write_csv(iris_like(rows, seed=4), csv)
    size_mib = csv.stat().st_size / 2**20
    print(f"{rows:,} rows, {size_mib:.0f} MiB CSV (made in {time.perf_counter() - started:.0f} s)", flush=True)
    parses = [step("parse", data, csv) for _ in range(3)]
    parse_s = statistics.median(p["seconds"] for p in parses)
    print(
        f"parse (pyarrow.csv.read_csv): median {parse_s:.2f} s, peak RSS {max(p['peak_rss_mib'] for p in parses):.0f} MiB",
        flush=True,
    )
    ingest = step("ingest", data, csv)
    print(f"ingest: {ingest['seconds']:.2f} s, peak RSS {ingest['peak_rss_mib']:.0f} MiB", flush=True)
    gate = step("validate", data)
    assert gate["ok"], "the batch was quarantined"
    grown = gate["peak_rss_mib"] - gate["before_rss_mib"]
    print(
        f"gate and split (validate): {gate['seconds']:.2f} s, peak RSS {gate['peak_rss_mib']:.0f} MiB "
        f"({gate['before_rss_mib']:.0f} MiB of it before the step: Python and its imports)",
        flush=True,
    )
    ratio, memory = gate["seconds"] / parse_s, gate["peak_rss_mib"] / size_mib
    print(
        f"gate and split / parse: {ratio:.2f}x (goal <= 3x); gate peak RSS / file size: {memory:.2f}x, "
        f"what the step added / file size: {grown / size_mib:.2f}x (goal <= 4x)"
    )
    save(
        "big-drop",
        {
            "rows": rows,
            "csv_mib": size_mib,
            "parse_s": parse_s,
            "ingest": ingest,
            "gate": gate,
            "ratio": ratio,
            "memory_x": memory,
        },
    )


if __name__ == "__main__":
    main()
