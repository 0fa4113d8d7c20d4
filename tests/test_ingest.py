"""Ingest: every claimed file ends in exactly one place, batches are content-hashed and immutable."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import iris_sample
from tasks.ingest import UnreadableDrop, batch_id_for, ingest_claimed, ingest_file, list_batches, read_drop
from tasks.atomic_io import sha256_file
from tasks.schema import COLUMNS


def _claim(dirs, name: str, content: bytes | str, prefix: str = "20260101T000000-00000000") -> None:
    path = dirs.claimed / f"{prefix}__{name}"
    path.write_bytes(content.encode() if isinstance(content, str) else content)


def _everything(dirs) -> list[str]:
    return sorted(str(p.relative_to(dirs.root)) for p in dirs.root.rglob("*") if p.is_file())


def test_empty_data_set_is_seeded_with_iris(dirs):
    report = ingest_claimed(dirs.claimed, dirs.raw, dirs.archive, dirs.quarantine)
    assert [b["file"] for b in report.new_batches] == ["iris_seed.csv"] and report.rows_added == 150
    (batch,) = list_batches(dirs.raw)
    frame = pd.read_parquet(dirs.raw / batch / "data.parquet")
    assert list(frame.columns) == COLUMNS and len(frame) == 150
    assert (dirs.archive / batch / "iris_seed.csv").is_file()
    assert ingest_claimed(dirs.claimed, dirs.raw, dirs.archive, dirs.quarantine).new_batches == []  # seeded once


def test_a_good_drop_becomes_a_batch_and_its_original_is_archived(dirs):
    csv = iris_sample(30, seed=1).to_csv(index=False)
    _claim(dirs, "new.csv", csv)
    report = ingest_claimed(dirs.claimed, dirs.raw, dirs.archive, dirs.quarantine, seed_if_empty=False)
    (batch,) = report.new_batches
    manifest = json.loads((dirs.raw / batch["batch_id"] / "manifest.json").read_text())
    assert manifest["rows"] == 30 and manifest["source_file"] == "new.csv"
    assert batch["batch_id"] == batch_id_for(manifest["sha256"])
    assert (dirs.archive / batch["batch_id"] / "new.csv").read_text() == csv
    assert list(dirs.claimed.iterdir()) == []


def test_the_same_content_dropped_twice_is_not_added_again(dirs):
    csv = iris_sample(20, seed=2).to_csv(index=False)
    _claim(dirs, "a.csv", csv, prefix="20260101T000000-aaaaaaaa")
    ingest_claimed(dirs.claimed, dirs.raw, dirs.archive, dirs.quarantine, seed_if_empty=False)
    _claim(dirs, "a-again.csv", csv, prefix="20260101T000001-bbbbbbbb")
    report = ingest_claimed(dirs.claimed, dirs.raw, dirs.archive, dirs.quarantine, seed_if_empty=False)
    assert report.new_batches == []
    (q,) = report.quarantined
    assert "duplicate" in q["reason"] and len(list_batches(dirs.raw)) == 1
    assert (dirs.quarantine / q["quarantine_id"] / "a-again.csv").read_text() == csv


def test_a_non_csv_file_is_quarantined_with_its_reason(dirs):
    _claim(dirs, "notes.txt", "hello\n")
    report = ingest_claimed(dirs.claimed, dirs.raw, dirs.archive, dirs.quarantine, seed_if_empty=False)
    (q,) = report.quarantined
    reason = json.loads((dirs.quarantine / q["quarantine_id"] / "reason.json").read_text())
    assert "not a .csv file" in reason["reason"] and reason["stage"] == "ingest" and reason["file"] == "notes.txt"
    assert (dirs.quarantine / q["quarantine_id"] / "notes.txt").read_text() == "hello\n"


def test_each_file_of_a_mixed_drop_ends_in_exactly_one_place(dirs):
    good = iris_sample(10, seed=3).to_csv(index=False)
    _claim(dirs, "good.csv", good, prefix="20260101T000000-11111111")
    _claim(dirs, "empty.csv", b"", prefix="20260101T000000-22222222")
    _claim(dirs, "junk.csv", b"\x00\x01\x02", prefix="20260101T000000-33333333")
    ingest_claimed(dirs.claimed, dirs.raw, dirs.archive, dirs.quarantine, seed_if_empty=False)
    originals = [p for p in _everything(dirs) if p.rsplit("/", 1)[-1] in {"good.csv", "empty.csv", "junk.csv"}]
    assert sorted(p.split("/")[0] for p in originals) == ["archive", "quarantine", "quarantine"]
    assert len(originals) == 3 and list(dirs.claimed.iterdir()) == []


def test_a_crash_between_batch_and_archive_is_finished_not_called_a_duplicate(dirs):
    csv = iris_sample(10, seed=4).to_csv(index=False)
    _claim(dirs, "x.csv", csv)
    path = next(dirs.claimed.iterdir())
    bid = batch_id_for(sha256_file(path))
    # Simulate the crash: the batch was written but the original never archived.
    from tasks.ingest import write_batch

    write_batch(read_drop(path, display_name="x.csv"), dirs.raw, bid, {"batch_id": bid, "ingested_at": "2026-01-01T00:00:00+00:00"})
    result = ingest_file(path, dirs.raw, dirs.archive, dirs.quarantine)
    assert result["outcome"] == "batch" and (dirs.archive / bid / "x.csv").is_file()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"5", "single column"),
        ("\n\n", "blank"),
        (",".join(COLUMNS) + "\n", "no data rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
        ("longueur s\xe9pale,b,c,d,target\n1,2,3,4,0\n".encode("latin-1"), "not UTF-8"),
        (";".join(COLUMNS) + "\n5.1;3.5;1.4;0.2;0\n", "semicolon-delimited"),
        (",".join(COLUMNS) + "\n" + "1," * 999 + "1\n", "malformed CSV"),
        ("a,a,b,c,target\n1,2,3,4,0\n", "repeats column name"),
    ],
    ids=["empty", "one-byte", "blank-lines", "header-only", "binary", "latin-1", "semicolon", "very-wide-row", "duplicated-header"],
)
def test_unreadable_files_are_quarantined_at_ingest_with_a_clear_reason(dirs, content, expected):
    data = content.encode() if isinstance(content, str) else content
    _claim(dirs, "drop.csv", data)
    with pytest.raises(UnreadableDrop, match=expected):
        read_drop(next(dirs.claimed.iterdir()))
    report = ingest_claimed(dirs.claimed, dirs.raw, dirs.archive, dirs.quarantine, seed_if_empty=False)  # must not raise
    assert report.new_batches == [] and list_batches(dirs.raw) == []
    (q,) = report.quarantined
    folder = dirs.quarantine / q["quarantine_id"]
    assert expected in json.loads((folder / "reason.json").read_text())["reason"]
    assert (folder / "drop.csv").read_bytes() == data and list(dirs.claimed.iterdir()) == []


def test_quarantine_listing_shows_every_rejected_file_with_its_reason(dirs):
    from tasks.quarantine import list_quarantined

    _claim(dirs, "a.txt", "x", prefix="20260101T000000-00000001")
    _claim(dirs, "b.csv", b"", prefix="20260101T000000-00000002")
    ingest_claimed(dirs.claimed, dirs.raw, dirs.archive, dirs.quarantine, seed_if_empty=False)
    items = list_quarantined(dirs.quarantine)
    assert [(i["file"], i["stage"]) for i in items] == [("a.txt", "ingest"), ("b.csv", "ingest")]
    assert "not a .csv" in items[0]["reason"] and "empty" in items[1]["reason"]
