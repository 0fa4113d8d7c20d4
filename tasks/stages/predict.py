"""Score a CSV with the current champion model (``pipeline predict``, ``make predict``).

The input passes the same checks as a drop (``tasks.ml.scoring.read_checked``). Output
(default ``INPUT.predictions.csv`` beside the input): the input rows, every column kept,
plus ``prediction`` (the class as the data writes it) and ``probability``. Imports no Airflow.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from tasks.config import PipelineConfig
from tasks.ml.scoring import NoChampion, RefusedInput, load_champion, read_checked, with_predictions
from tasks.store import Store

__all__ = ["RefusedInput", "predict_csv"]


def predict_csv(store: Store, input_path: Path, output_path: Path, config: PipelineConfig) -> dict[str, Any]:
    frame = read_checked(input_path, config.dataset)
    champion = load_champion(store)
    if champion is None:
        raise NoChampion(f"no champion model yet in {store.registry.uri}: run the pipeline first")
    out = with_predictions(champion.model, frame, config.dataset)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output_path.name}.", dir=output_path.parent)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        out.to_csv(fh, index=False)
    os.replace(tmp, output_path)  # never a half-written output file
    return {"model": champion.version, "rows": len(out), "output": str(output_path)}
