"""Many small batches in one Great Expectations run (a burst of small files): the union clears
the batches whose own result it proves; every other batch is validated alone."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tasks.quality.contract.suite import ephemeral_context, suite_named

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
    context = ephemeral_context()
    batches = (
        context.data_sources.add_pandas("pandas").add_dataframe_asset("batches").add_batch_definition_whole_dataframe("whole")
    )
    suspects: set[str] = set()
    if together:
        suite = suite_named(context, suite_json, "together", together)
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
    own = suite_named(context, suite_json, "alone", alone)
    return {
        key
        for key in cleared
        if batches.get_batch(batch_parameters={"dataframe": frames[key]}).validate(own, result_format="BOOLEAN_ONLY").success
    }
