"""A drop's cost as history grows: 150-row drops on top of 0, 10^6 and 10^7 rows of history.

    python benchmarks/history.py [ROWS ...] [--drops N]     (default: 0 1000000 10000000; N = 5)

For each history size a fresh data folder is filled first, outside Airflow, through the
pipeline's own stage functions: batches of at most 10^6 iris-like rows are ingested and
validated (which splits them), then features, one model and its evaluation (the champion).
Then the `make run` stack starts on that folder and N drops of 150 rows go through the
chain. Prints, per size: drop -> evaluate success p50, its ratio to the fresh history
(0: only the iris seed), and the peak RSS of every task (RSS counts the pages a task
shares with the scheduler it was forked from, so it overstates the task's own cost).
Targets (issue 12): <= 1.5x at 10^6, <= 2x at 10^7, every task <= 2 GiB at 10^7.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from common import (
    DAGS,
    MemorySampler,
    drop,
    iris_like,
    pct,
    run_ids,
    running_stack,
    save,
    stage_times,
    task_names,
    trigger_event_time,
    wait_chain,
    write_csv,
)

BATCH_ROWS = 1_000_000
MiB = 2**20


def fill_history(data_url: str, rows: int) -> dict[str, float]:
    """``rows`` of validated history in batches, a trained and evaluated champion."""
    from tasks.config import Settings, load_config
    from tasks.stages.evaluate import evaluate_pending
    from tasks.stages.ingest import ingest
    from tasks.stages.split import build_features
    from tasks.stages.train import train
    from tasks.stages.validate import validate_pending
    from tasks.store import open_store

    started = time.perf_counter()
    settings = Settings.from_env({"PIPELINE_DATA_URL": data_url})
    store, config = open_store(data_url), load_config(settings.config_file)
    store.inbox.make_ready()
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        done, i = 0, 0
        while done < rows:
            n = min(BATCH_ROWS, rows - done)
            csv = Path(tmp) / f"history_{i:03d}.csv"
            write_csv(iris_like(n, seed=10_000 + i), csv)
            store.inbox.put_file(csv.name, csv)
            store.inbox.claim_named(csv.name)
            csv.unlink()
            ingest(store)
            gate = validate_pending(store, config)
            assert gate.passed and not gate.quarantined, gate.summary()
            done, i = done + n, i + 1
    build_features(store, config)
    train(store, config)
    evaluate_pending(store, config)
    return {"batches": i, "seconds": time.perf_counter() - started}


def first_ingest_done(stack, timeout: float = 300) -> None:
    """With history there is no seed chain: wait for the start-up ingest run (nothing new)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(r["state"] in ("success", "failed") for r in stack.api.dag_runs("ingest")):
            return
        time.sleep(0.5)
    raise TimeoutError("no ingest run after start-up")


def drops_on(rows: int, n: int) -> dict:
    filled: dict = {}
    prepare = (lambda url: filled.update(fill_history(url, rows))) if rows else None
    totals, stages, task_rss = [], [], {}
    with running_stack("local", prepare=prepare) as bench:
        stack = bench.stack
        if rows:
            first_ingest_done(stack)
        else:
            wait_chain(stack, {d: set() for d in DAGS})  # the iris seed
        time.sleep(3)
        phase = random.Random(rows)
        for i in range(n):
            time.sleep(phase.random())  # a random moment: see PHASE in seed_vs_chain.py
            before = run_ids(stack)
            name = f"drop_{i:02d}.csv"
            with MemorySampler(interval=0.1) as sampler:
                dropped = drop(bench.store, name, iris_like(150, seed=900 + i))
                runs = wait_chain(stack, before, timeout=900)
            stages.append(stage_times(dropped, runs, trigger_event_time(stack, name)))
            totals.append(stages[-1]["total (drop -> evaluate success)"])
            names = task_names(stack, runs)
            for ti, rss in sampler.task_rss.items():
                name_of = names.get(ti, ti)
                task_rss[name_of] = max(task_rss.get(name_of, 0), rss / MiB)
            print(f"  history {rows:,}: drop {i + 1}/{n}: {totals[-1]:.2f} s", flush=True)
            time.sleep(1)
    return {
        "rows": rows,
        "fill": filled,
        "p50": pct(totals, 50),
        "totals": totals,
        "stages": stages,
        "task_peak_rss_mib": task_rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", type=int, nargs="*", default=[0, 1_000_000, 10_000_000])
    parser.add_argument("--drops", type=int, default=5)
    args = parser.parse_args()
    results = []
    for rows in args.rows:
        print(f"History of {rows:,} rows:", flush=True)
        results.append(drops_on(rows, args.drops))
        if results[-1]["fill"]:
            print(f"  (filled in {results[-1]['fill']['seconds']:.0f} s, {results[-1]['fill']['batches']} batches)")
    fresh = next((r["p50"] for r in results if r["rows"] == 0), None)
    print("\nDrop of 150 rows -> evaluate success, by history size:")
    for r in results:
        ratio = f", {r['p50'] / fresh:.2f}x fresh" if fresh else ""
        peak = max(r["task_peak_rss_mib"].items(), key=lambda kv: kv[1], default=("-", 0))
        print(f"  {r['rows']:>10,} rows: p50 {r['p50']:.2f} s{ratio}; highest task peak RSS {peak[1]:.0f} MiB ({peak[0]})")
    print("Peak RSS per task (MiB):")
    for r in results:
        print(f"  {r['rows']:>10,} rows: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["task_peak_rss_mib"].items())))
    save("history", {"results": results, "fresh_p50": fresh})


if __name__ == "__main__":
    main()
