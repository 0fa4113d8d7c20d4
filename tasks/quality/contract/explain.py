"""Failures in words a person can act on: each failed expectation described by the formatter
registered for its type, root causes ordered first, and fixes for the mistakes people make most."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tasks.config import Dataset
from tasks.quality.drops import looks_like_number

DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")


def _columns_involved(problem: dict[str, Any]) -> set[str]:
    return {c for c in (problem.get("column"), *problem.get("column_pair", ())) if c}


def root_causes_first(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order failures so the cause leads: a column mismatch first, a wrong type before
    the range check it made impossible. A failure that only follows from another is
    marked ``caused_by`` (GX reports those as "does not exist", "list index out of range")."""
    missing = {c for p in problems for c in p.get("missing_columns", [])}
    mistyped = {
        p["column"] for p in problems if p["expectation"].endswith("_of_type") or p["expectation"].endswith("_in_type_list")
    }
    for p in problems:
        involved = _columns_involved(p)
        if not p["expectation"].startswith("expect_table_columns") and involved & missing:
            p["caused_by"] = f"missing column(s) {sorted(involved & missing)}"
        elif p["errors"] and p["column"] in mistyped:
            p["caused_by"] = f"column '{p['column']}' is not numeric"
    rank = {
        "expect_table_columns_to_match_ordered_list": 0,
        "expect_table_columns_to_match_set": 0,
        "expect_table_row_count_to_be_between": 1,
    }
    return sorted(problems, key=lambda p: (bool(p.get("caused_by")), rank.get(p["expectation"], 2)))


def suggest_fixes(problems: list[dict[str, Any]], frame: pd.DataFrame, dataset: Dataset) -> list[str]:
    """Fixes for the mistakes people make most: no header row, renamed or extra columns,
    the classes in a differently named column, class names instead of codes, decimal commas."""
    fixes = []
    classes = _allowed_classes(problems, dataset)
    for p in problems:
        missing, extra = p.get("missing_columns", []), p.get("unexpected_columns", [])
        expected = p.get("expected_columns") or []
        if expected and not set(expected) & set(frame.columns) and any(looks_like_number(str(c)) for c in frame.columns):
            fixes.append(
                f"the first row looks like data, not column names ({', '.join(map(str, list(frame.columns)[:4]))}, ...): "
                f"add a header row: {','.join(expected)}"
            )
            continue
        renames = {m: c[0] for m in missing if (c := difflib.get_close_matches(m, extra, n=1, cutoff=0.5))}
        if (
            dataset.target in missing
            and dataset.target not in renames
            and (holder := _column_holding(frame, extra, classes, dataset))
        ):
            renames[dataset.target] = holder
        fixes += [f"rename column '{old}' to '{new}'" for new, old in renames.items()]
        if leftover := [c for c in extra if c not in renames.values()]:
            fixes.append(
                f"remove the extra column(s) {leftover} (or list them in pipeline.toml [dataset] identifiers, "
                "if they identify rows)"
            )
        if p.get("column") == dataset.target and p["expectation"] == "expect_column_values_to_be_in_set":
            fixes += _class_label_fix(p["sample_unexpected_values"], dataset)
    if dataset.target not in frame.columns:
        holder = next(
            (c for c in frame.columns if c not in dataset.features and _holds_classes(frame[c], classes, dataset)), None
        )
        if holder is not None:
            fixes += _class_label_fix(frame[holder].dropna().astype(str).unique()[:20].tolist(), dataset)
    commas = [
        c
        for c in dataset.numeric
        if c in frame.columns
        and frame[c].dtype.kind not in "iufb"
        and frame[c].dropna().astype(str).head(100).map(lambda v: bool(DECIMAL_COMMA.match(v))).any()
    ]
    if commas:
        sample = frame[commas[0]].dropna().astype(str).iloc[0]
        fixes.append(f"the numbers use decimal commas (e.g. '{sample}' in {commas}): export with '.' as the decimal separator")
    return list(dict.fromkeys(fixes))


def _allowed_classes(problems: list[dict[str, Any]], dataset: Dataset) -> set[str]:
    """The classes the suite allows in the target column, as text."""
    allowed = {str(v) for p in problems if p.get("column") == dataset.target for v in p.get("value_set") or []}
    return allowed or set(dataset.class_labels)


