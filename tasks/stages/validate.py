"""The data-quality gate, in two steps, on every batch not yet validated:

1. the Great Expectations suite (schema, types, ranges, classes), on small batches together
   in one run where that run proves each batch's own result, on the rest one by one;
2. a label check: the champion scores the batch, and a batch whose labels it disagrees with
   far more than on held-out data (shuffled or mis-mapped labels, which pass every schema
   check) is stopped before it joins the training and held-out data.

A passing batch is split into train/test and stored (once), then marked validated (it is
never re-checked). A failing one leaves
the data set for ``quarantine/<batch_id>/`` with its reasons (and, for the suite, the GX
result and Data Docs). When nothing passes and something failed, the run fails: nothing
downstream may fire on bad data.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tasks.config import PipelineConfig
from tasks.ml.drift import check as drift_check
from tasks.ml.drift import drift_alerts, figures
from tasks.ml.modeling import features_and_target
from tasks.ml.splitting import store_split
from tasks.quality.contract import BatchValidation, build_suite, load_suite_json, passing_together, validate_frame
from tasks.results import StageResult, where_each_went
from tasks.store import Store


@dataclass
class GateResult(StageResult):
    passed: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)  # passed batches checked against the champion's reference

    def drift_checks(self) -> list[dict[str, Any]]:
        return [figures(d) for d in self.drift]

    def alerts(self) -> list[dict[str, Any]]:
        return drift_alerts(self.drift)

    def event_extra(self) -> dict[str, Any]:
        return {
            "passed_batches": [b["batch_id"] for b in self.passed],
            "quarantined": [{"batch_id": q["batch_id"], "file": q["file"], "reason": q["reason"]} for q in self.quarantined],
        }

    def summary(self) -> dict[str, Any]:
        return {"passed": self.passed, "quarantined": self.quarantined}

    def failure(self) -> str | None:
        if self.quarantined and not self.passed:
            return "No batch passed the gate: " + where_each_went(self.quarantined)
        return None

    def rejections(self) -> list[dict[str, Any]]:
        return [{k: q[k] for k in ("file", "stage", "reason", "quarantine_id", "batch_id")} for q in self.quarantined]

    def log_lines(self) -> list[str]:
        return [f"PASSED {b['batch_id']} ({b['file']}, {b['rows']} rows); {b.get('label_check', '')}" for b in self.passed]


# Small batches are validated together (one GX run on their union, see
# tasks.quality.contract.passing_together): a burst of small files costs one run, not one each. A
# batch over TOGETHER_MAX_BATCH_ROWS is validated alone (GX's fixed cost is small next to its
# own), and a union holds at most TOGETHER_MAX_ROWS rows, so memory stays that of a modest batch.
TOGETHER_MAX_BATCH_ROWS = 10_000
TOGETHER_MAX_ROWS = 200_000


@dataclass
class LabelCheck:
    status: str  # passed | failed | skipped
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class LabelJudge:
    """The label check: does the champion agree with a batch's labels about as often as on
    held-out data? The champion is read once per gate run and loaded only if a batch is judged."""

    store: Store
    config: PipelineConfig
    skip: str | None = None  # why no batch can be judged in this run
    version: str = ""
    baseline: float = 0.0  # the champion's disagreement rate on held-out data (regression: its MAE)
    held_out: dict[str, Any] = field(default_factory=dict)  # the champion's held-out scores

    @classmethod
    def of_champion(cls, store: Store, config: PipelineConfig) -> LabelJudge:
        try:
            champion = store.registry.champion()
        except (ValueError, OSError) as exc:
            return cls(store, config, skip=f"label check skipped: the champion pointer is unreadable ({exc})")
        if champion is None:
            return cls(store, config, skip="label check skipped: no champion yet (it starts once a model is promoted)")
        version = champion["version"]
        judged = store.reports.metrics(version)
        if judged is None:
            return cls(store, config, skip=f"label check skipped: no evaluation record for champion {version}")
        scores = judged["challenger"]
        if config.dataset.regression:
            if scores.get("target_sd") is None:
                return cls(store, config, skip=f"label check skipped: champion {version} has no regression scores")
            return cls(store, config, version=version, baseline=float(scores["mae"]), held_out=scores)
        return cls(store, config, version=version, baseline=1.0 - float(scores["accuracy"]), held_out=scores)

    @cached_property
    def model(self) -> Any:
        return self.store.registry.load(self.version)

    def judge(self, frames: dict[str, pd.DataFrame]) -> dict[str, LabelCheck]:
        """Each batch's verdict; the champion predicts every judged batch in one call."""
        if self.skip:
            return {key: LabelCheck("skipped", self.skip) for key in frames}
        minimum = self.config.label_min_rows
        checks = {
            key: LabelCheck("skipped", f"label check skipped: {len(f)} rows are too few to judge (min_rows {minimum})")
            for key, f in frames.items()
            if len(f) < minimum
        }
        judged = {key: features_and_target(f, self.config.dataset) for key, f in frames.items() if key not in checks}
        if judged:
            predicted = self.model.predict(pd.concat([X for X, _ in judged.values()], ignore_index=True))
            ends = np.cumsum([len(y) for _, y in judged.values()])[:-1]
            for (key, (_, y)), own in zip(judged.items(), np.split(predicted, ends), strict=True):
                checks[key] = self._verdict(y, own)
        return {key: checks[key] for key in frames}

    def _verdict(self, y: pd.Series, predicted: np.ndarray) -> LabelCheck:
        return self._error_verdict(y, predicted) if self.config.dataset.regression else self._class_verdict(y, predicted)

    def _error_verdict(self, y: pd.Series, predicted: np.ndarray) -> LabelCheck:
        """A number target: the champion's absolute errors on the batch against its held-out
        MAE. Failed when larger by a one-sided t-test and by more than ``min_excess`` of the
        held-out target's standard deviation (shuffled targets, another unit)."""
        from scipy.stats import ttest_1samp

        config, version, held_out = self.config, self.version, self.held_out
        errors = np.abs(predicted - y.to_numpy(dtype="float64"))
        mae, rmse = float(errors.mean()), float(np.sqrt((errors**2).mean()))
        baseline, allowed = self.baseline, self.baseline + config.label_min_excess * held_out["target_sd"]
        p_value = (
            float(ttest_1samp(errors, baseline, alternative="greater").pvalue) if errors.std() > 0 else float(mae <= baseline)
        )
        details = {
            "champion": version,
            "rows": len(errors),
            "mae": round(mae, 6),
            "rmse": round(rmse, 6),
            "held_out_mae": round(baseline, 6),
            "held_out_rmse": round(held_out["rmse"], 6),
            "allowed_mae": round(allowed, 6),
            "p_value": p_value,
            "alpha": config.label_alpha,
            "min_excess": config.label_min_excess,
        }
        summary = (
            f"the champion ({version}) misses this batch's '{config.dataset.target}' by {mae:.4g} on average "
            f"(MAE; RMSE {rmse:.4g}); on held-out data by {baseline:.4g} (RMSE {held_out['rmse']:.4g})"
        )
        if p_value < config.label_alpha and mae > allowed:
            return LabelCheck(
                "failed",
                f"{summary}: far beyond it (more than {allowed:.4g}): targets may be shuffled, in other units "
                "or of another quantity; fix the export, or release the batch if the world changed",
                details,
            )
        return LabelCheck("passed", f"label check passed: {summary}", details)

    def _class_verdict(self, y: pd.Series, predicted: np.ndarray) -> LabelCheck:
        from scipy.stats import binomtest

        config, dataset, version, baseline = self.config, self.config.dataset, self.version, self.baseline
        disagree = int((predicted != y.to_numpy()).sum())
        rows = len(y)
        rate = disagree / rows
        p_value = float(binomtest(disagree, rows, max(baseline, 1e-3), alternative="greater").pvalue)
        pairs = Counter(zip(map(dataset.label, y), map(dataset.label, predicted), strict=True))
        answers = sorted({answer for _, answer in pairs})
        confusion = {label: {a: pairs[label, a] for a in answers} for label in sorted({label for label, _ in pairs})}
        details = {
            "champion": version,
            "rows": rows,
            "disagreements": disagree,
            "disagreement_rate": round(rate, 4),
            "held_out_disagreement_rate": round(baseline, 4),
            "p_value": p_value,
            "alpha": config.label_alpha,
            "min_excess": config.label_min_excess,
            "confusion_label_vs_champion": confusion,
        }
        summary = (
            f"the champion ({version}) disagrees with {rate:.0%} of this batch's labels ({disagree} of {rows}); "
            f"on held-out data it disagrees with {baseline:.0%}"
        )
        if p_value < config.label_alpha and rate > baseline + config.label_min_excess:
            return LabelCheck(
                "failed", f"{summary}: labels may be shuffled or mis-mapped (see the confusion in reason.json)", details
            )
        return LabelCheck("passed", f"label check passed: {summary}", details)


