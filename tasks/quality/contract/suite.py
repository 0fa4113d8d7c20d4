"""The suite as written: hand-written JSON in ``expectations/``, loaded into Great Expectations
only whole (GX logs and drops an expectation it does not know), and GX's ephemeral context.
GX is imported inside the functions that need it (2-9 s and ~200 MB), never at import."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any


class SuiteLoadError(RuntimeError):
    """The suite file does not load exactly as written (GX would silently run fewer checks)."""


def _quiet_gx() -> None:
    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.WARNING)


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


def _no_whole_frame_fingerprint() -> None:
    """GX md5-hashes every frame under 1 GB into its result's batch markers
    (``pandas_data_fingerprint``): a pass over every row that checks nothing, a quarter of a
    4 M-row batch's gate and split. A batch's own fingerprint is in its manifest already."""
    from great_expectations.execution_engine import pandas_execution_engine

    pandas_execution_engine.HASH_THRESHOLD = 0  # frames of at least 0 bytes are not hashed


def ephemeral_context():  # -> an ephemeral gx context, progress bars off, frames not hashed
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _no_whole_frame_fingerprint()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def suite_named(context, suite_json: dict[str, Any], part: str, expectations: list[dict[str, Any]]):
    return context.suites.add(
        build_suite({**suite_json, "name": f"{suite_json.get('name')}_{part}", "expectations": expectations})
    )
