"""Scale: synthetic iris-like drops of 10^4..10^7 rows through each stage, and 10^6 through the stack.

Each stage runs in a fresh process (imports excluded from its time; peak RSS is the
process's own high-water mark). Data is generated here, never committed.

    python benchmarks/scale.py [ROWS ...]      (default: 10000 100000 1000000 10000000)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    DAGS,
    REPO_ROOT,
    MemorySampler,
    drop,
    iris_like,
    run_ids,
    running_stack,
    save,
    stage_times,
    task_names,
    trigger_event_time,
    wait_chain,
    write_csv,
)

STAGES = ["ingest", "validate", "features", "train", "evaluate"]


def through_stages(rows: int, workdir: Path, make=iris_like) -> dict[str, dict]:
    """``rows`` rows made by ``make(rows, seed)`` (iris-like by default) through each stage."""
    data = workdir / f"data-{rows}"
    csv = workdir / f"drop-{rows}.csv"
    t = time.perf_counter()
    write_csv(make(rows, rows % 997), csv)
    print(f"  generated {rows:,} rows ({csv.stat().st_size / 2**20:.0f} MiB CSV) in {time.perf_counter() - t:.1f} s", flush=True)
    out = {}
    for stage in STAGES:
        args = [sys.executable, str(REPO_ROOT / "benchmarks" / "stage.py"), stage, str(data)] + (
            [str(csv)] if stage == "ingest" else []
        )
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode != 0:
            out[stage] = {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
            print(f"  {stage:9s} FAILED: {out[stage]['error']}", flush=True)
            break
        out[stage] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  {stage:9s} {out[stage]['seconds']:7.2f} s   peak RSS {out[stage]['peak_rss_mib']:7.0f} MiB", flush=True)
    shutil.rmtree(data, ignore_errors=True)
    csv.unlink(missing_ok=True)
    return out


def through_stack(rows: int) -> dict:
    with running_stack() as bench:
        stack, store = bench.stack, bench.store
        wait_chain(stack, {d: set() for d in DAGS})
        frame = iris_like(rows, seed=5)
        before = run_ids(stack)
        with MemorySampler(interval=0.2) as sampler:
            drop_at = drop(store, "big.csv", frame)
            runs = wait_chain(stack, before, timeout=900)
        stages = stage_times(drop_at, runs, trigger_event_time(stack, "big.csv"))
        names = task_names(stack, runs)
    return {
        "stages": stages,
        "task_peak_rss_mib": {names.get(k, k): v / 2**20 for k, v in sampler.task_rss.items()},
        "peak_pss_mib": sampler.peak_pss / 2**20,
    }


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 100_000, 1_000_000, 10_000_000]
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    results: dict = {"task_functions": {}}
    for rows in sizes:
        print(f"{rows:,} rows, task functions:", flush=True)
        results["task_functions"][rows] = through_stages(rows, workdir)
    if 1_000_000 in sizes:
        print("1,000,000 rows through the running stack:", flush=True)
        results["stack_1e6"] = stack = through_stack(1_000_000)
        for k, v in stack["stages"].items():
            print(f"  {k:38s} {v:7.2f}")
        print("  peak RSS per task (MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(stack["task_peak_rss_mib"].items())))
    shutil.rmtree(workdir, ignore_errors=True)
    save("scale", results)


if __name__ == "__main__":
    main()
