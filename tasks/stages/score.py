"""Score: unlabelled files dropped in the scoring inbox are scored by the champion.

Each claimed file ends in exactly one place: a job under ``predictions/<id>/`` (its rows
with ``prediction`` and ``probability``, the original, a summary), or quarantine with the
reason (unreadable, failing the data set's checks, or no champion yet to score with).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks.config import PipelineConfig
from tasks.ml.drift import drift_alerts, figures, summary_line
from tasks.ml.scoring import LoadedModel, RefusedInput, class_counts, load_champion, read_checked, with_predictions
from tasks.results import StageResult, where_each_went
from tasks.store import Store
from tasks.store.inbox import Claim


@dataclass
class ScoreResult(StageResult):
    jobs: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)  # one check per scored file

    def nothing_new(self) -> str | None:
        return None if self.jobs else "Nothing scored: nothing to emit on 'predictions'"

    def failure(self) -> str | None:
        if self.quarantined and not self.jobs:
            return "Every file to score was rejected: " + where_each_went(self.quarantined)
        return None

    def rejections(self) -> list[dict[str, Any]]:
        return [{"stage": "score", **q} for q in self.quarantined]

    def event_extra(self) -> dict[str, Any]:
        return {
            "jobs": [j["id"] for j in self.jobs],
            "files": [j["file"] for j in self.jobs],
            "rows": sum(j["rows"] for j in self.jobs),
            "model_versions": sorted({j["model_version"] for j in self.jobs}),
            "outputs": [j["output_uri"] for j in self.jobs],
            "quarantined": [{"file": q["file"], "reason": q["reason"]} for q in self.quarantined],
        }

    def log_lines(self) -> list[str]:
        return (
            [
                f"SCORED {j['file']} ({j['rows']} rows) with {j['model_version']} -> {j['output_uri']}: {j['class_counts']}"
                for j in self.jobs
            ]
            + [f"DRIFT {d['source']}: {summary_line(d)}" for d in self.drift]
            + [f"Removed what a failed write left: {', '.join(self.cleaned)}"] * bool(self.cleaned)
        )

    def drift_checks(self) -> list[dict[str, Any]]:
        return [figures(d) for d in self.drift]

    def alerts(self) -> list[dict[str, Any]]:
        """A scored file that drifted from what the champion learned from."""
        return drift_alerts(self.drift)


def score_pending(store: Store, config: PipelineConfig) -> ScoreResult:
    """Score every pending scoring claim with the champion (loaded once per run)."""
    result = ScoreResult()
    result.cleaned = store.clean_scoring_debris()
    claims = store.scoring_inbox.pending()
    champion = load_champion(store) if claims else None
    reference = store.registry.reference(champion.version) if champion else None
    for claim in claims:
        outcome = score_claim(store, claim, champion, config)
        if outcome is None:
            continue
        scored = outcome.pop("scored", None)
        (result.jobs if outcome.pop("outcome") == "scored" else result.quarantined).append(outcome)
        if scored is not None and reference is not None:  # versions trained before references existed have none
            result.drift.append(check_drift(store, reference, scored, claim.name, champion.version, config))
    return result


def check_drift(
    store: Store, reference: dict[str, Any], scored, source: str, version: str, config: PipelineConfig
) -> dict[str, Any]:
    """Check ``scored`` rows (and their predictions) against the champion's reference; keep the check."""
    from tasks.ml.drift import check

    found = check(reference, scored, config.monitoring, predictions=scored["prediction"].to_numpy())
    return store.drift.record({"source": source, "source_kind": "scoring file", "model_version": version, **found})


def score_claim(store: Store, claim: Claim, champion: LoadedModel | None, config: PipelineConfig) -> dict[str, Any] | None:
    """Score one claimed file or quarantine it; ``None`` if it was gone."""
    return store.scoring_inbox.settle(claim, lambda local: _score_file(store, claim, local, champion, config))


def _score_file(store: Store, claim: Claim, local: Path, champion: LoadedModel | None, config: PipelineConfig) -> dict[str, Any]:
    def reject(reason: str) -> dict[str, Any]:
        store.quarantine.commit(claim.claim_id, file=claim.name, stage="score", reason=reason, original=local)
        return {"outcome": "quarantined", "file": claim.name, "reason": reason, "quarantine_id": claim.claim_id}

    if champion is None:
        return reject("no champion model yet to score with: drop labelled data in the inbox first, then drop this file again")
    try:
        frame = read_checked(local, config.dataset, display_name=claim.name)
    except RefusedInput as exc:
        return reject(str(exc))
    scored = with_predictions(champion.model, frame, config.dataset)
    summary = {
        "rows": len(scored),
        "class_counts": class_counts(scored["prediction"]),
        "model_version": champion.version,
        "model_sha256": champion.sha256,
        "scored_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    with tempfile.TemporaryDirectory(prefix="pipeline-score-") as tmp:
        output = Path(tmp) / "predictions.csv"
        scored.to_csv(output, index=False)
        record = store.predictions.commit(claim.claim_id, output=output, original=local, file=claim.name, summary=summary)
    return {"outcome": "scored", **record, "output_uri": store.predictions.output_uri(claim.claim_id), "scored": scored}


@dataclass
class ServerChecksResult(StageResult):
    """The scoring server's window checks, posted: one ``drift`` event and, if it drifted, an alert each."""

    drift: list[dict[str, Any]] = field(default_factory=list)

    def event_extra(self) -> dict[str, Any]:
        return {"checks": [d["id"] for d in self.drift]}

    def log_lines(self) -> list[str]:
        return [f"DRIFT {d['source']} ({d['rows']} rows served by {d['model_version']}): {summary_line(d)}" for d in self.drift]

    def drift_checks(self) -> list[dict[str, Any]]:
        return [figures(d) for d in self.drift]

    def alerts(self) -> list[dict[str, Any]]:
        return drift_alerts(self.drift)


def announce_server_checks(store: Store) -> ServerChecksResult:
    """The checks the scoring server kept and nobody posted yet (the server has no Airflow
    credentials): each becomes an event and, if it drifted, an alert; its mark is removed.
    A run that fails after this posts nothing for them: the checks stay in ``pipeline drift``."""
    result = ServerChecksResult()
    for check_id in store.drift.to_announce():
        if (check := store.drift.check(check_id)) is not None:
            result.drift.append(check)
        store.drift.announced(check_id)
    return result