def _holds_classes(values: pd.Series, classes: set[str], dataset: Dataset) -> bool:
    """Do these values look like the target's classes (as codes, or as their labels)?"""
    seen = {str(v) for v in values.dropna().unique()[:1000]}
    if not seen:
        return False
    text = {v.removesuffix(".0") for v in seen}
    return text <= classes or seen <= set(dataset.class_labels.values())


def _column_holding(frame: pd.DataFrame, names: list[str], classes: set[str], dataset: Dataset) -> str | None:
    return next((c for c in names if c in frame.columns and _holds_classes(frame[c], classes, dataset)), None)


def _class_label_fix(values: list[Any], dataset: Dataset) -> list[str]:
    """Class names where the data set writes class codes: say the mapping."""
    if dataset.class_labels and {str(v) for v in values} & set(dataset.class_labels.values()):
        mapping = ", ".join(f"{label}={code}" for code, label in dataset.class_labels.items())
        return [f"write the classes as their codes, not names: {mapping}"]
    return []


@dataclass
class Failure:
    """One failed expectation as GX reports it, with what every formatter reads."""

    kind: str
    kwargs: dict[str, Any]
    result: dict[str, Any]
    column: str | None
    errors: list[str]
    missing: list[str]  # columns the suite expects and the file lacks
    extra: list[str]  # columns the file has and the suite does not expect

    @property
    def observed(self) -> Any:
        return self.result.get("observed_value")

    @property
    def unexpected(self) -> int | None:
        return self.result.get("unexpected_count")

    @property
    def percent(self) -> float | None:
        return self.result.get("unexpected_percent")

    @property
    def sample(self) -> list[Any]:
        return list(dict.fromkeys(str(v) for v in (self.result.get("partial_unexpected_list") or [])))[:5]

    @property
    def rows(self) -> list[int]:
        """Rows as a spreadsheet numbers them (the header is row 1), so a big file can be fixed."""
        return [int(i) + 2 for i in (self.result.get("partial_unexpected_index_list") or [])[:5] if isinstance(i, int)]

    @property
    def where(self) -> str:
        rows = self.rows
        more = ", ..." if (self.unexpected or 0) > len(rows) else ""
        return f" (row(s) {', '.join(map(str, rows))}{more} of the file)" if rows else ""


def _columns_mismatch(f: Failure) -> str:
    return "columns do not match: " + ", ".join(
        f"{what} {names}" for what, names in (("missing", f.missing), ("unexpected", f.extra)) if names
    )


def _columns_in_order(f: Failure) -> str:
    if f.missing or f.extra:
        return _columns_mismatch(f)
    return f"columns are in the wrong order: {list(f.observed or [])}, expected {f.kwargs['column_list']}"


def _row_count(f: Failure) -> str:
    return f"row count {f.observed} is outside [{f.kwargs.get('min_value')}, {f.kwargs.get('max_value')}]"


def _column_type(f: Failure) -> str:
    allowed = f.kwargs.get("type_list") or [f.kwargs.get("type_")]
    return f"column '{f.column}' has type {f.observed}, expected one of {allowed} (non-numeric values?)"


def _empty_values(f: Failure) -> str:
    tolerated = f", at most {100 * (1 - f.kwargs['mostly']):.0f}% tolerated" if f.kwargs.get("mostly") else ""
    return f"column '{f.column}' has {f.unexpected} empty value(s) ({f.percent:.1f}%{tolerated}){f.where}"


def _out_of_range(f: Failure) -> str:
    low, high = f.kwargs.get("min_value"), f.kwargs.get("max_value")
    bracket = "(" if f.kwargs.get("strict_min") else "["
    return f"column '{f.column}' has {f.unexpected} value(s) outside {bracket}{low}, {high}], e.g. {f.sample}{f.where}"


def _not_in_set(f: Failure) -> str:
    allowed = f.kwargs.get("value_set") or []
    shown = f"{allowed[:12]}{' and ' + str(len(allowed) - 12) + ' more' if len(allowed) > 12 else ''}"
    return f"column '{f.column}' has {f.unexpected} value(s) not in {shown}, e.g. {f.sample}{f.where}"


