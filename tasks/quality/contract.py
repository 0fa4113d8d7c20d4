"""The data contract: the Great Expectations suite in ``expectations/``, run on a frame.

The suite is hand-written JSON. GX is imported inside the functions that need it
(2-9 s and ~200 MB), never when this module is imported. Used by the validation
stage (the gate) and by predict (the same checks on data to score).
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tasks.config import Dataset
from tasks.quality.drops import looks_like_number


class SuiteLoadError(RuntimeError):
    """The suite file does not load exactly as written (GX would silently run fewer checks)."""


@dataclass
class BatchValidation:
    success: bool
    checks_run: int
    problems: list[dict[str, Any]]  # root causes first, then the failures they caused
    gx_result: dict[str, Any]
    fixes: list[str] = field(default_factory=list)
    data_docs_page: str | None = None  # the result's Data Docs page, relative to the site

    @property
    def causes(self) -> list[dict[str, Any]]:
        return [p for p in self.problems if not p.get("caused_by")]

    @property
    def reason(self) -> str:
        """The root causes, the count of what they broke, and the fix: what a person reads first."""
        if self.success:
            return "all checks passed"
        causes = self.causes
        text = "; ".join(p["problem"] for p in causes)
        if knock_on := len(self.problems) - len(causes):
            text += f" (and {knock_on} check(s) that failed because of it)"
        if self.fixes:
            text += ". Fix: " + "; ".join(self.fixes)
        return f"{len(self.problems)} of {self.checks_run} checks failed: {text}"


def _quiet_gx() -> None:
    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


def load_suite_json(path: Path) -> dict[str, Any]:
    suite = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(suite.get("expectations"), list) or not suite["expectations"]:
        raise SuiteLoadError(f"{path}: no 'expectations' list")
    return suite


def build_suite(suite_json: dict[str, Any]):  # -> gx.ExpectationSuite
    """Build the GX suite and refuse to go on unless every expectation in the file loaded."""
    _quiet_gx()
    import great_expectations as gx

    try:
        suite = gx.ExpectationSuite(**suite_json)
    except Exception as exc:  # GX raises or logs-and-drops depending on the fault
        raise SuiteLoadError(f"expectation suite {suite_json.get('name')!r} does not load: {exc}") from exc
    if len(suite.expectations) != len(suite_json["expectations"]):
        raise SuiteLoadError(
            f"suite {suite_json.get('name')!r}: {len(suite.expectations)} of "
            f"{len(suite_json['expectations'])} expectations loaded; fix the file"
        )
    return suite


def _ephemeral_context():  # -> an ephemeral gx context, progress bars off
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def validate_frame(
    frame: pd.DataFrame, suite_json: dict[str, Any], dataset: Dataset, *, data_docs_dir: Path | None = None
) -> BatchValidation:
    """Run the suite on one frame in a fresh ephemeral GX context.

    With ``data_docs_dir``, a failing result is also rendered there as GX Data Docs.
    """
    suite = build_suite(suite_json)
    import great_expectations as gx

    context = _ephemeral_context()
    suite = context.suites.add(suite)
    batch_def = (
        context.data_sources.add_pandas("pandas")
        .add_dataframe_asset("raw_batch")
        .add_batch_definition_whole_dataframe("whole_batch")
    )
    definition = context.validation_definitions.add(gx.ValidationDefinition(name="raw_batch", data=batch_def, suite=suite))
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(name="gate", validation_definitions=[definition], actions=[], result_format={"result_format": "SUMMARY"})
    )
    run = checkpoint.run(batch_parameters={"dataframe": frame})
    (result,) = run.run_results.values()
    gx_result = result.to_json_dict()
    page = None
    problems = root_causes_first([describe_failure(r) for r in gx_result["results"] if not r["success"]])
    if problems and data_docs_dir is not None:
        context.add_data_docs_site(
            site_name="quarantine",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(data_docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        context.build_data_docs(site_names=["quarantine"])
        from tasks.quality.data_docs import make_offline, validation_page

        make_offline(data_docs_dir)
        page = validation_page(data_docs_dir)
    return BatchValidation(
        success=bool(gx_result["success"]) and not problems,
        checks_run=len(gx_result["results"]),
        problems=problems,
        gx_result=gx_result,
        fixes=suggest_fixes(problems, frame, dataset) if problems else [],
        data_docs_page=page.relative_to(data_docs_dir).as_posix() if page else None,
    )


# Validating many batches in one Great Expectations run (a burst of small files): GX's cost is
# ~14 ms per expectation per run whatever the row count, so 300 files of 20 rows cost 300 runs
# one by one but one run together. A batch is cleared by the run on the union only where that
# run proves the batch's own result, by the kind of each expectation:
SAME_FOR_SAME_SCHEMA = frozenset(  # depends only on the column names and dtypes
    {
        "expect_table_columns_to_match_set",
        "expect_table_columns_to_match_ordered_list",
        "expect_table_column_count_to_equal",
        "expect_table_column_count_to_be_between",
        "expect_column_to_exist",
        "expect_column_values_to_be_of_type",
        "expect_column_values_to_be_in_type_list",
    }
)
ROW_BY_ROW = frozenset(  # a row failing in its batch also fails in the union (GX names it)
    {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_null",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_in_set",
        "expect_column_value_lengths_to_be_between",
        "expect_column_value_lengths_to_equal",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_not_match_regex",
        "expect_column_values_to_match_regex_list",
        "expect_column_values_to_not_match_regex_list",
        "expect_column_values_to_match_like_pattern",
        "expect_column_values_to_not_match_like_pattern",
        "expect_column_values_to_match_like_pattern_list",
        "expect_column_values_to_not_match_like_pattern_list",
        "expect_column_values_to_match_strftime_format",
        "expect_column_values_to_be_dateutil_parseable",
        "expect_column_values_to_be_json_parseable",
        "expect_column_values_to_match_json_schema",
        "expect_column_pair_values_a_to_be_greater_than_b",
        "expect_column_pair_values_to_be_equal",
        "expect_column_pair_values_to_be_in_set",
        "expect_multicolumn_sum_to_equal",
        "expect_select_column_values_to_be_unique_within_record",
        # a duplicate within a batch is a duplicate in the union too
        "expect_column_values_to_be_unique",
        "expect_compound_columns_to_be_unique",
        "expect_multicolumn_values_to_be_unique",
    }
)
# Anything else (row counts, means, z-scores...) is a property of the whole batch: it is run on
# each batch alone, which costs only its own expectations.


def passing_together(frames: dict[str, pd.DataFrame], suite_json: dict[str, Any]) -> set[str]:
    """The batches proven to pass the suite by one GX run on the union of those with the same
    columns and dtypes (plus, per batch, the expectations that are about a whole batch).

    A batch with no failing row in the union, under a suite with no schema failure, has no
    failing row on its own either, and a map expectation with no failing row passes whatever
    its ``mostly``. Every batch not returned (a failing row, a different schema, a failing
    batch-level check) must be validated alone with ``validate_frame``, which gives the exact
    result and its reason: the union only ever clears, it never rejects.
    """
    passed: set[str] = set()
    for group in _by_schema(frames).values():
        if len(group) > 1:
            passed |= _cleared_by_union({key: frames[key] for key in group}, suite_json)
    return passed


def _by_schema(frames: dict[str, pd.DataFrame]) -> dict[tuple, list[str]]:
    groups: dict[tuple, list[str]] = {}
    for key, frame in frames.items():
        groups.setdefault(tuple((str(c), str(t)) for c, t in frame.dtypes.items()), []).append(key)
    return groups


def _cleared_by_union(frames: dict[str, pd.DataFrame], suite_json: dict[str, Any]) -> set[str]:
    keys = list(frames)
    union = pd.concat(frames.values(), ignore_index=True)  # the index is the row's position
    if not union.dtypes.equals(frames[keys[0]].dtypes):
        return set()  # concat changed a dtype (e.g. categories differ): judge one by one
    ends = np.cumsum([len(f) for f in frames.values()])
    together = [e for e in suite_json["expectations"] if e["type"] in SAME_FOR_SAME_SCHEMA | ROW_BY_ROW]
    alone = [e for e in suite_json["expectations"] if e["type"] not in SAME_FOR_SAME_SCHEMA | ROW_BY_ROW]
    context = _ephemeral_context()
    batches = (
        context.data_sources.add_pandas("pandas").add_dataframe_asset("batches").add_batch_definition_whole_dataframe("whole")
    )
    suspects: set[str] = set()
    if together:
        suite = _suite_named(context, suite_json, "together", together)
        result = batches.get_batch(batch_parameters={"dataframe": union}).validate(suite, result_format="COMPLETE")
        for outcome in result.to_json_dict()["results"]:
            kind, res = outcome["expectation_config"]["type"], outcome.get("result") or {}
            if (outcome.get("exception_info") or {}).get("raised_exception"):
                return set()  # no answer to go by: each batch is judged alone
            if kind in SAME_FOR_SAME_SCHEMA:
                if not outcome["success"]:
                    return set()  # every batch of the group fails it alike
                continue
            rows = res.get("unexpected_index_list") or []
            if res.get("unexpected_count") and not rows:
                return set()
            suspects.update(keys[i] for i in np.searchsorted(ends, np.asarray(rows, dtype=np.int64), side="right"))
    cleared = [key for key in keys if key not in suspects]
    if not alone:
        return set(cleared)
    own = _suite_named(context, suite_json, "alone", alone)
    return {
        key
        for key in cleared
        if batches.get_batch(batch_parameters={"dataframe": frames[key]}).validate(own, result_format="BOOLEAN_ONLY").success
    }


def _suite_named(context, suite_json: dict[str, Any], part: str, expectations: list[dict[str, Any]]):
    return context.suites.add(
        build_suite({**suite_json, "name": f"{suite_json.get('name')}_{part}", "expectations": expectations})
    )


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


def _sample(values: list[Any] | None, n: int = 5) -> list[Any]:
    return list(dict.fromkeys(str(v) for v in (values or [])))[:n]


def describe_failure(result: dict[str, Any]) -> dict[str, Any]:
    """One failed expectation, in words a person can act on, with the numbers behind them.

    The suite's ``meta`` (the intent of the check) comes back in the result's config."""
    cfg = result["expectation_config"]
    meta = cfg.get("meta") or {}
    kind, kw, res = cfg["type"], cfg["kwargs"], result.get("result") or {}
    column = kw.get("column")
    errors = [
        v.get("exception_message")
        for v in (result.get("exception_info") or {}).values()
        if isinstance(v, dict) and v.get("raised_exception")
    ]
    if result.get("exception_info", {}).get("raised_exception"):
        errors.append(result["exception_info"].get("exception_message"))
    unexpected = res.get("unexpected_count")
    pct = res.get("unexpected_percent")
    sample = _sample(res.get("partial_unexpected_list"))
    observed = res.get("observed_value")
    # Rows as a spreadsheet numbers them (the header is row 1), so a big file can be fixed.
    rows = [int(i) + 2 for i in (res.get("partial_unexpected_index_list") or [])[:5] if isinstance(i, int)]
    where = f" (row(s) {', '.join(map(str, rows))}{', ...' if (unexpected or 0) > len(rows) else ''} of the file)" if rows else ""

    missing: list[str] = []
    extra: list[str] = []
    if kind == "expect_table_columns_to_match_ordered_list":
        expected, got = kw["column_list"], list(observed or [])
        missing = [c for c in expected if c not in got]
        extra = [c for c in got if c not in expected]
        if missing or extra:
            problem = "columns do not match: " + ", ".join(
                f"{what} {names}" for what, names in (("missing", missing), ("unexpected", extra)) if names
            )
        else:
            problem = f"columns are in the wrong order: {got}, expected {expected}"
    elif kind == "expect_table_columns_to_match_set":
        got = list(observed or [])
        missing = [c for c in kw["column_set"] if c not in got]
        if kw.get("exact_match", True) is not False:
            extra = [c for c in got if c not in kw["column_set"]]
        problem = "columns do not match: " + ", ".join(
            f"{what} {names}" for what, names in (("missing", missing), ("unexpected", extra)) if names
        )
    elif errors and not res:
        problem = (
            f"column '{column}' could not be checked ({errors[0]})" if column else f"{kind} could not be evaluated ({errors[0]})"
        )
    elif column and not res and not errors:
        problem = f"column '{column}' is missing"
    elif kind == "expect_table_row_count_to_be_between":
        problem = f"row count {observed} is outside [{kw.get('min_value')}, {kw.get('max_value')}]"
    elif kind in ("expect_column_values_to_be_in_type_list", "expect_column_values_to_be_of_type"):
        allowed = kw.get("type_list") or [kw.get("type_")]
        problem = f"column '{column}' has type {observed}, expected one of {allowed} (non-numeric values?)"
    elif kind == "expect_column_values_to_not_be_null":
        tolerated = f", at most {100 * (1 - kw['mostly']):.0f}% tolerated" if kw.get("mostly") else ""
        problem = f"column '{column}' has {unexpected} empty value(s) ({pct:.1f}%{tolerated}){where}"
    elif kind == "expect_column_values_to_be_between":
        lo, hi = kw.get("min_value"), kw.get("max_value")
        problem = f"column '{column}' has {unexpected} value(s) outside {'(' if kw.get('strict_min') else '['}{lo}, {hi}], e.g. {sample}{where}"
    elif kind == "expect_column_values_to_be_in_set":
        allowed = kw.get("value_set") or []
        shown = f"{allowed[:12]}{' and ' + str(len(allowed) - 12) + ' more' if len(allowed) > 12 else ''}"
        problem = f"column '{column}' has {unexpected} value(s) not in {shown}, e.g. {sample}{where}"
    elif kind == "expect_column_pair_values_a_to_be_greater_than_b":
        problem = f"{unexpected} row(s) where '{kw['column_A']}' is not greater than '{kw['column_B']}' ({pct:.1f}%)"
    else:
        problem = (
            f"{kind} failed" + (f" on '{column}'" if column else "") + (f": observed {observed}" if observed is not None else "")
        )
    return {
        "expectation": kind,
        "column": column,
        "column_pair": [c for c in (kw.get("column_A"), kw.get("column_B")) if c],
        "missing_columns": missing,
        "unexpected_columns": extra,
        "expected_columns": list(kw.get("column_set") or kw.get("column_list") or []),
        "value_set": kw.get("value_set"),
        "rows": rows,
        "problem": problem,
        "why_it_matters": meta.get("intent"),
        "observed_value": observed,
        "unexpected_count": unexpected,
        "unexpected_percent": pct,
        "sample_unexpected_values": sample,
        "errors": [e for e in errors if e],
    }


def scoring_suite(suite_json: dict[str, Any], dataset: Dataset, *, with_target: bool) -> dict[str, Any]:
    """The raw-data suite for data to score: the features are required, the target only if
    the file has it, identifiers and any other column (kept in the output) are allowed."""
    columns = [*dataset.feature_columns, dataset.target] if with_target else dataset.feature_columns
    expectations = []
    for exp in suite_json["expectations"]:
        kwargs = dict(exp["kwargs"])
        if not with_target and dataset.target in (kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B")):
            continue
        if exp["type"] in ("expect_table_columns_to_match_ordered_list", "expect_table_columns_to_match_set"):
            exp = {**exp, "type": "expect_table_columns_to_match_set"}
            kwargs = {"column_set": columns, "exact_match": False}
        if kwargs.get("column") in dataset.identifiers:
            continue
        expectations.append({**exp, "kwargs": kwargs})
    return {**suite_json, "name": f"{suite_json['name']}_scoring", "expectations": expectations}
