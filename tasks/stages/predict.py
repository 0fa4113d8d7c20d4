"""Score a CSV with the current champion model (``pipeline predict``, ``make predict``).

The input passes the same checks as a drop (a readable CSV, then the GX suite's checks
on the data set's feature columns; the target may be absent, other columns such as an
identifier are kept). Output (default ``INPUT.predictions.csv`` beside the input): the
input rows, every column kept, plus ``prediction`` (the class as the data writes it) and
``probability``. Imports no Airflow.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from tasks.config import PipelineConfig
from tasks.contract import load_suite_json, scoring_suite, validate_frame
from tasks.drops import UnreadableDrop, read_drop, without_index_column
from tasks.modeling import feature_frame
from tasks.store import Store


class RefusedInput(ValueError):
    """Input that fails the drop checks; the message says why."""


def predict_csv(store: Store, input_path: Path, output_path: Path, config: PipelineConfig) -> dict[str, Any]:
    dataset = config.dataset
    try:
        frame, _ = without_index_column(read_drop(input_path))
    except UnreadableDrop as exc:
        raise RefusedInput(str(exc)) from None
    suite = scoring_suite(load_suite_json(dataset.suite), dataset, with_target=dataset.target in frame.columns)
    outcome = validate_frame(frame, suite, dataset)
    if not outcome.success:
        raise RefusedInput(outcome.reason)
    champion = store.registry.champion()
    if champion is None:
        raise RefusedInput(f"no champion model yet in {store.registry.uri}: run the pipeline first")
    model = store.registry.load(champion["version"])
    probabilities = model.predict_proba(feature_frame(frame, dataset))
    out = frame.assign(
        prediction=model.classes_[probabilities.argmax(axis=1)],
        probability=probabilities.max(axis=1).round(4),
    )
    output_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output_path.name}.", dir=output_path.parent)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        out.to_csv(fh, index=False)
    os.replace(tmp, output_path)  # never a half-written output file
    return {"model": champion["version"], "rows": len(out), "output": str(output_path)}
