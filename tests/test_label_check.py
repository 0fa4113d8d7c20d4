"""The label check: a batch that passes every schema check but carries wrong labels is stopped
before it joins the training and held-out data; honest batches, drifted ones included, pass."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import IRIS_SEED, csv_bytes, iris_sample

from tasks.stages.evaluate import evaluate_pending
from tasks.stages.ingest import ingest
from tasks.stages.split import build_features
from tasks.stages.train import train
from tasks.stages.validate import validate_pending


def _drop_and_gate(store, config, name: str, frame):
    store.inbox.add_claimed(name, csv_bytes(frame))
    ingest(store)
    return validate_pending(store, config)


def _full_run(store, config):
    """preprocess -> train -> evaluate, as the chain would after a gate that passed something."""
    if build_features(store, config).manifest is not None:
        train(store, config)
        return evaluate_pending(store, config).judged
    return []


@pytest.fixture
def with_champion(featured):
    train(featured.store, featured.config)
    evaluate_pending(featured.store, featured.config)
    return featured


def _shuffled(n: int, seed: int):
    frame = iris_sample(n, seed=seed)
    frame["target"] = frame["target"].sample(frac=1.0, random_state=seed + 1).to_numpy()
    return frame


def test_without_a_champion_the_check_is_skipped_and_says_so(store, config):
    store.inbox.add_claimed("seed.csv", csv_bytes(_shuffled(300, seed=1)))
    ingest(store)
    gate = validate_pending(store, config)
    (passed,) = gate.passed
    assert "skipped: no champion yet" in passed["label_check"]
    assert store.batches.validation(passed["batch_id"])["label_check"]["status"] == "skipped"


def test_a_batch_with_shuffled_labels_is_quarantined_with_a_reason_and_the_confusion(with_champion):
    store, config = with_champion.store, with_champion.config
    gate = _drop_and_gate(store, config, "shuffled.csv", _shuffled(300, seed=2))
    assert gate.passed == [] and gate.failure()
    (q,) = gate.quarantined
    reason = store.quarantine.reason(q["quarantine_id"])
    assert reason["stage"] == "label_check"
    assert (
        "the champion (v0001) disagrees with" in reason["reason"] and "labels may be shuffled or mis-mapped" in reason["reason"]
    )
    check = reason["label_check"]
    assert check["disagreement_rate"] > 0.5 and check["held_out_disagreement_rate"] < 0.15 and check["p_value"] < 1e-6
    assert set(check["confusion_label_vs_champion"]) == {"setosa", "versicolor", "virginica"}
    assert sum(sum(row.values()) for row in check["confusion_label_vs_champion"].values()) == 300
    assert store.backend.exists(f"quarantine/{q['quarantine_id']}/original/shuffled.csv")
    assert store.batches.committed()[-1]["source_file"] != "shuffled.csv"  # never joined the data


def test_mis_mapped_labels_are_caught(with_champion):
    frame = iris_sample(150, seed=3)
    frame["target"] = frame["target"].map({0: 1, 1: 0, 2: 2})  # setosa and versicolor swapped
    gate = _drop_and_gate(with_champion.store, with_champion.config, "swapped.csv", frame)
    assert [q["file"] for q in gate.quarantined] == ["swapped.csv"]


@pytest.mark.parametrize("case", ["good", "drifted", "a-few-wrong-labels"])
def test_honest_batches_pass_the_label_check(with_champion, case):
    frame = iris_sample(300, seed=4)
    if case == "drifted":  # every measurement shifted a little, as a new instrument would
        rng = np.random.default_rng(5)
        features = frame.columns[:4]
        frame[features] = (frame[features] + rng.normal(0.1, 0.15, (len(frame), 4))).clip(lower=0.1).round(1)
    if case == "a-few-wrong-labels":  # 5% label noise: real data has some
        wrong = frame.sample(frac=0.05, random_state=6).index
        frame.loc[wrong, "target"] = (frame.loc[wrong, "target"] + 1) % 3
    gate = _drop_and_gate(with_champion.store, with_champion.config, f"{case}.csv", frame)
    assert gate.quarantined == [], gate.quarantined
    (passed,) = gate.passed
    assert passed["label_check"].startswith("label check passed")


def test_in_a_burst_each_batch_gets_its_own_verdict(with_champion):
    """The champion scores a burst's batches in one call: each verdict must still be its own."""
    store, config = with_champion.store, with_champion.config
    drops = {"good-a.csv": iris_sample(60, seed=21), "tiny.csv": _shuffled(10, seed=22), "shuffled.csv": _shuffled(90, seed=23)}
    drops |= {"good-b.csv": iris_sample(40, seed=24), "swapped.csv": iris_sample(60, seed=25)}
    drops["swapped.csv"]["target"] = drops["swapped.csv"]["target"].map({0: 1, 1: 0, 2: 2})
    for name, frame in drops.items():
        store.inbox.add_claimed(name, csv_bytes(frame))
    ingest(store)
    gate = validate_pending(store, config)
    assert sorted(q["file"] for q in gate.quarantined) == ["shuffled.csv", "swapped.csv"]
    assert all(q["stage"] == "label_check" for q in gate.quarantined)
    verdicts = {p["file"]: store.batches.validation(p["batch_id"])["label_check"] for p in gate.passed}
    assert {name: v["status"] for name, v in verdicts.items()} == {
        "good-a.csv": "passed",
        "good-b.csv": "passed",
        "tiny.csv": "skipped",
    }
    assert verdicts["good-a.csv"]["rows"] == 60 and verdicts["good-b.csv"]["rows"] == 40
    shuffled = store.quarantine.reason(next(q["quarantine_id"] for q in gate.quarantined if q["file"] == "shuffled.csv"))
    assert shuffled["label_check"]["rows"] == 90


def test_a_batch_too_small_to_judge_is_let_through_and_says_so(with_champion):
    gate = _drop_and_gate(with_champion.store, with_champion.config, "tiny.csv", _shuffled(10, seed=7))
    (passed,) = gate.passed
    assert "too few to judge" in passed["label_check"]


def test_one_shuffled_batch_no_longer_blocks_every_later_model(store, config):
    """The issue's scenario: iris seed, a good drop, a shuffled batch, then four good drops.
    Before the check, the shuffled rows entered the held-out set and every later model lost."""
    ingest(store, seed=IRIS_SEED)
    validate_pending(store, config)
    _full_run(store, config)
    decisions = []
    drops = [("good-0", iris_sample(100, seed=10)), ("shuffled", _shuffled(300, seed=11))]
    drops += [(f"good-{i}", iris_sample(150, seed=11 + i)) for i in range(1, 5)]
    for name, frame in drops:
        gate = _drop_and_gate(store, config, f"{name}.csv", frame)
        decisions += [m["decision"] for m in _full_run(store, config)] if gate.passed else []
    assert [e["file"] for e in store.quarantine.entries()] == ["shuffled.csv"]
    test_rows = store.features.read(store.features.current(), "test")
    assert len(test_rows) == 30 + sum(int(np.ceil(len(f) * 0.2)) for n, f in drops if n != "shuffled")
    assert decisions.count("promoted") >= 3, decisions  # good data can make a champion again
