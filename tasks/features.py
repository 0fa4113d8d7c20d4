"""Features: the train/test split built from every validated raw batch.

Each batch is split on its own (stratified, fixed seed), so adding a batch never
moves an existing row between train and test: the held-out set only grows, and
a champion is never scored on rows it was trained on.
A feature set is a folder ``features/<fingerprint>/`` (``train.parquet``,
``test.parquet``, ``manifest.json``); ``features/current.json`` points at the
one to use and is replaced atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tasks import atomic_io
from tasks.ingest import DATA_FILE
from tasks.schema import FEATURE_COLUMNS, TARGET_COLUMN

CURRENT = "current.json"
DTYPES = {**{c: "float64" for c in FEATURE_COLUMNS}, TARGET_COLUMN: "int64"}


def fingerprint(batch_ids: list[str], test_size: float, seed: int) -> str:
    key = json.dumps({"batches": sorted(batch_ids), "test_size": test_size, "seed": seed})
    return "f-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def split_batch(frame: pd.DataFrame, *, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified split of one batch; classes too small to stratify go to train."""
    from sklearn.model_selection import train_test_split

    frame = frame[list(DTYPES)].astype(DTYPES)
    counts = frame[TARGET_COLUMN].value_counts()
    splittable = frame[TARGET_COLUMN].isin(counts[counts >= 2].index)
    part, rest = frame[splittable], frame[~splittable]
    n_test = int(np.ceil(len(part) * test_size))
    if part.empty or n_test < part[TARGET_COLUMN].nunique() or len(part) - n_test < part[TARGET_COLUMN].nunique():
        return frame, frame.iloc[0:0]  # too small to stratify: train only
    train, test = train_test_split(part, test_size=test_size, random_state=seed, stratify=part[TARGET_COLUMN])
    return pd.concat([train, rest]), test


def read_current(features_dir: Path) -> dict[str, Any] | None:
    pointer = features_dir / CURRENT
    return atomic_io.read_json(pointer) if pointer.is_file() else None


def current_folder(features_dir: Path) -> Path:
    current = read_current(features_dir)
    if current is None:
        raise FileNotFoundError(f"no feature set yet in {features_dir}")
    return features_dir / current["fingerprint"]


def build_features(raw_dir: Path, features_dir: Path, batch_ids: list[str], *, test_size: float, seed: int, keep: int = 3) -> dict[str, Any] | None:
    """Build the feature set for ``batch_ids``; ``None`` when it is already current."""
    if not batch_ids:
        raise ValueError("no validated batches to build features from")
    fp = fingerprint(batch_ids, test_size, seed)
    current = read_current(features_dir)
    if current and current["fingerprint"] == fp and (features_dir / fp).is_dir():
        return None
    trains, tests = [], []
    for batch_id in batch_ids:
        train, test = split_batch(pd.read_parquet(raw_dir / batch_id / DATA_FILE), test_size=test_size, seed=seed)
        trains.append(train)
        tests.append(test)
    train, test = pd.concat(trains, ignore_index=True), pd.concat(tests, ignore_index=True)
    folder = features_dir / fp
    tmp = features_dir / f".{fp}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    atomic_io.write_parquet(tmp / "train.parquet", train)
    atomic_io.write_parquet(tmp / "test.parquet", test)
    manifest = {
        "fingerprint": fp,
        "batches": batch_ids,
        "rows_train": len(train),
        "rows_test": len(test),
        "class_counts_train": {str(k): int(v) for k, v in train[TARGET_COLUMN].value_counts().sort_index().items()},
        "test_size": test_size,
        "seed": seed,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    atomic_io.write_json(tmp / "manifest.json", manifest)
    shutil.rmtree(folder, ignore_errors=True)  # same fingerprint = same content; a leftover is safe to replace
    os.rename(tmp, folder)
    atomic_io.write_json(features_dir / CURRENT, {"fingerprint": fp, "built_at": manifest["built_at"]})
    prune_feature_sets(features_dir, keep=keep)
    return manifest


def prune_feature_sets(features_dir: Path, *, keep: int) -> None:
    """Keep the newest ``keep`` feature sets (always including the current one)."""
    current = read_current(features_dir)
    sets = sorted(
        (p for p in features_dir.iterdir() if p.is_dir() and p.name.startswith("f-")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in sets[keep:]:
        if current is None or old.name != current["fingerprint"]:
            shutil.rmtree(old, ignore_errors=True)


def load_split(folder: Path, part: str) -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_parquet(folder / f"{part}.parquet")
    return frame[FEATURE_COLUMNS], frame[TARGET_COLUMN]
