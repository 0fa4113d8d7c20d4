"""Idle cost and memory: PSS and CPU of the whole stack idle (60 s after the first chain),
PSS at peak during a run, peak RSS of each task. Target (issue 12): idle <= 1.0 GiB PSS
and <= 10% of one core.

PSS splits shared pages between the processes sharing them, so the sum is what the
stack really costs (summed RSS counts the forked workers' shared pages many times).

    python benchmarks/memory.py [--backend local|cluster]
"""

from __future__ import annotations

import argparse
import time

from common import (
    DAGS,
    MemorySampler,
    drop,
    idle_cpu,
    iris_like,
    pss_by_component,
    run_ids,
    running_stack,
    save,
    stack_pss,
    task_names,
    wait_chain,
)

MiB = 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["local", "cluster"], default="local")
    backend = parser.parse_args().backend
    with running_stack(backend) as bench:
        stack, store = bench.stack, bench.store
        wait_chain(stack, {d: set() for d in DAGS})
        time.sleep(15)  # let the first run's processes settle
        idle = [stack_pss() for _ in range(5) if not time.sleep(1)]
        idle_pss = sorted(p for p, _ in idle)[len(idle) // 2]
        processes = idle[-1][1]
        components = pss_by_component()
        rss_sum = sum(p.memory_info().rss for p in __import__("psutil").Process().children(recursive=True))
        cpu, cpu_per_component = idle_cpu(60)
        before = run_ids(stack)
        with MemorySampler(interval=0.1) as sampler:
            drop(store, "memory_probe.csv", iris_like(150, seed=7))
            runs = wait_chain(stack, before)
            time.sleep(1)
        names = task_names(stack, runs)
    per_task = {names.get(ti, ti): rss / MiB for ti, rss in sampler.task_rss.items()}
    print(
        f"Stack ({backend}) idle: {processes} processes, PSS {idle_pss / MiB:.0f} MiB (summed RSS would say {rss_sum / MiB:.0f} MiB)"
    )
    for name, (pss, count) in sorted(components.items(), key=lambda kv: -kv[1][0]):
        print(f"  {name:16s} {count:3d} process(es)  PSS {pss / MiB:6.0f} MiB")
    print(f"Stack ({backend}) idle CPU over 60 s: {cpu:.1f}% of one core")
    for name, pct_ in sorted(cpu_per_component.items(), key=lambda kv: -kv[1]):
        print(f"  {name:16s} {pct_:5.1f}%")
    print(f"Stack peak during a run: PSS {sampler.peak_pss / MiB:.0f} MiB")
    print("Peak RSS per task (MiB; shared pages inherited from the scheduler included):")
    for name, mib in sorted(per_task.items()):
        print(f"  {name:40s} {mib:6.0f}")
    save(
        f"memory-{backend}",
        {
            "idle_pss_mib": idle_pss / MiB,
            "idle_cpu_pct_of_one_core": cpu,
            "idle_cpu_by_component": cpu_per_component,
            "idle_rss_sum_mib": rss_sum / MiB,
            "processes": processes,
            "components_idle_pss_mib": {k: v[0] / MiB for k, v in components.items()},
            "components_processes": {k: v[1] for k, v in components.items()},
            "peak_pss_mib": sampler.peak_pss / MiB,
            "task_peak_rss_mib": per_task,
        },
    )


if __name__ == "__main__":
    main()
