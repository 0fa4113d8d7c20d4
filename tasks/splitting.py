"""Splitting one validated batch into train and test, and storing the split: shared by the
gate (which splits each batch as it passes) and the feature-set step (which splits a batch
that has no split for the current settings)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tasks.config import PipelineConfig
from tasks.schema import FEATURE_COLUMNS, TARGET_COLUMN
from tasks.store import Store
from tasks.store.features import split_key

DTYPES = {**{c: "float64" for c in FEATURE_COLUMNS}, TARGET_COLUMN: "int64"}


def stratified_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows with classes interleaved at their proportions, so that every prefix is a
    stratified sample (rows within a class keep their, already shuffled, order)."""
    target = frame[TARGET_COLUMN]
    rank = target.groupby(target).cumcount().to_numpy()
    size = target.map(target.value_counts()).to_numpy()
    return frame.iloc[np.argsort((rank + 0.5) / size, kind="stable")]


def split_batch(frame: pd.DataFrame, *, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified split of one batch, each part in stratified order; classes too small to
    stratify go to train."""
    from sklearn.model_selection import train_test_split

    frame = frame[list(DTYPES)].astype(DTYPES)
    counts = frame[TARGET_COLUMN].value_counts()
    splittable = frame[TARGET_COLUMN].isin(counts[counts >= 2].index)
    part, rest = frame[splittable], frame[~splittable]
    n_test = int(np.ceil(len(part) * test_size))
    if part.empty or n_test < part[TARGET_COLUMN].nunique() or len(part) - n_test < part[TARGET_COLUMN].nunique():
        return stratified_order(frame), frame.iloc[0:0]  # too small to stratify: train only
    train, test = train_test_split(part, test_size=test_size, random_state=seed, stratify=part[TARGET_COLUMN])
    return stratified_order(pd.concat([train, rest])), stratified_order(test)


def class_counts(frame: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame[TARGET_COLUMN].value_counts().sort_index().items()}


def store_split(store: Store, batch_id: str, frame: pd.DataFrame, config: PipelineConfig) -> dict[str, Any]:
    """Split one validated batch and store the split (once per batch and split settings)."""
    key = split_key(config.test_size, config.seed)
    if (done := store.features.split(key, batch_id)) is not None:
        return done
    train, test = split_batch(frame, test_size=config.test_size, seed=config.seed)
    return store.features.commit_split(key, batch_id, train, test, {
        "class_counts_train": class_counts(train), "class_counts_test": class_counts(test),
        "test_size": config.test_size, "seed": config.seed,
    })
