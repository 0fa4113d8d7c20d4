"""Typed view of ``pipeline.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

METRICS = ("f1_macro", "accuracy")


@dataclass(frozen=True)
class PipelineConfig:
    test_size: float = 0.2
    seed: int = 42
    estimator: str = "sklearn.ensemble.RandomForestClassifier"
    params: dict[str, Any] = field(default_factory=dict)
    max_train_rows: int = 0
    metric: str = "f1_macro"
    tolerance: float = 0.0


def load_config(path: Path) -> PipelineConfig:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    split, model, promo = raw.get("split", {}), raw.get("model", {}), raw.get("promotion", {})
    config = PipelineConfig(
        test_size=float(split.get("test_size", 0.2)),
        seed=int(split.get("seed", 42)),
        estimator=str(model.get("estimator", PipelineConfig.estimator)),
        params=dict(model.get("params", {})),
        max_train_rows=int(model.get("max_train_rows", 0)),
        metric=str(promo.get("metric", "f1_macro")),
        tolerance=float(promo.get("tolerance", 0.0)),
    )
    if config.metric not in METRICS:
        raise ValueError(f"{path}: promotion.metric must be one of {METRICS}, got {config.metric!r}")
    if not 0 < config.test_size < 1:
        raise ValueError(f"{path}: split.test_size must be between 0 and 1, got {config.test_size}")
    return config
