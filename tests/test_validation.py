"""The Great Expectations gate: the suite loads as written, iris passes, every bad input is
quarantined with a reason that names the problem, and a validated batch is never validated again."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import CONFIG_FILE, IRIS_COLUMNS, SUITE_FILE, csv_bytes, everything, iris_sample

from tasks.config import load_config
from tasks.quality.contract import SuiteLoadError, build_suite, load_suite_json, passing_together, validate_frame
from tasks.stages.ingest import ingest
from tasks.stages.validate import validate_pending

CONFIG = load_config(CONFIG_FILE)


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
    outcome = validate_frame(iris, load_suite_json(SUITE_FILE), CONFIG.dataset)
    assert outcome.success, outcome.reason
    assert outcome.checks_run == len(load_suite_json(SUITE_FILE)["expectations"])


def test_gx_does_not_hash_the_whole_frame_it_checks(iris):
    # GX's md5 of every row is a quarter of a big batch's gate; this fails if an upgrade
    # computes it again (HASH_THRESHOLD renamed or its test moved).
    outcome = validate_frame(iris, load_suite_json(SUITE_FILE), CONFIG.dataset)
    assert outcome.success, outcome.reason
    markers = outcome.gx_result["meta"]["batch_markers"]
    assert "ge_load_time" in markers and "pandas_data_fingerprint" not in markers


def _bad_cases() -> dict[str, tuple[bytes, str]]:
    good = iris_sample(40, seed=7)
    cases: dict[str, tuple[bytes, str]] = {}
    cases["missing-column"] = (csv_bytes(good.drop(columns=["petal width (cm)"])), "missing ['petal width (cm)']")
    cases["extra-column"] = (csv_bytes(good.assign(colour="blue")), "unexpected ['colour']")
    cases["renamed-column"] = (
        csv_bytes(good.rename(columns={"sepal length (cm)": "sepal_length"})),
        "missing ['sepal length (cm)']",
    )
    nans = good.copy()
    nans.loc[[1, 5], "sepal width (cm)"] = np.nan
    cases["nans"] = (csv_bytes(nans), "'sepal width (cm)' has 2 empty value")
    text = good.astype({"petal length (cm)": object})
    text.loc[3, "petal length (cm)"] = "4,5cm"
    cases["string-in-numeric"] = (csv_bytes(text).replace(b'"4,5cm"', b"4.5cm"), "'petal length (cm)' has type str")
    neg = good.copy()
    neg.loc[0, "sepal length (cm)"] = -5.1
    cases["negative"] = (csv_bytes(neg), "'sepal length (cm)' has 1 value(s) outside")
    absurd = good.copy()
    absurd.loc[2, "petal width (cm)"] = 9999.0
    cases["absurd"] = (csv_bytes(absurd), "'petal width (cm)' has 1 value(s) outside")
    labels = good.copy()
    labels.loc[[0, 1], "target"] = 7
    cases["unknown-label"] = (csv_bytes(labels), "'target' has 2 value(s) not in [0, 1, 2], e.g. ['7'] (row(s) 2, 3 of the file)")
    names = good.astype({"target": object})
    names["target"] = "setosa"
    cases["label-names"] = (csv_bytes(names), "'target' has type str")
    stray = csv_bytes(good)
    cases["stray-header-row"] = (stray + stray, "has type str")
    return cases


def _run_gate(store, name: str, content: bytes):
    store.inbox.add_claimed(name, content)
    return ingest(store), validate_pending(store, CONFIG)


@pytest.mark.parametrize("case", list(_bad_cases()))
def test_bad_batches_are_quarantined_with_a_reason_naming_the_problem(store, case):
    content, expected = _bad_cases()[case]
    _, gate = _run_gate(store, f"{case}.csv", content)
    assert gate.passed == [] and store.batches.committed() == []
    assert gate.failure() and expected in gate.failure()
    (q,) = gate.quarantined
    reason = store.quarantine.reason(q["quarantine_id"])
    assert expected in reason["reason"], reason["reason"]
    assert reason["stage"] == "validation" and reason["checks_failed"] >= 1
    assert all(f["problem"] and f["why_it_matters"] for f in reason["failed_expectations"])
    folder = f"quarantine/{q['quarantine_id']}"
    assert store.backend.read_bytes(f"{folder}/original/{case}.csv") == content
    assert json.loads(store.backend.read_bytes(f"{folder}/gx_result.json"))["success"] is False
    assert reason["data_docs"].startswith("data_docs/validations/") and store.backend.exists(f"{folder}/{reason['data_docs']}")
    assert store.backend.exists(f"{folder}/batch/data.parquet")
    assert not any(k.startswith(("raw/", "archive/")) for k in everything(store))  # moved out, nothing left behind


def test_columns_in_another_order_pass_the_gate(store):
    _, gate = _run_gate(store, "reordered.csv", csv_bytes(iris_sample(40, seed=7)[IRIS_COLUMNS[::-1]]))
    assert [p["file"] for p in gate.passed] == ["reordered.csv"] and gate.quarantined == []


def test_the_seaborn_export_is_told_both_fixes():
    frame = iris_sample(40, seed=3)
    frame = frame.assign(species=frame["target"].map({0: "setosa", 1: "versicolor", 2: "virginica"})).drop(columns="target")
    outcome = validate_frame(frame, load_suite_json(SUITE_FILE), CONFIG.dataset)
    assert outcome.fixes == [
        "rename column 'species' to 'target'",
        "write the classes as their codes, not names: setosa=0, versicolor=1, virginica=2",
    ]


def test_a_mixed_drop_quarantines_the_bad_and_passes_the_good(store):
    bad, _ = _bad_cases()["unknown-label"]
    store.inbox.add_claimed("good.csv", csv_bytes(iris_sample(30, seed=8)))
    store.inbox.add_claimed("bad.csv", bad)
    ingest(store)
    gate = validate_pending(store, CONFIG)
    assert [p["file"] for p in gate.passed] == ["good.csv"] and [q["file"] for q in gate.quarantined] == ["bad.csv"]
    assert gate.failure() is None  # something passed: the run goes on
    assert [m["batch_id"] for m in store.batches.validated()] == [gate.passed[0]["batch_id"]]


def test_in_a_burst_each_bad_batch_gets_the_reason_it_gets_alone(store):
    """Small batches share one GX run; a bad one among them is still judged alone, exactly."""
    cases = _bad_cases()
    for i in range(6):
        store.inbox.add_claimed(f"good-{i}.csv", csv_bytes(iris_sample(30, seed=20 + i)))
    for case, (content, _) in cases.items():
        store.inbox.add_claimed(f"{case}.csv", content)
    ingest(store)
    gate = validate_pending(store, CONFIG)
    assert sorted(p["file"] for p in gate.passed) == [f"good-{i}.csv" for i in range(6)]
    reasons = {q["file"]: q["reason"] for q in gate.quarantined}
    assert set(reasons) == {f"{case}.csv" for case in cases}
    for case, (_, expected) in cases.items():
        assert expected in reasons[f"{case}.csv"], (case, reasons[f"{case}.csv"])
    assert {store.batches.validation(p["batch_id"])["gx_run"] for p in gate.passed} == {"together"}


def _with_row_count_and_mean(suite_json: dict) -> dict:
    """The iris suite plus two checks about a whole batch, which one run on a union cannot prove."""
    expectations = [
        {**e, "kwargs": {**e["kwargs"], "min_value": 10}} if e["type"] == "expect_table_row_count_to_be_between" else e
        for e in suite_json["expectations"]
    ]
    mean = {
        "type": "expect_column_mean_to_be_between",
        "kwargs": {"column": "sepal length (cm)", "min_value": 5.5, "max_value": 7},
    }
    return {**suite_json, "expectations": [*expectations, mean]}


def test_one_run_for_many_batches_clears_only_batches_that_pass_alone():
    suite_json = _with_row_count_and_mean(load_suite_json(SUITE_FILE))
    frames = {f"good-{i}": iris_sample(30, seed=40 + i) for i in range(5)}
    frames["too-short"] = iris_sample(5, seed=50)  # every row fine, the batch too small
    setosa = iris_sample(150, seed=51)
    frames["low-mean"] = setosa[setosa["target"] == 0].head(30).reset_index(drop=True)  # rows fine, mean below 5.5
    one_pair = iris_sample(30, seed=52)
    one_pair.loc[0, "petal length (cm)"] = 9.9  # 1 of 30 rows breaks a 'mostly 0.95' pair check: passes alone
    frames["one-pair-row"] = one_pair
    many_pairs = iris_sample(30, seed=53)
    many_pairs.loc[:3, "petal length (cm)"] = 9.9  # 4 of 30: fails alone
    frames["many-pair-rows"] = many_pairs
    frames["float-target"] = iris_sample(30, seed=54).astype({"target": "float64"})  # another schema
    alone = {key for key, frame in frames.items() if validate_frame(frame, suite_json, CONFIG.dataset).success}
    assert alone == {*(f"good-{i}" for i in range(5)), "one-pair-row"}
    # The union clears every clean batch and nothing that fails alone; a batch with a failing
    # row that passes alone ('mostly') is left to be judged alone.
    assert passing_together(frames, suite_json) == {f"good-{i}" for i in range(5)}


def test_a_validated_batch_is_never_validated_again(store):
    _run_gate(store, "good.csv", csv_bytes(iris_sample(30, seed=9)))
    again = validate_pending(store, CONFIG)
    assert again.passed == [] and again.quarantined == []


def test_a_bad_file_dropped_again_is_recognised(store):
    content, _ = _bad_cases()["negative"]
    _run_gate(store, "bad.csv", content)
    ingest_result, _ = _run_gate(store, "bad-again.csv", content)
    (q,) = ingest_result.quarantined
    assert "already quarantined" in q["reason"]


# The mistakes people make most, each with the cause first and the fix spelled out.
ROOT_CAUSES = {
    "renamed": (
        lambda f: f.rename(columns={"petal width (cm)": "petal_width"}),
        "columns do not match: missing ['petal width (cm)'], unexpected ['petal_width']",
        "rename column 'petal_width' to 'petal width (cm)'",
    ),
    "id-column": (
        lambda f: f.assign(id=range(len(f)))[["id", *IRIS_COLUMNS]],
        "columns do not match: unexpected ['id']",
        "remove the extra column(s) ['id']",
    ),
    "class-names": (
        lambda f: f.assign(target=f["target"].map({0: "setosa", 1: "versicolor", 2: "virginica"})),
        "column 'target' has type str",
        "write the classes as their codes, not names: setosa=0, versicolor=1, virginica=2",
    ),
    "seaborn-species-column": (
        lambda f: f.assign(species=f["target"].map({0: "setosa", 1: "versicolor", 2: "virginica"})).drop(columns="target"),
        "columns do not match: missing ['target'], unexpected ['species']",
        "rename column 'species' to 'target'",
    ),
    "classes-in-another-column": (
        lambda f: f.rename(columns={"target": "label"}),
        "columns do not match: missing ['target'], unexpected ['label']",
        "rename column 'label' to 'target'",
    ),
    "decimal-commas": (
        lambda f: f.astype({c: str for c in IRIS_COLUMNS[:4]}).replace(r"\.", ",", regex=True),
        "column 'sepal length (cm)' has type str",
        "the numbers use decimal commas",
    ),
}


@pytest.mark.parametrize("case", list(ROOT_CAUSES))
def test_the_reason_leads_with_the_root_cause_and_says_how_to_fix_it(case):
    change, cause, fix = ROOT_CAUSES[case]
    outcome = validate_frame(change(iris_sample(40, seed=3)), load_suite_json(SUITE_FILE), CONFIG.dataset)
    assert not outcome.success
    assert outcome.reason.split(": ", 1)[1].startswith(cause), outcome.reason
    assert any(f.startswith(fix) for f in outcome.fixes) and fix in outcome.reason.split(". Fix: ", 1)[1]
    # Knock-on failures come after every root cause, each saying what caused it.
    flags = [bool(p.get("caused_by")) for p in outcome.problems]
    assert flags == sorted(flags)


def test_knock_on_failures_of_a_missing_column_are_folded_under_it():
    outcome = validate_frame(
        iris_sample(40, seed=3).rename(columns={"petal width (cm)": "petal_width"}), load_suite_json(SUITE_FILE), CONFIG.dataset
    )
    (cause,) = outcome.causes
    assert cause["expectation"] == "expect_table_columns_to_match_set"
    assert len(outcome.problems) > 1 and all("petal width (cm)" in p["caused_by"] for p in outcome.problems[1:])
    assert f"(and {len(outcome.problems) - 1} check(s) that failed because of it)" in outcome.reason


def test_the_data_docs_pages_are_self_contained(store):
    """Styles inline and the logo a data URI: a sandboxed page can fetch nothing (tasks.quality.data_docs)."""
    import re

    _, gate = _run_gate(store, "bad.csv", _bad_cases()["negative"][0])
    folder = f"quarantine/{gate.quarantined[0]['quarantine_id']}"
    pages = [k for k in everything(store) if k.startswith(f"{folder}/data_docs/")]
    assert pages and all(k.endswith(".html") for k in pages)  # no static/ folder left
    for key in pages:
        html = store.backend.read_bytes(key).decode()
        assert "getbootstrap" in html or ".btn{" in html.replace(" ", "")  # Bootstrap's stylesheet, inline
        loads = re.findall(r'<link[^>]+href="([^"]+)"|<script[^>]+src="([^"]+)"|<img[^>]+src="([^"]+)"', html)
        assert [u for u in map("".join, loads) if not u.startswith("data:")] == [], key


def test_a_quarantine_file_is_served_only_from_inside_its_entry(store):
    _, gate = _run_gate(store, "bad.csv", _bad_cases()["negative"][0])
    qid = gate.quarantined[0]["quarantine_id"]
    assert store.quarantine.file(qid, "original/bad.csv") == _bad_cases()["negative"][0]
    for name in ("../../models/champion.json", "data_docs/../../x", "", "/etc/passwd", "batch", "data_docs", "original"):
        with pytest.raises(FileNotFoundError):
            store.quarantine.file(qid, name)
    with pytest.raises(FileNotFoundError):
        store.quarantine.file("no-such-entry", "reason.json")
    for name in ("bad\x00.csv", "x\n", "data_docs/\x7f"):
        with pytest.raises(ValueError):
            store.quarantine.file(qid, name)
    with pytest.raises(ValueError):
        store.quarantine.file(qid + "\x00", "reason.json")
