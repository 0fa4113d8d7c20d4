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


def _codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Each value's group as a small integer (hashing, not sorting: linear in the rows), and
    the number of groups. A small integer type lets a stable sort by group run as a radix sort."""
    codes, uniques = pd.factorize(values, sort=True)
    dtype = np.uint8 if len(uniques) <= 255 else np.uint16 if len(uniques) <= 65535 else np.int64
    return codes.astype(dtype), len(uniques)


def _grouped(positions: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``positions`` grouped by their rows' codes, each group keeping their order."""
    return positions[np.argsort(codes[positions], kind="stable")]


def stratified_order(positions: np.ndarray, target: np.ndarray, codes: np.ndarray | None = None) -> np.ndarray:
    """``positions`` reordered so that classes interleave at their proportions: every prefix
    is a stratified sample (rows within a class keep their, already shuffled, order)."""
    codes = _codes(target)[0] if codes is None else codes
    grouped = _grouped(positions, codes)
    counts = np.bincount(codes[grouped], minlength=int(codes.max(initial=0)) + 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    group = codes[grouped]
    rank = np.arange(len(grouped)) - starts[group]  # place within its class
    return grouped[np.argsort((rank + 0.5) / counts[group], kind="stable")]


QUANTILE_BINS = 10  # a number target is stratified on its deciles (fewer for a small batch)


def strata(target: pd.Series, dataset: Dataset) -> np.ndarray:
    """What a split is stratified on: the class, or the quantile bin of a number."""
    if not dataset.regression:
        return target.to_numpy()
    bins = max(1, min(QUANTILE_BINS, len(target) // 10))
    return pd.qcut(target.rank(method="first"), bins, labels=False).to_numpy() if bins > 1 else np.zeros(len(target), int)


def split_rows(
    frame: pd.DataFrame, dataset: Dataset, *, test_size: float, seed: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Stratified split of one batch's features and target (identifiers and other columns
    stay in the raw batch): those columns, and the train and the test row positions, each in
    stratified order; classes (or quantile bins of a number) too small to stratify go to
    train. Each class's test share is its proportion of the test rows (largest remainders get
    the leftover rows), drawn from one seeded shuffle. Works on row positions, in time linear
    in the rows but for two sorts by small integers and the interleaving's one sort; no row is
    copied here (a big batch's parts are gathered as they are written)."""
    from tasks.store.features import allocate

    target_values = frame[dataset.target].astype("float64") if dataset.regression else frame[dataset.target]
    rows = feature_frame(frame, dataset).assign(**{dataset.target: target_values})
    target = strata(rows[dataset.target], dataset)
    codes, n_groups = _codes(target)
    counts = np.bincount(codes, minlength=n_groups)
    splittable = counts >= 2
    in_part = splittable[codes]
    part_rows, n_classes = int(in_part.sum()), int(splittable.sum())
    n_test = int(np.ceil(part_rows * test_size))
    if part_rows == 0 or n_test < n_classes or part_rows - n_test < n_classes:  # too small: train only
        return rows, stratified_order(np.arange(len(rows)), target, codes), np.arange(0)
    shuffled = _grouped(np.random.default_rng(seed).permutation(len(rows)), codes)  # by class, shuffled within
    tests = np.array(allocate(np.where(splittable, counts, 0).tolist(), n_test))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    place = np.arange(len(shuffled)) - starts[codes[shuffled]]  # each row's place in its shuffled class
    is_test = place < tests[codes[shuffled]]
    train, test = shuffled[~is_test], shuffled[is_test]
    return rows, stratified_order(train, target, codes), stratified_order(test, target, codes)


def split_batch(frame: pd.DataFrame, dataset: Dataset, *, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The train and the test part of one batch (``split_rows``' rows, gathered)."""
    rows, train, test = split_rows(frame, dataset, test_size=test_size, seed=seed)
    return rows.iloc[train], rows.iloc[test]


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
    rows, train, test = split_rows(frame, config.dataset, test_size=config.test_size, seed=config.seed)
    target = rows[[config.dataset.target]]
    return store.features.commit_split(
        key,
        batch_id,
        rows,
        {"train": train, "test": test},
        {
            "class_counts_train": class_counts(target.iloc[train], config.dataset.target, config.dataset),
            "class_counts_test": class_counts(target.iloc[test], config.dataset.target, config.dataset),
            "test_size": config.test_size,
            "seed": config.seed,
        },
    )
