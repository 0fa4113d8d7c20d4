"""The event-driven chain against the seed's single four-task DAG, on one running stack.

    python benchmarks/seed_vs_chain.py [N] [--cp]     (N rounds; default 8)

The seed DAG (``seed_dag/seed_pipeline.py``, four PythonOperators) is served beside the
project's four DAGs by the same `make run` stack. Each round triggers it through the REST
API and waits for success, then drops one 150-row file and waits for ``evaluate`` to
succeed. Prints both medians and their ratio (the target: chain <= 2x seed), the chain's
stages, and both split into the same hand-offs from the scheduler's own timestamps (run
created -> started, task -> scheduled -> queued -> started -> ended, run ended, and for the
chain the asset hand-offs between DAGs), as a Markdown table: each second named. With
``--cp`` each file is copied into the inbox in place by the ``cp`` command (one open, one
close: what most people type) instead of appearing whole by a rename.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from common import (
    DAGS,
    cp_into,
    drop,
    handoff_kinds,
    handoff_profile,
    iris_like,
    med,
    pct,
    run_ids,
    running_stack,
    save,
    stage_times,
    trigger_event_time,
    ts,
    wait_chain,
)

SEED_DAG = Path(__file__).resolve().parent / "seed_dag" / "seed_pipeline.py"
SEED_DAG_ID = "seed_pipeline"
CHAIN = DAGS[: DAGS.index("evaluate") + 1]  # drop -> evaluate success: deploy runs after
KINDS = [
    "run created -> started",
    "-> scheduled",
    "scheduled -> queued",
    "queued -> started",
    "task run",
    "last task ended -> run ended",
    "upstream task ended -> run created",
]
# PHASE: Airflow's trigger runner passes watcher events on once a second. Drops made at a
# fixed cadence after each run lock onto that tick (always ~0.75 s, or ~0.05 s, of wait);
# a person drops at a random moment, so each drop waits a random 0-1 s first (fixed seed).


def wait_seed_dag(stack, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dags = stack.api.get("/api/v2/dags?limit=100")["dags"]
        if any(d["dag_id"] == SEED_DAG_ID and not d["is_paused"] for d in dags):
            return
        time.sleep(0.5)
    raise TimeoutError(f"{SEED_DAG_ID} was not parsed within {timeout} s")


def seed_run(stack, timeout: float = 300) -> dict[str, float]:
    """Trigger the seed DAG through the API; seconds from the request to its success."""
    asked = time.time()
    run = stack.api.post(f"/api/v2/dags/{SEED_DAG_ID}/dagRuns", {"logical_date": None})
    path = f"/api/v2/dags/{SEED_DAG_ID}/dagRuns/{run['dag_run_id']}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = stack.api.get(path)
        if run["state"] == "failed":
            raise RuntimeError(f"{SEED_DAG_ID} run {run['dag_run_id']} failed")
        if run["state"] == "success":
            return {
                "total": ts(run["end_date"]) - asked,
                "queued": ts(run["start_date"]) - asked,
                "run": ts(run["end_date"]) - ts(run["start_date"]),
                "created": ts(run["queued_at"]) - asked,
                "handoffs": handoff_kinds(handoff_profile(stack, {SEED_DAG_ID: run}, [SEED_DAG_ID])),
            }
        time.sleep(0.1)
    raise TimeoutError(f"{SEED_DAG_ID} run did not finish in {timeout} s")


def drop_by_cp(store, name: str, frame) -> float:
    """A complete file copied into the local inbox by ``cp``; returns the time ``cp`` exited."""
    return cp_into(Path(store.backend.path(store.inbox.folder)), name, frame.to_csv(index=False))


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--cp"]
    n = int(args[0]) if args else 8
    put = drop_by_cp if "--cp" in sys.argv[1:] else drop
    seed, chain = [], []
    phase = random.Random(12)
    with running_stack("local", extra_dags=[SEED_DAG]) as bench:
        stack, store = bench.stack, bench.store
        wait_chain(stack, {d: set() for d in DAGS})  # iris, first chain
        wait_seed_dag(stack)
        seed_run(stack)  # warm-up: the first run after a start pays one-off costs
        time.sleep(2)
        for i in range(n):
            seed.append(seed_run(stack))
            time.sleep(1 + phase.random())  # see PHASE
            before = run_ids(stack)
            name = f"round_{i:02d}.csv"
            dropped = put(store, name, iris_like(150, seed=500 + i))
            runs = wait_chain(stack, before)
            chain.append(stage_times(dropped, runs, trigger_event_time(stack, name)))
            chain[-1]["handoffs"] = handoff_kinds(on_the_path(handoff_profile(stack, runs, CHAIN)))
            print(
                f"round {i + 1}/{n}: seed DAG {seed[-1]['total']:.2f} s, chain {chain[-1]['total (drop -> evaluate success)']:.2f} s",
                flush=True,
            )
            time.sleep(1)
    seed_p50 = pct([s["total"] for s in seed], 50)
    chain_totals = [c["total (drop -> evaluate success)"] for c in chain]
    chain_p50 = pct(chain_totals, 50)
    print(
        f"\nSeed DAG, REST trigger -> success: p50 {seed_p50:.2f} s (min {min(s['total'] for s in seed):.2f}, max {max(s['total'] for s in seed):.2f}; "
        f"trigger -> start {med([s['queued'] for s in seed]):.2f} s, run {med([s['run'] for s in seed]):.2f} s)"
    )
    print(f"Chain, drop -> evaluate success: p50 {chain_p50:.2f} s (min {min(chain_totals):.2f}, max {max(chain_totals):.2f})")
    print(f"Ratio chain / seed: {chain_p50 / seed_p50:.2f} (target <= 2.0)")
    print("Chain, median per stage (s):")
    for key in chain[0]:
        if key != "handoffs":
            print(f"  {key:38s} {med([c[key] for c in chain]):6.2f}")
    print_handoff_table(seed, chain)
    save(
        "seed-vs-chain",
        {"n": n, "seed_p50": seed_p50, "chain_p50": chain_p50, "ratio": chain_p50 / seed_p50, "seed": seed, "chain": chain},
    )


def on_the_path(profile: dict[str, float]) -> dict[str, float]:
    """The chain's hand-offs a drop waits for: a DAG's run ending after its last task overlaps
    the next DAG's run (created from the task's event), so only evaluate's counts."""
    return {k: v for k, v in profile.items() if not (k.endswith("last task ended -> run ended") and k.split(":")[0] != CHAIN[-1])}


