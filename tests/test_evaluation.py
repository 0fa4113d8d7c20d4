"""Evaluate: champion/challenger rules, the report a person opens, the champion pointer."""

from __future__ import annotations

import json
import re

import pytest
from conftest import csv_bytes, iris_sample

from tasks.stages.evaluate import decide, evaluate_pending, evaluate_version
from tasks.stages.ingest import ingest
from tasks.stages.split import build_features
from tasks.stages.train import train


def _train_and_evaluate(d, *, force: bool = False) -> dict:
    if force:  # same features, new version (as after a config change)
        last = d.store.registry.versions()[-1]
        d.store.backend.write_json(f"models/{last}/model.json", {**d.store.registry.card(last), "features": "f-other"})
    card = train(d.store, d.config).card
    return evaluate_version(d.store, card["version"], d.config)


@pytest.mark.parametrize(
    ("challenger", "champion", "tolerance", "promote"),
    [(0.9, None, 0.0, True), (0.95, 0.9, 0.0, True), (0.9, 0.9, 0.0, True), (0.89, 0.9, 0.0, False), (0.89, 0.9, 0.02, True)],
    ids=["first-model", "better", "equal", "worse", "worse-within-tolerance"],
)
def test_promotion_rule(challenger, champion, tolerance, promote):
    assert decide(challenger, champion, metric="f1_macro", tolerance=tolerance)[0] is promote


def test_the_first_model_becomes_champion(featured):
    metrics = _train_and_evaluate(featured)
    assert metrics["decision"] == "promoted" and "first model" in metrics["reason"]
    assert featured.store.registry.champion()["version"] == "v0001"


def test_an_equal_challenger_is_promoted_and_a_worse_one_is_not(featured):
    store = featured.store
    _train_and_evaluate(featured)
    equal = _train_and_evaluate(featured, force=True)  # same data, same seed: same scores
    assert equal["decision"] == "promoted" and equal["champion"]["version"] == "v0001"
    # A batch with labels scrambled across classes (valid for the suite) makes a worse model.
    noisy = iris_sample(600, seed=11)
    noisy["target"] = noisy["target"].sample(frac=1.0, random_state=3).to_numpy()
    store.inbox.add_claimed("scrambled.csv", csv_bytes(noisy))
    (batch,) = ingest(store).new_batches
    store.batches.mark_validated(batch["batch_id"], {})
    build_features(store, featured.config)
    worse = _train_and_evaluate(featured)
    assert worse["decision"] == "rejected", worse["reason"]
    assert worse["challenger"]["f1_macro"] < worse["champion"]["f1_macro"]
    assert store.registry.champion()["version"] == "v0002"
    assert store.backend.exists("models/v0003/model.joblib")  # rejected, kept
    assert store.registry.evaluation("v0003")["decision"] == "rejected"


def test_a_corrupted_champion_pointer_does_not_block_the_pipeline(featured):
    _train_and_evaluate(featured)
    featured.store.backend.write_bytes("models/champion.json", b"{not json")
    metrics = _train_and_evaluate(featured, force=True)
    assert metrics["decision"] == "promoted" and "unreadable" in metrics["reason"]
    assert featured.store.registry.champion()["version"] == "v0002"


def test_a_tampered_champion_is_not_loaded_and_is_replaced(featured):
    _train_and_evaluate(featured)
    featured.store.backend.write_bytes("models/v0001/model.joblib", b"not what was trained")
    metrics = _train_and_evaluate(featured, force=True)
    assert "could not be loaded" in metrics["reason"] and "does not match" in metrics["reason"]
    assert featured.store.registry.champion()["version"] == "v0002"


def test_every_run_writes_metrics_a_plot_and_a_self_contained_report(featured):
    store = featured.store
    metrics = _train_and_evaluate(featured)
    for folder in ("v0001", "latest"):
        assert sorted(store.backend.children(f"metrics/{folder}")) == ["confusion_matrix.png", "metrics.json", "report.html"]
    assert store.reports.file("v0001", "confusion_matrix.png")[:8] == b"\x89PNG\r\n\x1a\n"
    stored = store.reports.metrics("v0001")
    assert stored["challenger"]["f1_macro"] == metrics["challenger"]["f1_macro"] and store.reports.metrics() == stored
    assert set(stored["challenger"]["per_class"]) == {"setosa", "versicolor", "virginica"}
    html = store.reports.file("latest", "report.html").decode()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "report must not load anything from the network"
    assert "data:image/png;base64," in html and "Decision: promoted &mdash; first model" in html


def test_scores_match_scikit_learn(featured):
    from sklearn.metrics import f1_score

    metrics = _train_and_evaluate(featured)
    test = featured.store.features.read(featured.store.features.current(), "test")
    X, y = test.drop(columns="target"), test["target"]
    expected = f1_score(y, featured.store.registry.load("v0001").predict(X), average="macro")
    assert metrics["challenger"]["f1_macro"] == pytest.approx(expected)
    assert metrics["test_rows"] == len(y) == metrics["test_rows_available"] == 30
    assert metrics["test_sample"] == "every held-out row"


def test_evaluation_on_a_bounded_sample_says_so(featured):
    import dataclasses

    config = dataclasses.replace(featured.config, max_eval_rows=12)
    train(featured.store, config)
    (metrics,) = evaluate_pending(featured.store, config).judged
    assert metrics["test_rows"] == 12 and metrics["test_rows_available"] == 30
    assert sum(metrics["challenger"]["confusion_matrix"][0]) == 4  # stratified: 4 of each class
    assert "stratified sample, max_eval_rows 12" in featured.store.reports.file("latest", "report.html").decode()


def test_a_version_is_pending_until_it_is_evaluated(featured):
    train(featured.store, featured.config)
    featured.store.backend.write_json("models/v0001/model.json", {**featured.store.registry.card("v0001"), "features": "f-other"})
    train(featured.store, featured.config)
    assert featured.store.registry.unevaluated() == ["v0001", "v0002"]
    result = evaluate_pending(featured.store, featured.config)
    assert [m["version"] for m in result.judged] == ["v0001", "v0002"] and result.event_extra()["version"] == "v0002"
    assert featured.store.registry.unevaluated() == [] and evaluate_pending(featured.store, featured.config).nothing_new()


def test_a_legacy_latest_symlink_is_replaced_not_written_through(tmp_path, config):
    """Data folders from before the store had metrics/latest as a symlink to a version."""
    from tasks.store import open_store

    store = open_store(str(tmp_path / "data"))
    (tmp_path / "data" / "metrics" / "v0001").mkdir(parents=True)
    (tmp_path / "data" / "metrics" / "v0001" / "metrics.json").write_text(json.dumps({"version": "v0001"}))
    (tmp_path / "data" / "metrics" / "latest").symlink_to("v0001", target_is_directory=True)
    store.reports.publish("v0002", {"version": "v0002"}, {"report.html": b"<html></html>"})
    assert not (tmp_path / "data" / "metrics" / "latest").is_symlink()
    assert store.reports.metrics("v0001") == {"version": "v0001"} and store.reports.metrics() == {"version": "v0002"}
