"""The data-quality gate, in two steps, on every batch not yet validated:

1. the Great Expectations suite (schema, types, ranges, classes);
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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.config import PipelineConfig
from tasks.contract import build_suite, load_suite_json, validate_frame
from tasks.modeling import features_and_target
from tasks.results import StageResult, where_each_went
from tasks.splitting import store_split
from tasks.store import Store


@dataclass
class GateResult(StageResult):
    passed: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)

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


@dataclass
class LabelCheck:
    status: str  # passed | failed | skipped
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def check_labels(store: Store, frame: pd.DataFrame, config: PipelineConfig) -> LabelCheck:
    """Does the champion agree with this batch's labels about as often as on held-out data?"""
    from scipy.stats import binomtest

    try:
        champion = store.registry.champion()
    except (ValueError, OSError) as exc:
        return LabelCheck("skipped", f"label check skipped: the champion pointer is unreadable ({exc})")
    if champion is None:
        return LabelCheck("skipped", "label check skipped: no champion yet (it starts once a model is promoted)")
    if len(frame) < config.label_min_rows:
        return LabelCheck(
            "skipped", f"label check skipped: {len(frame)} rows are too few to judge (min_rows {config.label_min_rows})"
        )
    version = champion["version"]
    judged = store.reports.metrics(version)
    if judged is None:
        return LabelCheck("skipped", f"label check skipped: no evaluation record for champion {version}")
    dataset = config.dataset
    X, y = features_and_target(frame, dataset)
    predicted = store.registry.load(version).predict(X)
    disagree = int((predicted != y.to_numpy()).sum())
    rows = len(y)
    rate, baseline = disagree / rows, 1.0 - float(judged["challenger"]["accuracy"])
    p_value = float(binomtest(disagree, rows, max(baseline, 1e-3), alternative="greater").pvalue)
    confusion = pd.crosstab(
        y.map(dataset.label).rename("label"), pd.Series(predicted, index=y.index).map(dataset.label).rename("champion")
    )
    details = {
        "champion": version,
        "rows": rows,
        "disagreements": disagree,
        "disagreement_rate": round(rate, 4),
        "held_out_disagreement_rate": round(baseline, 4),
        "p_value": p_value,
        "alpha": config.label_alpha,
        "min_excess": config.label_min_excess,
        "confusion_label_vs_champion": {
            label: {k: int(v) for k, v in row.items()} for label, row in confusion.to_dict("index").items()
        },
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
    result = GateResult()
    for manifest in store.batches.pending_validation():
        batch_id = manifest["batch_id"]
        with tempfile.TemporaryDirectory(prefix="pipeline-docs-") as docs:
            frame = store.batches.read(batch_id)
            outcome = validate_frame(frame, suite_json, config.dataset, data_docs_dir=Path(docs))
            if outcome.success:
                labels = check_labels(store, frame, config)
                if labels.status == "failed":
                    store.quarantine_batch(
                        manifest, stage="label_check", reason=labels.reason, details={"label_check": labels.details}
                    )
                    result.quarantined.append(
                        {
                            "batch_id": batch_id,
                            "file": manifest["source_file"],
                            "reason": labels.reason,
                            "quarantine_id": batch_id,
                            "stage": "label_check",
                        }
                    )
                    continue
                # Split once, now, and commit the split before the batch counts as validated.
                split = store_split(store, batch_id, frame, config)
                store.batches.mark_validated(
                    batch_id,
                    {
                        "suite": suite_json.get("name"),
                        "checks_run": outcome.checks_run,
                        "label_check": {"status": labels.status, "reason": labels.reason, **labels.details},
                        "split": {k: split[k] for k in ("split_key", "rows_train", "rows_test")},
                        "validated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    },
                )
                result.passed.append(
                    {
                        "batch_id": batch_id,
                        "file": manifest["source_file"],
                        "rows": manifest["rows"],
                        "label_check": labels.reason,
                    }
                )
                continue
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
        result.quarantined.append(
            {
                "batch_id": batch_id,
                "file": manifest["source_file"],
                "reason": outcome.reason,
                "quarantine_id": batch_id,
                "stage": "validation",
            }
        )
    return result
