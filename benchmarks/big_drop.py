"""A big drop against its floor: the gate and the split beside parsing the same file.

    PYTHONPATH=tests python benchmarks/big_drop.py [ROWS] [--decimals D]

ROWS iris-like rows (default 4,000,000), their numbers written with one decimal as measured
(65 MiB), or with D decimals (8: 46 bytes a row, the 184 MB of the issue's 4 M-row file).
Each step runs in a fresh process (``stage.py``), as a task would: the floor, the CSV parsed by
``pyarrow.csv.read_csv`` (median of 3); ``ingest`` (the batch stored, not counted in the
ratio); then ``validate`` (the GX gate on every row with the data set's suite, the label check,
the split) five times, each on its own copy of the ingested root, Great Expectations' import
excluded. Prints the medians, gate and split against the parse (goal <= 3x) and what the step
adds to the process's peak resident set against the file's size (goal <= 4x).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import REPO_ROOT, iris_like, save, write_csv

GATE_RUNS = 5  # one run varies by a fifth on this machine


def step(stage: str, data: Path, csv: Path | None = None) -> dict:
    args = [sys.executable, str(REPO_ROOT / "benchmarks" / "stage.py"), stage, str(data)] + ([str(csv)] if csv else [])
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{stage} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rows_to_drop(rows: int, decimals: int):
    frame = iris_like(rows, seed=4)
    if decimals > 1:  # digits a measuring device would add (values stay in the suite's ranges)
        features = [c for c in frame.columns if frame[c].dtype.kind == "f"]
        noise = np.random.default_rng(5).uniform(-0.05, 0.05, (rows, len(features)))
        frame[features] = (frame[features].to_numpy() + noise).clip(0.01, None).round(decimals)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="?", type=int, default=4_000_000)
    parser.add_argument("--decimals", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-big-drop-"))
    csv, data = work / "big.csv", work / "data"
    started = time.perf_counter()
    write_csv(rows_to_drop(args.rows, args.decimals), csv)
    size_mib = csv.stat().st_size / 2**20
    print(f"{args.rows:,} rows, {size_mib:.0f} MiB CSV (made in {time.perf_counter() - started:.0f} s)", flush=True)
    parses = [step("parse", data, csv) for _ in range(3)]
    parse_s = statistics.median(p["seconds"] for p in parses)
    parse_grown = statistics.median(p["peak_rss_mib"] - p["before_rss_mib"] for p in parses)
    print(f"parse (pyarrow.csv.read_csv): median {parse_s:.2f} s, adds {parse_grown:.0f} MiB to the peak", flush=True)
    ingest = step("ingest", data, csv)
    print(f"ingest: {ingest['seconds']:.2f} s, peak RSS {ingest['peak_rss_mib']:.0f} MiB", flush=True)
    gates = []
    for run in range(GATE_RUNS):
        copy = work / f"data-{run}"
        shutil.copytree(data, copy)
        gates.append(step("validate", copy))
        assert gates[-1]["ok"], "the batch was quarantined"
        shutil.rmtree(copy)
    gate_s = statistics.median(g["seconds"] for g in gates)
    grown = statistics.median(g["peak_rss_mib"] - g["before_rss_mib"] for g in gates)
    before = statistics.median(g["before_rss_mib"] for g in gates)
    each = ", ".join(f"{g['seconds']:.2f}" for g in gates)
    print(
        f"gate and split (validate, {GATE_RUNS} runs): median {gate_s:.2f} s ({each}), "
        f"adds {grown:.0f} MiB to the peak ({before:.0f} MiB before the step: Python and its imports)",
        flush=True,
    )
    ratio, memory = gate_s / parse_s, grown / size_mib
    print(f"gate and split / parse: {ratio:.2f}x (goal <= 3x); what the step adds / file size: {memory:.2f}x (goal <= 4x)")
    save(
        "big-drop",
        {
            "rows": args.rows,
            "decimals": args.decimals,
            "csv_mib": size_mib,
            "parse_s": parse_s,
            "ingest": ingest,
            "gates": gates,
            "ratio": ratio,
            "memory_x": memory,
        },
    )
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
