"""A crash between any two steps of a commit leaves nothing a later run misreads, on both backends.

Each test stops a real run at one step (the storage call raises, as if the process died
there), then runs the stage again on the same store and checks the outcome is the same as
if nothing had happened: every file in exactly one place, nothing duplicated or half-visible.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest
from conftest import CONFIG_FILE, csv_bytes, everything, iris_sample

from tasks.config import load_config
from tasks.stages.evaluate import evaluate_pending
from tasks.stages.ingest import ingest
from tasks.stages.train import train
from tasks.stages.validate import validate_pending

CONFIG = load_config(CONFIG_FILE)


class SimulatedCrash(BaseException):
    """BaseException: no ``except Exception`` in the code under test can swallow it."""


def crash_once(monkeypatch, obj, method: str, key_pattern: str) -> None:
    """Make ``obj.method(key, ...)`` die once, on the first key matching ``key_pattern``."""
    real = getattr(obj, method)
    state = {"crashed": False}

    def wrapper(key, *args, **kwargs):
        if not state["crashed"] and fnmatch.fnmatch(key, key_pattern):
            state["crashed"] = True
            raise SimulatedCrash(f"{method}({key})")
        return real(key, *args, **kwargs)

    monkeypatch.setattr(obj, method, wrapper)


def _run_until_crash(fn, *args, **kwargs) -> None:
    with pytest.raises(SimulatedCrash):
        fn(*args, **kwargs)


def test_ingest_dying_before_the_manifest_leaves_no_visible_batch_and_the_rerun_commits_it(store, monkeypatch):
    store.inbox.add_claimed("a.csv", csv_bytes(iris_sample(20, seed=1)))
    crash_once(monkeypatch, store.backend, "write_json", "raw/*/manifest.json")
    _run_until_crash(ingest, store)
    assert store.batches.committed() == [] and len(store.inbox.pending()) == 1  # data written, not visible
    result = ingest(store)
    assert [b["file"] for b in result.new_batches] == ["a.csv"] and result.quarantined == []
    assert store.inbox.pending() == [] and len(store.batches.committed()) == 1


def test_ingest_dying_after_the_commit_is_finished_not_called_a_duplicate(store, monkeypatch):
    store.inbox.add_claimed("a.csv", csv_bytes(iris_sample(20, seed=2)))
    monkeypatch.setattr(store.inbox, "finish", lambda claim, **kw: (_ for _ in ()).throw(SimulatedCrash("finish")))
    _run_until_crash(ingest, store)
    monkeypatch.undo()
    result = ingest(store)
    assert [b["file"] for b in result.new_batches] == ["a.csv"] and result.quarantined == []
    assert store.quarantine.entries() == [] and store.inbox.pending() == []
    assert [k for k in everything(store) if k.endswith("a.csv")] == [f"archive/{result.new_batches[0]['batch_id']}/a.csv"]


def test_a_quarantine_dying_before_its_reason_is_invisible_and_the_rerun_completes_it(store, monkeypatch):
    store.inbox.add_claimed("notes.txt", b"not a csv")
    crash_once(monkeypatch, store.backend, "write_json", "quarantine/*/reason.json")
    _run_until_crash(ingest, store)
    assert store.quarantine.entries() == []  # the copied original is there, but not committed
    (q,) = ingest(store).quarantined
    assert [e["file"] for e in store.quarantine.entries()] == ["notes.txt"] and store.inbox.pending() == []
    assert q["quarantine_id"] == store.quarantine.entries()[0]["id"]  # the same folder, finished


def test_the_gate_dying_between_quarantine_and_removal_quarantines_once(store, monkeypatch):
    bad = iris_sample(20, seed=3)
    bad.loc[0, "target"] = 7
    store.inbox.add_claimed("bad.csv", csv_bytes(bad))
    ingest(store)
    crash_once(monkeypatch, store.backend, "delete", "raw/*/manifest.json")
    _run_until_crash(validate_pending, store, CONFIG)
    assert len(store.batches.pending_validation()) == 1  # still in the data set: the rerun redoes it
    again = validate_pending(store, CONFIG)
    assert [q["file"] for q in again.quarantined] == ["bad.csv"]
    assert store.batches.committed() == [] and [e["file"] for e in store.quarantine.entries()] == ["bad.csv"]
    assert [k for k in everything(store) if k.endswith("bad.csv")] == [
        f"quarantine/{again.quarantined[0]['batch_id']}/original/bad.csv"
    ]


def test_training_failing_before_the_card_leaves_no_folder_and_frees_its_number(featured, monkeypatch):
    crash_once(monkeypatch, featured.store.backend, "write_json", "models/*/model.json")
    _run_until_crash(train, featured.store, featured.config)
    assert featured.store.registry.versions() == [] and featured.store.backend.children("models") == []
    card = train(featured.store, featured.config).card
    assert card["version"] == "v0001" and featured.store.registry.versions() == ["v0001"]


def test_evaluation_dying_after_promotion_is_judged_again_and_stays_champion(featured, monkeypatch):
    train(featured.store, featured.config)
    crash_once(monkeypatch, featured.store.backend, "write_json", "models/v0001/evaluation.json")
    _run_until_crash(evaluate_pending, featured.store, featured.config)
    assert featured.store.registry.champion()["version"] == "v0001" and featured.store.registry.unevaluated() == ["v0001"]
    (judged,) = evaluate_pending(featured.store, featured.config).judged
    assert judged["decision"] == "promoted" and featured.store.registry.champion()["version"] == "v0001"
    assert featured.store.registry.unevaluated() == []


def test_work_a_failed_run_left_behind_is_found_and_rings_raw_again(store):
    """A claim never ingested, a batch never validated (their runs failed, e.g. on storage):
    the watcher finds them (stalled_work) and ingest emits 'raw' for the batch though nothing
    is new, so preprocess resumes without a new drop."""
    store.inbox.add_claimed("left.csv", csv_bytes(iris_sample(20, seed=41)))
    assert store.stalled_work(older_than_s=3600) == {}  # too fresh: its run may still be going
    assert store.stalled_work(older_than_s=0) == {"claims": ["left.csv"]}
    (batch,) = ingest(store).new_batches
    assert store.stalled_work(older_than_s=0) == {"unvalidated_batches": [batch["batch_id"]]}
    again = ingest(store)  # nothing new, but a batch waits for the gate
    assert again.new_batches == [] and again.nothing_new() is None
    assert again.event_extra()["unvalidated_batches"] == [batch["batch_id"]]
    validate_pending(store, CONFIG)
    assert store.stalled_work(older_than_s=0) == {} and ingest(store).nothing_new()


def test_each_stages_input_left_behind_is_found_until_that_stage_took_it(featured):
    """What the resume watchers ask, along the chain: a feature set no version was trained
    on, the newest version not judged, a champion not confirmed live."""
    store, config = featured.store, featured.config
    fingerprint = store.features.current()["fingerprint"]
    assert store.stalled_work(older_than_s=3600) == {}  # too fresh: its run may still be going
    assert store.stalled_work(older_than_s=0) == {"untrained_features": [fingerprint]}
    train(store, config)
    assert store.stalled_work(older_than_s=0) == {"unevaluated_model": ["v0001"]}
    evaluate_pending(store, config)
    assert store.stalled_work(older_than_s=0) == {"undeployed_champion": ["v0001"]}
    store.deployments.record({"version": "v0001", "live_since": "2026-12-05T00:00:00+00:00"})
    assert store.stalled_work(older_than_s=0) == {}
    with pytest.raises(ValueError, match="unknown kind of work 'models'"):
        store.left_behind("models", 0)


def test_a_ring_for_left_behind_work_is_recorded_once(store):
    assert store.resumes.ring_once("claims", ["b.csv", "a.csv"])
    assert not store.resumes.ring_once("claims", ["a.csv", "b.csv"])  # the same work: rung already
    assert store.resumes.ring_once("claims", ["a.csv"])  # other work
    assert [r["items"] for r in store.resumes.rung("claims")] in (
        [["a.csv", "b.csv"], ["a.csv"]],
        [["a.csv"], ["a.csv", "b.csv"]],  # rung within the same second
    )


def test_debris_of_failed_writes_is_cleaned_by_the_next_ingest_and_never_listed(store):
    import json as _json

    claim = store.inbox.add_claimed("pending.csv", b"a;b\n1;2\n")  # its run failed before it committed
    store.backend.write_bytes(f"quarantine/{claim.claim_id}/original/pending.csv", b"half")  # a re-run completes it
    store.backend.write_bytes("quarantine/20260101T000000.000-deadbeef/original/x.csv", b"half")  # nobody will
    store.backend.write_bytes("models/v0007/reservation.json", _json.dumps({"reserved_at": "2026-01-01T00:00:00+00:00"}).encode())
    store.backend.write_bytes("models/v0007/model.joblib", b"half a model")
    assert store.quarantine.entries() == [] and store.registry.versions() == []  # never shown as entries

    result = ingest(store)
    assert sorted(result.cleaned) == ["models/v0007", "quarantine/20260101T000000.000-deadbeef"]
    keys = everything(store)
    assert not any(k.startswith("quarantine/20260101T000000.000-deadbeef") for k in keys)
    assert not any(k.startswith("models/v0007") for k in keys) and store.backend.children("models") == []
    (q,) = result.quarantined  # the pending claim's attempt was completed, not removed
    assert q["quarantine_id"] == claim.claim_id and store.quarantine.reason(claim.claim_id) is not None


def test_the_temp_files_of_writes_a_killed_process_left_are_removed_but_not_a_droppers(store):
    """A process killed mid-write leaves ``.<name>.<random>.tmp`` beside the target (local
    folders only); the launcher removes them before Airflow starts. An inbox's temp files
    belong to the dropper's copy tool and stay."""
    if not store.backend.can_rename:
        assert store.remove_interrupted_writes() == []  # object storage writes whole objects
        return
    root = Path(store.backend.path(""))
    left = [root / ".probes" / ".7d4a40cd67cb.sst6onqb.tmp", root / "raw" / "b-1" / ".data.parquet.x1y2z3a4.tmp"]
    theirs = [root / "inbox" / ".upload.csv.abcdefgh.tmp", root / "scoring" / "inbox" / ".x.csv.abcdefgh.tmp"]
    for path in [*left, *theirs]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    store.backend.write_json("raw/b-1/manifest.json", {"kept": True})
    assert sorted(store.remove_interrupted_writes()) == [
        ".probes/.7d4a40cd67cb.sst6onqb.tmp",
        "raw/b-1/.data.parquet.x1y2z3a4.tmp",
    ]
    assert not any(p.exists() for p in left) and all(p.exists() for p in theirs)
    assert store.backend.read_json("raw/b-1/manifest.json") == {"kept": True}
