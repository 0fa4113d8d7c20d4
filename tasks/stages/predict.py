"""Score a CSV with the current champion model (``pipeline predict``, ``make predict``).

The input passes the same checks as a drop (a readable CSV, then the GX suite's checks
on the four measurement columns; ``target`` may be absent, other columns such as an ``id``
are kept). Output (default ``INPUT.predictions.csv`` beside the input): the input rows,
every column kept, plus ``predicted_target``, ``predicted_species`` and ``probability``.
Imports no Airflow.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.contract import load_suite_json, scoring_suite, validate_frame
from tasks.drops import UnreadableDrop, read_drop
from tasks.schema import CLASS_NAMES, FEATURE_COLUMNS, TARGET_COLUMN
from tasks.store import Store


class RefusedInput(ValueError):
    """Input that fails the drop checks; the message says why."""


def predict_csv(store: Store, input_path: Path, output_path: Path, suite_file: Path) -> dict[str, Any]:
    try:
        frame = read_drop(input_path)
    except UnreadableDrop as exc:
        raise RefusedInput(str(exc)) from None
    outcome = validate_frame(frame, scoring_suite(load_suite_json(suite_file), with_target=TARGET_COLUMN in frame.columns))
    if not outcome.success:
        raise RefusedInput(outcome.reason)
    champion = store.registry.champion()
    if champion is None:
        raise RefusedInput(f"no champion model yet in {store.registry.uri}: run the pipeline first")
    model = store.registry.load(champion["version"])
    probabilities = model.predict_proba(frame[FEATURE_COLUMNS])
    predicted = model.classes_[probabilities.argmax(axis=1)]
    out = frame.assign(
        predicted_target=predicted,
        predicted_species=pd.Series(predicted).map(CLASS_NAMES).to_numpy(),
        probability=probabilities.max(axis=1).round(4),
    )
    output_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output_path.name}.", dir=output_path.parent)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        out.to_csv(fh, index=False)
    os.replace(tmp, output_path)  # never a half-written output file
    return {"model": champion["version"], "rows": len(out), "output": str(output_path)}
