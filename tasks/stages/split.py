"""Features: the train/test split built from every validated batch.

Each batch is split on its own (stratified, fixed seed), so adding a batch never moves
an existing row between train and test: the held-out set only grows, and a champion is
never scored on rows it was trained on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from tasks.config import PipelineConfig
from tasks.results import StageResult
from tasks.schema import FEATURE_COLUMNS, TARGET_COLUMN
from tasks.store import Store

DTYPES = {**{c: "float64" for c in FEATURE_COLUMNS}, TARGET_COLUMN: "int64"}


@dataclass
class FeaturesResult(StageResult):
    manifest: dict[str, Any] | None
    gate: dict[str, Any] | None = None  # what the gate of the same run decided, for the event

    def nothing_new(self) -> str | None:
        return None if self.manifest else "Features are already built from exactly these batches"

    def event_extra(self) -> dict[str, Any]:
        m = self.manifest or {}
        gate = self.gate or {"passed": [], "quarantined": []}
        return {
            "fingerprint": m.get("fingerprint"),
            "passed_batches": [b["batch_id"] for b in gate["passed"]],
            "quarantined": [{"batch_id": q["batch_id"], "file": q["file"], "reason": q["reason"]} for q in gate["quarantined"]],
            "total_batches": len(m.get("batches", [])),
            "rows_train": m.get("rows_train"),
            "rows_test": m.get("rows_test"),
        }

    def summary(self) -> dict[str, Any]:
        return {k: (self.manifest or {}).get(k) for k in ("fingerprint", "rows_train", "rows_test")}


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


def build_features(store: Store, config: PipelineConfig, gate: dict[str, Any] | None = None) -> FeaturesResult:
    """Split every validated batch into the current feature set, unless it is current already."""
    batches = store.batches.validated()
    if not batches:
        raise ValueError("no validated batches to build features from")
    fp = fingerprint([b["batch_id"] for b in batches], config.test_size, config.seed)
    current = store.features.current()
    if current is not None and current["fingerprint"] == fp:
        return FeaturesResult(None, gate)
    trains, tests = [], []
    for b in batches:
        train, test = split_batch(store.batches.read(b["batch_id"]), test_size=config.test_size, seed=config.seed)
        trains.append(train)
        tests.append(test)
    train, test = pd.concat(trains, ignore_index=True), pd.concat(tests, ignore_index=True)
    manifest = {
        "fingerprint": fp,
        "batches": [b["batch_id"] for b in batches],
        "batch_lineage": [{"batch_id": b["batch_id"], "sha256": b["sha256"], "rows": b["rows"]} for b in batches],
        "rows_train": len(train),
        "rows_test": len(test),
        "class_counts_train": {str(k): int(v) for k, v in train[TARGET_COLUMN].value_counts().sort_index().items()},
        "test_size": config.test_size,
        "seed": config.seed,
        "built_at": datetime.now(UTC).isoformat(timespec="microseconds"),
    }
    store.features.commit(train, test, manifest)
    return FeaturesResult(manifest, gate)
