"""Features: each validated batch's train/test split, stored once, and feature sets that list them.

    features/splits/<split key>/<batch_id>/{train,test}.parquet, split.json (written last)
    features/<fingerprint>/manifest.json     a feature set: which batch splits, row counts
    features/current.json                    names the current set

A batch is split once, when it passes the gate, under the key of the split settings
(test size, seed); a feature set is only a list of committed splits, so adding a batch
writes one small manifest and never copies or re-splits the history. Rows in a split
file are in stratified order (classes interleaved at their batch's proportions), so any
prefix of a file is a stratified sample of it: bounded samples read only file heads.

The pointer is replaced in one write (a rename locally, one PUT on S3) and names only a
committed set. Old sets are pruned, never the current one, and splits only when no kept
set uses their split settings.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from tasks.store.backend import StorePart, arrow_gives_memory_back

if TYPE_CHECKING:  # pandas/pyarrow are imported where data is read: DAG files parse without them
    import numpy as np
    import pandas as pd
    import pyarrow.dataset

FEATURES, CURRENT, MANIFEST, SPLITS, SPLIT_RECORD = "features", "current.json", "manifest.json", "splits", "split.json"
PARTS = ("train", "test")
# Row groups this size keep a prefix read (a sample) to a few small reads.
ROW_GROUP_ROWS = 65_536


def _write_rows(path: Any, rows: pd.DataFrame, positions: np.ndarray) -> None:
    """``rows`` at ``positions`` as Parquet, gathered one row group at a time (a big batch's
    part is never whole in memory beside the batch), the next group gathered in a thread while
    this one is encoded: both release the GIL."""
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow_gives_memory_back()
    schema = pa.Schema.from_pandas(rows, preserve_index=False)  # of every row: a group of only missing text is still text
    # Views, not copies; an empty part is one empty group, so it still gets its schema.
    groups = [positions[start : start + ROW_GROUP_ROWS] for start in range(0, max(len(positions), 1), ROW_GROUP_ROWS)]
    with pq.ParquetWriter(path, schema) as writer, ThreadPoolExecutor(1, "row-groups") as gatherer:
        pending = gatherer.submit(_row_group, rows, groups[0], schema)
        for following in [*groups[1:], None]:
            group = pending.result()
            if following is not None:  # one group ahead at most
                pending = gatherer.submit(_row_group, rows, following, schema)
            writer.write_table(group)


def _row_group(rows: pd.DataFrame, positions: np.ndarray, schema: Any) -> Any:  # -> pyarrow.Table
    """``rows`` at ``positions``: NumPy gathers the numbers (no Python objects, no GIL held),
    pandas the rest; a missing number is stored as null, as ``to_parquet`` does."""
    import numpy as np
    import pyarrow as pa

    arrays = []
    for field in schema:
        column = rows[field.name]
        if isinstance(column.dtype, np.dtype) and column.dtype.kind in "fiub":
            arrays.append(pa.array(column.to_numpy()[positions], type=field.type, from_pandas=True))
        else:
            arrays.append(pa.Array.from_pandas(column.iloc[positions], type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def split_key(test_size: float, seed: int) -> str:
    """Splits made with the same settings share a key; new settings mean new splits."""
    return "s-" + hashlib.sha256(json.dumps({"test_size": test_size, "seed": seed}).encode()).hexdigest()[:12]


def allocate(rows: list[int], max_rows: int) -> list[int]:
    """How many rows to take from each part so that they sum to ``min(max_rows, total)``,
    in proportion to each part's size (largest remainders get the leftover rows)."""
    total = sum(rows)
    if not max_rows or total <= max_rows:
        return list(rows)
    exact = [r * max_rows / total for r in rows]
    taken = [int(x) for x in exact]
    by_remainder = sorted(range(len(rows)), key=lambda i: exact[i] - taken[i], reverse=True)
    for i in by_remainder[: max_rows - sum(taken)]:
        taken[i] += 1
    return taken


