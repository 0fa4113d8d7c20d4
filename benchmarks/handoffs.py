"""Where a drop's time goes between Airflow's components: the chain's hand-offs, profiled.

    python benchmarks/handoffs.py [N]     (N drops; default 6)

For every run of the chain it reads the scheduler's own timestamps (DAG run queued/started/
ended; each task instance scheduled/queued/started/ended) and splits the time into:

- run created -> started: the DAG run waits for a scheduler loop to start it;
- started -> task scheduled: the loop that creates and schedules its task instances;
- scheduled -> queued: handed to the executor;
- queued -> task started: the executor's worker starts the task process (supervisor, fork,
  task runner, DAG file parse) and the task reports itself running;
- task run: the task's own work plus the SDK's start/finish calls;
- task ended -> next task scheduled / run ended: the scheduler notices the finished task.

Medians over N drops, per DAG and in total; the asset hand-off (upstream task ended ->
downstream run created) separately.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from common import DAGS, drop, iris_like, med, run_ids, running_stack, save, ts, wait_chain


def task_instances(stack, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    tis = stack.api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
    ran = [t for t in tis if t["state"] == "success" and t["start_date"]]
    return sorted(ran, key=lambda t: ts(t["start_date"]))


def profile(stack, runs: dict[str, dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    previous_end = None
    for dag_id in DAGS:
        run = runs[dag_id]
        tis = task_instances(stack, dag_id, run["dag_run_id"])
        if previous_end is not None:
            out[f"{dag_id}: upstream task ended -> run created"] = ts(run["queued_at"]) - previous_end
        out[f"{dag_id}: run created -> started"] = ts(run["start_date"]) - ts(run["queued_at"])
        cursor = ts(run["start_date"])
        for ti in tis:
            name = f"{dag_id}.{ti['task_id']}"
            out[f"{name}: -> scheduled"] = ts(ti["scheduled_when"]) - cursor
            out[f"{name}: scheduled -> queued"] = ts(ti["queued_when"]) - ts(ti["scheduled_when"])
            out[f"{name}: queued -> started"] = ts(ti["start_date"]) - ts(ti["queued_when"])
            out[f"{name}: run"] = ts(ti["end_date"]) - ts(ti["start_date"])
            cursor = ts(ti["end_date"])
        out[f"{dag_id}: last task ended -> run ended"] = ts(run["end_date"]) - cursor
        previous_end = cursor
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    profiles = []
    with running_stack("local") as bench:
        stack = bench.stack
        wait_chain(stack, {d: set() for d in DAGS})
        time.sleep(3)
        for i in range(n):
            before = run_ids(stack)
            drop(bench.store, f"handoff_{i:02d}.csv", iris_like(150, seed=700 + i))
            profiles.append(profile(stack, wait_chain(stack, before)))
            time.sleep(1)
    keys = list(dict.fromkeys(k for p in profiles for k in p))
    print(f"Median over {n} drops (s):")
    buckets: dict[str, float] = {}
    for key in keys:
        value = med([p[key] for p in profiles if key in p])
        print(f"  {key:60s} {value:6.2f}")
        kind = key.split(": ", 1)[1]
        kind = "task run" if kind == "run" else kind
        buckets[kind] = buckets.get(kind, 0.0) + value
    print("Summed over the chain (s):")
    for kind, value in buckets.items():
        print(f"  {kind:40s} {value:6.2f}")
    save("handoffs", {"n": n, "profiles": profiles, "summed": buckets})


if __name__ == "__main__":
    main()
