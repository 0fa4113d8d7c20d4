"""Run one pipeline stage in this process and print its wall time and peak RSS (JSON).

    [PIPELINE_CONFIG=...] python benchmarks/stage.py STAGE DATA_URL [CSV]     STAGE: ingest|validate|validate_cold|features|train|evaluate|parse
(validate_cold counts the Great Expectations import in its time). The same stage entry
points the DAGs call, on any backend. ``parse`` is the floor of reading a drop: the CSV
parsed by ``pyarrow.csv.read_csv`` (multi-threaded, typed columns), nothing else.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM). Not ``ru_maxrss``: Linux carries a parent's
    peak over into a child it forks, so a benchmark that made a big file counted it here."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def main() -> None:
    stage, data_url = sys.argv[1], sys.argv[2]
    from tasks.config import Settings, load_config
    from tasks.store import open_store

    chosen = {k: os.environ[k] for k in ("PIPELINE_CONFIG",) if os.environ.get(k)}  # another data set's parameters
    settings = Settings.from_env({"PIPELINE_DATA_URL": data_url, **chosen})
    store, config = open_store(settings.data_url), load_config(settings.config_file)
    if stage == "parse":
        import pyarrow.csv

        csv = Path(sys.argv[3])
        run = lambda: pyarrow.csv.read_csv(csv)  # noqa: E731
    elif stage == "ingest":
        from tasks.stages.ingest import ingest

        csv = Path(sys.argv[3])
        store.inbox.put_file(csv.name, csv)
        store.inbox.claim_named(csv.name)
        run = lambda: ingest(store)  # noqa: E731
    elif stage in ("validate", "validate_cold"):
        from tasks.stages.validate import validate_pending

        if stage == "validate":
            import great_expectations  # noqa: F401  (import excluded from the stage time)

        run = lambda: validate_pending(store, config)  # noqa: E731
    elif stage == "features":
        from tasks.stages.split import build_features

        run = lambda: build_features(store, config)  # noqa: E731
    elif stage == "train":
        from tasks.stages.train import train

        run = lambda: train(store, config)  # noqa: E731
    elif stage == "evaluate":
        from tasks.stages.evaluate import evaluate_pending

        run = lambda: evaluate_pending(store, config)  # noqa: E731
    else:
        raise SystemExit(f"unknown stage {stage}")
    before_mib = peak_rss_mib()  # the imports' share of the peak
    started = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - started
    ok = not (stage.startswith("validate") and result.quarantined)
    peak_mib = peak_rss_mib()
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak_mib, "before_rss_mib": before_mib, "ok": ok}))


if __name__ == "__main__":
    main()
