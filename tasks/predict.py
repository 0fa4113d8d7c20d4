"""Score a CSV with the current champion model.

    python -m tasks.predict INPUT.csv [OUTPUT.csv]      (or: make predict IN=... OUT=...)

The input passes the same checks as a drop (a readable CSV, then the GX suite's
checks on the four measurement columns; ``target`` may be absent). Output: the
input rows plus ``predicted_target``, ``predicted_species`` and ``probability``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from tasks import atomic_io
from tasks.evaluation import read_champion
from tasks.ingest import UnreadableDrop, read_drop
from tasks.schema import CLASS_NAMES, FEATURE_COLUMNS, TARGET_COLUMN
from tasks.training import load_model
from tasks.validation import load_suite_json, validate_frame


class RefusedInput(ValueError):
    """Input that fails the drop checks; the message says why."""


def scoring_suite(suite_json: dict[str, Any], *, with_target: bool) -> dict[str, Any]:
    """The raw-data suite, minus what only labelled data can satisfy."""
    columns = [*FEATURE_COLUMNS, TARGET_COLUMN] if with_target else FEATURE_COLUMNS
    expectations = []
    for exp in suite_json["expectations"]:
        kwargs = dict(exp["kwargs"])
        if kwargs.get("column") == TARGET_COLUMN and not with_target:
            continue
        if "column_list" in kwargs:
            kwargs["column_list"] = columns
        expectations.append({**exp, "kwargs": kwargs})
    return {**suite_json, "name": f"{suite_json['name']}_scoring", "expectations": expectations}


def predict_csv(input_path: Path, output_path: Path, models_dir: Path, suite_path: Path) -> dict[str, Any]:
    try:
        frame = read_drop(input_path)
    except UnreadableDrop as exc:
        raise RefusedInput(str(exc)) from None
    outcome = validate_frame(frame, scoring_suite(load_suite_json(suite_path), with_target=TARGET_COLUMN in frame.columns))
    if not outcome.success:
        raise RefusedInput(outcome.reason)
    champion = read_champion(models_dir)
    if champion is None:
        raise RefusedInput(f"no champion model yet in {models_dir}: run the pipeline first")
    model = load_model(models_dir, champion["version"])
    probabilities = model.predict_proba(frame[FEATURE_COLUMNS])
    predicted = model.classes_[probabilities.argmax(axis=1)]
    out = frame.assign(
        predicted_target=predicted,
        predicted_species=pd.Series(predicted).map(CLASS_NAMES).to_numpy(),
        probability=probabilities.max(axis=1).round(4),
    )
    atomic_io.write_text(output_path, out.to_csv(index=False))
    return {"model": champion["version"], "rows": len(out), "output": str(output_path)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.predict", description="Score a CSV with the champion model.")
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path, nargs="?")
    args = parser.parse_args(argv)
    from tasks import catalog

    output = args.output or args.input.with_name(f"{args.input.stem}.predictions.csv")
    try:
        result = predict_csv(args.input, output, catalog.MODELS_DIR, catalog.EXPECTATIONS_FILE)
    except RefusedInput as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    print(f"{result['rows']} rows scored with champion {result['model']} -> {result['output']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
