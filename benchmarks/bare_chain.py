"""The bare-compute floor: the four pipeline steps for one drop, in one fresh Python process.

    python benchmarks/bare_chain.py DATA_DIR [CSV]

Imports are included in the time. Prints one JSON line of seconds per step.
Without CSV it only seeds iris (to prepare DATA_DIR).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

started = time.perf_counter()
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tasks.config import load_config  # noqa: E402
from tasks.evaluation import evaluate_version  # noqa: E402
from tasks.features import build_features  # noqa: E402
from tasks.ingest import ingest_claimed  # noqa: E402
from tasks.training import train_model  # noqa: E402
from tasks.validation import gate_pending_batches, validated_batches  # noqa: E402


def main() -> None:
    data = Path(sys.argv[1])
    d = {k: data / k for k in ("claimed", "raw", "archive", "quarantine", "features", "models", "metrics")}
    times = {"imports": time.perf_counter() - started}
    if len(sys.argv) > 2:
        d["claimed"].mkdir(parents=True, exist_ok=True)
        shutil.copy(sys.argv[2], d["claimed"] / f"bench__{Path(sys.argv[2]).name}")
    config = load_config(REPO_ROOT / "pipeline.toml")
    steps = [
        ("ingest", lambda: ingest_claimed(d["claimed"], d["raw"], d["archive"], d["quarantine"])),
        ("validate", lambda: gate_pending_batches(d["raw"], d["archive"], d["quarantine"], REPO_ROOT / "expectations" / "raw.json")),
        ("features", lambda: build_features(d["raw"], d["features"], validated_batches(d["raw"]), test_size=config.test_size, seed=config.seed)),
    ]
    for name, step in steps:
        t = time.perf_counter()
        step()
        times[name] = time.perf_counter() - t
    t = time.perf_counter()
    card = train_model(d["raw"], d["features"], d["models"], config)
    times["train"] = time.perf_counter() - t
    t = time.perf_counter()
    evaluate_version(d["models"], d["features"], d["metrics"], card["version"], config)
    times["evaluate"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - started
    print(json.dumps(times))


if __name__ == "__main__":
    main()
