"""Drift: how far rows (a dropped batch, a scoring file, the server's requests) have moved from
what a model learned from. numpy and scipy only.

A **reference** is written with every model version from its training rows: per numeric
feature the decile edges, the share of rows in each bin, a quantile sketch (the KS test's
reference), the range and the missing share; per categorical feature the category shares and
the missing share; the target's distribution and the predictions' on held-out rows.

A **check** scores each feature against it: the population stability index (PSI) over the
reference's bins, and a test of its kind (two-sample Kolmogorov-Smirnov for numbers,
chi-square for categories). Noise is guarded three ways: a feature drifts only when its PSI is
over the threshold *and* its test is significant at ``alpha`` divided by the number of features
(Bonferroni); a check of fewer than ``min_rows`` rows says so and flags nothing; the bins are the
reference's deciles, so no bin is nearly empty by construction. The data set drifted when at
least ``dataset_share`` of its features did. Values outside the training range are counted
(``outside_range``), never refused: the model keeps answering.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from tasks.config import Dataset, Monitoring

BINS = 10
SKETCH_POINTS = 1000  # the quantile sketch of a numeric feature: its KS reference
TEST_ROWS = 5000  # a test runs on at most this many rows (a sample): p-values of 10^6 rows flag any wiggle
EPSILON = 1e-4  # a share of 0 counts as this in the PSI (an empty bin would be infinite)
TOP_CATEGORIES = 50  # more categories are kept as "other"
OTHER = "(other)"


def _numeric_reference(values: pd.Series) -> dict[str, Any]:
    numbers = values.to_numpy(dtype="float64")
    present = numbers[~np.isnan(numbers)]
    if present.size == 0:
        return {"kind": "numeric", "missing": 1.0, "edges": [], "shares": [1.0], "sketch": [], "low": None, "high": None}
    edges = np.unique(np.quantile(present, np.linspace(0, 1, BINS + 1)[1:-1]))
    return {
        "kind": "numeric",
        "missing": float(1 - present.size / numbers.size),
        "edges": edges.tolist(),
        "shares": _bin_shares(present, edges).tolist(),
        "sketch": np.quantile(present, np.linspace(0, 1, SKETCH_POINTS)).tolist(),
        "low": float(present.min()),
        "high": float(present.max()),
    }


def _categorical_reference(values: pd.Series) -> dict[str, Any]:
    present = values.dropna().astype(str)
    shares = present.value_counts(normalize=True)
    top = shares.iloc[:TOP_CATEGORIES]
    kept = {str(k): float(v) for k, v in top.items()}
    if len(shares) > TOP_CATEGORIES:
        kept[OTHER] = float(shares.iloc[TOP_CATEGORIES:].sum())
    return {"kind": "categorical", "missing": float(values.isna().mean()) if len(values) else 0.0, "shares": kept}


def describe(values: pd.Series, kind: str) -> dict[str, Any]:
    """One column's reference: numeric (bins, sketch, range) or categorical (shares)."""
    return _numeric_reference(values) if kind == "numeric" else _categorical_reference(values)


def make_reference(X: pd.DataFrame, y: pd.Series, dataset: Dataset, predictions: np.ndarray | None = None) -> dict[str, Any]:
    """What a model version learned from (its training rows), and what it predicts on held-out rows."""
    target_kind = "numeric" if dataset.regression else "categorical"
    reference = {
        "rows": len(X),
        "features": {column: describe(X[column], kind) for column, kind in dataset.features.items()},
        "target": describe(y, target_kind),
    }
    if predictions is not None:
        reference["predictions"] = describe(pd.Series(predictions), target_kind)
    return reference


