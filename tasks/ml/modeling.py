"""scikit-learn pieces shared by training, evaluation and scoring, for the configured data set."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pandas as pd

from tasks.config import Dataset, PipelineConfig


def make_pipeline(config: PipelineConfig):  # -> sklearn.pipeline.Pipeline
    """The configured estimator behind a ColumnTransformer: numeric features imputed (median)
    and scaled, categorical ones imputed (most frequent) and one-hot encoded, a category
    unseen in training ignored at scoring. Only ``sklearn.*`` estimators."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    module_name, _, class_name = config.estimator.rpartition(".")
    if not module_name.startswith("sklearn."):
        raise ValueError(f"estimator must be a scikit-learn class, got {config.estimator!r}")
    estimator_cls = getattr(importlib.import_module(module_name), class_name)
    dataset = config.dataset
    parts = []
    if dataset.numeric:
        parts.append(
            ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), dataset.numeric)
        )
    if dataset.categorical:
        encode = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        parts.append(
            (
                "categorical",
                Pipeline([("impute", SimpleImputer(strategy="most_frequent")), ("encode", encode)]),
                dataset.categorical,
            )
        )
    return Pipeline([("prepare", ColumnTransformer(parts)), ("model", estimator_cls(**config.params))])


def feature_frame(frame: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
    """The feature columns, by name, in the configured order and with one dtype each:
    numbers as float64, categories as text (so ``3`` and ``"3"`` are one category), a
    missing value as NaN whatever the file wrote."""
    if not dataset.categorical and list(frame.columns) == list(dataset.features) and (frame.dtypes == "float64").all():
        return frame  # already so (a scoring request with just the features): no copy, ~1 ms saved
    features = frame[list(dataset.features)]  # copy-on-write: the rows are copied only where a column changes
    for column, kind in dataset.features.items():
        values = frame[column]
        if kind == "numeric":
            if values.dtype != "float64":
                features[column] = values.astype("float64")
        else:
            present = values.notna()
            text = pd.Series(np.nan, index=frame.index, dtype=object)
            text[present] = values[present].map(_as_text)
            features[column] = text
    return features


def _as_text(value: Any) -> str:
    """A category as text; read as a number, 3.0 and 3 are the same category, "3"."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def class_order(classes: Any) -> list[Any]:
    """Classes in their natural order (2 before 10), whatever their type."""
    try:
        return sorted(classes)
    except TypeError:
        return sorted(classes, key=str)


def features_and_target(frame: pd.DataFrame, dataset: Dataset) -> tuple[pd.DataFrame, pd.Series]:
    target = frame[dataset.target]
    return feature_frame(frame, dataset), target.astype("float64") if dataset.regression else target


def score(model: Any, X: pd.DataFrame, y: pd.Series, dataset: Dataset) -> dict[str, Any]:
    """The task's scores of ``model`` on (X, y)."""
    return regression_scores(model.predict(X), y) if dataset.regression else classification_scores(model, X, y, dataset)


def regression_scores(predicted: np.ndarray, y: pd.Series) -> dict[str, Any]:
    """RMSE, MAE and R² (R² is undefined on fewer than two rows or a constant target: None)."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    actual = y.to_numpy(dtype="float64")
    return {
        "rmse": float(np.sqrt(mean_squared_error(actual, predicted))),
        "mae": float(mean_absolute_error(actual, predicted)),
        "r2": float(r2_score(actual, predicted)) if len(actual) > 1 and np.ptp(actual) > 0 else None,
        "target_sd": float(np.std(actual)),  # the label check's scale for "far beyond"
        "rows": len(actual),
    }


def classification_scores(model: Any, X: pd.DataFrame, y: pd.Series, dataset: Dataset) -> dict[str, Any]:
    """Accuracy, macro F1, per-class figures (under the data set's class names), the
    confusion matrix and, for two classes, ROC AUC, of ``model`` on (X, y)."""
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score, roc_auc_score

    probabilities = model.predict_proba(X)
    predicted = model.classes_[probabilities.argmax(axis=1)]
    labels = class_order(set(model.classes_.tolist()) | set(y.unique().tolist()))
    report = classification_report(y, predicted, labels=labels, output_dict=True, zero_division=0)
    scores = {
        "accuracy": float(accuracy_score(y, predicted)),
        "f1_macro": float(f1_score(y, predicted, labels=labels, average="macro", zero_division=0)),
        "per_class": {
            dataset.label(k): {m: float(report[str(k)][m]) for m in ("precision", "recall", "f1-score", "support")}
            for k in labels
        },
        "classes": [dataset.label(k) for k in labels],
        "confusion_matrix": confusion_matrix(y, predicted, labels=labels).tolist(),
        "rows": len(y),
    }
    if len(model.classes_) == 2 and y.nunique() == 2:
        scores["roc_auc"] = float(roc_auc_score(y == model.classes_[1], probabilities[:, 1]))
    return scores
