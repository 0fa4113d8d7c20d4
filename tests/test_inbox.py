"""The drop zone: only complete files are claimed, each exactly once, on both backends."""

from __future__ import annotations

import os
import threading
import time

import pytest
from conftest import everything

from tasks.store.inbox import ClaimGone


def _age(store, name: str, seconds: float) -> None:
    """Local only: pretend the file was written ``seconds`` ago."""
    past = time.time() - seconds
    os.utime(store.backend.path(f"inbox/{name}"), (past, past))


def _claim_now(store):
    """Run the watcher step until it stops claiming (local files need two scans)."""
    claims, snapshot = store.inbox.claim_settled({})
    for name in snapshot if store.backend.can_rename else []:
        _age(store, name, 5)
    if store.backend.can_rename:
        _, snapshot = store.inbox.claim_settled({})
        claims, _ = store.inbox.claim_settled(snapshot)
    return claims


def test_an_empty_inbox_claims_nothing(store):
    assert store.inbox.claim_settled({}) == ([], {})
    assert store.inbox.sweep() == [] and store.inbox.pending() == []


def test_a_dropped_file_is_claimed_once_and_its_content_kept(store):
    store.inbox.put("new.csv", b"a,b\n1,2\n")
    (claim,) = _claim_now(store)
    assert claim.name == "new.csv" and [c.claim_id for c in store.inbox.pending()] == [claim.claim_id]
    with store.inbox.fetch(claim) as local:
        assert local.read_bytes() == b"a,b\n1,2\n"
    assert _claim_now(store) == []  # never twice
    store.inbox.finish(claim)
    assert store.inbox.pending() == [] and everything(store) == []


def test_local_files_are_claimed_only_once_they_stopped_changing(tmp_path):
    from tasks.store import open_store

    store = open_store(str(tmp_path / "data"))
    path = tmp_path / "data" / "inbox" / "big.csv"
    path.parent.mkdir(parents=True)
    with open(path, "w") as fh:
        fh.write("a,b\n")
        fh.flush()
        _, snapshot = store.inbox.claim_settled({})
        for i in range(3):  # the writer keeps appending between scans
            fh.write(f"{i},{i}\n")
            fh.flush()
            claims, snapshot = store.inbox.claim_settled(snapshot)
            assert claims == []
    claims, snapshot = store.inbox.claim_settled(snapshot)
    assert claims == []  # stable, but younger than the settle time
    _age(store, "big.csv", 5)
    claims, snapshot = store.inbox.claim_settled(snapshot)
    assert claims == []  # the mtime moved: one more stable scan needed
    (claim,) = store.inbox.claim_settled(snapshot)[0]
    assert claim.name == "big.csv" and not path.exists()


def test_hidden_files_and_sub_folders_are_left_alone(store):
    store.backend.write_bytes("inbox/.upload.csv.part", b"x")
    store.backend.write_bytes("inbox/sub/inner.csv", b"x")
    assert store.inbox.waiting() == [] and _claim_now(store) == []


def test_the_watcher_takes_every_finished_file_and_leaves_downloads_in_progress(store):
    """A non-CSV (``notes.txt``) is taken at once so ingest can reject it with a reason;
    only names of unfinished downloads wait."""
    for name in ("a.csv", "B.CSV", "c.csv.crdownload", "notes.txt", "d.csv.part", "e.csv~"):
        store.inbox.put(name, b"x\n")
    assert sorted(c.name for c in _claim_now(store)) == ["B.CSV", "a.csv", "notes.txt"]
    assert sorted(e.name for e in store.inbox.waiting()) == ["c.csv.crdownload", "d.csv.part", "e.csv~"]


def test_eight_concurrent_claimers_of_one_file_have_exactly_one_winner(store):
    store.inbox.put("race.csv", b"x\n")
    (entry,) = store.inbox.waiting()
    barrier = threading.Barrier(8)
    results = []

    def claim() -> None:
        barrier.wait()
        results.append(store.inbox.claim(entry))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1
    assert len(store.inbox.pending()) == 1


def test_the_same_name_dropped_twice_with_new_content_gets_two_claims(store):
    contents = []
    for content in (b"first\n", b"second\n"):
        store.inbox.put("same.csv", content)
        (claim,) = _claim_now(store)
        with store.inbox.fetch(claim) as local:
            contents.append(local.read_bytes())
        store.inbox.finish(claim)
    assert contents == [b"first\n", b"second\n"]


