"""Train: fit the configured scikit-learn Pipeline on the current features; register a new version."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as pkg_version
from typing import Any

import pandas as pd

from tasks.config import PipelineConfig
from tasks.modeling import cap_rows, features_and_target, make_pipeline
from tasks.results import StageResult
from tasks.store import Store


@dataclass
class TrainResult(StageResult):
    card: dict[str, Any] | None
    already_trained: str | None = None  # the version already trained on these features

    def nothing_new(self) -> str | None:
        return f"{self.already_trained} is already trained on the current features" if self.card is None else None

    def event_extra(self) -> dict[str, Any]:
        card = self.card or {}
        return {k: card.get(k) for k in ("version", "estimator", "features", "rows_used", "train_seconds", "sha256")} | {
            "training_batches": len(card.get("training_batches", []))
        }

    def summary(self) -> dict[str, Any]:
        return {"version": (self.card or {}).get("version")}


def version_on_current_features(store: Store) -> str | None:
    """The newest version, if it was trained on the current feature set (no need to train again)."""
    versions = store.registry.versions()
    current = store.features.current()
    if versions and current is not None and store.registry.card(versions[-1])["features"] == current["fingerprint"]:
        return versions[-1]
    return None


def train(store: Store, config: PipelineConfig) -> TrainResult:
    """Fit on the current feature set's train split and register the model, unless done already."""
    import joblib
    import sklearn

    if done := version_on_current_features(store):
        return TrainResult(None, already_trained=done)
    features = store.features.current()
    if features is None:
        raise FileNotFoundError(f"no feature set yet in {store.features.uri}")
    X, y = features_and_target(store.features.read(features["fingerprint"], "train"))
    X_fit, y_fit = cap_rows(X, y, config.max_train_rows, config.seed)
    pipeline = make_pipeline(config)
    started = time.perf_counter()
    pipeline.fit(X_fit, y_fit)
    card = store.registry.register(lambda path: joblib.dump(pipeline, path), {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "estimator": config.estimator,
        "params": config.params,
        "features": features["fingerprint"],
        # feature sets written before the store kept lineage list batch ids only
        "training_batches": features.get("batch_lineage") or [{"batch_id": b} for b in features["batches"]],
        "rows_train": len(X),
        "rows_used": len(X_fit),
        "max_train_rows": config.max_train_rows,
        "train_seconds": round(time.perf_counter() - started, 3),
        "libraries": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "pandas": pd.__version__,
            "numpy": pkg_version("numpy"),
            "joblib": joblib.__version__,
        },
    })
    return TrainResult(card)
