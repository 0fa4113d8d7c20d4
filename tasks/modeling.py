"""scikit-learn pieces shared by training, evaluation and scoring."""

from __future__ import annotations

import importlib
from typing import Any

import pandas as pd

from tasks.config import PipelineConfig
from tasks.schema import CLASS_NAMES, FEATURE_COLUMNS, TARGET_COLUMN


def make_pipeline(config: PipelineConfig):  # -> sklearn.pipeline.Pipeline
    """The configured estimator behind a StandardScaler; only ``sklearn.*`` classes."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    module_name, _, class_name = config.estimator.rpartition(".")
    if not module_name.startswith("sklearn."):
        raise ValueError(f"estimator must be a scikit-learn class, got {config.estimator!r}")
    estimator_cls = getattr(importlib.import_module(module_name), class_name)
    return Pipeline([("scale", StandardScaler()), ("model", estimator_cls(**config.params))])


def features_and_target(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return frame[FEATURE_COLUMNS], frame[TARGET_COLUMN]


def score(model: Any, X: pd.DataFrame, y: pd.Series) -> dict[str, Any]:
    """Accuracy, macro F1, per-class figures and the confusion matrix of ``model`` on (X, y)."""
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

    labels = sorted(CLASS_NAMES)
    predicted = model.predict(X)
    report = classification_report(y, predicted, labels=labels, output_dict=True, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "f1_macro": float(f1_score(y, predicted, labels=labels, average="macro", zero_division=0)),
        "per_class": {
            CLASS_NAMES[k]: {m: float(report[str(k)][m]) for m in ("precision", "recall", "f1-score", "support")} for k in labels
        },
        "confusion_matrix": confusion_matrix(y, predicted, labels=labels).tolist(),
        "rows": len(y),
    }
