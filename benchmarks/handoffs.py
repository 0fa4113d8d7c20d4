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

from common import DAGS, drop, handoff_profile, iris_like, med, run_ids, running_stack, save, wait_chain


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
            profiles.append(handoff_profile(stack, wait_chain(stack, before), DAGS))
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
