"""Evaluate: champion/challenger rules, the report a person opens, the champion pointer."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from conftest import CONFIG_FILE, iris_sample
from tasks.config import load_config
from tasks.evaluation import decide, evaluate_version, read_champion, unevaluated_versions
from tasks.features import build_features
from tasks.ingest import ingest_claimed
from tasks.training import train_model
from tasks.validation import validated_batches


@pytest.fixture
def pipeline(featured):
    """A data set with features built, ready for train and evaluate."""
    return featured


def _train_and_evaluate(d):
    card = train_model(d.raw, d.features, d.models, d.config)
    return evaluate_version(d.models, d.features, d.metrics, card["version"], d.config)


@pytest.mark.parametrize(
    ("challenger", "champion", "tolerance", "promote"),
    [(0.9, None, 0.0, True), (0.95, 0.9, 0.0, True), (0.9, 0.9, 0.0, True), (0.89, 0.9, 0.0, False), (0.89, 0.9, 0.02, True)],
    ids=["first-model", "better", "equal", "worse", "worse-within-tolerance"],
)
def test_promotion_rule(challenger, champion, tolerance, promote):
    assert decide(challenger, champion, metric="f1_macro", tolerance=tolerance)[0] is promote


def test_the_first_model_becomes_champion(pipeline):
    metrics = _train_and_evaluate(pipeline)
    assert metrics["decision"] == "promoted" and "first model" in metrics["reason"]
    assert read_champion(pipeline.models)["version"] == "v0001"


def test_an_equal_challenger_is_promoted_and_a_worse_one_is_not(pipeline):
    _train_and_evaluate(pipeline)
    equal = _train_and_evaluate(pipeline)  # same data, same seed: same scores
    assert equal["decision"] == "promoted" and equal["champion"]["version"] == "v0001"
    # A batch with labels scrambled across classes (valid for the suite) makes a worse model.
    noisy = iris_sample(600, seed=11)
    noisy["target"] = noisy["target"].sample(frac=1.0, random_state=3).to_numpy()
    path = pipeline.claimed / "20260101T000000-deadbeef__scrambled.csv"
    path.write_text(noisy.to_csv(index=False))
    ingest_claimed(pipeline.claimed, pipeline.raw, pipeline.archive, pipeline.quarantine)
    for b in pipeline.raw.iterdir():
        (b / "validation.json").write_text("{}")
    build_features(pipeline.raw, pipeline.features, validated_batches(pipeline.raw), test_size=0.2, seed=42)
    worse = _train_and_evaluate(pipeline)
    assert worse["decision"] == "rejected", worse["reason"]
    assert worse["challenger"]["f1_macro"] < worse["champion"]["f1_macro"]
    assert read_champion(pipeline.models)["version"] == "v0002"
    assert (pipeline.models / "v0003" / "model.joblib").is_file()  # rejected, kept
    assert json.loads((pipeline.models / "v0003" / "evaluation.json").read_text())["decision"] == "rejected"


def test_a_corrupted_champion_pointer_does_not_block_the_pipeline(pipeline):
    _train_and_evaluate(pipeline)
    (pipeline.models / "champion.json").write_text("{not json")
    metrics = _train_and_evaluate(pipeline)
    assert metrics["decision"] == "promoted" and "unreadable" in metrics["reason"]
    assert read_champion(pipeline.models)["version"] == "v0002"


def test_a_tampered_champion_is_not_loaded_and_is_replaced(pipeline):
    _train_and_evaluate(pipeline)
    model = pipeline.models / "v0001" / "model.joblib"
    model.write_bytes(b"not what was trained")
    metrics = _train_and_evaluate(pipeline)
    assert "could not be loaded" in metrics["reason"] and "does not match" in metrics["reason"]
    assert read_champion(pipeline.models)["version"] == "v0002"


def test_every_run_writes_metrics_plot_and_a_self_contained_report(pipeline):
    metrics = _train_and_evaluate(pipeline)
    out = pipeline.metrics / "v0001"
    assert sorted(p.name for p in out.iterdir()) == ["confusion_matrix.png", "metrics.json", "report.html"]
    assert (out / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk["challenger"]["f1_macro"] == metrics["challenger"]["f1_macro"]
    assert set(on_disk["challenger"]["per_class"]) == {"setosa", "versicolor", "virginica"}
    html = (out / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "report must not load anything from the network"
    assert "data:image/png;base64," in html and "Decision: promoted &mdash; first model" in html
    assert (pipeline.metrics / "latest").resolve() == out.resolve()


def test_scores_match_scikit_learn(pipeline):
    from sklearn.metrics import f1_score

    from tasks.features import current_folder, load_split
    from tasks.training import load_model

    metrics = _train_and_evaluate(pipeline)
    X, y = load_split(current_folder(pipeline.features), "test")
    expected = f1_score(y, load_model(pipeline.models, "v0001").predict(X), average="macro")
    assert metrics["challenger"]["f1_macro"] == pytest.approx(expected)
    assert isinstance(X, pd.DataFrame) and metrics["test_rows"] == len(y) == 30


def test_a_version_is_pending_until_it_is_evaluated(pipeline):
    train_model(pipeline.raw, pipeline.features, pipeline.models, pipeline.config)
    train_model(pipeline.raw, pipeline.features, pipeline.models, pipeline.config)
    assert unevaluated_versions(pipeline.models) == ["v0001", "v0002"]
    evaluate_version(pipeline.models, pipeline.features, pipeline.metrics, "v0001", pipeline.config)
    assert unevaluated_versions(pipeline.models) == ["v0002"]
