"""Ingest: every claimed file ends in exactly one place; batches are content-hashed and immutable."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import IRIS_COLUMNS, IRIS_SEED, csv_bytes, everything, iris_sample

from tasks.quality.drops import UnreadableDrop, read_drop, row_fingerprint
from tasks.stages.ingest import ingest
from tasks.store.batches import batch_id_for


def _drop(store, name: str, content: bytes) -> None:
    store.inbox.add_claimed(name, content)


def _places(store, *names: str) -> list[str]:
    """Where each named original is now (top-level folder), over the whole store."""
    return sorted(k.split("/")[0] for k in everything(store) if k.rsplit("/", 1)[-1] in names)


def test_an_empty_data_set_is_seeded_with_the_configured_seed_once(store):
    result = ingest(store, seed=IRIS_SEED)
    assert [b["file"] for b in result.new_batches] == ["iris.csv"] and result.rows_added == 150
    (manifest,) = store.batches.committed()
    frame = store.batches.read(manifest["batch_id"])
    assert list(frame.columns) == IRIS_COLUMNS and len(frame) == 150
    assert store.backend.read_bytes(f"archive/{manifest['batch_id']}/iris.csv") == IRIS_SEED.read_bytes()
    assert ingest(store, seed=IRIS_SEED).new_batches == []  # seeded once
    assert store.inbox.pending() == [] and store.inbox.waiting() == []


def test_a_good_drop_becomes_a_batch_and_its_original_is_archived(store):
    content = csv_bytes(iris_sample(30, seed=1))
    _drop(store, "new.csv", content)
    (batch,) = ingest(store).new_batches
    manifest = store.batches.manifest(batch["batch_id"])
    assert manifest["rows"] == 30 and manifest["source_file"] == "new.csv"
    assert (
        batch["batch_id"] == batch_id_for(manifest["row_fingerprint"]) == batch_id_for(row_fingerprint(iris_sample(30, seed=1)))
    )
    assert store.backend.read_bytes(f"archive/{batch['batch_id']}/new.csv") == content
    assert store.inbox.pending() == [] and not any(k.startswith(("inbox/", "claimed/")) for k in everything(store))


def test_the_same_content_dropped_twice_is_quarantined_as_a_duplicate(store):
    content = csv_bytes(iris_sample(20, seed=2))
    _drop(store, "a.csv", content)
    ingest(store)
    _drop(store, "a-again.csv", content)
    result = ingest(store)
    assert result.new_batches == []
    (q,) = result.quarantined
    assert "duplicate" in q["reason"] and len(store.batches.committed()) == 1
    assert store.backend.read_bytes(f"quarantine/{q['quarantine_id']}/original/a-again.csv") == content


def test_a_non_csv_file_is_quarantined_with_its_reason(store):
    _drop(store, "notes.txt", b"hello\n")
    (q,) = ingest(store).quarantined
    reason = store.quarantine.reason(q["quarantine_id"])
    assert "not a .csv file" in reason["reason"] and reason["stage"] == "ingest" and reason["file"] == "notes.txt"
    assert store.backend.read_bytes(f"quarantine/{q['quarantine_id']}/original/notes.txt") == b"hello\n"


def test_each_file_of_a_mixed_drop_ends_in_exactly_one_place(store):
    _drop(store, "good.csv", csv_bytes(iris_sample(10, seed=3)))
    _drop(store, "empty.csv", b"")
    _drop(store, "junk.csv", b"\x00\x01\x02")
    ingest(store)
    assert _places(store, "good.csv", "empty.csv", "junk.csv") == ["archive", "quarantine", "quarantine"]
    assert store.inbox.pending() == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"5", "single column"),
        ("\n\n", "blank"),
        (",".join(IRIS_COLUMNS) + "\n", "no data rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
        ("longueur s\xe9pale,b,c,d,target\n1,2,3,4,0\n".encode("latin-1"), "not UTF-8"),
        (";".join(IRIS_COLUMNS) + "\n5.1;3.5;1.4;0.2;0\n", "semicolon-delimited"),
        (",".join(IRIS_COLUMNS) + "\n" + "1," * 999 + "1\n", "malformed CSV"),
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
    result = ingest(store)  # must not raise
    assert result.new_batches == [] and store.batches.committed() == []
    (q,) = result.quarantined
    assert expected in store.quarantine.reason(q["quarantine_id"])["reason"]
    assert store.backend.read_bytes(f"quarantine/{q['quarantine_id']}/original/drop.csv") == data
    assert store.inbox.pending() == []


def test_the_quarantine_listing_shows_every_rejected_file_with_its_reason(store):
    _drop(store, "a.txt", b"x")
    ingest(store)
    _drop(store, "b.csv", b"")
    ingest(store)
    items = store.quarantine.entries()
    assert [(i["file"], i["stage"]) for i in items] == [("a.txt", "ingest"), ("b.csv", "ingest")]
    assert "not a .csv" in items[0]["reason"] and "empty" in items[1]["reason"]


def test_a_read_batch_keeps_its_dtypes(store):
    _drop(store, "x.csv", csv_bytes(iris_sample(12, seed=5)))
    (batch,) = ingest(store).new_batches
    frame = store.batches.read(batch["batch_id"])
    assert frame.dtypes.map(str).tolist() == ["float64"] * 4 + ["int64"]
    pd.testing.assert_frame_equal(frame, iris_sample(12, seed=5))


def test_without_a_seed_an_empty_store_waits_for_the_first_drop(store):
    assert ingest(store).new_batches == [] and store.batches.committed() == []


def _reencoded(frame: pd.DataFrame) -> bytes:
    """The same rows as another tool writes them: BOM, CRLF, every field quoted, columns
    reversed, rows reversed, integers written as 5.0."""
    out = frame[list(reversed(frame.columns))].iloc[::-1].astype("float64")
    return b"\xef\xbb\xbf" + out.to_csv(index=False, quoting=1, lineterminator="\r\n").encode()


def test_the_same_rows_reencoded_are_a_duplicate(store):
    rows = iris_sample(25, seed=8)
    _drop(store, "a.csv", csv_bytes(rows))
    (batch,) = ingest(store).new_batches
    _drop(store, "a-from-excel.csv", _reencoded(rows))
    (q,) = ingest(store).quarantined
    assert q["reason"].startswith(f"duplicate: the same rows were already ingested as batch {batch['batch_id']}")
    assert len(store.batches.committed()) == 1


def test_a_different_row_is_not_a_duplicate(store):
    rows = iris_sample(25, seed=8)
    _drop(store, "a.csv", csv_bytes(rows))
    ingest(store)
    changed = rows.copy()
    changed.iloc[3, 0] += 0.1
    _drop(store, "b.csv", csv_bytes(changed))
    assert len(ingest(store).new_batches) == 1


def test_a_pandas_index_column_is_dropped_with_a_note(store):
    rows = iris_sample(15, seed=9)
    _drop(store, "indexed.csv", rows.to_csv().encode())  # pandas' default writes the index
    (batch,) = ingest(store).new_batches
    manifest = store.batches.manifest(batch["batch_id"])
    assert manifest["columns"] == IRIS_COLUMNS and "pandas row index" in manifest["notes"][0]
    pd.testing.assert_frame_equal(store.batches.read(batch["batch_id"]), rows)


def test_a_named_integer_first_column_is_kept(store):
    rows = iris_sample(15, seed=9).assign(id=range(15))[["id", *IRIS_COLUMNS]]
    _drop(store, "ids.csv", csv_bytes(rows))
    (batch,) = ingest(store).new_batches
    assert store.batches.manifest(batch["batch_id"])["columns"] == ["id", *IRIS_COLUMNS]


def test_a_file_without_a_header_row_says_so(store):
    _drop(store, "no-header.csv", csv_bytes(iris_sample(10, seed=4), header=False))
    (q,) = ingest(store).quarantined
    assert q["reason"].startswith("the first row looks like data, not column names")
