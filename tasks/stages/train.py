"""Train: fit the configured scikit-learn Pipeline on the current features (at most
``max_train_rows`` of them, sampled); register a new version."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as pkg_version
from typing import Any

import pandas as pd

from tasks.config import PipelineConfig
from tasks.ml.modeling import features_and_target, make_pipeline
from tasks.results import StageResult
from tasks.store import Store


@dataclass
class TrainResult(StageResult):
    card: dict[str, Any] | None
    already_trained: str | None = None  # the version already trained on these features

    def nothing_new(self) -> str | None:
        if self.card is None:
            return (
                f"{self.already_trained} is already trained on the current features with the same model settings "
                "(change pipeline.toml [model], or `make retrain`, to train again)"
            )
        return None

    def event_extra(self) -> dict[str, Any]:
        card = self.card or {}
        return {k: card.get(k) for k in ("version", "estimator", "features", "rows_used", "train_seconds", "sha256")} | {
            "training_batches": len(card.get("training_batches", []))
        }

    def summary(self) -> dict[str, Any]:
        return {"version": (self.card or {}).get("version")}


def model_settings(config: PipelineConfig) -> dict[str, Any]:
    """What decides the model besides the data: a change here means train again."""
    return {"estimator": config.estimator, "params": config.params, "max_train_rows": config.max_train_rows}


def version_already_trained(store: Store, config: PipelineConfig) -> str | None:
    """The newest version, if it was trained on the current feature set with the same
    model settings (no need to train again)."""
    versions = store.registry.versions()
    current = store.features.current()
    if not versions or current is None:
        return None
    card = store.registry.card(versions[-1])
    same_settings = {k: card.get(k) for k in model_settings(config)} == model_settings(config)
    return versions[-1] if card["features"] == current["fingerprint"] and same_settings else None


def train(store: Store, config: PipelineConfig, *, retrain: bool = False) -> TrainResult:
    """Fit on the current feature set's train split and register the model, unless a
    version with the same data and settings exists (``retrain``: fit anyway)."""
    import joblib
    import sklearn

    if not retrain and (done := version_already_trained(store, config)):
        return TrainResult(None, already_trained=done)
    features = store.features.current()
    if features is None:
        raise FileNotFoundError(f"no feature set yet in {store.features.uri}")
    # A bounded sample (max_train_rows) read from the heads of the batches' files: the
    # cost of a fit does not grow with the history.
    X_fit, y_fit = features_and_target(store.features.sample(features, "train", config.max_train_rows), config.dataset)
    pipeline = make_pipeline(config)
    started = time.perf_counter()
    pipeline.fit(X_fit, y_fit)
    card = store.registry.register(
        lambda path: joblib.dump(pipeline, path),
        {
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **model_settings(config),
            "dataset": config.dataset.identity(),
            "columns": config.dataset.features,
            "retrained_on_request": retrain,
            "features": features["fingerprint"],
            # feature sets written before the store kept lineage list batch ids only
            "training_batches": features.get("batch_lineage") or [{"batch_id": b} for b in features["batches"]],
            "rows_train": features["rows_train"],
            "rows_used": len(X_fit),
            "train_seconds": round(time.perf_counter() - started, 3),
            "libraries": {
                "python": platform.python_version(),
                "scikit-learn": sklearn.__version__,
                "pandas": pd.__version__,
                "numpy": pkg_version("numpy"),
                "joblib": joblib.__version__,
            },
        },
    )
    store.registry.save_reference(card["version"], training_reference(store, features, X_fit, y_fit, pipeline, config))
    return TrainResult(card)


def training_reference(store: Store, features: dict, X_fit, y_fit, pipeline, config: PipelineConfig) -> dict:
    """What drift checks compare against: the training rows' distributions, and the model's
    predictions on (a bounded sample of) the held-out rows."""
    from tasks.ml.drift import make_reference

    X_test, _ = features_and_target(store.features.sample(features, "test", config.max_eval_rows), config.dataset)
    predictions = pipeline.predict(X_test) if len(X_test) else None
    return make_reference(X_fit, y_fit, config.dataset, predictions)
