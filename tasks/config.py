"""Settings: where the data lives (environment) and the pipeline's parameters (``pipeline.toml``).

Nothing here touches storage or imports Airflow: DAG files read these at parse time.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, HttpUrl, ValidationError, field_validator, model_validator

REPO_ROOT = Path(__file__).resolve().parents[1]
TASKS = ("classification", "regression")
# The promotion metrics each task is judged by (the first is the default); lower is better for errors.
TASK_METRICS = {"classification": ("f1_macro", "accuracy"), "regression": ("rmse", "mae", "r2")}
METRICS = (*TASK_METRICS["classification"], *TASK_METRICS["regression"])
LOWER_IS_BETTER = ("rmse", "mae")
DEFAULT_ESTIMATORS = {
    "classification": "sklearn.ensemble.RandomForestClassifier",
    "regression": "sklearn.ensemble.RandomForestRegressor",
}
CHAIN_DAG_IDS = ("ingest", "preprocess", "train", "evaluate", "deploy")  # the training chain, in order
DAG_IDS = (*CHAIN_DAG_IDS, "score")  # every DAG of dags/ (score runs on its own inbox)
DEFAULT_SERVE_PORT = 8000
# A file a writer keeps reopening in a local inbox (closed more than once) is taken only once
# nothing wrote to it for this long (``PIPELINE_INBOX_SETTLE_S``): long enough for a writer
# that appends every second or so (a logger, ``echo >>``). A file closed once is taken sooner,
# one renamed in at once (tasks.store.inbox). The scans, which cannot tell, use this rule.
DEFAULT_SETTLE_S = 3.0
ALERT_LEVELS = ("error", "warning", "info")
SMTP_PASSWORD_VARIABLE = "PIPELINE_SMTP_PASSWORD"  # secrets come from the environment, never the file


# Each deployment setting and the environment variable that sets it.
ENV_VARIABLES = {
    "data_url": "PIPELINE_DATA_URL",
    "config_file": "PIPELINE_CONFIG",
    "inbox_queue": "PIPELINE_INBOX_QUEUE",
    "inbox_settle_s": "PIPELINE_INBOX_SETTLE_S",
    "serve_port": "PIPELINE_SERVE_PORT",
}


class Settings(BaseModel):
    """Deployment settings, one environment variable each, validated (a wrong value is refused
    naming its variable). Built from the environment where a process starts (``from_env``).

    ``PIPELINE_DATA_URL``: a local folder (default ``data/``) or ``s3://bucket/prefix`` on
    any S3-compatible server (reached with the standard ``AWS_*`` variables).
    ``PIPELINE_INBOX_QUEUE``: an SQS queue URL fed by the bucket's ObjectCreated
    notifications for ``inbox/``; unset, the inbox is polled.
    ``PIPELINE_CONFIG``: another parameters file instead of ``pipeline.toml``.
    ``PIPELINE_INBOX_SETTLE_S``: how long a file written in place in a local inbox must be
    quiet before it is taken (a file moved in is taken at once).
    ``PIPELINE_SERVE_PORT``: the scoring server's port on 127.0.0.1 (default 8000).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_url: str = str(REPO_ROOT / "data")
    config_file: Path = REPO_ROOT / "pipeline.toml"
    inbox_queue: str | None = None
    inbox_settle_s: float = Field(DEFAULT_SETTLE_S, ge=0)
    serve_port: int = Field(DEFAULT_SERVE_PORT, ge=1, le=65535)

    @field_validator("data_url")
    @classmethod
    def _normalised(cls, url: str) -> str:
        return normalise_data_url(url)

    @field_validator("config_file")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        return path.resolve()  # components run in other folders

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings from ``env`` (the process environment by default); an empty variable
        counts as unset. Raises ``ConfigError`` naming the variable whose value is wrong."""
        env = os.environ if env is None else env
        given = {field: env[name] for field, name in ENV_VARIABLES.items() if env.get(name)}
        try:
            return cls(**given)
        except ValidationError as exc:
            error = exc.errors()[0]
            name = ENV_VARIABLES[str(error["loc"][0])]
            raise ConfigError(f"{name}={env[name]!r} is not valid: {error['msg']}; fix it or unset it") from None

    @property
    def serve_url(self) -> str:
        """Where the scoring server answers (the deploy stage and ``pipeline status`` call it)."""
        return f"http://127.0.0.1:{self.serve_port}"

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


FEATURE_KINDS = ("numeric", "categorical")


@dataclass(frozen=True)
class Dataset:
    """What the data is: the one place the pipeline learns column names and classes.

    ``suite`` and ``seed`` are resolved against the parameters file's folder."""

    name: str
    target: str
    features: dict[str, str]  # column -> "numeric" | "categorical", in the file's order
    suite: Path
    identifiers: tuple[str, ...] = ()
    seed: Path | None = None
    class_labels: dict[str, str] = field(default_factory=dict)  # display names of coded classes
    task: str = "classification"  # or "regression": the target is a number

    @property
    def regression(self) -> bool:
        return self.task == "regression"

    @property
    def feature_columns(self) -> list[str]:
        return list(self.features)

    @property
    def numeric(self) -> list[str]:
        return [c for c, kind in self.features.items() if kind == "numeric"]

    @property
    def categorical(self) -> list[str]:
        return [c for c, kind in self.features.items() if kind == "categorical"]

    def label(self, value: Any) -> str:
        """How a class is shown to people: its configured label, else the value itself."""
        return self.class_labels.get(str(value), str(value))

    @property
    def fingerprint(self) -> str:
        """The schema a data root's rows follow: target and features with their kinds.
        The suite (ranges, allowed values) may change; this may not."""
        schema = {"target": self.target, "features": sorted(self.features.items())}
        if self.regression:  # classification roots keep the fingerprint they had before tasks existed
            schema["task"] = self.task
        return "d-" + hashlib.sha256(json.dumps(schema).encode()).hexdigest()[:16]

    def identity(self) -> dict[str, str]:
        return {"name": self.name, "fingerprint": self.fingerprint}


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int = 587
    sender: str = ""
    starttls: bool = True
    user: str | None = None  # its password: PIPELINE_SMTP_PASSWORD