class FeatureStore(StorePart):
    folder = FEATURES

    # -- per-batch splits ------------------------------------------------------
    def _split_file(self, key: str, batch_id: str, name: str) -> str:
        return f"{FEATURES}/{SPLITS}/{key}/{batch_id}/{name}"

    def split(self, key: str, batch_id: str) -> dict[str, Any] | None:
        """The committed split of one batch under split settings ``key``, or ``None``."""
        return self.backend.read_json_or_none(self._split_file(key, batch_id, SPLIT_RECORD))

    def commit_split(
        self, key: str, batch_id: str, rows: pd.DataFrame, parts: dict[str, np.ndarray], record: dict[str, Any]
    ) -> dict[str, Any]:
        """Write each part of one batch's split (``rows`` at the part's positions, in that
        order), then ``split.json`` that commits them."""
        for part in PARTS:
            self.backend.write_with(
                self._split_file(key, batch_id, f"{part}.parquet"), lambda p, r=parts[part]: _write_rows(p, rows, r)
            )
        record = {
            **record,
            "batch_id": batch_id,
            "split_key": key,
            "rows_train": len(parts["train"]),
            "rows_test": len(parts["test"]),
        }
        self.backend.write_json(self._split_file(key, batch_id, SPLIT_RECORD), record)
        return record

    # -- feature sets ----------------------------------------------------------
    def manifest(self, fingerprint: str) -> dict[str, Any] | None:
        return self.backend.read_json_or_none(f"{FEATURES}/{fingerprint}/{MANIFEST}")

    def current(self) -> dict[str, Any] | None:
        """The manifest of the current feature set, or ``None`` before the first one."""
        pointer = self.backend.read_json_or_none(f"{FEATURES}/{CURRENT}")
        return None if pointer is None else self.manifest(pointer["fingerprint"])

    def commit(self, manifest: dict[str, Any], *, keep: int = 3) -> None:
        """Commit a feature set (its splits are committed already), then point ``current.json`` at it."""
        fp = manifest["fingerprint"]
        for s in manifest["splits"]:
            if self.split(manifest["split_key"], s["batch_id"]) is None:
                raise ValueError(f"feature set {fp} lists {s['batch_id']}, which has no committed split")
        self.backend.write_json(f"{FEATURES}/{fp}/{MANIFEST}", manifest)
        self.backend.write_json(f"{FEATURES}/{CURRENT}", {"fingerprint": fp, "built_at": manifest["built_at"]})
        self._prune(keep=keep, current=fp)

    def _part_paths(self, manifest: dict[str, Any], part: str) -> list[str]:
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {part!r}")
        return [
            self.backend.path(self._split_file(manifest["split_key"], s["batch_id"], f"{part}.parquet"))
            for s in manifest["splits"]
        ]

    def dataset(self, manifest: dict[str, Any], part: str) -> pyarrow.dataset.Dataset:
        """One part of a feature set as a lazy pyarrow dataset over its batches' files."""
        import pyarrow.dataset as ds

        return ds.dataset(self._part_paths(manifest, part), format="parquet", filesystem=self.backend.fs)

    def read(self, manifest: dict[str, Any], part: str) -> pd.DataFrame:
        """One part of a feature set, every row (batches in order)."""
        arrow_gives_memory_back()
        with self.backend.failures_named():
            return self.dataset(manifest, part).to_table().to_pandas(self_destruct=True, split_blocks=True)

    def sample(self, manifest: dict[str, Any], part: str, max_rows: int) -> pd.DataFrame:
        """At most ``max_rows`` rows of one part (0: all), each batch contributing in
        proportion to its size; each batch's share is the head of its stratified file."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        sizes = [s[f"rows_{part}"] for s in manifest["splits"]]
        wanted = allocate(sizes, max_rows)
        if wanted == sizes:
            return self.read(manifest, part)
        tables = []  # not empty: wanted sums to max_rows > 0 here
        for path, n in zip(self._part_paths(manifest, part), wanted, strict=True):
            if n == 0:
                continue
            with self.backend.failures_named(), self.backend.fs.open(path, "rb") as fh:
                tables.append(pa.Table.from_batches([next(pq.ParquetFile(fh).iter_batches(batch_size=n))]))
        return pa.concat_tables(tables).to_pandas()

    def _prune(self, *, keep: int, current: str) -> None:
        """Keep the newest ``keep`` committed sets (by build time) and always the current one;
        drop the splits of settings no kept set uses."""
        sets = [m for name in self.backend.children(FEATURES) if name.startswith("f-") and (m := self.manifest(name))]
        sets.sort(key=lambda m: m["built_at"], reverse=True)
        kept = [m for i, m in enumerate(sets) if i < keep or m["fingerprint"] == current]
        for old in sets:
            if old not in kept:
                self.backend.delete(f"{FEATURES}/{old['fingerprint']}/{MANIFEST}")
                self.backend.delete_tree(f"{FEATURES}/{old['fingerprint']}")
        used = {m.get("split_key") for m in kept}
        for key in self.backend.children(f"{FEATURES}/{SPLITS}"):
            if key not in used:
                self.backend.delete_tree(f"{FEATURES}/{SPLITS}/{key}")
