"""Features: a deterministic, stratified split that never moves a row between train and test."""

from __future__ import annotations

import pandas as pd

from conftest import iris_sample
from tasks.features import build_features, current_folder, fingerprint, load_split, split_batch
from tasks.ingest import DATA_FILE, MANIFEST
from tasks.schema import FEATURE_COLUMNS, TARGET_COLUMN


def _batch(dirs, batch_id: str, frame: pd.DataFrame) -> str:
    (dirs.raw / batch_id).mkdir()
    frame.to_parquet(dirs.raw / batch_id / DATA_FILE)
    (dirs.raw / batch_id / MANIFEST).write_text("{}")
    return batch_id


def test_split_is_stratified_and_deterministic(iris):
    train, test = split_batch(iris, test_size=0.2, seed=42)
    again_train, again_test = split_batch(iris, test_size=0.2, seed=42)
    assert len(test) == 30 and len(train) == 120
    assert test[TARGET_COLUMN].value_counts().to_dict() == {0: 10, 1: 10, 2: 10}
    pd.testing.assert_frame_equal(test, again_test)
    assert str(train[FEATURE_COLUMNS[0]].dtype) == "float64" and str(train[TARGET_COLUMN].dtype) == "int64"


def test_a_batch_too_small_to_stratify_goes_to_train():
    tiny = iris_sample(2, seed=1)
    train, test = split_batch(tiny, test_size=0.2, seed=42)
    assert len(train) == 2 and test.empty


def test_adding_a_batch_keeps_every_existing_row_on_its_side(dirs, iris):
    first = _batch(dirs, "b-1", iris)
    build_features(dirs.raw, dirs.features, [first], test_size=0.2, seed=42)
    test_before = load_split(current_folder(dirs.features), "test")[0]
    second = _batch(dirs, "b-2", iris_sample(60, seed=2))
    manifest = build_features(dirs.raw, dirs.features, [first, second], test_size=0.2, seed=42)
    test_after = load_split(current_folder(dirs.features), "test")[0]
    assert manifest["rows_train"] + manifest["rows_test"] == 210
    pd.testing.assert_frame_equal(test_after.iloc[: len(test_before)], test_before)


def test_the_same_batches_are_not_rebuilt(dirs, iris):
    batch = _batch(dirs, "b-1", iris)
    assert build_features(dirs.raw, dirs.features, [batch], test_size=0.2, seed=42) is not None
    assert build_features(dirs.raw, dirs.features, [batch], test_size=0.2, seed=42) is None
    assert current_folder(dirs.features).name == fingerprint([batch], 0.2, 42)


def test_old_feature_sets_are_pruned(dirs, iris):
    ids = [_batch(dirs, f"b-{i}", iris_sample(30, seed=i)) for i in range(5)]
    for n in range(1, 6):
        build_features(dirs.raw, dirs.features, ids[:n], test_size=0.2, seed=42, keep=2)
    sets = [p for p in dirs.features.iterdir() if p.is_dir()]
    assert len(sets) == 2 and current_folder(dirs.features) in sets
