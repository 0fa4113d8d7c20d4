"""Scoring with the champion, shared by ``pipeline predict``, the score stage and the scoring
server: the checks input must pass, the predictions frame, and a loaded model with its
version. Imports no Airflow and no web framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tasks.config import Dataset
from tasks.ml.modeling import feature_frame
from tasks.store import Store


class RefusedInput(ValueError):
    """Input that fails the drop checks; the message says why and what to fix."""


class NoChampion(RefusedInput):
    """Nothing to score with yet."""


def read_checked(path: Path, dataset: Dataset, *, display_name: str | None = None) -> pd.DataFrame:
    """A file to score, read and checked as a drop is: a readable CSV, then the GX suite on the
    feature columns (the target may be absent; other columns, such as an identifier, are kept)."""
    from tasks.quality.contract import load_suite_json, scoring_suite, validate_frame
    from tasks.quality.drops import UnreadableDrop, read_drop, without_index_column

    try:
        frame, _ = without_index_column(read_drop(path, display_name=display_name))
    except UnreadableDrop as exc:
        raise RefusedInput(str(exc)) from None
    suite = scoring_suite(load_suite_json(dataset.suite), dataset, with_target=dataset.target in frame.columns)
    outcome = validate_frame(frame, suite, dataset)
    if not outcome.success:
        raise RefusedInput(outcome.reason)
    return frame


def request_problem(frame: pd.DataFrame, dataset: Dataset) -> str | None:
    """What makes a request's rows unscorable (a missing feature column, a value that is not a
    number in a numeric one), for an HTTP 400; ``None`` when they can be scored. Ranges and
    shares of missing values are properties of a batch: the score stage checks them."""
    if frame.empty:
        return "no rows to score"
    missing = [c for c in dataset.features if c not in frame.columns]
    if missing:
        return f"missing feature column(s) {missing}; expected {list(dataset.features)}"
    kinds = frame.dtypes  # once: a Series per column costs more than a one-row request's checks
    for column in dataset.numeric:
        if kinds[column].kind in "iufb":
            continue
        values = frame[column]
        try:
            numbers = pd.to_numeric(values, errors="coerce")
        except (TypeError, ValueError):  # lists or objects in the column
            return f"column '{column}' must hold numbers; it holds {values.map(type).iloc[0].__name__} values"
        wrong = values.notna() & numbers.isna() & (values.astype(str).str.strip() != "")
        if wrong.any():
            row = int(np.flatnonzero(wrong.to_numpy())[0])
            return f"column '{column}' must hold numbers; row {row} has {str(values.iloc[row])[:40]!r}"
    return None


def as_numbers(frame: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
    """Numeric feature columns written as text ("5.1", "") as numbers (after ``request_problem``)."""
    kinds = frame.dtypes
    text = [c for c in dataset.numeric if kinds[c].kind not in "iufb"]
    if not text:
        return frame
    return frame.assign(**{c: pd.to_numeric(frame[c].replace(r"^\s*$", np.nan, regex=True)) for c in text})


def predicted(model: Any, frame: pd.DataFrame, dataset: Dataset) -> tuple[np.ndarray, np.ndarray | None]:
    """Each row's class (as the data writes it) and its probability; for a number target, the
    number (and no probability)."""
    features = feature_frame(frame, dataset)
    if dataset.regression:
        return model.predict(features).astype("float64"), None
    probabilities = model.predict_proba(features)
    return model.classes_[probabilities.argmax(axis=1)], probabilities.max(axis=1)


def with_predictions(model: Any, frame: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
    """The input rows, every column kept, plus ``prediction`` (and ``probability`` for a class)."""
    values, probability = predicted(model, frame, dataset)
    if probability is None:
        return frame.assign(prediction=values)
    return frame.assign(prediction=values, probability=probability.round(4))


def class_counts(predictions: pd.Series) -> dict[str, Any]:
    """Rows per predicted class; for numbers, their spread (min, median, max)."""
    if predictions.dtype.kind == "f":
        return {
            k: round(float(v), 4)
            for k, v in (("min", predictions.min()), ("median", predictions.median()), ("max", predictions.max()))
        }
    return {str(k): int(v) for k, v in predictions.value_counts().sort_index().items()}


@dataclass(frozen=True)
class LoadedModel:
    """A model in memory, and which version it is."""

    version: str
    sha256: str
    model: Any


def load_champion(store: Store, *, single_threaded: bool = False) -> LoadedModel | None:
    """The champion, loaded after its sha256 check (``None`` when there is none yet)."""
    champion = store.registry.champion()
    return None if champion is None else load_version(store, champion["version"], single_threaded=single_threaded)


def load_version(store: Store, version: str, *, single_threaded: bool = False) -> LoadedModel:
    """A registered version, loaded after its sha256 check. ``single_threaded``: predict in one
    thread (the server: a thread pool per call costs more than a small request takes)."""
    model, sha256 = store.registry.load_checked(version)
    estimator = getattr(model, "steps", [(None, model)])[-1][1]
    if single_threaded and "n_jobs" in estimator.get_params():
        estimator.set_params(n_jobs=1)
    return LoadedModel(version, sha256, model)
