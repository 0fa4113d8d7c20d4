"""What every stage returns: a typed result that says what happened, in four views.

The orchestration layer turns it into Airflow terms (asset-event extra, skip, fail,
task log), so DAG files build nothing by hand.
"""

from __future__ import annotations

from typing import Any


class StageResult:
    def event_extra(self) -> dict[str, Any]:
        """Metadata for the stage's asset event (shown on Airflow's Assets page)."""
        raise NotImplementedError

    def summary(self) -> dict[str, Any]:
        """A small return value (the task's XCom)."""
        return self.event_extra()

    def nothing_new(self) -> str | None:
        """Why there is nothing to emit (the task is skipped, downstream does not fire)."""
        return None

    def failure(self) -> str | None:
        """Why the run must fail without retry (bad data does not get better)."""
        return None

    def rejections(self) -> list[dict[str, Any]]:
        """What this stage quarantined, one entry per file or batch: ``file``, ``stage``,
        ``reason``, ``quarantine_id`` (each becomes a ``quarantine`` asset event)."""
        return []

    def log_lines(self) -> list[str]:
        return []

    def drift_checks(self) -> list[dict[str, Any]]:
        """Drift checks this stage made, each one event on the ``drift`` asset: ``source``,
        ``drifted``, ``dataset_drift``, ``scores`` (the task must have the DRIFTED alias)."""
        return []

    def alerts(self) -> list[dict[str, Any]]:
        """What people are told about this result, beside rejections: each with ``kind``,
        ``level``, ``what``, ``why`` and the ``versions`` or ``link`` it concerns."""
        return []


def where_each_went(quarantined: list[dict[str, Any]]) -> str:
    """``file -> quarantine/<id>: reason`` for each rejection, for a failure message."""
    return " | ".join(f"{q['file']} -> quarantine/{q['quarantine_id']}: {q['reason']}" for q in quarantined)