def print_handoff_table(seed: list[dict], chain: list[dict]) -> None:
    """Both, split into the same hand-offs (medians over the rounds, each summed over the runs
    and tasks it spans), as Markdown."""
    pickup = [k for k in chain[0] if k.startswith(("pickup", "claimed ->", "inbox event ->"))]
    print(f"\n| hand-off (median of {len(seed)}, s) | seed DAG (one run, 4 tasks) | chain ({', '.join(CHAIN)}) |")
    print("| --- | --- | --- |")
    print(f"| before a run exists: REST request -> run created | {med([s['created'] for s in seed]):.2f} | |")
    for key in pickup:
        print(f"| before a run exists: {key} | | {med([c[key] for c in chain]):.2f} |")
    for kind in KINDS:
        seed_value = med([s["handoffs"].get(kind, 0.0) for s in seed])
        chain_value = med([c["handoffs"].get(kind, 0.0) for c in chain])
        print(f"| {kind} | {seed_value:.2f} | {chain_value:.2f} |")
    seed_total, chain_total = med([s["total"] for s in seed]), med([c["total (drop -> evaluate success)"] for c in chain])
    print(
        f"| **total** (p50 of the totals; the rows' medians need not add up to it) | **{seed_total:.2f}** | **{chain_total:.2f}** ({chain_total / seed_total:.2f}x) |"
    )


if __name__ == "__main__":
    main()
