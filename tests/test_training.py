"""Train: immutable versions, lineage in model.json, integrity-checked loading, config-driven model."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from conftest import CONFIG_FILE, csv_bytes, iris_config_text, iris_sample

from tasks.config import load_config
from tasks.ml.modeling import make_pipeline
from tasks.stages.ingest import ingest
from tasks.stages.split import build_features
from tasks.stages.train import train, version_already_trained
from tasks.store.registry import ModelIntegrityError


def _retrain(d):
    """Train again on the same features (as after a config change)."""
    versions = d.store.registry.versions()
    card = d.store.registry.card(versions[-1])
    d.store.backend.write_json(f"models/{versions[-1]}/model.json", {**card, "features": "f-other"})
    return train(d.store, d.config).card


def test_each_run_writes_a_new_version_and_never_overwrites(featured):
    first = train(featured.store, featured.config).card
    before = featured.store.backend.read_bytes("models/v0001/model.joblib")
    second = _retrain(featured)
    assert (first["version"], second["version"]) == ("v0001", "v0002")
    assert featured.store.registry.versions() == ["v0001", "v0002"]
    assert featured.store.backend.read_bytes("models/v0001/model.joblib") == before


def test_the_model_card_records_lineage_and_library_versions(featured):
    card = train(featured.store, featured.config).card
    stored = featured.store.registry.card(card["version"])
    assert stored == card
    (batch,) = stored["training_batches"]
    assert batch["rows"] == 150 and len(batch["sha256"]) == 64
    assert stored["rows_train"] == 120 and stored["params"]["n_estimators"] == 100
    assert {"python", "scikit-learn", "pandas", "numpy", "joblib"} <= set(stored["libraries"])


def test_same_config_same_data_same_predictions(featured):
    a = train(featured.store, featured.config).card["version"]
    b = _retrain(featured)["version"]
    X = featured.store.features.read(featured.store.features.current(), "test").drop(columns="target")
    registry = featured.store.registry
    assert (registry.load(a).predict_proba(X) == registry.load(b).predict_proba(X)).all()


def test_a_tampered_model_file_is_refused_before_unpickling(featured):
    card = train(featured.store, featured.config).card
    key = f"models/{card['version']}/model.joblib"
    featured.store.backend.write_bytes(key, featured.store.backend.read_bytes(key) + b"tampered")
    with pytest.raises(ModelIntegrityError, match="does not match"):
        featured.store.registry.load(card["version"])


def test_the_config_file_switches_the_estimator(tmp_path, featured):
    config_file = tmp_path / "pipeline.toml"
    config_file.write_text(
        iris_config_text()
        .replace('"sklearn.ensemble.RandomForestClassifier"', '"sklearn.linear_model.LogisticRegression"')
        .replace("n_estimators = 100\n", "C = 0.5\nmax_iter = 500\n")
        .replace("n_jobs = 2\n", "")
    )
    config = load_config(config_file)
    assert type(make_pipeline(config).named_steps["model"]).__name__ == "LogisticRegression"
    card = train(featured.store, config).card
    assert card["estimator"].endswith("LogisticRegression") and card["params"]["C"] == 0.5
    assert type(featured.store.registry.load(card["version"]).named_steps["model"]).__name__ == "LogisticRegression"


def test_only_scikit_learn_estimators_are_accepted():
    config = dataclasses.replace(load_config(CONFIG_FILE), estimator="os.system")
    with pytest.raises(ValueError, match="scikit-learn"):
        make_pipeline(config)


def test_training_uses_at_most_max_train_rows(featured):
    capped = dataclasses.replace(featured.config, max_train_rows=30)
    card = train(featured.store, capped).card
    assert card["rows_used"] == 30 and card["rows_train"] == 120 and card["max_train_rows"] == 30


def test_a_model_knows_whether_it_was_trained_on_the_current_features(featured):
    store, config = featured.store, featured.config
    assert version_already_trained(store, config) is None  # no model yet
    card = train(store, config).card
    assert version_already_trained(store, config) == card["version"]
    skipped = train(store, config)
    assert skipped.card is None and skipped.nothing_new().startswith(
        f"{card['version']} is already trained on the current features"
    )
    store.inbox.add_claimed("more.csv", csv_bytes(iris_sample(30, seed=1)))
    (batch,) = ingest(store).new_batches
    store.batches.mark_validated(batch["batch_id"], {})
    build_features(store, config)
    assert version_already_trained(store, config) is None


def test_changed_model_settings_or_a_retrain_request_train_a_new_version(featured):
    store, config = featured.store, featured.config
    first = train(store, config).card
    deeper = dataclasses.replace(config, params={**config.params, "max_depth": 3})
    assert version_already_trained(store, deeper) is None  # pipeline.toml changed: train again
    second = train(store, deeper).card
    assert second["version"] > first["version"] and second["params"]["max_depth"] == 3
    assert train(store, deeper).card is None  # and only once
    forced = train(store, deeper, retrain=True).card
    assert forced["version"] > second["version"] and forced["retrained_on_request"]


def test_concurrent_registrations_never_share_a_version_number(store):
    """Two trainers (e.g. on two Celery workers) registering at once: 6 distinct versions."""
    barrier = threading.Barrier(6)
    cards = []

    def register(i: int) -> None:
        barrier.wait()
        cards.append(store.registry.register(lambda p: open(p, "wb").write(f"model {i}".encode()), {"writer": i}))

    threads = [threading.Thread(target=register, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(c["version"] for c in cards) == [f"v000{i}" for i in range(1, 7)]
    for card in cards:  # each version holds the model of the trainer that reserved it
        assert store.backend.read_bytes(f"models/{card['version']}/model.joblib") == f"model {card['writer']}".encode()
        assert store.registry.card(card["version"])["writer"] == card["writer"]


def test_a_reserved_version_without_its_card_is_invisible_and_never_reused(store):
    """A crash after the reservation: readers skip it, the next model takes the next number."""
    store.backend.create_exclusive("models/v0001/reservation.json", b"{}")
    store.backend.write_bytes("models/v0001/model.joblib", b"half")
    assert store.registry.versions() == [] and store.registry.unevaluated() == []
    card = store.registry.register(lambda p: open(p, "wb").write(b"whole"), {"features": "f-x"})
    assert card["version"] == "v0002" and store.registry.versions() == ["v0002"]
