"""Regression at scale: a 10^6-row drop of a number to predict, through each stage, beside the
same for iris (classification), on the same day and machine. Time and peak memory per stage.

    PYTHONPATH=tests python benchmarks/regression_scale.py [ROWS]      (default 1000000)

The regression data set is vega_datasets' cars (miles per gallon from weight, horsepower,
origin...), made by `pipeline dataset` from 200 of its rows; the drop resamples its rows with a
small jitter (names, dates and gaps kept). Each stage runs in a fresh process (benchmarks/stage.py).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from common import save
from scale import STAGES, through_stages

from tasks.ml.profiling import create_dataset

NUMERIC = ["Miles_per_Gallon", "Displacement", "Horsepower", "Weight_in_lbs", "Acceleration"]


def cars() -> pd.DataFrame:
    from vega_datasets import data

    return data.cars().dropna(subset=["Miles_per_Gallon"]).assign(Year=lambda f: f["Year"].dt.strftime("%Y-%m-%d"))


def cars_like(rows: int, seed: int) -> pd.DataFrame:
    """``rows`` cars resampled, each measured number jittered by 1% (gaps stay gaps)."""
    source = cars()
    rng = np.random.default_rng(seed)
    frame = source.iloc[rng.integers(0, len(source), rows)].reset_index(drop=True)
    for column in NUMERIC:
        frame[column] = (frame[column] * rng.normal(1.0, 0.01, rows)).round(2)
    return frame


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    workdir = Path(tempfile.mkdtemp(prefix="bench-regression-"))
    cars().sample(200, random_state=7).to_csv(workdir / "sample.csv", index=False)
    create_dataset(workdir / "sample.csv", "Miles_per_Gallon", workdir / "cars")
    print(f"{rows:,} rows of iris (classification), task functions:", flush=True)
    classification = through_stages(rows, workdir)
    print(f"{rows:,} rows of cars (regression), task functions:", flush=True)
    os.environ["PIPELINE_CONFIG"] = str(workdir / "cars" / "pipeline.toml")
    regression = through_stages(rows, workdir, make=lambda n, seed: cars_like(n, seed))
    totals = {
        name: sum(r[s]["seconds"] for s in STAGES if s in r and "seconds" in r[s])
        for name, r in (("classification", classification), ("regression", regression))
    }
    peaks = {
        name: max(r[s]["peak_rss_mib"] for s in STAGES if s in r and "peak_rss_mib" in r[s])
        for name, r in (("classification", classification), ("regression", regression))
    }
    print(f"\n{rows:,} rows, drop -> champion through the stage functions (s): {totals}")
    print(f"peak RSS of a stage (MiB): {peaks}")
    save(
        "regression_scale",
        {"rows": rows, "total_s": totals, "peak_rss_mib": peaks, "classification": classification, "regression": regression},
    )


if __name__ == "__main__":
    main()
