"""Burst: many small files dropped together on the real stack (`make run`), until a model
trained on all of them is evaluated.

    python benchmarks/burst.py [FILES] [--rows R] [--rounds K]     (default: 300 files of 30 rows, 3 rounds)

Each round starts a fresh stack, waits for the iris seed's chain (so a champion exists and
the label check runs), then moves FILES complete files into the inbox within a moment (the
README's way: written elsewhere, then renamed in) and times, from the first file's arrival:
every file ingested, every batch validated, a model trained on all of them, that model
evaluated. Progress is read from the store, the truth the DAGs leave behind.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from common import iris_like, med, running_stack, save, write_csv
from harness import wait_for


def trained_on_all(store, batch_ids: set[str]) -> str | None:
    """The newest model version whose training data holds every batch of the burst."""
    for version in reversed(store.registry.versions()):
        try:
            card = store.registry.card(version)
        except (OSError, ValueError):
            continue  # reserved, not yet written
        if batch_ids <= {b["batch_id"] for b in card.get("training_batches", [])}:
            return version
    return None


def one_round(files: int, rows: int, seed: int) -> dict[str, float]:
    with running_stack("local") as bench:
        store, stack = bench.store, bench.stack
        wait_for("the seed's champion", lambda: store.registry.champion() is not None, timeout=300)
        wait_for("the seed's chain to settle", lambda: not store.batches.pending_validation() and stack.inbox_is_empty())
        known = {m["batch_id"] for m in store.batches.committed()}
        runs_before = len(stack.runs("preprocess"))
        staging = stack.root / "staging-burst"
        staging.mkdir()
        names = [f"burst-{seed}-{i:04d}.csv" for i in range(files)]
        for i, name in enumerate(names):
            write_csv(iris_like(rows, seed=seed * 10_000 + i), staging / name)
        inbox = Path(store.backend.path(store.inbox.folder))
        first = time.time()
        for name in names:
            os.replace(staging / name, inbox / name)
        moved = time.time() - first

        def all_ingested() -> set[str] | None:
            burst = {m["batch_id"] for m in store.batches.committed()} - known
            return burst if len(burst) == files else None

        times: dict[str, float] = {"moving the files in": moved}
        ids = wait_for("every file ingested", all_ingested, every=0.2)
        times["every file ingested"] = time.time() - first
        wait_for("every batch validated", lambda: not store.batches.pending_validation(), every=0.2)
        times["every batch validated"] = time.time() - first
        version = wait_for("a model trained on all of them", lambda: trained_on_all(store, ids), every=0.2)
        times["a model trained on all of them"] = time.time() - first
        wait_for("that model evaluated", lambda: store.registry.evaluation(version) is not None, every=0.2)
        times["that model evaluated"] = time.time() - first
        validated = [store.batches.validation(b) for b in ids]
        times["batches validated in one GX run (share)"] = sum(v["gx_run"] == "together" for v in validated) / files
        times["preprocess runs"] = len(stack.runs("preprocess")) - runs_before
        return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", type=int, nargs="?", default=300)
    parser.add_argument("--rows", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = []
    for k in range(args.rounds):
        rounds.append(one_round(args.files, args.rows, seed=k + 1))
        print(f"  round {k + 1}: " + ", ".join(f"{key} {value:.2f}" for key, value in rounds[-1].items()), flush=True)
    figures = {key: med([r[key] for r in rounds]) for key in rounds[0]}
    print(f"Burst of {args.files} files of {args.rows} rows on `make run` (local data), median of {args.rounds} rounds:")
    for key, value in figures.items():
        print(f"  {key:42s} {value:7.2f}{'' if 'share' in key or 'runs' in key else ' s'}")
    save("burst", {"files": args.files, "rows_per_file": args.rows, "rounds": args.rounds, **figures})


if __name__ == "__main__":
    main()
