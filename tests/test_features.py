"""Features: a deterministic, stratified split that never moves a row between train and test."""

from __future__ import annotations

import pandas as pd

from conftest import csv_bytes, iris_sample
from tasks.schema import FEATURE_COLUMNS, TARGET_COLUMN
from tasks.stages.ingest import ingest
from tasks.stages.split import build_features, fingerprint, split_batch


def _validated_batch(store, name: str, frame: pd.DataFrame) -> str:
    store.inbox.add_claimed(name, csv_bytes(frame))
    (batch,) = ingest(store, seed_if_empty=False).new_batches
    store.batches.mark_validated(batch["batch_id"], {"suite": "test"})
    return batch["batch_id"]


def test_split_is_stratified_and_deterministic(iris):
    train, test = split_batch(iris, test_size=0.2, seed=42)
    again_train, again_test = split_batch(iris, test_size=0.2, seed=42)
    assert len(test) == 30 and len(train) == 120
    assert test[TARGET_COLUMN].value_counts().to_dict() == {0: 10, 1: 10, 2: 10}
    pd.testing.assert_frame_equal(test, again_test)
    assert str(train[FEATURE_COLUMNS[0]].dtype) == "float64" and str(train[TARGET_COLUMN].dtype) == "int64"


def test_a_batch_too_small_to_stratify_goes_to_train():
    train, test = split_batch(iris_sample(2, seed=1), test_size=0.2, seed=42)
    assert len(train) == 2 and test.empty


def test_adding_a_batch_keeps_every_existing_row_on_its_side(store, config, iris):
    _validated_batch(store, "iris.csv", iris)
    first = build_features(store, config).manifest
    test_before = store.features.read(first["fingerprint"], "test")
    _validated_batch(store, "more.csv", iris_sample(60, seed=2))
    second = build_features(store, config).manifest
    test_after = store.features.read(second["fingerprint"], "test")
    assert second["rows_train"] + second["rows_test"] == 210 and len(second["batch_lineage"]) == 2
    pd.testing.assert_frame_equal(test_after.iloc[: len(test_before)], test_before)
    assert store.features.current()["fingerprint"] == second["fingerprint"]


def test_the_same_batches_are_not_rebuilt(store, config, iris):
    batch = _validated_batch(store, "iris.csv", iris)
    assert build_features(store, config).nothing_new() is None
    again = build_features(store, config)
    assert again.nothing_new() and again.manifest is None
    assert store.features.current()["fingerprint"] == fingerprint([batch], config.test_size, config.seed)


def test_old_feature_sets_are_pruned(store, config):
    for i in range(4):
        _validated_batch(store, f"b{i}.csv", iris_sample(30, seed=i))
        build_features(store, config)
    sets = [n for n in store.backend.children("features") if n.startswith("f-")]
    assert len(sets) == 3 and store.features.current()["fingerprint"] in sets


def test_a_set_without_its_manifest_is_never_current(store, config, iris):
    """A crash before the manifest: the pointer still names the last committed set."""
    _validated_batch(store, "iris.csv", iris)
    committed = build_features(store, config).manifest["fingerprint"]
    store.backend.write_bytes("features/f-unfinished/train.parquet", b"half")
    store.backend.write_json("features/current.json", {"fingerprint": "f-unfinished", "built_at": "x"})
    assert store.features.current() is None  # a pointer to an uncommitted set is not trusted
    store.backend.write_json("features/current.json", {"fingerprint": committed, "built_at": "x"})
    assert store.features.current()["fingerprint"] == committed
