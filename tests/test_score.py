"""The score stage: files dropped in the scoring inbox end as predictions or in quarantine."""

from __future__ import annotations

import io

import pandas as pd
from conftest import csv_bytes, everything, iris_sample

from tasks.stages.score import score_pending


def drop_to_score(store, name: str, data: bytes) -> None:
    store.scoring_inbox.put(name, data)
    assert store.scoring_inbox.claim_named(name) is not None


def test_a_dropped_file_is_scored_by_the_champion_with_every_column_kept(champion):
    store = champion.store
    rows = iris_sample(30, seed=11).drop(columns="target")
    rows.insert(0, "customer", [f"c{i}" for i in range(30)])
    drop_to_score(store, "today.csv", csv_bytes(rows))
    result = score_pending(store, champion.config)
    assert result.failure() is None and result.nothing_new() is None
    (job,) = result.jobs
    scored = pd.read_csv(io.BytesIO(store.predictions.read_output(job["id"])))
    assert list(scored.columns) == [*rows.columns, "prediction", "probability"]
    assert scored["customer"].tolist() == rows["customer"].tolist()
    summary = store.predictions.summary(job["id"])
    assert summary["rows"] == 30 and summary["model_version"] == "v0001" and summary["file"] == "today.csv"
    assert sum(summary["class_counts"].values()) == 30
    assert store.backend.read_bytes(store.predictions.key(job["id"], "original/today.csv")) == csv_bytes(rows)
    assert result.event_extra()["jobs"] == [job["id"]] and result.event_extra()["model_versions"] == ["v0001"]
    assert not [k for k in everything(store) if k.startswith("scoring/")]  # the claim is finished


def test_the_target_column_may_be_present(champion):
    drop_to_score(champion.store, "labelled.csv", csv_bytes(iris_sample(20, seed=12)))
    (job,) = score_pending(champion.store, champion.config).jobs
    scored = pd.read_csv(io.BytesIO(champion.store.predictions.read_output(job["id"])))
    assert (scored["prediction"] == scored["target"]).mean() > 0.8


def test_a_bad_file_is_quarantined_with_its_reason_and_nothing_is_scored(champion):
    store = champion.store
    rows = iris_sample(20, seed=13).drop(columns="target").astype({"petal width (cm)": object})
    rows.loc[3, "petal width (cm)"] = "wide"  # text in a numeric column: unscorable
    drop_to_score(store, "odd.csv", csv_bytes(rows))
    drop_to_score(store, "notes.txt", b"hello")
    result = score_pending(store, champion.config)
    assert not result.jobs and store.predictions.jobs() == []
    reasons = {q["file"]: q["reason"] for q in result.rejections()}
    assert "petal width (cm)" in reasons["odd.csv"]
    assert ".csv" in reasons["notes.txt"]
    assert result.failure().startswith("Every file to score was rejected")
    assert {e["stage"] for e in store.quarantine.entries()} == {"score"}
    assert not [k for k in everything(store) if k.startswith("scoring/")]


def test_values_beyond_the_training_range_are_scored_and_counted_as_drift(champion):
    """The raw-data suite refuses a petal 80 cm wide in a labelled drop; in a file to score
    it is drift: the live model answers and the check counts it."""
    store = champion.store
    rows = iris_sample(20, seed=13).drop(columns="target")
    rows.loc[3, "petal width (cm)"] = 80.0
    drop_to_score(store, "odd.csv", csv_bytes(rows))
    result = score_pending(store, champion.config)
    (job,) = result.jobs
    assert job["rows"] == 20 and not result.rejections()
    (check,) = result.drift
    assert check["scores"]["petal width (cm)"]["outside_range"] == 0.05  # 1 row of 20
    assert check["scores"]["petal width (cm)"]["status"] == "too few rows"  # 20 rows: noise, no alarm


def test_before_any_champion_a_file_is_quarantined_saying_what_to_do(featured):
    drop_to_score(featured.store, "early.csv", csv_bytes(iris_sample(10, seed=14).drop(columns="target")))
    result = score_pending(featured.store, featured.config)
    (rejected,) = result.rejections()
    assert rejected["reason"].startswith("no champion model yet to score with: drop labelled data in the inbox first")


def test_an_unfinished_job_is_cleaned_once_its_claim_is_gone(champion):
    store = champion.store
    store.backend.write_bytes(store.predictions.key("20260101T000000.000-deadbeef", "predictions.csv"), b"half")
    assert store.predictions.unfinished() == ["20260101T000000.000-deadbeef"]
    assert score_pending(store, champion.config).cleaned == ["predictions/20260101T000000.000-deadbeef"]
    assert store.predictions.unfinished() == [] and store.predictions.recent(5) == []
