"""Features: a deterministic, stratified split that never moves a row between train and test."""

from __future__ import annotations

import pandas as pd
from conftest import CONFIG_FILE, IRIS_COLUMNS, csv_bytes, iris_sample

from tasks.config import load_config
from tasks.ml.splitting import split_batch
from tasks.stages.ingest import ingest
from tasks.stages.split import build_features, fingerprint

DATASET = load_config(CONFIG_FILE).dataset


def _validated_batch(store, name: str, frame: pd.DataFrame) -> str:
    store.inbox.add_claimed(name, csv_bytes(frame))
    (batch,) = ingest(store).new_batches
    store.batches.mark_validated(batch["batch_id"], {"suite": "test"})
    return batch["batch_id"]


def test_split_is_stratified_and_deterministic(iris):
    train, test = split_batch(iris, DATASET, test_size=0.2, seed=42)
    again_train, again_test = split_batch(iris, DATASET, test_size=0.2, seed=42)
    assert len(test) == 30 and len(train) == 120
    assert test["target"].value_counts().to_dict() == {0: 10, 1: 10, 2: 10}
    pd.testing.assert_frame_equal(test, again_test)
    assert str(train[IRIS_COLUMNS[0]].dtype) == "float64" and str(train["target"].dtype) == "int64"


def test_a_batch_too_small_to_stratify_goes_to_train():
    train, test = split_batch(iris_sample(2, seed=1), DATASET, test_size=0.2, seed=42)
    assert len(train) == 2 and test.empty


def test_adding_a_batch_keeps_every_existing_row_on_its_side(store, config, iris):
    _validated_batch(store, "iris.csv", iris)
    first = build_features(store, config).manifest
    test_before = store.features.read(first, "test")
    _validated_batch(store, "more.csv", iris_sample(60, seed=2))
    second = build_features(store, config).manifest
    test_after = store.features.read(second, "test")
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
    store.backend.write_bytes("features/f-unfinished/half.json", b"half")
    store.backend.write_json("features/current.json", {"fingerprint": "f-unfinished", "built_at": "x"})
    assert store.features.current() is None  # a pointer to an uncommitted set is not trusted
    store.backend.write_json("features/current.json", {"fingerprint": committed, "built_at": "x"})
    assert store.features.current()["fingerprint"] == committed


def test_each_batch_is_split_once_and_a_feature_set_only_lists_the_splits(store, config, iris):
    first = _validated_batch(store, "iris.csv", iris)
    build_features(store, config)

    def splits() -> dict[str, bytes]:
        return {k: store.backend.read_bytes(f"features/splits/{k}") for k in store.backend.walk_files("features/splits")}

    stored = splits()
    _validated_batch(store, "more.csv", iris_sample(60, seed=2))
    second = build_features(store, config).manifest
    after = splits()
    assert {k: after[k] for k in stored} == stored  # the first batch's split was not rewritten
    assert len(after) == 2 * len(stored)  # one new split: two parquet files and split.json
    assert [s["batch_id"] for s in second["splits"]] == [first, second["batches"][1]]
    assert not any(k.endswith(".parquet") for k in store.backend.walk_files(f"features/{second['fingerprint']}"))


def test_a_split_is_in_stratified_order_so_any_head_is_a_stratified_sample(iris):
    train, test = split_batch(iris, DATASET, test_size=0.2, seed=42)
    for part in (train, test):
        n = len(part)
        for head in (3, 9, n // 2):
            counts = part["target"].iloc[:head].value_counts()
            assert counts.max() - counts.min() <= 1, (head, counts.to_dict())


def test_a_sample_takes_each_batch_in_proportion_and_sums_to_the_cap(store, config):
    from tasks.store.features import allocate

    assert allocate([100, 300, 600], 100) == [10, 30, 60]
    assert allocate([1, 1, 1], 2) == [1, 1, 0] and sum(allocate([7, 11, 13], 10)) == 10
    assert allocate([5, 6], 0) == [5, 6] and allocate([5, 6], 20) == [5, 6]
    for i, n in enumerate((300, 900)):
        _validated_batch(store, f"b{i}.csv", iris_sample(n, seed=i))
    manifest = build_features(store, config).manifest
    sample = store.features.sample(manifest, "train", 240)
    everything = store.features.read(manifest, "train")
    assert len(sample) == 240 and len(everything) == manifest["rows_train"] == 960
    share = sample["target"].value_counts(normalize=True) - everything["target"].value_counts(normalize=True)
    assert share.abs().max() <= 2 / 240, share  # class shares as in the whole, within a row per batch
    # a head of each batch's file: the first 60 rows come from the first batch
    pd.testing.assert_frame_equal(sample.iloc[:60].reset_index(drop=True), everything.iloc[:60].reset_index(drop=True))


def test_new_split_settings_split_every_batch_again_once(store, config, iris):
    import dataclasses

    _validated_batch(store, "iris.csv", iris)
    before = build_features(store, config).manifest
    changed = dataclasses.replace(config, test_size=0.3)
    manifest = build_features(store, changed).manifest
    assert manifest["rows_test"] == 45 and manifest["split_key"] != before["split_key"]
    assert build_features(store, changed).manifest is None
    assert len(store.backend.children("features/splits")) == 2  # the old settings' set is still kept


def test_a_part_is_written_a_row_group_at_a_time_and_reads_back_as_split(store, monkeypatch):
    import numpy as np

    from tasks.store import features

    monkeypatch.setattr(features, "ROW_GROUP_ROWS", 4)  # five groups for 18 rows
    rows = pd.DataFrame(
        {
            "size": np.where(np.arange(20) == 7, np.nan, np.arange(20, dtype="float64")),  # a missing number stays missing
            # the first group is only missing text: the part's schema still says text
            "plan": [None] * 6 + [f"p{i % 3}" for i in range(14)],
            "target": np.arange(20) % 2,
        }
    )
    train, test = np.concatenate([np.arange(1, 5), np.arange(19, 5, -1)]), np.arange(0)
    record = store.features.commit_split("s-test", "b-test", rows, {"train": train, "test": test}, {})
    assert (record["rows_train"], record["rows_test"]) == (18, 0)
    manifest = {"split_key": "s-test", "splits": [{"batch_id": "b-test", "rows_train": 18, "rows_test": 0}]}
    written = store.features.read(manifest, "train")
    expected = rows.iloc[train].reset_index(drop=True)
    pd.testing.assert_frame_equal(written, expected, check_dtype=False)
    assert written["plan"].isna().tolist() == expected["plan"].isna().tolist() and written["plan"].iloc[4] == "p1"
    assert list(store.features.read(manifest, "test").columns) == ["size", "plan", "target"]
