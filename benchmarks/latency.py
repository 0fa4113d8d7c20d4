"""Latency: drop -> evaluate success on the real stack, split per stage, against the bare floor.

    python benchmarks/latency.py [N] [--backend local|s3|cluster]     (N iris-sized batches; default 10)

With ``--backend s3`` the data is on a bucket of a moto S3 server started here and each
drop is an upload to ``inbox/`` (the polling watcher; no settle wait on S3). With
``--backend cluster`` the stack is `make cluster`'s: Celery workers, PostgreSQL, Redis, and
uploads announced through SQS.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    DAGS,
    REPO_ROOT,
    drop,
    iris_like,
    med,
    pct,
    run_ids,
    running_stack,
    save,
    stage_times,
    trigger_event_time,
    wait_chain,
    write_csv,
)


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
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int, nargs="?", default=10)
    parser.add_argument("--backend", choices=["local", "s3", "cluster"], default="local")
    args = parser.parse_args()
    n = args.n
    stages: list[dict[str, float]] = []
    phase = random.Random(10)
    requests_per_drop: list[int] = []
    with running_stack(args.backend) as bench:
        stack, store, healthy_s = bench.stack, bench.store, bench.healthy_s
        first = wait_chain(stack, {d: set() for d in DAGS})
        seed_chain = stage_times(0, first, (0, float("nan")))
        time.sleep(3)
        for i in range(n):
            time.sleep(phase.random())  # a random moment: see PHASE in seed_vs_chain.py
            before = run_ids(stack)
            requests_before = bench.s3_requests()
            drop_at = drop(store, f"batch_{i:02d}.csv", iris_like(150, seed=i))
            runs = wait_chain(stack, before)
            requests_per_drop.append(bench.s3_requests() - requests_before)
            stages.append(stage_times(drop_at, runs, trigger_event_time(stack, f"batch_{i:02d}.csv")))
            print(f"drop {i + 1}/{n}: {stages[-1]['total (drop -> evaluate success)']:.2f} s", flush=True)
            time.sleep(1)
        idle_before, idle_window = bench.s3_requests(), 20.0
        time.sleep(idle_window)
        idle_rate = (bench.s3_requests() - idle_before) / idle_window
    totals = [s["total (drop -> evaluate success)"] for s in stages]
    bare = floor(min(n, 5))
    bare_total = med([b["total"] for b in bare])
    print(f"\nBackend: {args.backend}. Airflow healthy after {healthy_s:.1f} s (migrate + start)")
    print(f"Drop -> evaluate success over {n} drops: p50 {pct(totals, 50):.2f} s, p95 {pct(totals, 95):.2f} s")
    print("Median per stage (s):")
    for key in stages[0]:
        print(f"  {key:38s} {med([s[key] for s in stages]):6.2f}")
    print(
        "Bare floor, one process per drop, imports included (median s): "
        + ", ".join(f"{k} {med([b[k] for b in bare]):.2f}" for k in bare[0])
    )
    print(f"Latency / floor: {pct(totals, 50) / bare_total:.2f}")
    if args.backend != "local":
        print(
            f"S3 requests per drop (drop -> evaluate success, includes polling meanwhile): median {med(requests_per_drop):.0f}; "
            f"idle: {idle_rate:.1f} requests/s"
        )
    save(
        f"latency-{args.backend}",
        {
            "backend": args.backend,
            "n": n,
            "healthy_s": healthy_s,
            "p50": pct(totals, 50),
            "p95": pct(totals, 95),
            "stages": stages,
            "floor": bare,
            "ratio": pct(totals, 50) / bare_total,
            "s3_requests_per_drop": requests_per_drop,
            "s3_idle_requests_per_s": idle_rate,
            "seed_chain_runs": {d: seed_chain.get(f"{d} run") for d in DAGS},
        },
    )


if __name__ == "__main__":
    main()