def test_on_s3_an_object_overwritten_after_its_claim_is_not_read_under_the_old_claim(s3_server):
    from tasks.store import open_store

    store = open_store(f"s3://{s3_server.new_bucket()}/data")
    store.inbox.put("x.csv", b"version 1\n")
    (old,) = _claim_now(store)
    store.inbox.put("x.csv", b"version 2, uploaded while claimed\n")
    with pytest.raises(ClaimGone):
        with store.inbox.fetch(old):
            pass
    store.inbox.finish(old)  # must not delete the newer upload
    (new,) = _claim_now(store)
    with store.inbox.fetch(new) as local:
        assert local.read_bytes() == b"version 2, uploaded while claimed\n"


def test_a_sweep_claims_finished_files_and_leaves_fresh_downloads(store):
    for name in ("a.csv", "notes.txt", "download.csv.part"):
        store.inbox.put(name, b"x\n")
    assert sorted(c.name for c in store.inbox.sweep()) == ["a.csv", "notes.txt"]
    assert [e.name for e in store.inbox.waiting()] == ["download.csv.part"]


def test_a_sweep_waits_only_as_long_as_its_youngest_file_must_be_quiet(tmp_path, monkeypatch):
    from tasks.store import inbox as inbox_module
    from tasks.store import open_store

    waits = []
    monkeypatch.setattr(inbox_module.time, "sleep", lambda s: waits.append(s))  # the wait it chose, not taken
    store = open_store(str(tmp_path / "data"))
    store.inbox.make_ready()
    old = tmp_path / "data" / "inbox" / "dropped last night.csv"
    old.write_text("a\n1\n")
    os.utime(old, (time.time() - 60, time.time() - 60))
    assert [c.name for c in store.inbox.sweep()] == ["dropped last night.csv"]
    assert waits == [inbox_module.SCAN_GAP_S]  # quiet long ago: two listings apart, no settle
    store.inbox.put("just now.csv", b"a\n1\n")
    assert store.inbox.sweep() == []  # not quiet yet (the sleep was not taken)
    assert 2.5 < waits[-1] <= store.inbox.settle_s


def test_a_sweep_claims_abandoned_downloads_once_they_are_stale(store):
    store.inbox.put("download.csv.part", b"x\n")
    assert store.inbox.sweep() == []
    assert [c.name for c in store.inbox.sweep(stale_other_s=0)] == ["download.csv.part"]


def test_odd_inbox_entries_never_block_the_inbox_and_each_is_explained(tmp_path):
    from tasks.store import open_store

    store = open_store(str(tmp_path / "data"))
    inbox = tmp_path / "data" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "a folder.csv").mkdir()
    os.mkfifo(inbox / "pipe.csv")  # opening it would block a reader forever
    (tmp_path / "elsewhere.csv").write_text("a\n1\n")
    (inbox / "link.csv").symlink_to(tmp_path / "elsewhere.csv")
    for name in ("two__parts.csv", "UPPER.CSV", "ünïcödé name with spaces.csv"):
        (inbox / name).write_text("a\n1\n")
    claims = _claim_now(store)
    assert sorted(c.name for c in claims) == sorted(["two__parts.csv", "UPPER.CSV", "ünïcödé name with spaces.csv"])
    assert sorted(c.name for c in store.inbox.pending()) == sorted(c.name for c in claims)  # names survive the claim
    assert store.inbox.left_alone() == {
        "a folder.csv": "a folder: left alone, drop regular files only",
        "pipe.csv": "not a regular file (a pipe, socket or device): left alone, drop regular files only",
        "link.csv": "a symbolic link: left alone, drop regular files only",
    }
    assert store.inbox.sweep(stale_other_s=0) == []  # the sweep leaves them alone too


