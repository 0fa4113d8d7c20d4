"""Approve: a person's (or the timeout's) answer on a model evaluation held for approval,
and the promotion a yes leads to. Imports no Airflow: the orchestration layer hands over the
answer Airflow's Required Action received.

The first decision on a version counts (``store.approvals``): a second answer, or the answer
to a request a newer candidate superseded, changes nothing and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tasks.results import StageResult
from tasks.store import Store


@dataclass(frozen=True)
class Answer:
    """What Airflow's Required Action received."""

    approved: bool
    by: str | None  # the Airflow user who answered; None when the timeout decided
    at: str
    reason: str = ""
    timed_out: bool = False


@dataclass
class AnswerResult(StageResult):
    decision: dict[str, Any]
    counted: bool  # False: the version was decided before (superseded, or answered twice)

    def event_extra(self) -> dict[str, Any]:
        return dict(self.decision)

    def log_lines(self) -> list[str]:
        d = self.decision
        said = f"{d['version']}: {d['decision']} by {d['by']} ({d['how']}) at {d['at']}" + (
            f": {d['reason']}" if d.get("reason") else ""
        )
        return [said if self.counted else f"already decided, this answer changes nothing: {said}"]

    def alerts(self) -> list[dict[str, Any]]:
        """A person (or the timeout) said no: the challenger is refused."""
        d = self.decision
        if not self.counted or d["decision"] != "rejected":
            return []
        return [
            {
                "kind": "refused",
                "level": "info",
                "what": f"{d['version']} was not promoted: rejected by {d['by']} ({d['how']})",
                "why": d.get("reason") or "no reason given",
                "versions": [d["version"]],
            }
        ]


def record_answer(store: Store, version: str, answer: Answer) -> AnswerResult:
    """Keep the decision on ``version`` unless it was decided already."""
    how = "timeout" if answer.timed_out else "answered"
    by = answer.by or ("timeout" if answer.timed_out else "unknown")
    decision = "approved" if answer.approved else "rejected"
    on_timeout = "approve" if answer.approved else "reject"
    reason = answer.reason or (f"no answer within the approval timeout: on_timeout = {on_timeout}" if answer.timed_out else "")
    counted, record = store.approvals.decide(
        version, {"decision": decision, "how": how, "by": by, "at": answer.at, "reason": reason}
    )
    if counted and not answer.approved:
        store.registry.update_evaluation(
            version, {"evaluated_at": answer.at, "decision": "rejected", "reason": f"rejected by {by} ({how}): {reason}"}
        )
    return AnswerResult(decision=record, counted=counted)


@dataclass
class PromotionResult(StageResult):
    promoted: dict[str, Any] | None = None
    not_promoted: str = ""

    def nothing_new(self) -> str | None:
        return None if self.promoted else self.not_promoted

    def event_extra(self) -> dict[str, Any]:
        return dict(self.promoted or {})

    def log_lines(self) -> list[str]:
        if not self.promoted:
            return [self.not_promoted]
        return [f"{self.promoted['version']}: promoted - {self.promoted['reason']}"]


def promote_approved(store: Store, version: str) -> PromotionResult:
    """Make ``version`` the champion if its decision is an approval (deploy follows)."""
    entry = store.approvals.entry(version)
    decision = (entry or {}).get("decision")
    if entry is None or decision is None:
        return PromotionResult(not_promoted=f"{version} has no decision yet: nothing to promote")
    if decision["decision"] != "approved":
        return PromotionResult(not_promoted=f"{version} was {decision['decision']} ({decision['how']}): not promoted")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    approval = {k: decision.get(k) for k in ("decision", "how", "by", "at", "reason")}
    reason = f"{entry['reason']}; approved by {decision['by']} ({decision['how']}) at {decision['at']}"
    store.registry.set_champion({"version": version, "promoted_at": now, entry["metric"]: entry["score"], "approval": approval})
    store.registry.update_evaluation(version, {"evaluated_at": now, "decision": "promoted", "reason": reason})
    return PromotionResult(
        promoted={
            "version": version,
            "decision": "promoted",
            "reason": reason,
            entry["metric"]: round(entry["score"], 4),
            "champion_before": entry["champion"],
            "approval": approval,
        }
    )
