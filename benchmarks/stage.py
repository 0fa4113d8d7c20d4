"""Run one pipeline stage in this process and print its wall time and peak RSS (JSON).

    python benchmarks/stage.py STAGE DATA_DIR [CSV]     STAGE: ingest|validate|validate_cold|features|train|evaluate
(validate_cold counts the Great Expectations import in its time)
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


def main() -> None:
    stage, data = sys.argv[1], Path(sys.argv[2])
    d = {k: data / k for k in ("claimed", "raw", "archive", "quarantine", "features", "models", "metrics")}
    from tasks.config import load_config

    config = load_config(REPO_ROOT / "pipeline.toml")
    if stage == "ingest":
        from tasks.ingest import ingest_claimed

        d["claimed"].mkdir(parents=True, exist_ok=True)
        shutil.copy(sys.argv[3], d["claimed"] / f"bench__{Path(sys.argv[3]).name}")
        run = lambda: ingest_claimed(d["claimed"], d["raw"], d["archive"], d["quarantine"], seed_if_empty=False)  # noqa: E731
    elif stage in ("validate", "validate_cold"):
        from tasks.validation import gate_pending_batches

        if stage == "validate":
            import great_expectations  # noqa: F401  (import excluded from the stage time)

        run = lambda: gate_pending_batches(d["raw"], d["archive"], d["quarantine"], REPO_ROOT / "expectations" / "raw.json")  # noqa: E731
    elif stage == "features":
        from tasks.features import build_features
        from tasks.validation import validated_batches

        run = lambda: build_features(d["raw"], d["features"], validated_batches(d["raw"]), test_size=config.test_size, seed=config.seed)  # noqa: E731
    elif stage == "train":
        from tasks.training import train_model

        run = lambda: train_model(d["raw"], d["features"], d["models"], config)  # noqa: E731
    elif stage == "evaluate":
        from tasks.evaluation import evaluate_version
        from tasks.training import list_versions

        run = lambda: evaluate_version(d["models"], d["features"], d["metrics"], list_versions(d["models"])[-1], config)  # noqa: E731
    else:
        raise SystemExit(f"unknown stage {stage}")
    started = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - started
    ok = not (stage.startswith("validate") and result.quarantined)
    print(json.dumps({"seconds": seconds, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "ok": ok}))


if __name__ == "__main__":
    main()