def _bin_shares(present: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    return counts / max(1, present.size)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index: sum over bins of (actual - expected) * ln(actual / expected)."""
    e, a = np.clip(expected, EPSILON, None), np.clip(actual, EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _sample(values: np.ndarray, rows: int, seed: int = 0) -> np.ndarray:
    if values.size <= rows:
        return values
    return np.random.default_rng(seed).choice(values, rows, replace=False)


def _numeric_score(reference: dict[str, Any], values: pd.Series) -> dict[str, Any]:
    from scipy.stats import ks_2samp

    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    present = numbers[~np.isnan(numbers)]
    missing = float(1 - present.size / numbers.size) if numbers.size else 0.0
    score = {"kind": "numeric", "missing": round(missing, 4), "reference_missing": round(reference["missing"], 4)}
    if present.size == 0 or not reference["sketch"]:
        return {**score, "all_missing": present.size == 0, "psi": None, "p_value": None, "rows": int(present.size)}
    edges = np.asarray(reference["edges"])
    shares = _bin_shares(present, edges)
    outside = float(np.mean((present < reference["low"]) | (present > reference["high"])))
    return {
        **score,
        "rows": int(present.size),
        "psi": round(psi(np.asarray(reference["shares"]), shares), 4),
        "p_value": float(ks_2samp(np.asarray(reference["sketch"]), _sample(present, TEST_ROWS)).pvalue),
        "outside_range": round(outside, 4),
        "shares": shares.round(4).tolist(),
        "reference_shares": [round(s, 4) for s in reference["shares"]],
        "edges": reference["edges"],
    }


def _categorical_score(reference: dict[str, Any], values: pd.Series) -> dict[str, Any]:
    from scipy.stats import chisquare

    present = values.dropna().astype(str)
    missing = float(values.isna().mean()) if len(values) else 0.0
    score = {"kind": "categorical", "missing": round(missing, 4), "reference_missing": round(reference["missing"], 4)}
    if present.empty:
        return {**score, "all_missing": True, "psi": None, "p_value": None, "rows": 0}
    known = reference["shares"]
    counts = present.where(present.isin(list(known)), OTHER).value_counts()
    categories = list(dict.fromkeys([*known, *counts.index]))
    expected = np.array([known.get(c, 0.0) for c in categories])
    actual = np.array([counts.get(c, 0) for c in categories], dtype="float64")
    shares = actual / actual.sum()
    sample_rows = min(int(actual.sum()), TEST_ROWS)  # the test on TEST_ROWS rows' worth of counts
    observed = shares * sample_rows
    expected_counts = np.clip(expected, EPSILON, None) / np.clip(expected, EPSILON, None).sum() * sample_rows
    unseen = [c for c in categories if c not in known]
    return {
        **score,
        "rows": int(actual.sum()),
        "psi": round(psi(expected, shares), 4),
        "p_value": float(chisquare(observed, expected_counts).pvalue),
        "unseen": unseen,
        "shares": {c: round(float(s), 4) for c, s in zip(categories, shares, strict=True)},
        "reference_shares": {c: round(float(known.get(c, 0.0)), 4) for c in categories},
    }


def score_column(reference: dict[str, Any], values: pd.Series) -> dict[str, Any]:
    return _numeric_score(reference, values) if reference["kind"] == "numeric" else _categorical_score(reference, values)


def check(
    reference: dict[str, Any], frame: pd.DataFrame, thresholds: Monitoring, predictions: np.ndarray | None = None
) -> dict[str, Any]:
    """Each feature's scores and status (drifted, warning, stable, too few rows, all missing),
    which drifted, and whether the data set did."""
    features = reference["features"]
    corrected = thresholds.alpha / max(1, len(features))
    scores, drifted, warnings = {}, [], []
    for column, ref in features.items():
        values = frame[column] if column in frame.columns else pd.Series(np.nan, index=frame.index)
        score = score_column(ref, values)
        score["status"] = _status(score, thresholds, corrected)
        scores[column] = score
        if score["status"] in ("drifted", "all missing"):  # a feature gone empty has drifted too
            drifted.append(column)
        elif score["status"] == "warning":
            warnings.append(column)
    judged = [c for c, s in scores.items() if s["status"] not in ("too few rows",)]
    result = {
        "rows": len(frame),
        "scores": scores,
        "drifted": drifted,
        "warnings": warnings,
        "dataset_drift": bool(judged) and len(drifted) / len(features) >= thresholds.dataset_share,
        "thresholds": {
            "psi_drift": thresholds.psi_drift,
            "psi_warning": thresholds.psi_warning,
            "alpha_per_feature": round(corrected, 6),
            "dataset_share": thresholds.dataset_share,
            "min_rows": thresholds.min_rows,
        },
    }
    if predictions is not None and "predictions" in reference:
        result["predictions"] = score_column(reference["predictions"], pd.Series(predictions))
    return result


def _status(score: dict[str, Any], thresholds: Monitoring, alpha: float) -> str:
    if score.get("all_missing"):
        return "all missing"
    if score["rows"] < thresholds.min_rows:
        return "too few rows"
    value, p_value = score["psi"], score["p_value"]
    if value is None or math.isnan(value):
        return "stable"
    if value >= thresholds.psi_drift and p_value < alpha:
        return "drifted"
    if value >= thresholds.psi_warning:
        return "warning"
    return "stable"


def summary_line(check: dict[str, Any]) -> str:
    """``2 of 4 features drifted (temperature: PSI 1.2); the data set drifted`` for people."""
    scores = check["scores"]
    named = ", ".join(
        f"{f} (PSI {scores[f]['psi']})" if scores[f].get("psi") is not None else f"{f} ({scores[f]['status']})"
        for f in check["drifted"]
    )
    line = f"{len(check['drifted'])} of {len(scores)} features drifted" + (f": {named}" if named else "")
    return line + ("; the data set drifted" if check["dataset_drift"] else "")


def figures(check: dict[str, Any]) -> dict[str, Any]:
    """A check as the drift asset's event carries it: the per-feature figures, not the bins."""
    figures = ("status", "psi", "p_value", "missing", "outside_range", "unseen", "rows")
    return {
        "source": check["source"],
        "model_version": check["model_version"],
        "drifted": check["drifted"],
        "dataset_drift": check["dataset_drift"],
        "rows": check["rows"],
        "scores": {f: {k: v for k, v in s.items() if k in figures} for f, s in check["scores"].items()},
        "check_id": check["id"],
    }


def drift_alerts(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A warning for each check that found drift (``StageResult.alerts``)."""
    return [
        {
            "kind": "drift",
            "level": "warning",
            "what": f"{c['source']} drifted from what {c['model_version']} learned from: {', '.join(c['drifted'])}",
            "why": summary_line(c),
            "fix": "the page (link) draws each feature beside its training data; if the world changed, drop labelled rows of it to retrain",
            "versions": [c["model_version"]],
            "files": [c["source"]],
            "page": f"drift/{c['id']}",
        }
        for c in checks
        if c["drifted"]
    ]
