"""The Great Expectations gate: the suite loads as written, iris passes, every bad input is
quarantined with a reason that names the problem, and a validated batch is never validated again."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import SUITE_FILE, iris_sample
from tasks.ingest import ingest_claimed, list_batches
from tasks.schema import COLUMNS
from tasks.validation import SuiteLoadError, build_suite, gate_pending_batches, load_suite_json, validate_frame, validated_batches


def test_every_expectation_in_the_file_loads_and_explains_itself():
    suite_json = load_suite_json(SUITE_FILE)
    suite = build_suite(suite_json)
    assert len(suite.expectations) == len(suite_json["expectations"]) >= 15
    assert all(e.get("meta", {}).get("intent") for e in suite_json["expectations"])


def test_a_suite_with_an_unknown_expectation_is_refused():
    suite_json = load_suite_json(SUITE_FILE)
    suite_json["expectations"].append({"type": "expect_column_values_to_be_shiny", "kwargs": {"column": "target"}})
    with pytest.raises(SuiteLoadError):
        build_suite(suite_json)


def test_the_iris_seed_passes(iris):
    outcome = validate_frame(iris, load_suite_json(SUITE_FILE))
    assert outcome.success, outcome.reason
    assert outcome.checks_run == len(load_suite_json(SUITE_FILE)["expectations"])


def _frame_csv(frame) -> str:
    return frame.to_csv(index=False)


def _bad_cases() -> dict[str, tuple[str, str]]:
    good = iris_sample(40, seed=7)
    cases: dict[str, tuple[str, str]] = {}
    cases["missing-column"] = (_frame_csv(good.drop(columns=["petal width (cm)"])), "missing ['petal width (cm)']")
    cases["extra-column"] = (_frame_csv(good.assign(colour="blue")), "unexpected ['colour']")
    cases["renamed-column"] = (_frame_csv(good.rename(columns={"sepal length (cm)": "sepal_length"})), "missing ['sepal length (cm)']")
    cases["reordered-columns"] = (_frame_csv(good[COLUMNS[::-1]]), "wrong order")
    nans = good.copy()
    nans.loc[[1, 5], "sepal width (cm)"] = np.nan
    cases["nans"] = (_frame_csv(nans), "'sepal width (cm)' has 2 empty value")
    text = good.astype({"petal length (cm)": object})
    text.loc[3, "petal length (cm)"] = "4,5cm"
    cases["string-in-numeric"] = (_frame_csv(text).replace('"4,5cm"', "4.5cm"), "'petal length (cm)' has type str")
    neg = good.copy()
    neg.loc[0, "sepal length (cm)"] = -5.1
    cases["negative"] = (_frame_csv(neg), "'sepal length (cm)' has 1 value(s) outside")
    absurd = good.copy()
    absurd.loc[2, "petal width (cm)"] = 9999.0
    cases["absurd"] = (_frame_csv(absurd), "'petal width (cm)' has 1 value(s) outside")
    labels = good.copy()
    labels.loc[[0, 1], "target"] = 7
    cases["unknown-label"] = (_frame_csv(labels), "'target' has 2 value(s) not in [0, 1, 2]")
    names = good.astype({"target": object})
    names["target"] = "setosa"
    cases["label-names"] = (_frame_csv(names), "'target' has type str")
    stray = _frame_csv(good)
    cases["stray-header-row"] = (stray + stray, "has type str")
    return cases


def _run_gate(dirs, name: str, content: str | bytes):
    path = dirs.claimed / f"20260101T000000-abcdef12__{name}"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    ingest = ingest_claimed(dirs.claimed, dirs.raw, dirs.archive, dirs.quarantine, seed_if_empty=False)
    gate = gate_pending_batches(dirs.raw, dirs.archive, dirs.quarantine, SUITE_FILE)
    return ingest, gate


@pytest.mark.parametrize("case", list(_bad_cases()))
def test_bad_batches_are_quarantined_with_a_reason_naming_the_problem(dirs, case):
    content, expected = _bad_cases()[case]
    ingest, gate = _run_gate(dirs, f"{case}.csv", content)
    assert gate.passed == [] and list_batches(dirs.raw) == []
    (q,) = gate.quarantined
    folder = dirs.quarantine / q["quarantine_id"]
    reason = json.loads((folder / "reason.json").read_text())
    assert expected in reason["reason"], reason["reason"]
    assert reason["stage"] == "validation" and reason["checks_failed"] >= 1
    assert all(f["problem"] and f["why_it_matters"] for f in reason["failed_expectations"])
    assert (folder / f"{case}.csv").read_bytes() == (content.encode() if isinstance(content, str) else content)
    assert json.loads((folder / "gx_result.json").read_text())["success"] is False
    assert (folder / "data_docs" / "index.html").is_file()
    assert not any(dirs.archive.iterdir())  # the original moved with its batch


def test_a_mixed_drop_quarantines_the_bad_and_passes_the_good(dirs):
    good, (bad, _) = iris_sample(30, seed=8), _bad_cases()["unknown-label"]
    (dirs.claimed / "20260101T000000-00000001__good.csv").write_text(_frame_csv(good))
    (dirs.claimed / "20260101T000000-00000002__bad.csv").write_text(bad)
    ingest_claimed(dirs.claimed, dirs.raw, dirs.archive, dirs.quarantine, seed_if_empty=False)
    gate = gate_pending_batches(dirs.raw, dirs.archive, dirs.quarantine, SUITE_FILE)
    assert [p["file"] for p in gate.passed] == ["good.csv"]
    assert [q["file"] for q in gate.quarantined] == ["bad.csv"]
    assert validated_batches(dirs.raw) == [gate.passed[0]["batch_id"]]


def test_a_validated_batch_is_never_validated_again(dirs):
    _run_gate(dirs, "good.csv", _frame_csv(iris_sample(30, seed=9)))
    again = gate_pending_batches(dirs.raw, dirs.archive, dirs.quarantine, SUITE_FILE)
    assert again.passed == [] and again.quarantined == []


def test_a_bad_file_dropped_again_is_recognised(dirs):
    content, _ = _bad_cases()["negative"]
    _run_gate(dirs, "bad.csv", content)
    ingest, _ = _run_gate(dirs, "bad-again.csv", content)
    (q,) = ingest.quarantined
    assert "already quarantined" in q["reason"]
