"""Splitting one validated batch into train and test, and storing the split: shared by the
gate (which splits each batch as it passes) and the feature-set step (which splits a batch
that has no split for the current settings)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tasks.config import Dataset, PipelineConfig
from tasks.ml.modeling import feature_frame
from tasks.store import Store
from tasks.store.features import split_key


def stratified_order(positions: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``positions`` reordered so that classes interleave at their proportions: every prefix
    is a stratified sample (rows within a class keep their, already shuffled, order)."""
    labels = target[positions]
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    rank = np.empty(len(labels), dtype=np.int64)
    for k in range(len(classes)):
        members = np.flatnonzero(inverse == k)
        rank[members] = np.arange(len(members))
    return positions[np.argsort((rank + 0.5) / counts[inverse], kind="stable")]


QUANTILE_BINS = 10  # a number target is stratified on its deciles (fewer for a small batch)


def strata(target: pd.Series, dataset: Dataset) -> np.ndarray:
    """What a split is stratified on: the class, or the quantile bin of a number."""
    if not dataset.regression:
        return target.to_numpy()
    bins = max(1, min(QUANTILE_BINS, len(target) // 10))
    return pd.qcut(target.rank(method="first"), bins, labels=False).to_numpy() if bins > 1 else np.zeros(len(target), int)


def split_batch(frame: pd.DataFrame, dataset: Dataset, *, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified split of one batch's features and target (identifiers and other columns
    stay in the raw batch), each part in stratified order; classes (or quantile bins of a
    number) too small to stratify go to train. Works on row positions and takes each part once."""
    from sklearn.model_selection import train_test_split

    target_values = frame[dataset.target].astype("float64") if dataset.regression else frame[dataset.target]
    frame = feature_frame(frame, dataset).assign(**{dataset.target: target_values})
    target = strata(frame[dataset.target], dataset)
    classes, counts = np.unique(target, return_counts=True)
    splittable = np.isin(target, classes[counts >= 2])
    part, rest = np.flatnonzero(splittable), np.flatnonzero(~splittable)
    n_test, n_classes = int(np.ceil(len(part) * test_size)), len(np.unique(target[part]))
    if len(part) == 0 or n_test < n_classes or len(part) - n_test < n_classes:
        return frame.iloc[stratified_order(np.arange(len(frame)), target)], frame.iloc[0:0]  # too small: train only
    train, test = train_test_split(part, test_size=test_size, random_state=seed, stratify=target[part])
    return frame.iloc[stratified_order(np.concatenate([train, rest]), target)], frame.iloc[stratified_order(test, target)]


def class_counts(frame: pd.DataFrame, target: str, dataset: Dataset | None = None) -> dict[str, int]:
    """Rows per class; for a number, rows per quantile bin (``q0``...)."""
    if dataset is not None and dataset.regression:
        bins = strata(frame[target], dataset) if len(frame) else np.array([], int)
        return {f"q{k}": int(v) for k, v in zip(*np.unique(bins, return_counts=True), strict=True)}
    return {str(k): int(v) for k, v in frame[target].value_counts().sort_index().items()}


def store_split(store: Store, batch_id: str, frame: pd.DataFrame, config: PipelineConfig) -> dict[str, Any]:
    """Split one validated batch and store the split (once per batch and split settings)."""
    key = split_key(config.test_size, config.seed)
    if (done := store.features.split(key, batch_id)) is not None:
        return done
    train, test = split_batch(frame, config.dataset, test_size=config.test_size, seed=config.seed)
    return store.features.commit_split(
        key,
        batch_id,
        train,
        test,
        {
            "class_counts_train": class_counts(train, config.dataset.target, config.dataset),
            "class_counts_test": class_counts(test, config.dataset.target, config.dataset),
            "test_size": config.test_size,
            "seed": config.seed,
        },
    )
