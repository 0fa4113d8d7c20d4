"""Ingest: every claimed file ends in exactly one place; batches are content-hashed and immutable."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import csv_bytes, everything, iris_sample

from tasks.drops import UnreadableDrop, read_drop
from tasks.schema import COLUMNS
from tasks.stages.ingest import ingest
from tasks.store.batches import batch_id_for


def _drop(store, name: str, content: bytes) -> None:
    store.inbox.add_claimed(name, content)


def _places(store, *names: str) -> list[str]:
    """Where each named original is now (top-level folder), over the whole store."""
    return sorted(k.split("/")[0] for k in everything(store) if k.rsplit("/", 1)[-1] in names)


def test_an_empty_data_set_is_seeded_with_iris_once(store):
    result = ingest(store)
    assert [b["file"] for b in result.new_batches] == ["iris_seed.csv"] and result.rows_added == 150
    (manifest,) = store.batches.committed()
    frame = store.batches.read(manifest["batch_id"])
    assert list(frame.columns) == COLUMNS and len(frame) == 150
    assert store.backend.exists(f"archive/{manifest['batch_id']}/iris_seed.csv")
    assert ingest(store).new_batches == []  # seeded once
    assert store.inbox.pending() == [] and store.inbox.waiting() == []


def test_a_good_drop_becomes_a_batch_and_its_original_is_archived(store):
    content = csv_bytes(iris_sample(30, seed=1))
    _drop(store, "new.csv", content)
    (batch,) = ingest(store, seed_if_empty=False).new_batches
    manifest = store.batches.manifest(batch["batch_id"])
    assert manifest["rows"] == 30 and manifest["source_file"] == "new.csv"
    assert batch["batch_id"] == batch_id_for(manifest["sha256"])
    assert store.backend.read_bytes(f"archive/{batch['batch_id']}/new.csv") == content
    assert store.inbox.pending() == [] and not any(k.startswith(("inbox/", "claimed/")) for k in everything(store))


def test_the_same_content_dropped_twice_is_quarantined_as_a_duplicate(store):
    content = csv_bytes(iris_sample(20, seed=2))
    _drop(store, "a.csv", content)
    ingest(store, seed_if_empty=False)
    _drop(store, "a-again.csv", content)
    result = ingest(store, seed_if_empty=False)
    assert result.new_batches == []
    (q,) = result.quarantined
    assert "duplicate" in q["reason"] and len(store.batches.committed()) == 1
    assert store.backend.read_bytes(f"quarantine/{q['quarantine_id']}/original/a-again.csv") == content


def test_a_non_csv_file_is_quarantined_with_its_reason(store):
    _drop(store, "notes.txt", b"hello\n")
    (q,) = ingest(store, seed_if_empty=False).quarantined
    reason = store.quarantine.reason(q["quarantine_id"])
    assert "not a .csv file" in reason["reason"] and reason["stage"] == "ingest" and reason["file"] == "notes.txt"
    assert store.backend.read_bytes(f"quarantine/{q['quarantine_id']}/original/notes.txt") == b"hello\n"


def test_each_file_of_a_mixed_drop_ends_in_exactly_one_place(store):
    _drop(store, "good.csv", csv_bytes(iris_sample(10, seed=3)))
    _drop(store, "empty.csv", b"")
    _drop(store, "junk.csv", b"\x00\x01\x02")
    ingest(store, seed_if_empty=False)
    assert _places(store, "good.csv", "empty.csv", "junk.csv") == ["archive", "quarantine", "quarantine"]
    assert store.inbox.pending() == []


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
    ids=[
        "empty",
        "one-byte",
        "blank-lines",
        "header-only",
        "binary",
        "latin-1",
        "semicolon",
        "very-wide-row",
        "duplicated-header",
    ],
)
def test_unreadable_files_are_quarantined_at_ingest_with_a_clear_reason(store, tmp_path, content, expected):
    data = content.encode() if isinstance(content, str) else content
    (tmp_path / "drop.csv").write_bytes(data)
    with pytest.raises(UnreadableDrop, match=expected):
        read_drop(tmp_path / "drop.csv")
    _drop(store, "drop.csv", data)
    result = ingest(store, seed_if_empty=False)  # must not raise
    assert result.new_batches == [] and store.batches.committed() == []
    (q,) = result.quarantined
    assert expected in store.quarantine.reason(q["quarantine_id"])["reason"]
    assert store.backend.read_bytes(f"quarantine/{q['quarantine_id']}/original/drop.csv") == data
    assert store.inbox.pending() == []


def test_the_quarantine_listing_shows_every_rejected_file_with_its_reason(store):
    _drop(store, "a.txt", b"x")
    ingest(store, seed_if_empty=False)
    _drop(store, "b.csv", b"")
    ingest(store, seed_if_empty=False)
    items = store.quarantine.entries()
    assert [(i["file"], i["stage"]) for i in items] == [("a.txt", "ingest"), ("b.csv", "ingest")]
    assert "not a .csv" in items[0]["reason"] and "empty" in items[1]["reason"]


def test_a_read_batch_keeps_its_dtypes(store):
    _drop(store, "x.csv", csv_bytes(iris_sample(12, seed=5)))
    (batch,) = ingest(store, seed_if_empty=False).new_batches
    frame = store.batches.read(batch["batch_id"])
    assert frame.dtypes.map(str).tolist() == ["float64"] * 4 + ["int64"]
    pd.testing.assert_frame_equal(frame, iris_sample(12, seed=5))
