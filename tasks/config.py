"""Settings: where the data lives (environment) and the pipeline's parameters (``pipeline.toml``).

Nothing here touches storage or imports Airflow: DAG files read these at parse time.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

REPO_ROOT = Path(__file__).resolve().parents[1]
METRICS = ("f1_macro", "accuracy")
CHAIN_DAG_IDS = ("ingest", "preprocess", "train", "evaluate")  # the DAGs of dags/, in chain order


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


class ConfigError(ValueError):
    """The parameters file is wrong; the message names the file, the key and the fix."""


class _Table(BaseModel):
    """A table of the parameters file: a key it does not know is an error, never ignored."""

    model_config = ConfigDict(extra="forbid")


class _Split(_Table):
    test_size: float = Field(0.2, gt=0, lt=1)
    seed: int = 42


class _Model(_Table):
    estimator: str = PipelineConfig.estimator
    params: dict[str, Any] = Field(default_factory=dict)
    max_train_rows: int = Field(0, ge=0)


class _LabelCheck(_Table):
    alpha: float = Field(PipelineConfig.label_alpha, gt=0, lt=1)
    min_excess: float = Field(PipelineConfig.label_min_excess, ge=0, lt=1)
    min_rows: int = Field(PipelineConfig.label_min_rows, ge=0)


class _Promotion(_Table):
    metric: Literal[METRICS] = "f1_macro"
    tolerance: float = Field(0.0, ge=0)
    max_eval_rows: int = Field(0, ge=0)


class _ParametersFile(_Table):
    split: _Split = Field(default_factory=_Split)
    model: _Model = Field(default_factory=_Model)
    label_check: _LabelCheck = Field(default_factory=_LabelCheck)
    promotion: _Promotion = Field(default_factory=_Promotion)


def _explain(error: dict[str, Any], known: dict[str, Any]) -> str:
    """One problem of the file, as a person would fix it."""
    *tables, name = (str(part) for part in error["loc"])
    key = ".".join([*tables, name])
    if error["type"] != "extra_forbidden":
        return f"'{key}': {error['msg']} (got {error.get('input')!r})"
    for table in tables:
        known = known.get(table, {}) if isinstance(known, dict) else {}
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"unknown key '{key}'" + (f" (did you mean '{'.'.join([*tables, close[0]])}'?)" if close else "")


def load_config(path: Path) -> PipelineConfig:
    """The parameters in ``path``, checked: ConfigError names every wrong key at once."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        parsed = _ParametersFile.model_validate(raw)
    except ValidationError as exc:
        known = _ParametersFile().model_dump()
        problems = "; ".join(_explain(e, known) for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from None
    return PipelineConfig(
        test_size=parsed.split.test_size,
        seed=parsed.split.seed,
        estimator=parsed.model.estimator,
        params=parsed.model.params,
        max_train_rows=parsed.model.max_train_rows,
        metric=parsed.promotion.metric,
        tolerance=parsed.promotion.tolerance,
        max_eval_rows=parsed.promotion.max_eval_rows,
        label_alpha=parsed.label_check.alpha,
        label_min_excess=parsed.label_check.min_excess,
        label_min_rows=parsed.label_check.min_rows,
    )
