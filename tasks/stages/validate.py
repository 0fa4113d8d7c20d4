"""The data-quality gate: run the Great Expectations suite on every batch not yet validated.

A passing batch is marked validated (once; it is never re-checked). A failing one
leaves the data set for ``quarantine/<batch_id>/`` with its reasons, the GX result and
Data Docs. When nothing passes and something failed, the run fails: nothing
downstream may fire on bad data.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks.contract import build_suite, load_suite_json, validate_frame
from tasks.results import StageResult
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
            return "Validation failed: " + " | ".join(f"{q['file']}: {q['reason']}" for q in self.quarantined)
        return None

    def log_lines(self) -> list[str]:
        return [f"PASSED {b['batch_id']} ({b['file']}, {b['rows']} rows)" for b in self.passed] + [
            f"QUARANTINED {q['batch_id']} ({q['file']}) -> quarantine/{q['quarantine_id']}: {q['reason']}"
            for q in self.quarantined
        ]


def validate_pending(store: Store, suite_file: Path) -> GateResult:
    """Validate every committed batch the gate has not passed yet; pass it or quarantine it."""
    suite_json = load_suite_json(suite_file)
    build_suite(suite_json)  # refuse to gate with a suite that does not load as written
    result = GateResult()
    for manifest in store.batches.pending_validation():
        batch_id = manifest["batch_id"]
        with tempfile.TemporaryDirectory(prefix="pipeline-docs-") as docs:
            outcome = validate_frame(store.batches.read(batch_id), suite_json, data_docs_dir=Path(docs))
            if outcome.success:
                store.batches.mark_validated(batch_id, {
                    "suite": suite_json.get("name"),
                    "checks_run": outcome.checks_run,
                    "validated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                })
                result.passed.append({"batch_id": batch_id, "file": manifest["source_file"], "rows": manifest["rows"]})
                continue
            store.quarantine_batch(
                manifest,
                stage="validation",
                reason=outcome.reason,
                details={
                    "checks_run": outcome.checks_run,
                    "checks_failed": len(outcome.problems),
                    "failed_expectations": outcome.problems,
                    "data_docs": "data_docs/index.html",
                },
                files={"gx_result.json": json.dumps(outcome.gx_result, indent=2, default=str).encode()},
                trees={"data_docs": Path(docs)},
            )
        result.quarantined.append(
            {"batch_id": batch_id, "file": manifest["source_file"], "reason": outcome.reason, "quarantine_id": batch_id}
        )
    return result