def _pair_not_greater(f: Failure) -> str:
    return f"{f.unexpected} row(s) where '{f.kwargs['column_A']}' is not greater than '{f.kwargs['column_B']}' ({f.percent:.1f}%)"


def _any_other(f: Failure) -> str:
    return (
        f"{f.kind} failed"
        + (f" on '{f.column}'" if f.column else "")
        + (f": observed {f.observed}" if f.observed is not None else "")
    )


# One formatter per expectation type; a type not listed gets ``_any_other``.
COLUMN_SET_FORMATTERS: dict[str, Callable[[Failure], str]] = {
    "expect_table_columns_to_match_ordered_list": _columns_in_order,
    "expect_table_columns_to_match_set": _columns_mismatch,
}
FORMATTERS: dict[str, Callable[[Failure], str]] = {
    "expect_table_row_count_to_be_between": _row_count,
    "expect_column_values_to_be_in_type_list": _column_type,
    "expect_column_values_to_be_of_type": _column_type,
    "expect_column_values_to_not_be_null": _empty_values,
    "expect_column_values_to_be_between": _out_of_range,
    "expect_column_values_to_be_in_set": _not_in_set,
    "expect_column_pair_values_a_to_be_greater_than_b": _pair_not_greater,
}


def _column_sets(kind: str, kwargs: dict[str, Any], observed: Any) -> tuple[list[str], list[str]]:
    """The missing and the unexpected columns, for the expectations about the column set."""
    if kind not in COLUMN_SET_FORMATTERS:
        return [], []
    got = list(observed or [])
    if kind == "expect_table_columns_to_match_ordered_list":
        expected = kwargs["column_list"]
        return [c for c in expected if c not in got], [c for c in got if c not in expected]
    if kind == "expect_table_columns_to_match_set":
        exact = kwargs.get("exact_match", True) is not False
        return [c for c in kwargs["column_set"] if c not in got], [
            c for c in got if c not in kwargs["column_set"]
        ] if exact else []
    return [], []


def _problem(f: Failure) -> str:
    """The failure in one sentence: the column set first, then a check that could not run (an
    exception, a missing column), then the type's own formatter."""
    if f.kind in COLUMN_SET_FORMATTERS:
        return COLUMN_SET_FORMATTERS[f.kind](f)
    if f.errors and not f.result:
        return (
            f"column '{f.column}' could not be checked ({f.errors[0]})"
            if f.column
            else f"{f.kind} could not be evaluated ({f.errors[0]})"
        )
    if f.column and not f.result and not f.errors:
        return f"column '{f.column}' is missing"
    return FORMATTERS.get(f.kind, _any_other)(f)


def _raised(result: dict[str, Any]) -> list[str]:
    """The messages of the exceptions GX caught while evaluating the expectation."""
    info = result.get("exception_info") or {}
    errors = [v.get("exception_message") for v in info.values() if isinstance(v, dict) and v.get("raised_exception")]
    if info.get("raised_exception"):
        errors.append(info.get("exception_message"))
    return errors


def describe_failure(result: dict[str, Any]) -> dict[str, Any]:
    """One failed expectation, in words a person can act on, with the numbers behind them.

    The suite's ``meta`` (the intent of the check) comes back in the result's config."""
    config = result["expectation_config"]
    kind, kwargs, res = config["type"], config["kwargs"], result.get("result") or {}
    missing, extra = _column_sets(kind, kwargs, res.get("observed_value"))
    failure = Failure(kind, kwargs, res, kwargs.get("column"), _raised(result), missing, extra)
    return {
        "expectation": kind,
        "column": failure.column,
        "column_pair": [c for c in (kwargs.get("column_A"), kwargs.get("column_B")) if c],
        "missing_columns": missing,
        "unexpected_columns": extra,
        "expected_columns": list(kwargs.get("column_set") or kwargs.get("column_list") or []),
        "value_set": kwargs.get("value_set"),
        "rows": failure.rows,
        "problem": _problem(failure),
        "why_it_matters": (config.get("meta") or {}).get("intent"),
        "observed_value": failure.observed,
        "unexpected_count": failure.unexpected,
        "unexpected_percent": failure.percent,
        "sample_unexpected_values": failure.sample,
        "errors": [e for e in failure.errors if e],
    }
