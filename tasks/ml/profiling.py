"""A new data set from a sample (``pipeline dataset``): profile a CSV with pandas, write the
parameters file (its ``[dataset]`` table filled in) and the Great Expectations suite.

Everything generated is a starting point for a person to review: each expectation's ``meta``
says what it checks (``intent``) and what in the sample it came from (``source``). Imports no
Airflow and no GX (the suite is plain JSON; the gate loads it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.config import REPO_ROOT
from tasks.ml.modeling import class_order
from tasks.quality.drops import read_drop, without_index_column

# A sample shows less than the data holds: its extremes are not the data's. Each side of a
# numeric range is widened by half the sample's span or 3 robust standard deviations (IQR/1.349),
# whichever is more; a long right tail (skewness above TAIL_SKEW) gets SKEWED_CEILING spans more
# on top; 0 is a floor only where much of the sample is 0 (dry days, no visits), never
# because no value was negative (a lowest temperature of 1 °C is not a floor of 0).
SPAN_MARGIN = 0.5
ROBUST_SDS = 3.0
TAIL_SKEW = 1.0
SKEWED_CEILING = 2.0
ZERO_FLOOR_SHARE = 0.05  # this share at exactly 0 (dry days, no visits) makes 0 a floor; one 0 °C day does not
MISSING_MARGIN = 0.05  # tolerated share of empty values: twice the sample's share plus this
# (twice: a batch of 50 rows varies around the sample's share by about half of it)
MAX_ROWS_PER_DROP = 50_000_000
MIN_ROWS_FOR_IDENTIFIERS = 10  # below this, "unique per row" says nothing
NUMERIC_TYPES = ["float64", "float32", "int64", "int32"]
REGRESSION_MIN_DISTINCT = 20  # a number target with this many distinct values is a quantity, not class codes
NEAR_UNIQUE = 0.8  # text with a distinct value in this share of the rows is a name, not a category
DATE_LIKE = re.compile(r"^\s*(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4})([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?")
DATE_SHARE = 0.95  # of a text column's values look like dates and parse as dates
ID_NAME = re.compile(r"(^|[_\s-])(id|key|uuid|code|number|no)$|^id[_\s-]", re.IGNORECASE)
SUITE_FILE, CONFIG_FILE = "suite.json", "pipeline.toml"


class ProfileError(ValueError):
    """The sample cannot define a data set; the message says why and what to do."""


@dataclass
class ColumnProfile:
    name: str
    role: str  # feature | target | identifier
    kind: str  # numeric | categorical | identifier
    dtype: str
    missing: int
    rows: int
    values: list[Any] = field(default_factory=list)  # categorical and target: every value seen
    low: float | None = None
    high: float | None = None
    q1: float | None = None  # quartiles and skewness: how far a range is widened
    q3: float | None = None
    skew: float = 0.0
    why: str = ""  # an identifier: why it is left out of training
    zero_share: float = 0.0  # numeric: the share of values exactly 0

    @property
    def missing_share(self) -> float:
        return self.missing / self.rows if self.rows else 0.0


@dataclass
class Profile:
    name: str
    source: str
    rows: int
    target: str
    columns: list[ColumnProfile]
    notes: list[str] = field(default_factory=list)
    task: str = "classification"
    task_why: str = ""

    def by_role(self, role: str) -> list[ColumnProfile]:
        return [c for c in self.columns if c.role == role]

    @property
    def classes(self) -> list[Any]:
        return next(c.values for c in self.columns if c.role == "target")


def _native(value: Any) -> Any:
    """A pandas/numpy scalar as the JSON/TOML value it stands for."""
    return value.item() if hasattr(value, "item") else value


def _is_text(values: pd.Series) -> bool:
    return values.dtype.kind == "O" or pd.api.types.is_string_dtype(values)


def _left_out_because(name: str, values: pd.Series, rows: int) -> str | None:
    """Why a column is kept beside the rows but never trained on, or ``None`` for a feature:
    - unique per row (names, ids); an integer only with an id-like name or counting up, since
      a measured integer can be unique by chance;
    - text with a distinct value in nearly every row: a name, not a category a model can learn;
    - dates and timestamps: as categories they would be hundreds of values no new row has."""
    present = values.dropna()
    if rows < MIN_ROWS_FOR_IDENTIFIERS or present.empty:
        return None
    if len(present) == rows and present.is_unique:
        if _is_text(present):
            return "unique per row"
        if present.dtype.kind in "iu" and (ID_NAME.search(name) or present.is_monotonic_increasing):
            return "unique per row"
        return None
    if not _is_text(present):
        return None
    text = present.astype(str)
    if (
        text.str.match(DATE_LIKE).mean() >= DATE_SHARE
        and pd.to_datetime(text, errors="coerce", format="mixed").notna().mean() >= DATE_SHARE
    ):
        return "a date or timestamp: left out of training (to use it, derive numeric parts such as the month in your data)"
    if (share := text.nunique() / len(text)) >= NEAR_UNIQUE:
        return f"a distinct value in {share:.0%} of the rows: a name or an id, not a category"
    return None


def profile_frame(frame: pd.DataFrame, target: str, *, name: str, source: str) -> Profile:
    """What the sample shows: each column's role, kind, missing share, values or range."""
    columns = [str(c) for c in frame.columns]
    if target not in columns:
        raise ProfileError(f"the sample has no column '{target}' (its columns: {columns}): name the target column")
    labels = frame[target]
    task, task_why = infer_task(labels, target)
    classes = class_order(labels.dropna().unique().tolist())
    if task == "classification" and len(classes) < 2:
        raise ProfileError(f"the target '{target}' has {len(classes)} class(es) in the sample: a classifier needs at least two")
    rows = len(frame)
    profiles, notes = [], []
    if labels.isna().any():
        notes.append(f"{int(labels.isna().sum())} row(s) of the sample have no '{target}': drops must label every row")
    for column in columns:
        values = frame[column]
        base = {"name": column, "dtype": str(values.dtype), "missing": int(values.isna().sum()), "rows": rows}
        if column == target and task == "regression":
            profiles.append(_numeric(values, role="target", **base))
        elif column == target:
            profiles.append(ColumnProfile(role="target", kind="categorical", values=[_native(v) for v in classes], **base))
        elif why := _left_out_because(column, values, rows):
            profiles.append(ColumnProfile(role="identifier", kind="identifier", why=why, **base))
        elif values.dtype.kind in "iuf":
            profiles.append(_numeric(values, role="feature", **base))
        else:
            seen = sorted({_native(v) for v in values.dropna()}, key=str)
            if not seen:
                raise ProfileError(f"column '{column}' is empty in the sample: drop it, or give a sample with values in it")
            if len(seen) > max(50, rows // 2):
                notes.append(f"'{column}' has {len(seen)} distinct values: free text, not a category? review it")
            profiles.append(ColumnProfile(role="feature", kind="categorical", values=seen, **base))
    if not any(p.role == "feature" for p in profiles):
        raise ProfileError("the sample has no feature column besides the target and identifiers")
    return Profile(
        name=name, source=source, rows=rows, target=target, columns=profiles, notes=notes, task=task, task_why=task_why
    )


def infer_task(labels: pd.Series, target: str) -> tuple[str, str]:
    """Classification or regression, and why: a number with many distinct values is a quantity
    to predict; text, booleans and a few integer codes are classes."""
    present = labels.dropna()
    distinct = int(present.nunique())
    if present.dtype.kind in "iuf" and distinct >= REGRESSION_MIN_DISTINCT:
        return "regression", f"'{target}' is a number with {distinct} distinct values in the sample: a quantity to predict"
    if present.dtype.kind in "iuf":
        why = f"'{target}' has only {distinct} distinct numbers in the sample: codes of classes"
    else:
        why = f"'{target}' holds {'booleans' if present.dtype.kind == 'b' else 'text'} ({distinct} values): classes"
    return "classification", why


def _numeric(values: pd.Series, *, role: str, name: str, **base: Any) -> ColumnProfile:
    """A number column's profile: its range, quartiles, skewness and share of zeros."""
    present = values.dropna()
    if present.empty:
        raise ProfileError(f"column '{name}' is empty in the sample: drop it, or give a sample with values in it")
    low, high = float(present.min()), float(present.max())
    q1, q3 = (float(q) for q in present.quantile([0.25, 0.75]))
    return ColumnProfile(
        name=name,
        role=role,
        kind="numeric",
        low=low,
        high=high,
        q1=q1,
        q3=q3,
        skew=float(present.skew()) if len(present) > 2 and high > low else 0.0,
        zero_share=float((present == 0).mean()),
        **base,
    )


def numeric_range(column: ColumnProfile) -> tuple[float, float, str]:
    """The range a batch's values must stay in, and how it was made (for the reviewer)."""
    low, high = column.low, column.high
    span = high - low or abs(high) or 1.0
    robust_sd = (column.q3 - column.q1) / 1.349
    margin = max(SPAN_MARGIN * span, ROBUST_SDS * robust_sd)
    lo, hi = low - margin, high + margin
    how = (
        f"sample range [{low:g}, {high:g}] widened by {margin:.4g} each side "
        f"(the larger of {SPAN_MARGIN:g} x its span and {ROBUST_SDS:g} robust SDs: a sample misses the extremes)"
    )
    if column.skew > TAIL_SKEW:
        hi += SKEWED_CEILING * span
        how += f"; a long right tail (skewness {column.skew:.2g}): the ceiling {SKEWED_CEILING:g} spans higher still"
    if low == 0 and column.zero_share >= ZERO_FLOOR_SHARE and lo < 0:
        lo = 0.0
        how += f"; floor 0: {column.zero_share:.0%} of the sample is exactly 0 and none below (a quantity that can be none)"
    return _round(lo), _round(hi), how


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def _expectation(kind: str, kwargs: dict[str, Any], intent: str, source: str) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": {"intent": intent, "source": source}}


def _not_null(column: ColumnProfile, source: str) -> dict[str, Any]:
    if column.missing == 0:
        return _expectation(
            "expect_column_values_to_not_be_null",
            {"column": column.name},
            f"'{column.name}' is always filled in.",
            f"{source}: no empty value in {column.rows} rows",
        )
    tolerated = min(1.0, 2 * column.missing_share + MISSING_MARGIN)
    return _expectation(
        "expect_column_values_to_not_be_null",
        {"column": column.name, "mostly": round(1 - tolerated, 4)},
        f"'{column.name}' may be empty in at most {tolerated:.0%} of a batch's rows; more means an export lost it.",
        f"{source}: {column.missing_share:.1%} empty in the sample; tolerated twice that plus {MISSING_MARGIN:.0%}",
    )


def _labelled(column: ColumnProfile, source: str) -> dict[str, Any]:
    return _expectation(
        "expect_column_values_to_not_be_null",
        {"column": column.name},
        "An unlabelled row cannot be trained on.",
        f"{source}: the target",
    )


def make_suite(profile: Profile) -> dict[str, Any]:
    """The GX suite for raw batches of this data set, every expectation explained."""
    source = f"profile of {profile.source} ({profile.rows} rows)"
    all_columns = [c.name for c in profile.columns]
    expectations = [
        _expectation(
            "expect_table_columns_to_match_set",
            {"column_set": all_columns, "exact_match": True},
            "Exactly the sample's columns, in any order: catches missing, extra and renamed columns.",
            f"{source}: its header",
        ),
        _expectation(
            "expect_table_row_count_to_be_between",
            {"min_value": 1, "max_value": MAX_ROWS_PER_DROP},
            f"At least one row; more than {MAX_ROWS_PER_DROP:,} rows in one drop is an export gone wrong, not a batch.",
            "a fixed policy, not the sample: a sample's size says nothing about a batch's",
        ),
    ]
    for column in profile.columns:
        if column.role == "identifier":
            continue  # kept and passed through; the column set requires it
        if column.kind == "numeric":
            low, high, how = numeric_range(column)
            expectations += [
                _expectation(
                    "expect_column_values_to_be_in_type_list",
                    {"column": column.name, "type_list": NUMERIC_TYPES},
                    f"'{column.name}' is a number; text here means a unit, a decimal comma or a stray header row.",
                    f"{source}: read as {column.dtype}",
                ),
                _not_null(column, source) if column.role != "target" else _labelled(column, source),
                _expectation(
                    "expect_column_values_to_be_between",
                    {"column": column.name, "min_value": low, "max_value": high},
                    f"'{column.name}' stays near what was seen; far outside means another unit, a sign error or a sentinel value.",
                    f"{source}: {how}",
                ),
            ]
        else:
            role = "class" if column.role == "target" else "category"
            expectations += [
                _not_null(column, source) if column.role != "target" else _labelled(column, source),
                _expectation(
                    "expect_column_values_to_be_in_set",
                    {"column": column.name, "value_set": column.values},
                    f"Only the {role} values the data set knows; a new one needs a reviewed suite (and, for a class, a retrain).",
                    f"{source}: the {len(column.values)} values seen",
                ),
            ]
    return {
        "name": f"{profile.name}_raw",
        "meta": {
            "notes": f"Contract for one raw batch of '{profile.name}', generated by `pipeline dataset` from "
            f"{profile.source} on {datetime.now(UTC):%Y-%m-%d}. Review it: widen or narrow ranges, "
            "add the relations a domain expert knows."
        },
        "expectations": expectations,
    }


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


# What the repo's (classification) defaults say, and what a regression data set says instead.
REGRESSION_DEFAULTS = {
    "# Any scikit-learn classifier, by import path.": "# Any scikit-learn regressor, by import path.",
    'estimator = "sklearn.ensemble.RandomForestClassifier"': 'estimator = "sklearn.ensemble.RandomForestRegressor"',
    'metric = "f1_macro"   # f1_macro or accuracy': 'metric = "rmse"   # rmse or mae (errors: lower is better), or r2',
    "tolerance = 0.0": "tolerance = 0.0   # in the metric's units (for rmse: the target's)",
}


def _other_tables(task: str) -> str:
    """Every table of the repo's parameters file but ``[dataset]``: the same defaults and
    comments (a regressor and an error metric for a number target)."""
    text = (REPO_ROOT / "pipeline.toml").read_text(encoding="utf-8")
    blocks = re.split(r"(?m)^(?=\[)", text)[1:]
    tables = "".join(b for b in blocks if not b.startswith("[dataset")).rstrip() + "\n"
    if task == "regression":
        for classification, regression in REGRESSION_DEFAULTS.items():
            tables = tables.replace(classification, regression)
    return tables


def make_parameters(profile: Profile) -> str:
    """The whole parameters file: the ``[dataset]`` table of this profile, then the defaults."""
    features = [c for c in profile.columns if c.role == "feature"]
    identifiers = ", ".join(_toml_string(c.name) for c in profile.by_role("identifier"))
    lines = [
        f"# Pipeline parameters for the data set '{profile.name}', made by `pipeline dataset` from",
        f"# {profile.source} on {datetime.now(UTC):%Y-%m-%d}. Review this file and {SUITE_FILE} beside it, then:",
        f"#   PIPELINE_CONFIG={CONFIG_FILE} make run   (with this file's path)",
        "",
        "[dataset]",
        f"name = {_toml_string(profile.name)}",
        f"target = {_toml_string(profile.target)}",
        f"# {profile.task_why}; change it if that is wrong",
        f"task = {_toml_string(profile.task)}   # classification or regression",
        *(f"# {_toml_string(c.name)}: {c.why}" for c in profile.by_role("identifier")),
        f"identifiers = [{identifiers}]   # kept through scoring, never trained on",
        f'suite = "{SUITE_FILE}"   # relative to this file',
        '# seed = "sample.csv"   # a CSV ingested into an empty data root; without it, the first drop starts',
        "",
        "[dataset.features]",
        "# numeric: imputed (median) and scaled; categorical: imputed (most frequent) and one-hot encoded",
        *(f"{_toml_string(c.name)} = {_toml_string(c.kind)}" for c in features),
        "",
    ]
    return "\n".join(lines) + "\n" + _other_tables(profile.task)


def summary(profile: Profile, out: Path) -> list[str]:
    """What to review, in a few lines."""
    kinds = {k: [c.name for c in profile.columns if c.kind == k and c.role == "feature"] for k in ("numeric", "categorical")}
    if profile.task == "regression":
        target = next(c for c in profile.columns if c.role == "target")
        low, high, _ = numeric_range(target)
        described = (
            f"a number from {target.low:g} to {target.high:g} in the sample (regression; checked within [{low:g}, {high:g}])"
        )
    else:
        classes = profile.classes
        described = (
            f"{len(classes)} classes ({'binary' if len(classes) == 2 else 'multi-class'}): "
            + ", ".join(map(str, classes[:10]))
            + (" ..." if len(classes) > 10 else "")
        )
    lines = [
        f"Data set '{profile.name}' from {profile.source}: {profile.rows} rows, {len(profile.columns)} columns",
        f"  target      {profile.target}: {described}",
        f"  task        {profile.task}: {profile.task_why} (pipeline.toml's [dataset] task; change it if wrong)",
        f"  numeric     {len(kinds['numeric'])}: {', '.join(kinds['numeric']) or '-'}",
        f"  categorical {len(kinds['categorical'])}: {', '.join(kinds['categorical']) or '-'}",
        f"  identifiers {', '.join(c.name for c in profile.by_role('identifier')) or '-'} (kept, not trained on)",
        *(f"              {c.name}: {c.why}" for c in profile.by_role("identifier")),
    ]
    for column in (c for c in profile.columns if c.kind == "numeric" and c.role == "feature"):
        low, high, how = numeric_range(column)
        lines.append(f"  range       {column.name} [{low:g}, {high:g}]: {how}")
    if gaps := [f"{c.name} {c.missing_share:.0%}" for c in profile.columns if c.missing]:
        lines.append(f"  missing     {', '.join(gaps)}")
    lines += [f"  note        {n}" for n in profile.notes]
    lines += [
        f"Wrote {out / CONFIG_FILE} and {out / SUITE_FILE}. Review both (kinds, identifiers, ranges, allowed values), then:",
        f"  PIPELINE_CONFIG={out / CONFIG_FILE} make run",
    ]
    return lines


def create_dataset(sample: Path, target: str, out: Path, *, name: str | None = None) -> Profile:
    """Profile ``sample`` and write ``out/pipeline.toml`` and ``out/suite.json``; never over
    an existing folder."""
    if out.exists():
        raise ProfileError(f"{out} already exists: choose a new folder (nothing was overwritten)")
    frame, _ = without_index_column(read_drop(sample))
    name = name or re.sub(r"[^A-Za-z0-9_-]+", "_", out.resolve().name).strip("_") or "dataset"
    profile = profile_frame(frame, target, name=name, source=sample.name)
    suite, parameters = make_suite(profile), make_parameters(profile)
    out.mkdir(parents=True)
    (out / SUITE_FILE).write_text(json.dumps(suite, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / CONFIG_FILE).write_text(parameters, encoding="utf-8")
    return profile