@dataclass(frozen=True)
class Alerts:
    """Where people are told (``[alerts]``): a webhook (JSON POST) and/or email addresses."""

    webhook: str | None = None
    email: tuple[str, ...] = ()
    group_s: float = 60.0  # events of one kind within this window go out as one message
    levels: tuple[str, ...] = ("error", "warning")
    smtp: Smtp | None = None

    def smtp_password(self, env: Mapping[str, str] | None = None) -> str | None:
        """The SMTP password from the environment; ConfigError naming the variable when a
        user is set and it is not."""
        if self.smtp is None or self.smtp.user is None:
            return None
        password = (os.environ if env is None else env).get(SMTP_PASSWORD_VARIABLE)
        if not password:
            raise ConfigError(
                f"[alerts.smtp] user = {self.smtp.user!r} needs its password in the environment variable "
                f"{SMTP_PASSWORD_VARIABLE} (never in the file): set it, or remove 'user'"
            )
        return password


@dataclass(frozen=True)
class Monitoring:
    """``[monitoring]``: when a feature, and the data set, drifted (``tasks.ml.drift``)."""

    psi_drift: float = 0.25  # a feature's PSI at or over this (and a significant test): drifted
    psi_warning: float = 0.1  # at or over this: a warning
    alpha: float = 0.05  # the tests' level, divided by the number of features (Bonferroni)
    dataset_share: float = 0.5  # the data set drifted when this share of its features did
    min_rows: int = 100  # fewer rows flag nothing (noise)
    window_rows: int = 1000  # the scoring server checks its requests every this many rows...
    window_s: float = 3600.0  # ...or this many seconds, whichever comes first


@dataclass(frozen=True)
class Approval:
    """Whether a person says yes before a model goes live (``[deploy]``)."""

    required: bool = False  # approval = "always"
    timeout_s: float = 86400.0  # approval_timeout
    on_timeout: str = "reject"  # what an unanswered request becomes: "reject" or "approve"


DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
DURATION_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_s(text: str) -> float:
    """``90s``, ``30m``, ``24h``, ``2d`` in seconds; ValueError saying the form otherwise."""
    match = DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration: write a positive number and a unit, like 90s, 30m, 24h or 2d")
    return float(match.group(1)) * DURATION_UNITS_S[match.group(2)]


