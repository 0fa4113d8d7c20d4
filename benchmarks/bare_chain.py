"""The bare-compute floor: the four pipeline steps for one drop, in one fresh Python process.

    python benchmarks/bare_chain.py DATA_URL [CSV]

Imports are included in the time. Prints one JSON line of seconds per step.
Without CSV it only seeds iris (to prepare DATA_URL).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

started = time.perf_counter()
REPO_ROOT = Path(__file__).resolve().parents[1]

from tasks.config import Settings, load_config  # noqa: E402
from tasks.stages.evaluate import evaluate_pending  # noqa: E402
from tasks.stages.ingest import ingest  # noqa: E402
from tasks.stages.split import build_features  # noqa: E402
from tasks.stages.train import train  # noqa: E402
from tasks.stages.validate import validate_pending  # noqa: E402
from tasks.store import open_store  # noqa: E402


def main() -> None:
    settings = Settings.from_env({"PIPELINE_DATA_URL": sys.argv[1]})
    store, config = open_store(settings.data_url), load_config(settings.config_file)
    times = {"imports": time.perf_counter() - started}
    if len(sys.argv) > 2:
        csv = Path(sys.argv[2])
        store.inbox.put_file(csv.name, csv)
        store.inbox.claim_named(csv.name)
    steps = [
        ("ingest", lambda: ingest(store, seed=config.dataset.seed)),
        ("validate", lambda: validate_pending(store, config)),
        ("features", lambda: build_features(store, config)),
        ("train", lambda: train(store, config)),
        ("evaluate", lambda: evaluate_pending(store, config)),
    ]
    for name, step in steps:
        t = time.perf_counter()
        step()
        times[name] = time.perf_counter() - t
    times["total"] = time.perf_counter() - started
    print(json.dumps(times))


if __name__ == "__main__":
    main()
