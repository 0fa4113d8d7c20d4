"""The suite for data to score: derived from the raw-data suite."""

from __future__ import annotations

from typing import Any

from tasks.config import Dataset


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
