"""Train: fit the configured scikit-learn Pipeline and store it as a new immutable version.

``models/<version>/model.joblib`` + ``model.json`` (lineage, parameters, library
versions, sha256 of the joblib file). Loading checks that sha256 first: joblib is
pickle, and a pickle runs code when loaded.
"""

from __future__ import annotations

import importlib
import os
import platform
import re
import shutil
import time
from datetime import UTC, datetime
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any

import pandas as pd

from tasks import atomic_io
from tasks.config import PipelineConfig
from tasks.features import current_folder, load_split, read_current
from tasks.ingest import MANIFEST

VERSION_RE = re.compile(r"^v(\d{4,})$")
MODEL_FILE, MODEL_CARD = "model.joblib", "model.json"


class ModelIntegrityError(RuntimeError):
    """A model file does not match the sha256 recorded when it was trained."""


def make_pipeline(config: PipelineConfig):  # -> sklearn.pipeline.Pipeline
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    module_name, _, class_name = config.estimator.rpartition(".")
    if not module_name.startswith("sklearn."):
        raise ValueError(f"estimator must be a scikit-learn class, got {config.estimator!r}")
    estimator_cls = getattr(importlib.import_module(module_name), class_name)
    return Pipeline([("scale", StandardScaler()), ("model", estimator_cls(**config.params))])


def cap_rows(X: pd.DataFrame, y: pd.Series, max_rows: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """A stratified sample of at most ``max_rows`` rows (0 = no cap)."""
    if not max_rows or len(X) <= max_rows:
        return X, y
    from sklearn.model_selection import train_test_split

    X_s, _, y_s, _ = train_test_split(X, y, train_size=max_rows, random_state=seed, stratify=y)
    return X_s, y_s


def list_versions(models_dir: Path) -> list[str]:
    if not models_dir.is_dir():
        return []
    return sorted((p.name for p in models_dir.iterdir() if p.is_dir() and VERSION_RE.match(p.name)), key=lambda v: int(v[1:]))


def _next_version(models_dir: Path) -> str:
    versions = list_versions(models_dir)
    return f"v{(int(versions[-1][1:]) + 1) if versions else 1:04d}"


def train_model(raw_dir: Path, features_dir: Path, models_dir: Path, config: PipelineConfig) -> dict[str, Any]:
    """Fit on the current feature set's train split; returns the new version's model card."""
    import joblib
    import sklearn

    folder = current_folder(features_dir)
    features = atomic_io.read_json(folder / "manifest.json")
    X, y = load_split(folder, "train")
    X_fit, y_fit = cap_rows(X, y, config.max_train_rows, config.seed)
    pipeline = make_pipeline(config)
    started = time.perf_counter()
    pipeline.fit(X_fit, y_fit)
    train_seconds = time.perf_counter() - started

    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = models_dir / f".train-{os.getpid()}-{time.time_ns()}"
    tmp.mkdir()
    try:
        atomic_io.write_with(tmp / MODEL_FILE, lambda p: joblib.dump(pipeline, p))
        batches = []
        for batch_id in features["batches"]:
            manifest_file = raw_dir / batch_id / MANIFEST
            manifest = atomic_io.read_json(manifest_file) if manifest_file.is_file() else {}
            batches.append({"batch_id": batch_id, "sha256": manifest.get("sha256"), "rows": manifest.get("rows")})
        card = {
            "version": None,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "estimator": config.estimator,
            "params": config.params,
            "features": features["fingerprint"],
            "training_batches": batches,
            "rows_train": len(X),
            "rows_used": len(X_fit),
            "max_train_rows": config.max_train_rows,
            "train_seconds": round(train_seconds, 3),
            "libraries": {
                "python": platform.python_version(),
                "scikit-learn": sklearn.__version__,
                "pandas": pd.__version__,
                "numpy": pkg_version("numpy"),
                "joblib": joblib.__version__,
            },
            "sha256": atomic_io.sha256_file(tmp / MODEL_FILE),
        }
        while True:  # claim the next free version; a version folder is never replaced
            version = _next_version(models_dir)
            card["version"] = version
            atomic_io.write_json(tmp / MODEL_CARD, card)
            try:
                os.mkdir(models_dir / version)  # reserve the name: fails if it exists
            except FileExistsError:
                continue
            os.rename(tmp, models_dir / version)  # replaces only our own empty reservation
            break
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return card


def model_card(models_dir: Path, version: str) -> dict[str, Any]:
    if not VERSION_RE.match(version):
        raise ValueError(f"not a model version: {version!r}")
    return atomic_io.read_json(models_dir / version / MODEL_CARD)


def load_model(models_dir: Path, version: str):
    """Load ``models/<version>/model.joblib`` after checking its sha256 against ``model.json``."""
    import joblib

    card = model_card(models_dir, version)
    path = models_dir / version / MODEL_FILE
    actual = atomic_io.sha256_file(path)
    if actual != card["sha256"]:
        raise ModelIntegrityError(f"{path}: sha256 {actual[:12]}... does not match model.json ({card['sha256'][:12]}...); refusing to load")
    return joblib.load(path)


def features_are_current(features_dir: Path, card: dict[str, Any]) -> bool:
    current = read_current(features_dir)
    return current is not None and current["fingerprint"] == card["features"]


def version_on_current_features(models_dir: Path, features_dir: Path) -> str | None:
    """The newest version, if it was trained on the current feature set (no need to train again)."""
    versions = list_versions(models_dir)
    if versions and features_are_current(features_dir, model_card(models_dir, versions[-1])):
        return versions[-1]
    return None
