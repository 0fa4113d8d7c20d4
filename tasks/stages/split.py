"""Features: every validated batch's train/test split, and the feature set that lists them.

Each batch is split on its own (stratified, fixed seed) when it passes the gate, and
stored once: adding a batch never moves an existing row between train and test (the
held-out set only grows, and a champion is never scored on rows it was trained on), and
never re-reads the history. A feature set is the list of splits of the validated batches.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tasks.config import PipelineConfig
from tasks.ml.splitting import store_split
from tasks.results import StageResult
from tasks.store import Store
from tasks.store.features import split_key


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
    # "layout": feature sets listing per-batch splits replaced copied train/test files.
    key = json.dumps({"batches": sorted(batch_ids), "test_size": test_size, "seed": seed, "layout": 2})
    return "f-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def build_features(store: Store, config: PipelineConfig, gate: dict[str, Any] | None = None) -> FeaturesResult:
    """Make the validated batches' splits the current feature set, unless it is current
    already. Batches are split when they pass the gate; a batch without a split for the
    current settings (settings changed, a released batch) is split here, once."""
    batches = store.batches.validated()
    if not batches:
        raise ValueError("no validated batches to build features from")
    fp = fingerprint([b["batch_id"] for b in batches], config.test_size, config.seed)
    current = store.features.current()
    if current is not None and current["fingerprint"] == fp:
        return FeaturesResult(None, gate)
    key = split_key(config.test_size, config.seed)
    splits = [
        store.features.split(key, b["batch_id"]) or store_split(store, b["batch_id"], store.batches.read(b["batch_id"]), config)
        for b in batches
    ]
    totals = {part: sum((Counter(s[f"class_counts_{part}"]) for s in splits), Counter()) for part in ("train", "test")}
    manifest = {
        "fingerprint": fp,
        "split_key": key,
        "batches": [b["batch_id"] for b in batches],
        "batch_lineage": [{"batch_id": b["batch_id"], "sha256": b["sha256"], "rows": b["rows"]} for b in batches],
        "splits": [{k: s[k] for k in ("batch_id", "rows_train", "rows_test")} for s in splits],
        "rows_train": sum(s["rows_train"] for s in splits),
        "rows_test": sum(s["rows_test"] for s in splits),
        "class_counts_train": dict(sorted(totals["train"].items())),
        "class_counts_test": dict(sorted(totals["test"].items())),
        "test_size": config.test_size,
        "seed": config.seed,
        "built_at": datetime.now(UTC).isoformat(timespec="microseconds"),
    }
    store.features.commit(manifest)
    return FeaturesResult(manifest, gate)