def validate_pending(store: Store, config: PipelineConfig) -> GateResult:
    """Validate every committed batch the gate has not passed yet; pass it or quarantine it."""
    suite_json = load_suite_json(config.dataset.suite)
    build_suite(suite_json)  # refuse to gate with a suite that does not load as written
    labels = LabelJudge.of_champion(store, config)
    reference = store.registry.reference(labels.version) if labels.version else None  # drift checks' reference
    result = GateResult()
    for chunk in _chunks(store.batches.pending_validation()):
        frames = {m["batch_id"]: store.batches.read(m["batch_id"]) for m in chunk}
        cleared = passing_together(frames, suite_json) if len(frames) > 1 else set()
        suite_passed: dict[str, int] = {}  # batch id -> checks run
        for manifest in chunk:
            batch_id = manifest["batch_id"]
            if batch_id in cleared:
                suite_passed[batch_id] = len(suite_json["expectations"])
                continue
            outcome = _validate_alone(store, manifest, frames[batch_id], suite_json, config)
            if outcome.success:
                suite_passed[batch_id] = outcome.checks_run
            else:
                result.quarantined.append(_rejected(manifest, outcome.reason, "validation"))
        verdicts = labels.judge({key: frames[key] for key in suite_passed})
        for manifest in chunk:
            batch_id = manifest["batch_id"]
            if batch_id not in suite_passed:
                continue
            check = verdicts[batch_id]
            if check.status == "failed":
                store.quarantine_batch(manifest, stage="label_check", reason=check.reason, details={"label_check": check.details})
                result.quarantined.append(_rejected(manifest, check.reason, "label_check"))
                continue
            # Split once, now, and commit the split before the batch counts as validated.
            split = store_split(store, batch_id, frames[batch_id], config)
            store.batches.mark_validated(
                batch_id,
                {
                    "suite": suite_json.get("name"),
                    "checks_run": suite_passed[batch_id],
                    "gx_run": "together" if batch_id in cleared else "alone",
                    "label_check": {"status": check.status, "reason": check.reason, **check.details},
                    "split": {k: split[k] for k in ("split_key", "rows_train", "rows_test")},
                    "validated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                },
            )
            result.passed.append(
                {"batch_id": batch_id, "file": manifest["source_file"], "rows": manifest["rows"], "label_check": check.reason}
            )
            # A batch too small to judge is not checked: a burst of tiny files would be noise.
            if reference is not None and manifest["rows"] >= config.monitoring.min_rows:
                found = drift_check(reference, frames[batch_id], config.monitoring)
                result.drift.append(
                    store.drift.record(
                        {
                            "source": manifest["source_file"],
                            "source_kind": "labelled batch",
                            "batch_id": batch_id,
                            "model_version": labels.version,
                            **found,
                        }
                    )
                )
    return result


def _chunks(manifests: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """The pending batches in ingest order, small ones grouped for one GX run, a big one alone."""
    chunk: list[dict[str, Any]] = []
    rows = 0
    for manifest in manifests:
        big = manifest["rows"] > TOGETHER_MAX_BATCH_ROWS
        if chunk and (big or rows + manifest["rows"] > TOGETHER_MAX_ROWS):
            yield chunk
            chunk, rows = [], 0
        if big:
            yield [manifest]
            continue
        chunk.append(manifest)
        rows += manifest["rows"]
    if chunk:
        yield chunk


def _validate_alone(
    store: Store, manifest: dict[str, Any], frame: pd.DataFrame, suite_json: dict[str, Any], config: PipelineConfig
) -> BatchValidation:
    """The suite on one batch, the exact result; a failing batch is quarantined with its reasons,
    the GX result and its Data Docs page."""
    with tempfile.TemporaryDirectory(prefix="pipeline-docs-") as docs:
        outcome = validate_frame(frame, suite_json, config.dataset, data_docs_dir=Path(docs))
        if not outcome.success:
            store.quarantine_batch(
                manifest,
                stage="validation",
                reason=outcome.reason,
                details={
                    "checks_run": outcome.checks_run,
                    "checks_failed": len(outcome.problems),
                    "suggested_fix": outcome.fixes,
                    "failed_expectations": outcome.problems,  # root causes first
                    # The validation result page (opens offline); index.html only links to it.
                    "data_docs": f"data_docs/{outcome.data_docs_page}" if outcome.data_docs_page else None,
                },
                files={"gx_result.json": json.dumps(outcome.gx_result, indent=2, default=str).encode()},
                trees={"data_docs": Path(docs)},
            )
    return outcome


def _rejected(manifest: dict[str, Any], reason: str, stage: str) -> dict[str, Any]:
    batch_id = manifest["batch_id"]
    return {"batch_id": batch_id, "file": manifest["source_file"], "reason": reason, "quarantine_id": batch_id, "stage": stage}
