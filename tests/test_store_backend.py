"""Storage primitives on both backends: whole writes, exclusive creates, listings."""

from __future__ import annotations

import threading

import pytest
from conftest import everything


def test_a_write_lands_whole_and_replaces_the_old_content(store):
    store.backend.write_json("a/x.json", {"v": 1})
    store.backend.write_json("a/x.json", {"v": 2})
    assert store.backend.read_json("a/x.json") == {"v": 2}
    assert everything(store) == ["a/x.json"]  # no temp files left behind


def test_a_failing_writer_publishes_nothing_and_keeps_the_old_content(store):
    store.backend.write_bytes("m/model.bin", b"old")
    with pytest.raises(RuntimeError):
        with store.backend.writer("m/model.bin") as fh:
            fh.write(b"half")
            raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        with store.backend.writer("m/new.bin") as fh:
            fh.write(b"half")
            raise RuntimeError("disk full")
    assert store.backend.read_bytes("m/model.bin") == b"old"
    assert everything(store) == ["m/model.bin"]


def test_an_exclusive_create_has_exactly_one_winner_among_8_concurrent_writers(store):
    barrier = threading.Barrier(8)
    wins: list[int] = []

    def create(i: int) -> None:
        barrier.wait()
        if store.backend.create_exclusive("locks/one.json", f'{{"writer": {i}}}'.encode()):
            wins.append(i)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert store.backend.read_json("locks/one.json") == {"writer": wins[0]}


def test_listings_show_direct_children_and_files(store):
    for key in ("p/a.csv", "p/b.txt", "p/sub/c.csv", "q/d"):
        store.backend.write_bytes(key, b"x")
    assert store.backend.children("p") == ["a.csv", "b.txt", "sub"]
    assert sorted(e.name for e in store.backend.files("p")) == ["a.csv", "b.txt"]
    assert store.backend.children("missing") == [] and store.backend.files("missing") == []
    store.backend.delete_tree("p")
    store.backend.delete("q/d")
    store.backend.delete("q/never-was")
    assert everything(store) == []


def test_a_stamp_changes_when_the_content_does(store):
    store.backend.write_bytes("inbox/x.csv", b"first")
    (before,) = store.backend.files("inbox")
    store.backend.write_bytes("inbox/x.csv", b"second!")
    (after,) = store.backend.files("inbox")
    assert before.stamp != after.stamp and after.size == 7


@pytest.mark.parametrize("umask, file_mode, folder_mode", [(0o027, 0o640, 0o750), (0o077, 0o600, 0o700)])
def test_local_outputs_get_the_modes_the_umask_allows(tmp_path, umask, file_mode, folder_mode):
    """PIPELINE_UMASK (027 by default) is what makes reports and models readable by the group."""
    import os
    import stat

    from tasks.store import open_store

    old = os.umask(umask)
    try:
        store = open_store(str(tmp_path / "data"))
        store.backend.write_json("metrics/v0001/metrics.json", {"f1": 1.0})
        assert store.backend.create_exclusive("models/v0001/reservation.json", b"{}")
    finally:
        os.umask(old)
    for key, mode in (
        ("metrics/v0001/metrics.json", file_mode),
        ("models/v0001/reservation.json", file_mode),
        ("metrics/v0001", folder_mode),
    ):
        assert stat.S_IMODE(os.stat(store.backend.path(key)).st_mode) == mode, key
