"""Drift: the cost of one check (tasks.ml.drift.check) of a big batch against a reference.

    PYTHONPATH=tests python benchmarks/drift.py [ROWS]      (default 1000000; median of 5)

The reference is made from 50,000 iris-like training rows (as train does, from its bounded
sample); the checked rows are iris-like too, with their predictions' column.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
from common import iris_like, save

from tasks.config import REPO_ROOT, Monitoring, load_config
from tasks.ml.drift import check, make_reference


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    dataset = load_config(REPO_ROOT / "pipeline.toml").dataset
    training = iris_like(50_000, seed=1)
    reference = make_reference(training[list(dataset.features)], training["target"], dataset, training["target"].to_numpy())
    batch = iris_like(rows, seed=2)
    predictions = batch["target"].to_numpy()
    times = []
    for _ in range(5):
        started = time.perf_counter()
        found = check(reference, batch, Monitoring(), predictions=predictions)
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    print(
        f"check of {rows:,} rows, {len(dataset.features)} features: median {median:.3f} s (runs {np.round(times, 3).tolist()}); drifted {found['drifted']}"
    )
    save("drift", {"rows": rows, "check_p50_s": median})


if __name__ == "__main__":
    main()
