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

import pandas as pd

from tasks.schema import CLASS_NAMES, FEATURE_COLUMNS, TARGET_COLUMN


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


def validate_frame(frame: pd.DataFrame, suite_json: dict[str, Any], *, data_docs_dir: Path | None = None) -> BatchValidation:
    """Run the suite on one frame in a fresh ephemeral GX context.

    With ``data_docs_dir``, a failing result is also rendered there as GX Data Docs.
    """
    suite = build_suite(suite_json)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
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
        from tasks.data_docs import make_offline, validation_page

        make_offline(data_docs_dir)
        page = validation_page(data_docs_dir)
    return BatchValidation(
        success=bool(gx_result["success"]) and not problems,
        checks_run=len(gx_result["results"]),
        problems=problems,
        gx_result=gx_result,
        fixes=suggest_fixes(problems, frame) if problems else [],
        data_docs_page=page.relative_to(data_docs_dir).as_posix() if page else None,
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


def suggest_fixes(problems: list[dict[str, Any]], frame: pd.DataFrame) -> list[str]:
    """Fixes for the mistakes people make most: renamed or extra columns, class names
    instead of class numbers, decimal commas."""
    fixes = []
    for p in problems:
        missing, extra = p.get("missing_columns", []), p.get("unexpected_columns", [])
        renames = {m: c[0] for m in missing if (c := difflib.get_close_matches(m, extra, n=1, cutoff=0.5))}
        fixes += [f"rename column '{old}' to '{new}'" for new, old in renames.items()]
        if leftover := [c for c in extra if c not in renames.values()]:
            fixes.append(
                f"remove the extra column(s) {leftover} (training data has exactly the suite's columns; "
                "`make predict` keeps extra columns such as an id)"
            )
        if p.get("column") == TARGET_COLUMN and p["expectation"] == "expect_column_values_to_be_in_set":
            if set(p["sample_unexpected_values"]) & set(CLASS_NAMES.values()):
                fixes.append("write the classes as numbers, not names: " + ", ".join(f"{n}={i}" for i, n in CLASS_NAMES.items()))
    commas = [
        c
        for c in FEATURE_COLUMNS
        if c in frame.columns
        and frame[c].dtype.kind not in "iufb"
        and frame[c].dropna().astype(str).head(100).map(lambda v: bool(DECIMAL_COMMA.match(v))).any()
    ]
    if commas:
        sample = frame[commas[0]].dropna().astype(str).iloc[0]
        fixes.append(f"the numbers use decimal commas (e.g. '{sample}' in {commas}): export with '.' as the decimal separator")
    return list(dict.fromkeys(fixes))


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
        problem = f"columns do not match: missing {missing}"
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
        problem = f"column '{column}' has {unexpected} empty value(s) ({pct:.1f}%)"
    elif kind == "expect_column_values_to_be_between":
        lo, hi = kw.get("min_value"), kw.get("max_value")
        problem = f"column '{column}' has {unexpected} value(s) outside ({lo}, {hi}], e.g. {sample}"
    elif kind == "expect_column_values_to_be_in_set":
        problem = f"column '{column}' has {unexpected} value(s) not in {kw.get('value_set')}, e.g. {sample}"
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
        "problem": problem,
        "why_it_matters": meta.get("intent"),
        "observed_value": observed,
        "unexpected_count": unexpected,
        "unexpected_percent": pct,
        "sample_unexpected_values": sample,
        "errors": [e for e in errors if e],
    }


def scoring_suite(suite_json: dict[str, Any], *, with_target: bool) -> dict[str, Any]:
    """The raw-data suite, minus what only labelled data can satisfy."""
    columns = [*FEATURE_COLUMNS, TARGET_COLUMN] if with_target else FEATURE_COLUMNS
    expectations = []
    for exp in suite_json["expectations"]:
        kwargs = dict(exp["kwargs"])
        if kwargs.get("column") == TARGET_COLUMN and not with_target:
            continue
        if exp["type"] == "expect_table_columns_to_match_ordered_list":
            # Data to score may carry keys (an id) that come back in the output: require the
            # measurement columns, allow others.
            exp = {**exp, "type": "expect_table_columns_to_match_set"}
            kwargs = {"column_set": columns, "exact_match": False}
        expectations.append({**exp, "kwargs": kwargs})
    return {**suite_json, "name": f"{suite_json['name']}_scoring", "expectations": expectations}
