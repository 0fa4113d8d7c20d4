"""Settings: where the data lives (environment) and the pipeline's parameters (``pipeline.toml``).

Nothing here touches storage or imports Airflow: DAG files read these at parse time.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
METRICS = ("f1_macro", "accuracy")


@dataclass(frozen=True)
class Settings:
    """Deployment settings, one environment variable each.

    ``PIPELINE_DATA_URL``: a local folder (default ``data/``) or ``s3://bucket/prefix`` on
    any S3-compatible server (reached with the standard ``AWS_*`` variables).
    ``PIPELINE_INBOX_QUEUE``: an SQS queue URL fed by the bucket's ObjectCreated
    notifications for ``inbox/``; unset, the inbox is polled.
    ``PIPELINE_CONFIG``: another parameters file instead of ``pipeline.toml``.
    """

    data_url: str
    config_file: Path
    suite_file: Path
    inbox_queue: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            data_url=normalise_data_url(env.get("PIPELINE_DATA_URL") or str(REPO_ROOT / "data")),
            config_file=Path(env.get("PIPELINE_CONFIG") or REPO_ROOT / "pipeline.toml").resolve(),
            suite_file=REPO_ROOT / "expectations" / "raw.json",
            inbox_queue=env.get("PIPELINE_INBOX_QUEUE") or None,
        )

    @property
    def on_object_storage(self) -> bool:
        return is_object_storage(self.data_url)


def is_object_storage(data_url: str) -> bool:
    """``s3://...`` (any fsspec protocol) rather than a local folder (a path or ``file://``)."""
    return "://" in data_url.removeprefix("file://")


def normalise_data_url(url: str) -> str:
    """An absolute local path (``file://`` stripped), or a URL without a trailing slash."""
    url = url.removeprefix("file://")
    if "://" in url:
        return url.rstrip("/")
    return str(Path(url).expanduser().resolve())


@dataclass(frozen=True)
class PipelineConfig:
    test_size: float = 0.2
    seed: int = 42
    estimator: str = "sklearn.ensemble.RandomForestClassifier"
    params: dict[str, Any] = field(default_factory=dict)
    max_train_rows: int = 0
    metric: str = "f1_macro"
    tolerance: float = 0.0
    max_eval_rows: int = 0
    label_alpha: float = 0.001
    label_min_excess: float = 0.2
    label_min_rows: int = 20


def load_config(path: Path) -> PipelineConfig:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    split, model, promo = raw.get("split", {}), raw.get("model", {}), raw.get("promotion", {})
    labels = raw.get("label_check", {})
    config = PipelineConfig(
        test_size=float(split.get("test_size", 0.2)),
        seed=int(split.get("seed", 42)),
        estimator=str(model.get("estimator", PipelineConfig.estimator)),
        params=dict(model.get("params", {})),
        max_train_rows=int(model.get("max_train_rows", 0)),
        metric=str(promo.get("metric", "f1_macro")),
        tolerance=float(promo.get("tolerance", 0.0)),
        max_eval_rows=int(promo.get("max_eval_rows", 0)),
        label_alpha=float(labels.get("alpha", PipelineConfig.label_alpha)),
        label_min_excess=float(labels.get("min_excess", PipelineConfig.label_min_excess)),
        label_min_rows=int(labels.get("min_rows", PipelineConfig.label_min_rows)),
    )
    if config.metric not in METRICS:
        raise ValueError(f"{path}: promotion.metric must be one of {METRICS}, got {config.metric!r}")
    if not 0 < config.label_alpha < 1 or not 0 <= config.label_min_excess < 1:
        raise ValueError(f"{path}: label_check.alpha must be in (0, 1) and min_excess in [0, 1)")
    if config.max_train_rows < 0 or config.max_eval_rows < 0:
        raise ValueError(f"{path}: model.max_train_rows and promotion.max_eval_rows must be 0 (no cap) or positive")
    if not 0 < config.test_size < 1:
        raise ValueError(f"{path}: split.test_size must be between 0 and 1, got {config.test_size}")
    return config
