"""The suite for data to score: derived from the raw-data suite.

A file to score is refused for what makes it unscorable or not this data set's (a column
missing, a value of another type, rows breaking the suite's rules between columns), not for
values the model has not seen: a value outside the training range or an unseen category is
drift. The live model keeps answering and the drift check counts it (``outside_range``,
``unseen``).
"""

from __future__ import annotations

from typing import Any

from tasks.config import Dataset

# Expectations on a feature's values that training data must meet but data to score need not.
SEEN_VALUES = ("expect_column_values_to_be_between", "expect_column_values_to_be_in_set")


def scoring_suite(suite_json: dict[str, Any], dataset: Dataset, *, with_target: bool) -> dict[str, Any]:
    """The raw-data suite for data to score: the features are required, the target only if
    the file has it, identifiers and any other column (kept in the output) are allowed; the
    features' ranges and sets of values are left to the drift check."""
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
        if exp["type"] in SEEN_VALUES and kwargs.get("column") in dataset.features:
            continue
        expectations.append({**exp, "kwargs": kwargs})
    return {**suite_json, "name": f"{suite_json['name']}_scoring", "expectations": expectations}
