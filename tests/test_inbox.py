"""The drop zone: only settled files are claimed, each exactly once, never overwritten."""

from __future__ import annotations

import os
import threading
import time

from tasks.inbox import claim_file, claim_id, claim_settled_files, list_claimed, original_name, scan_inbox, settled_names, sweep_inbox


def _age(path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_empty_or_missing_inbox_claims_nothing(dirs):
    assert claim_settled_files(dirs.inbox, dirs.claimed, {}, min_age_s=0)[0] == []
    assert scan_inbox(dirs.root / "does-not-exist") == {}
    assert sweep_inbox(dirs.inbox, dirs.claimed, settle_s=0.1) == []


def test_a_file_is_claimed_only_once_it_stopped_changing(dirs):
    f = dirs.inbox / "new.csv"
    f.write_text("a,b\n1,2\n")
    _age(f, 5)
    claimed, snap = claim_settled_files(dirs.inbox, dirs.claimed, {}, min_age_s=1)
    assert claimed == [] and "new.csv" in snap  # first sighting: not yet
    claimed, snap = claim_settled_files(dirs.inbox, dirs.claimed, snap, min_age_s=1)
    assert [c.original_name for c in claimed] == ["new.csv"]
    assert not f.exists() and claimed[0].claimed_path.read_text() == "a,b\n1,2\n"
    assert original_name(claimed[0].claimed_path) == "new.csv"
    assert claimed[0].claimed_path.name == f"{claim_id(claimed[0].claimed_path)}__new.csv"


def test_a_half_written_file_is_never_claimed(dirs):
    f = dirs.inbox / "big.csv"
    with open(f, "w") as fh:
        fh.write("a,b\n")
        fh.flush()
        snap = scan_inbox(dirs.inbox)
        for i in range(3):  # the writer keeps appending between scans
            fh.write(f"{i},{i}\n")
            fh.flush()
            claimed, snap = claim_settled_files(dirs.inbox, dirs.claimed, snap, min_age_s=0)
            assert claimed == []
    _age(f, 5)
    claimed, snap = claim_settled_files(dirs.inbox, dirs.claimed, snap, min_age_s=1)
    assert claimed == []  # mtime changed by _age: one more stable scan needed
    claimed, _ = claim_settled_files(dirs.inbox, dirs.claimed, snap, min_age_s=1)
    assert [c.original_name for c in claimed] == ["big.csv"]


def test_a_freshly_written_file_waits_for_min_age(dirs):
    f = dirs.inbox / "fresh.csv"
    f.write_text("x\n")
    snap = scan_inbox(dirs.inbox)
    assert settled_names(snap, snap, min_age_s=60) == []
    assert settled_names(snap, snap, min_age_s=0) == ["fresh.csv"]


def test_hidden_and_non_regular_entries_are_ignored(dirs):
    (dirs.inbox / ".upload.csv.part").write_text("x")
    (dirs.inbox / "subdir").mkdir()
    assert scan_inbox(dirs.inbox) == {}


def test_two_claimers_racing_for_one_file_claim_it_once(dirs):
    f = dirs.inbox / "race.csv"
    f.write_text("x\n")
    results = []
    barrier = threading.Barrier(8)

    def claim():
        barrier.wait()
        results.append(claim_file(dirs.inbox, "race.csv", dirs.claimed))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1
    assert len(list_claimed(dirs.claimed)) == 1


def test_the_same_name_dropped_twice_gets_two_claims(dirs):
    for content in ("first\n", "second\n"):
        (dirs.inbox / "same.csv").write_text(content)
        assert claim_file(dirs.inbox, "same.csv", dirs.claimed) is not None
    assert sorted(p.read_text() for p in list_claimed(dirs.claimed)) == ["first\n", "second\n"]


def test_the_watcher_takes_only_csv_files(dirs):
    for name in ("a.csv", "B.CSV", "c.csv.crdownload", "notes.txt"):
        (dirs.inbox / name).write_text("x\n")
        _age(dirs.inbox / name, 5)
    snap = scan_inbox(dirs.inbox, "*.csv")
    claimed, _ = claim_settled_files(dirs.inbox, dirs.claimed, snap, min_age_s=1)
    assert sorted(c.original_name for c in claimed) == ["B.CSV", "a.csv"]
    assert sorted(p.name for p in dirs.inbox.iterdir()) == ["c.csv.crdownload", "notes.txt"]


def test_sweep_claims_csvs_and_only_stale_other_files(dirs):
    for name, age in (("a.csv", 5), ("old.txt", 7200), ("download.csv.part", 5)):
        (dirs.inbox / name).write_text("x\n")
        _age(dirs.inbox / name, age)
    swept = sweep_inbox(dirs.inbox, dirs.claimed, settle_s=0.2)
    assert sorted(c.original_name for c in swept) == ["a.csv", "old.txt"]
    assert [p.name for p in dirs.inbox.iterdir()] == ["download.csv.part"]  # may still be downloading