@dataclass(frozen=True)
class PipelineConfig:
    dataset: Dataset | None = None  # always set by load_config
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
    alerts: Alerts | None = None  # no [alerts] table: nobody is told
    approval: Approval = Approval()  # [deploy]: no table, no approval (today's behaviour)
    monitoring: Monitoring = Monitoring()


class ConfigError(ValueError):
    """The parameters file is wrong; the message names the file, the key and the fix."""


class _Table(BaseModel):
    """A table of the parameters file: a key it does not know is an error, never ignored."""

    model_config = ConfigDict(extra="forbid")


class _Split(_Table):
    test_size: float = Field(0.2, gt=0, lt=1)
    seed: int = 42


class _Model(_Table):
    estimator: str | None = None  # the task's default (DEFAULT_ESTIMATORS)
    params: dict[str, Any] = Field(default_factory=dict)
    max_train_rows: int = Field(0, ge=0)


class _LabelCheck(_Table):
    alpha: float = Field(PipelineConfig.label_alpha, gt=0, lt=1)
    min_excess: float = Field(PipelineConfig.label_min_excess, ge=0, lt=1)
    min_rows: int = Field(PipelineConfig.label_min_rows, ge=0)


class _Promotion(_Table):
    metric: Literal[METRICS] | None = None  # the task's first metric
    tolerance: float = Field(0.0, ge=0)  # in the metric's units
    max_eval_rows: int = Field(0, ge=0)


class _Smtp(_Table):
    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    sender: EmailStr
    starttls: bool = True
    user: str | None = Field(None, min_length=1)


class _Alerts(_Table):
    webhook: HttpUrl | None = None
    email: list[EmailStr] = Field(default_factory=list)
    group_s: float = Field(60.0, ge=0)
    levels: list[Literal[ALERT_LEVELS]] = Field(default_factory=lambda: ["error", "warning"])
    smtp: _Smtp | None = None

    @model_validator(mode="after")
    def _email_needs_smtp(self) -> _Alerts:
        if self.email and self.smtp is None:
            raise ValueError("email addresses need an [alerts.smtp] table (host, port, sender) to send through")
        return self


class _Deploy(_Table):
    approval: Literal["never", "always"] = "never"
    approval_timeout: str = "24h"
    on_timeout: Literal["reject", "approve"] = "reject"

    @field_validator("approval_timeout")
    @classmethod
    def _a_duration(cls, value: str) -> str:
        duration_s(value)
        return value


class _Monitoring(_Table):
    psi_drift: float = Field(Monitoring.psi_drift, gt=0)
    psi_warning: float = Field(Monitoring.psi_warning, gt=0)
    alpha: float = Field(Monitoring.alpha, gt=0, lt=1)
    dataset_share: float = Field(Monitoring.dataset_share, gt=0, le=1)
    min_rows: int = Field(Monitoring.min_rows, ge=1)
    window_rows: int = Field(Monitoring.window_rows, ge=1)
    window_s: float = Field(Monitoring.window_s, gt=0)

    @model_validator(mode="after")
    def _warning_below_drift(self) -> _Monitoring:
        if self.psi_warning > self.psi_drift:
            raise ValueError("psi_warning must not be above psi_drift (a warning comes before drift)")
        return self


class _Dataset(_Table):
    name: str = Field(min_length=1)
    target: str = Field(min_length=1)
    features: dict[str, Literal[FEATURE_KINDS]] = Field(min_length=1)
    identifiers: list[str] = Field(default_factory=list)
    suite: str = Field(min_length=1)
    seed: str | None = None
    class_labels: dict[str, str] = Field(default_factory=dict)
    task: Literal[TASKS] = "classification"

    @model_validator(mode="after")
    def _columns_do_not_overlap(self) -> _Dataset:
        roles = [("target", [self.target]), ("features", list(self.features)), ("identifiers", self.identifiers)]
        for i, (role, names) in enumerate(roles):
            for other, other_names in roles[i + 1 :]:
                if both := sorted(set(names) & set(other_names)):
                    raise ValueError(f"column(s) {both} are listed as both {role} and {other}: a column has one role")
        return self


