"""Validation time: the GX gate on a 150-row and a 1,000,000-row batch, GX import included and excluded.

python benchmarks/validation_time.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPO_ROOT, iris_like, med, save, write_csv

STAGE = str(REPO_ROOT / "benchmarks" / "stage.py")


def once(rows: int, variant: str, workdir: Path) -> dict:
    data = workdir / f"d-{rows}-{variant}"
    csv = workdir / f"drop-{rows}.csv"
    if not csv.exists():
        write_csv(iris_like(rows, seed=3), csv)
    subprocess.run([sys.executable, STAGE, "ingest", str(data), str(csv)], check=True, capture_output=True)
    done = subprocess.run([sys.executable, STAGE, variant, str(data)], check=True, capture_output=True, text=True)
    shutil.rmtree(data)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"], "the synthetic batch must pass the suite"
    return result


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-validate-"))
    figures = {}
    for rows in (150, 1_000_000):
        for variant, label in (("validate_cold", "GX import included"), ("validate", "GX import excluded")):
            runs = [once(rows, variant, workdir) for _ in range(3)]
            figures[f"{rows} rows, {label}"] = {
                "seconds": med([r["seconds"] for r in runs]),
                "peak_rss_mib": med([r["peak_rss_mib"] for r in runs]),
            }
    shutil.rmtree(workdir, ignore_errors=True)
    print("Validation task (gate_pending_batches), median of 3 fresh processes:")
    for key, v in figures.items():
        print(f"  {key:40s} {v['seconds']:6.2f} s   peak RSS {v['peak_rss_mib']:5.0f} MiB")
    save("validation_time", figures)


if __name__ == "__main__":
    main()
