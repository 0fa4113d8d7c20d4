"""Atomic writes: a reader sees the old file or the new one, never a half-written one."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from tasks import atomic_io


def test_writes_land_whole_and_leave_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "x.json"
    atomic_io.write_json(target, {"a": 1})
    atomic_io.write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_a_failing_writer_keeps_the_old_file_and_cleans_up(tmp_path):
    target = tmp_path / "model.bin"
    atomic_io.write_bytes(target, b"old")

    def broken(path):
        path.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_io.write_with(target, broken)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]


def test_parquet_round_trip_keeps_dtypes(tmp_path):
    frame = pd.DataFrame({"x": [1.5, 2.5], "y": [1, 2]})
    atomic_io.write_parquet(tmp_path / "f.parquet", frame)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "f.parquet"), frame)


def test_sha256_matches_hashlib(tmp_path):
    data = bytes(range(256)) * 10000
    (tmp_path / "b").write_bytes(data)
    assert atomic_io.sha256_file(tmp_path / "b", chunk_size=1000) == hashlib.sha256(data).hexdigest()
