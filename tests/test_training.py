"""Train: immutable versions, lineage in model.json, integrity-checked loading, config-driven model."""

from __future__ import annotations

import dataclasses
import json

import pytest

from conftest import CONFIG_FILE
from tasks.config import load_config
from tasks.training import (ModelIntegrityError, cap_rows, features_are_current, list_versions, load_model, make_pipeline, train_model,
                            version_on_current_features)


@pytest.fixture
def seeded(featured):
    return featured


def test_each_run_writes_a_new_version_and_never_overwrites(seeded):
    config = load_config(CONFIG_FILE)
    first = train_model(seeded.raw, seeded.features, seeded.models, config)
    before = (seeded.models / "v0001" / "model.joblib").read_bytes()
    second = train_model(seeded.raw, seeded.features, seeded.models, config)
    assert (first["version"], second["version"]) == ("v0001", "v0002")
    assert list_versions(seeded.models) == ["v0001", "v0002"]
    assert (seeded.models / "v0001" / "model.joblib").read_bytes() == before


def test_model_card_records_lineage_and_versions(seeded):
    card = train_model(seeded.raw, seeded.features, seeded.models, load_config(CONFIG_FILE))
    on_disk = json.loads((seeded.models / card["version"] / "model.json").read_text())
    assert on_disk == json.loads(json.dumps(card))
    (batch,) = on_disk["training_batches"]
    assert batch["rows"] == 150 and len(batch["sha256"]) == 64
    assert on_disk["rows_train"] == 120 and on_disk["params"]["n_estimators"] == 100
    assert {"python", "scikit-learn", "pandas", "numpy", "joblib"} <= set(on_disk["libraries"])


def test_same_config_same_data_same_predictions(seeded):
    import pandas as pd

    config = load_config(CONFIG_FILE)
    a, b = (train_model(seeded.raw, seeded.features, seeded.models, config)["version"] for _ in range(2))
    X = pd.read_parquet(next(seeded.features.glob("f-*")) / "test.parquet").drop(columns="target")
    assert (load_model(seeded.models, a).predict_proba(X) == load_model(seeded.models, b).predict_proba(X)).all()


def test_a_tampered_model_file_is_refused_before_unpickling(seeded):
    card = train_model(seeded.raw, seeded.features, seeded.models, load_config(CONFIG_FILE))
    path = seeded.models / card["version"] / "model.joblib"
    path.write_bytes(path.read_bytes() + b"tampered")
    with pytest.raises(ModelIntegrityError, match="does not match"):
        load_model(seeded.models, card["version"])


def test_the_config_file_switches_the_estimator(tmp_path, seeded):
    config_file = tmp_path / "pipeline.toml"
    config_file.write_text(
        CONFIG_FILE.read_text().replace('"sklearn.ensemble.RandomForestClassifier"', '"sklearn.linear_model.LogisticRegression"')
        .replace("n_estimators = 100\n", "C = 0.5\nmax_iter = 500\n").replace("n_jobs = 2\n", "")
    )
    config = load_config(config_file)
    assert type(make_pipeline(config).named_steps["model"]).__name__ == "LogisticRegression"
    card = train_model(seeded.raw, seeded.features, seeded.models, config)
    assert card["estimator"].endswith("LogisticRegression") and card["params"]["C"] == 0.5
    assert type(load_model(seeded.models, card["version"]).named_steps["model"]).__name__ == "LogisticRegression"


def test_only_scikit_learn_estimators_are_accepted():
    config = dataclasses.replace(load_config(CONFIG_FILE), estimator="os.system")
    with pytest.raises(ValueError, match="scikit-learn"):
        make_pipeline(config)


def test_row_cap_is_a_stratified_sample(iris):
    X, y = iris.drop(columns="target"), iris["target"]
    X_s, y_s = cap_rows(X, y, 30, seed=1)
    assert len(X_s) == 30 and y_s.value_counts().to_dict() == {0: 10, 1: 10, 2: 10}
    assert cap_rows(X, y, 0, seed=1)[0] is X


def test_a_model_knows_whether_it_was_trained_on_the_current_features(seeded):
    from conftest import iris_sample
    from tasks.features import build_features
    from tasks.ingest import DATA_FILE, MANIFEST

    assert version_on_current_features(seeded.models, seeded.features) is None  # no model yet
    card = train_model(seeded.raw, seeded.features, seeded.models, seeded.config)
    assert features_are_current(seeded.features, card)
    assert version_on_current_features(seeded.models, seeded.features) == card["version"]
    (seeded.raw / "b-new").mkdir()
    iris_sample(30, seed=1).to_parquet(seeded.raw / "b-new" / DATA_FILE)
    (seeded.raw / "b-new" / MANIFEST).write_text('{"ingested_at": "2099-01-01T00:00:00+00:00"}')
    (seeded.raw / "b-new" / "validation.json").write_text("{}")
    build_features(seeded.raw, seeded.features, [p.name for p in seeded.raw.iterdir()], test_size=0.2, seed=42)
    assert not features_are_current(seeded.features, card)
    assert version_on_current_features(seeded.models, seeded.features) is None
