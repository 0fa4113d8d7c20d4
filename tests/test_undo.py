"""Undo: a retracted batch leaves the training and held-out data and its champion loses its title;
a released batch comes back in, validated, with who/when/why recorded; both on both backends."""

from __future__ import annotations

import pytest
from conftest import csv_bytes, everything, iris_sample

from tasks.stages.evaluate import evaluate_pending
from tasks.stages.ingest import ingest
from tasks.stages.split import build_features
from tasks.stages.train import train
from tasks.stages.undo import release_quarantined, retract_batch
from tasks.stages.validate import validate_pending


def _drop(store, config, name, frame):
    store.inbox.add_claimed(name, csv_bytes(frame))
    (batch,) = ingest(store).new_batches
    validate_pending(store, config)
    return batch["batch_id"]


def _rebuild(store, config):
    build_features(store, config)
    train(store, config)
    return evaluate_pending(store, config).judged[-1]


@pytest.fixture
def two_batches(featured):
    """Seed + one team batch, a champion trained on both."""
    store, config = featured.store, featured.config
    team = _drop(store, config, "team.csv", iris_sample(60, seed=31))
    judged = _rebuild(store, config)
    assert judged["decision"] == "promoted"
    featured.team = team
    return featured


def test_a_retracted_batch_leaves_the_data_and_its_champion_loses_its_title(two_batches):
    store, config = two_batches.store, two_batches.config
    champion = store.registry.champion()["version"]
    before = store.features.current()
    result = retract_batch(store, two_batches.team, "labels came from the wrong export", by="alice")
    assert result.event_extra() == {
        "retracted": two_batches.team,
        "by": "alice",
        "at": result.record["at"],
        "why": "labels came from the wrong export",
    }
    assert store.batches.retraction(two_batches.team)["by"] == "alice"
    assert two_batches.team not in [m["batch_id"] for m in store.batches.validated()]
    assert store.backend.exists(f"raw/{two_batches.team}/data.parquet")  # kept for the record
    judged = _rebuild(store, config)
    after = store.features.current()
    assert after["rows_test"] == before["rows_test"] - 12 and two_batches.team not in after["batches"]
    assert judged["decision"] == "promoted" and f"champion {champion} was trained on retracted batch" in judged["reason"]
    assert store.registry.champion()["version"] == judged["version"] != champion


def test_retract_refuses_unknown_batches_a_second_retraction_and_no_reason(two_batches):
    store = two_batches.store
    with pytest.raises(KeyError):
        retract_batch(store, "b-0000000000000000", "typo")
    with pytest.raises(ValueError, match="say why"):
        retract_batch(store, two_batches.team, "  ")
    retract_batch(store, two_batches.team, "first time", by="alice")
    with pytest.raises(ValueError, match="already retracted by alice"):
        retract_batch(store, two_batches.team, "again")


def test_a_batch_dropped_again_after_retraction_is_a_duplicate(two_batches):
    store = two_batches.store
    retract_batch(store, two_batches.team, "wrong export")
    store.inbox.add_claimed("team-again.csv", csv_bytes(iris_sample(60, seed=31)))
    (q,) = ingest(store).quarantined
    assert "duplicate" in q["reason"]


def _quarantined_by_label_check(d) -> str:
    frame = iris_sample(200, seed=41)
    frame["target"] = frame["target"].map({0: 1, 1: 0, 2: 2})
    d.store.inbox.add_claimed("swapped.csv", csv_bytes(frame))
    ingest(d.store)
    (q,) = validate_pending(d.store, d.config).quarantined
    return q["quarantine_id"]


def test_a_released_batch_comes_back_validated_and_joins_the_data(two_batches):
    store, config = two_batches.store, two_batches.config
    qid = _quarantined_by_label_check(two_batches)
    result = release_quarantined(store, qid, "our labels follow the new mapping on purpose", by="bob")
    assert result.batch_id == qid and result.event_extra()["released"] == qid
    assert store.quarantine.entries() == [] and not any(k.startswith("quarantine/") for k in everything(store))
    validation = store.batches.validation(qid)
    assert validation["released"]["by"] == "bob" and validation["released"]["overrode"]["stage"] == "label_check"
    assert store.backend.exists(f"archive/{qid}/swapped.csv")
    assert qid in [m["batch_id"] for m in store.batches.validated()]
    assert validate_pending(store, config).quarantined == []  # not judged again
    assert qid in build_features(store, config).manifest["batches"]


def test_only_batches_can_be_released(two_batches):
    store = two_batches.store
    store.inbox.add_claimed("notes.txt", b"not a csv")
    (q,) = ingest(store).quarantined
    with pytest.raises(ValueError, match="holds no batch .* drop it again"):
        release_quarantined(store, q["quarantine_id"], "please")
    with pytest.raises(KeyError):
        release_quarantined(store, "no-such-entry", "please")


def test_a_release_dying_before_the_entry_is_removed_is_finished_by_releasing_again(two_batches, monkeypatch):
    store = two_batches.store
    qid = _quarantined_by_label_check(two_batches)
    real_remove = store.quarantine.remove
    monkeypatch.setattr(store.quarantine, "remove", lambda _qid: (_ for _ in ()).throw(RuntimeError("died")))
    with pytest.raises(RuntimeError):
        release_quarantined(store, qid, "override")
    assert store.batches.manifest(qid) is not None and store.quarantine.holds(qid)  # both, for a moment
    monkeypatch.setattr(store.quarantine, "remove", real_remove)
    release_quarantined(store, qid, "override")
    assert not store.quarantine.holds(qid) and [m["batch_id"] for m in store.batches.committed()].count(qid) == 1
