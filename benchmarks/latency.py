"""Latency: drop -> evaluate success on the real stack, split per stage, against the bare floor.

    python benchmarks/latency.py [N]     (N iris-sized batches, one after another; default 10)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (REPO_ROOT, iris_like, med, pct, run_ids, running_stack, save, stage_times, trigger_event_time,
                    wait_chain, write_csv)


def floor(n: int) -> list[dict[str, float]]:
    """The same steps in one fresh process per drop, imports included."""
    data = Path(tempfile.mkdtemp(prefix="bench-floor-"))
    script = str(REPO_ROOT / "benchmarks" / "bare_chain.py")
    subprocess.run([sys.executable, script, str(data)], check=True, capture_output=True)
    out = []
    for i in range(n):
        csv = data.parent / f"{data.name}-drop{i}.csv"
        write_csv(iris_like(150, seed=1000 + i), csv)
        done = subprocess.run([sys.executable, script, str(data), str(csv)], check=True, capture_output=True, text=True)
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    stages: list[dict[str, float]] = []
    with running_stack() as (stack, data, healthy_s):
        first = wait_chain(stack, {d: set() for d in ("ingest", "preprocess", "train", "evaluate")})
        seed_chain = stage_times(0, first, 0)
        time.sleep(3)
        for i in range(n):
            before = run_ids(stack)
            staging = data.parent / f"drop{i}.csv"
            write_csv(iris_like(150, seed=i), staging)
            drop_at = time.time()
            staging.rename(data / "inbox" / f"batch_{i:02d}.csv")
            runs = wait_chain(stack, before)
            stages.append(stage_times(drop_at, runs, trigger_event_time(stack, f"batch_{i:02d}.csv")))
            print(f"drop {i + 1}/{n}: {stages[-1]['total (drop -> evaluate success)']:.2f} s", flush=True)
            time.sleep(1)
    totals = [s["total (drop -> evaluate success)"] for s in stages]
    bare = floor(min(n, 5))
    bare_total = med([b["total"] for b in bare])
    print(f"\nAirflow healthy after {healthy_s:.1f} s (migrate + start)")
    print(f"Drop -> evaluate success over {n} drops: p50 {pct(totals, 50):.2f} s, p95 {pct(totals, 95):.2f} s")
    print("Median per stage (s):")
    for key in stages[0]:
        print(f"  {key:38s} {med([s[key] for s in stages]):6.2f}")
    print("Bare floor, one process per drop, imports included (median s): " + ", ".join(f"{k} {med([b[k] for b in bare]):.2f}" for k in bare[0]))
    print(f"Latency / floor: {pct(totals, 50) / bare_total:.2f}")
    save("latency", {"n": n, "healthy_s": healthy_s, "p50": pct(totals, 50), "p95": pct(totals, 95), "stages": stages,
                     "floor": bare, "ratio": pct(totals, 50) / bare_total, "seed_chain_runs": {d: seed_chain.get(f"{d} run") for d in ("ingest", "preprocess", "train", "evaluate")}})


if __name__ == "__main__":
    main()