class _ParametersFile(_Table):
    dataset: _Dataset
    split: _Split = Field(default_factory=_Split)
    model: _Model = Field(default_factory=_Model)
    label_check: _LabelCheck = Field(default_factory=_LabelCheck)
    promotion: _Promotion = Field(default_factory=_Promotion)
    alerts: _Alerts | None = None
    deploy: _Deploy = Field(default_factory=_Deploy)
    monitoring: _Monitoring = Field(default_factory=_Monitoring)

    @model_validator(mode="after")
    def _metric_fits_the_task(self) -> _ParametersFile:
        task, metric = self.dataset.task, self.promotion.metric
        if metric is not None and metric not in TASK_METRICS[task]:
            raise ValueError(
                f"[promotion] metric = {metric!r} does not judge a {task} ([dataset] task = {task!r}): "
                f"use one of {list(TASK_METRICS[task])}"
            )
        return self


def _explain(error: dict[str, Any], known: dict[str, Any]) -> str:
    """One problem of the file, as a person would fix it."""
    *tables, name = [str(part) for part in error["loc"]] or [""]
    key = ".".join(p for p in [*tables, name] if p)
    if error["type"] == "missing" and key == "dataset":
        return "no [dataset] table: say what the data is (make one from a sample with `pipeline dataset`)"
    if error["type"] == "missing":
        return f"'{key}' is missing"
    if error["type"] == "value_error":
        return (f"[{key}]: " if key else "") + error["msg"].removeprefix("Value error, ")
    if error["type"] != "extra_forbidden":
        return f"'{key}': {error['msg']} (got {error.get('input')!r})"
    for table in tables:
        known = known.get(table, {}) if isinstance(known, dict) else {}
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"unknown key '{key}'" + (f" (did you mean '{'.'.join([*tables, close[0]])}'?)" if close else "")


def _known_keys(annotation: Any) -> dict[str, Any]:
    """The keys a table accepts (for "did you mean"), nested tables as dicts."""
    models = [a for a in (annotation, *typing.get_args(annotation)) if hasattr(a, "model_fields")]  # T | None
    fields = models[0].model_fields if models else {}
    return {name: _known_keys(info.annotation) for name, info in fields.items()}


def load_config(path: Path) -> PipelineConfig:
    """The parameters in ``path``, checked: ConfigError names every wrong key at once."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        parsed = _ParametersFile.model_validate(raw)
    except ValidationError as exc:
        known = {name: _known_keys(info.annotation) for name, info in _ParametersFile.model_fields.items()}
        problems = "; ".join(_explain(e, known) for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from None
    folder = path.resolve().parent
    ds = parsed.dataset
    dataset = Dataset(
        name=ds.name,
        target=ds.target,
        features=dict(ds.features),
        suite=folder / ds.suite,
        identifiers=tuple(ds.identifiers),
        seed=None if ds.seed is None else folder / ds.seed,
        class_labels=ds.class_labels,
        task=ds.task,
    )
    for role, file in (("suite", dataset.suite), ("seed", dataset.seed)):
        if file is not None and not file.is_file():
            raise ConfigError(f"{path}: [dataset] {role} file {file} does not exist (paths are relative to the parameters file)")
    return PipelineConfig(
        dataset=dataset,
        test_size=parsed.split.test_size,
        seed=parsed.split.seed,
        estimator=parsed.model.estimator or DEFAULT_ESTIMATORS[ds.task],
        params=parsed.model.params,
        max_train_rows=parsed.model.max_train_rows,
        metric=parsed.promotion.metric or TASK_METRICS[ds.task][0],
        tolerance=parsed.promotion.tolerance,
        max_eval_rows=parsed.promotion.max_eval_rows,
        label_alpha=parsed.label_check.alpha,
        label_min_excess=parsed.label_check.min_excess,
        label_min_rows=parsed.label_check.min_rows,
        alerts=_alerts(parsed.alerts),
        monitoring=Monitoring(**parsed.monitoring.model_dump()),
        approval=Approval(
            required=parsed.deploy.approval == "always",
            timeout_s=duration_s(parsed.deploy.approval_timeout),
            on_timeout=parsed.deploy.on_timeout,
        ),
    )


def _alerts(table: _Alerts | None) -> Alerts | None:
    if table is None:
        return None
    smtp = table.smtp
    return Alerts(
        webhook=None if table.webhook is None else str(table.webhook),
        email=tuple(table.email),
        group_s=table.group_s,
        levels=tuple(table.levels),
        smtp=None if smtp is None else Smtp(smtp.host, smtp.port, smtp.sender, smtp.starttls, smtp.user),
    )
