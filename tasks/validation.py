"""The data-quality gate: validate raw batches with Great Expectations, quarantine failures.

The suite is hand-written JSON in ``expectations/``. GX is imported inside the
functions that need it (2-9 s and ~200 MB), never when this module is imported.
A batch is validated once: a passing batch gets ``raw/<batch>/validation.json``;
a failing one moves to ``quarantine/<batch>/`` with ``reason.json``, the GX
result and Data Docs HTML.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from tasks import atomic_io
from tasks.ingest import DATA_FILE, MANIFEST, list_batches
from tasks.quarantine import unique_dir, write_reason

VALIDATION_RECORD = "validation.json"


class SuiteLoadError(RuntimeError):
    """The suite file does not load exactly as written (GX would silently run fewer checks)."""


@dataclass
class BatchValidation:
    success: bool
    checks_run: int
    problems: list[dict[str, Any]]
    gx_result: dict[str, Any]

    @property
    def reason(self) -> str:
        if self.success:
            return "all checks passed"
        lines = "; ".join(p["problem"] for p in self.problems)
        return f"{len(self.problems)} of {self.checks_run} checks failed: {lines}"


@dataclass
class GateReport:
    passed: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)


def _quiet_gx() -> None:
    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


def load_suite_json(path: Path) -> dict[str, Any]:
    suite = atomic_io.read_json(path)
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
    problems = [describe_failure(r) for r in gx_result["results"] if not r["success"]]
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
    return BatchValidation(
        success=bool(gx_result["success"]) and not problems,
        checks_run=len(gx_result["results"]),
        problems=problems,
        gx_result=gx_result,
    )


def _sample(values: list[Any] | None, n: int = 5) -> list[Any]:
    return list(dict.fromkeys(str(v) for v in (values or [])))[:n]


def describe_failure(result: dict[str, Any]) -> dict[str, Any]:
    """One failed expectation, in words a person can act on, with the numbers behind them.

    The suite's ``meta`` (the intent of the check) comes back in the result's config."""
    cfg = result["expectation_config"]
    meta = cfg.get("meta") or {}
    kind, kw, res = cfg["type"], cfg["kwargs"], result.get("result") or {}
    column = kw.get("column")
    errors = [v.get("exception_message") for v in (result.get("exception_info") or {}).values() if isinstance(v, dict) and v.get("raised_exception")]
    if result.get("exception_info", {}).get("raised_exception"):
        errors.append(result["exception_info"].get("exception_message"))
    unexpected = res.get("unexpected_count")
    pct = res.get("unexpected_percent")
    sample = _sample(res.get("partial_unexpected_list"))
    observed = res.get("observed_value")

    if kind == "expect_table_columns_to_match_ordered_list":
        expected, got = kw["column_list"], list(observed or [])
        missing = [c for c in expected if c not in got]
        extra = [c for c in got if c not in expected]
        if missing or extra:
            problem = f"columns do not match: missing {missing}, unexpected {extra}"
        else:
            problem = f"columns are in the wrong order: {got}, expected {expected}"
    elif errors and not res:
        problem = f"column '{column}' could not be checked ({errors[0]})" if column else f"{kind} could not be evaluated ({errors[0]})"
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
        problem = f"{kind} failed" + (f" on '{column}'" if column else "") + (f": observed {observed}" if observed is not None else "")
    return {
        "expectation": kind,
        "column": column,
        "problem": problem,
        "why_it_matters": meta.get("intent"),
        "observed_value": observed,
        "unexpected_count": unexpected,
        "unexpected_percent": pct,
        "sample_unexpected_values": sample,
        "errors": [e for e in errors if e],
    }


def pending_batches(raw_dir: Path) -> list[str]:
    """Raw batches not validated yet, in ingest order."""
    return [b for b in list_batches(raw_dir) if not (raw_dir / b / VALIDATION_RECORD).is_file()]


def validated_batches(raw_dir: Path) -> list[str]:
    return [b for b in list_batches(raw_dir) if (raw_dir / b / VALIDATION_RECORD).is_file()]


def quarantine_batch(
    batch_id: str, manifest: dict[str, Any], outcome: BatchValidation, raw_dir: Path, archive_dir: Path, quarantine_dir: Path, docs_dir: Path
) -> Path:
    """Move a failed batch and its original file into ``quarantine/<batch_id>/`` with its reasons."""
    folder = unique_dir(quarantine_dir, batch_id)
    atomic_io.write_json(folder / "gx_result.json", outcome.gx_result)
    if docs_dir.is_dir():
        os.replace(docs_dir, folder / "data_docs")
    write_reason(
        folder,
        file=manifest["source_file"],
        stage="validation",
        reason=outcome.reason,
        details={
            "batch_id": batch_id,
            "sha256": manifest["sha256"],
            "rows": manifest["rows"],
            "checks_run": outcome.checks_run,
            "checks_failed": len(outcome.problems),
            "failed_expectations": outcome.problems,
            "data_docs": "data_docs/index.html",
        },
    )
    os.replace(raw_dir / batch_id, folder / "batch")  # out of raw/ in one rename: never trained on
    original = archive_dir / batch_id / manifest["source_file"]
    if original.exists():
        os.replace(original, folder / manifest["source_file"])
        shutil.rmtree(archive_dir / batch_id, ignore_errors=True)
    return folder


def gate_pending_batches(raw_dir: Path, archive_dir: Path, quarantine_dir: Path, suite_path: Path) -> GateReport:
    """Validate every raw batch not validated yet; pass it or quarantine it."""
    suite_json = load_suite_json(suite_path)
    build_suite(suite_json)  # refuse to gate with a suite that does not load as written
    report = GateReport()
    for batch_id in pending_batches(raw_dir):
        frame = pd.read_parquet(raw_dir / batch_id / DATA_FILE)
        docs_dir = quarantine_dir / f".docs-{batch_id}-{os.getpid()}"
        shutil.rmtree(docs_dir, ignore_errors=True)
        outcome = validate_frame(frame, suite_json, data_docs_dir=docs_dir)
        manifest = atomic_io.read_json(raw_dir / batch_id / MANIFEST)
        if outcome.success:
            atomic_io.write_json(
                raw_dir / batch_id / VALIDATION_RECORD,
                {
                    "suite": suite_json.get("name"),
                    "checks_run": outcome.checks_run,
                    "validated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                },
            )
            report.passed.append({"batch_id": batch_id, "file": manifest["source_file"], "rows": manifest["rows"]})
        else:
            folder = quarantine_batch(batch_id, manifest, outcome, raw_dir, archive_dir, quarantine_dir, docs_dir)
            report.quarantined.append(
                {"batch_id": batch_id, "file": manifest["source_file"], "reason": outcome.reason, "quarantine_id": folder.name}
            )
        shutil.rmtree(docs_dir, ignore_errors=True)
    return report