def test_the_kernel_tells_moved_in_from_written_in_place(tmp_path):
    import asyncio

    from tasks.store import open_store
    from tasks.store.inbox import FinishedFiles

    store = open_store(str(tmp_path / "data"))
    store.inbox.make_ready()
    inbox = tmp_path / "data" / "inbox"
    heard = store.inbox.finished_files()
    assert heard is not None  # Linux: inotify

    async def scenario() -> list[list[tuple[str, str]]]:
        answers = []
        with open(inbox / "slow.csv", "w") as fh:  # open and being written: never finished
            for i in range(4):
                fh.write(f"{i}\n")
                fh.flush()
                answers.append(await heard.wait(0.2))
        answers.append(await heard.wait(2))  # closed now
        (inbox / ".hidden.tmp").write_text("x")
        (inbox / "download.csv.part").write_text("x")
        (inbox / ".hidden.tmp").rename(inbox / "moved in.csv")
        answers.append(await heard.wait(2))
        return answers

    answers = asyncio.run(scenario())
    heard.close()
    assert all(a in ([], [("slow.csv", FinishedFiles.WRITING)]) for a in answers[:4])
    assert answers[4] == [("slow.csv", FinishedFiles.CLOSED)]
    assert answers[5] == [("moved in.csv", FinishedFiles.MOVED)]  # not the hidden temp file, not the .part download
    claims = store.inbox.claim_finished(["slow.csv", "moved in.csv"])
    assert sorted(c.name for c in claims) == ["moved in.csv", "slow.csv"]
    assert sorted(p.name for p in inbox.iterdir()) == ["download.csv.part"]


def test_a_file_moved_in_is_ready_at_once_one_closed_once_after_a_short_quiet():
    from tasks.store.inbox import FIRST_CLOSE_QUIET_S, FinishedFiles, SettleClock

    clock = SettleClock(settle_s=3.0)
    heard = [("moved.csv", FinishedFiles.MOVED), ("copied.csv", FinishedFiles.WRITING), ("copied.csv", FinishedFiles.CLOSED)]
    assert clock.hear(heard, now=100.0) == ["moved.csv"]
    assert clock.next_due() == 100.0 + FIRST_CLOSE_QUIET_S  # `cp`: one open, one close
    assert clock.due(now=100.0 + FIRST_CLOSE_QUIET_S / 2) == []
    assert clock.due(now=100.0 + FIRST_CLOSE_QUIET_S) == ["copied.csv"]
    assert clock.due(now=200.0) == []  # returned once


def test_a_file_closed_twice_is_a_reopening_writer_and_waits_the_whole_settle():
    from tasks.store.inbox import FIRST_CLOSE_QUIET_S, FinishedFiles, SettleClock

    clock = SettleClock(settle_s=3.0)
    clock.hear([("log.csv", FinishedFiles.CLOSED)], now=100.0)
    # The writer reopens the file to append, within the first quiet time: the clock starts again.
    clock.hear([("log.csv", FinishedFiles.WRITING)], now=100.0 + FIRST_CLOSE_QUIET_S / 2)
    assert clock.next_due() is None  # being written: no deadline until it is closed
    clock.hear([("log.csv", FinishedFiles.CLOSED)], now=101.0)
    assert clock.due(now=101.0 + FIRST_CLOSE_QUIET_S) == []  # closed twice: the whole settle
    assert clock.due(now=103.5) == [] and clock.due(now=104.1) == ["log.csv"]
    # Taken: a new file of the same name is closed once again.
    clock.hear([("log.csv", FinishedFiles.CLOSED)], now=300.0)
    assert clock.next_due() == 300.0 + FIRST_CLOSE_QUIET_S


def test_a_settle_shorter_than_the_first_quiet_time_bounds_both():
    from tasks.store.inbox import FinishedFiles, SettleClock

    clock = SettleClock(settle_s=0.0)  # PIPELINE_INBOX_SETTLE_S=0: take every closed file at once
    clock.hear([("a.csv", FinishedFiles.CLOSED)], now=5.0)
    assert clock.due(now=5.0) == ["a.csv"]


def test_the_kernel_reports_a_reopening_writer_close_by_close(tmp_path):
    """Two appends within one answer: both closes are reported, so the clock sees a reopener."""
    import asyncio

    from tasks.store import open_store
    from tasks.store.inbox import FinishedFiles, SettleClock

    store = open_store(str(tmp_path / "data"))
    store.inbox.make_ready()
    heard = store.inbox.finished_files()

    async def two_appends() -> list[tuple[str, str]]:
        for row in ("a\n", "1\n"):
            with open(tmp_path / "data" / "inbox" / "log.csv", "a") as fh:
                fh.write(row)
        return await heard.wait(2)

    events = asyncio.run(two_appends())
    heard.close()
    assert [s for n, s in events if s == FinishedFiles.CLOSED] == [FinishedFiles.CLOSED] * 2
    clock = SettleClock(settle_s=3.0)
    clock.hear(events, now=0.0)
    assert clock.next_due() == 3.0


def test_object_storage_has_no_kernel_listener(store):
    store.inbox.make_ready()
    heard = store.inbox.finished_files()
    assert (heard is None) == (not store.backend.can_rename)
    if heard is not None:
        heard.close()
