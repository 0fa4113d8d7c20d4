"""The pipeline's state in one dictionary: models, what is live, scoring, quarantine, inbox.
Read-only, any backend."""

from __future__ import annotations

from typing import Any

from tasks.store import Store
from tasks.ui.alerts import message_summary


def model_rows(store: Store) -> list[dict[str, Any]]:
    """Every registered version, oldest first, with its evaluation (if judged yet)."""
    champion = (store.registry.champion() or {}).get("version")
    rows = []
    for version in store.registry.versions():
        card = store.registry.card(version)
        metrics = store.reports.metrics(version) or {}
        judged = store.registry.evaluation(version) or {}  # moves on after an approval's answer
        metric = metrics.get("primary_metric")
        rows.append(
            {
                "version": version,
                "created_at": card.get("created_at"),
                "estimator": card.get("estimator", "").rsplit(".", 1)[-1],
                "params": card.get("params", {}),
                "rows_used": card.get("rows_used"),
                "evaluated_at": metrics.get("evaluated_at"),
                "decision": judged.get("decision") or metrics.get("decision", "not evaluated yet"),
                "reason": judged.get("reason") or metrics.get("reason", ""),
                "metric": metric,
                "score": metrics["challenger"].get(metric) if metric else None,
                "scores": headline_scores(metrics.get("challenger") or {}),
                "champion_then": (metrics.get("champion") or {}).get("version"),
                "champion_score_then": (metrics.get("champion") or {}).get(metric) if metric else None,
                "is_champion": version == champion,
                "has_report": bool(metrics),
            }
        )
    return rows


HEADLINE_SCORES = ("rmse", "mae", "r2", "accuracy", "f1_macro", "roc_auc")  # what a version's row shows, when scored


def headline_scores(scores: dict[str, Any]) -> dict[str, float]:
    """A version's main scores: RMSE, MAE and R² for a number target; accuracy, macro F1
    (and ROC AUC) for classes."""
    return {k: round(scores[k], 4) for k in HEADLINE_SCORES if scores.get(k) is not None}


def inbox_state(store: Store) -> dict[str, Any]:
    batches = store.batches.committed()
    last = batches[-1] if batches else None
    return {
        "waiting": [e.name for e in store.inbox.waiting()],
        "claimed": [c.name for c in store.inbox.pending()],
        "batches": len(batches),
        "last_ingest": None
        if last is None
        else {"file": last["source_file"], "batch_id": last["batch_id"], "at": last["ingested_at"], "rows": last["rows"]},
    }


RECENT_SCORING_JOBS = 10


def scoring_state(store: Store) -> dict[str, Any]:
    return {
        "waiting": [e.name for e in store.scoring_inbox.waiting()],
        "claimed": [c.name for c in store.scoring_inbox.pending()],
        "recent": [
            {k: job.get(k) for k in ("id", "file", "rows", "class_counts", "model_version", "scored_at")}
            for job in store.predictions.recent(RECENT_SCORING_JOBS)
        ],
    }


RECENT_ALERTS = 20
RECENT_DRIFT_CHECKS = 5


def drift_state(store: Store) -> list[dict[str, Any]]:
    """The newest drift checks, as their events carry them (no bins), with their ids."""
    from tasks.ml.drift import figures

    return [
        {**figures(c), "id": c["id"], "checked_at": c["checked_at"], "source_kind": c.get("source_kind", "")}
        for c in store.drift.recent(RECENT_DRIFT_CHECKS)
    ]


RECENT_DECISIONS = 10


def approvals_state(store: Store) -> dict[str, Any]:
    """Models waiting for a person's yes, and the newest decisions (who, how, when)."""
    return {"waiting": store.approvals.waiting(), "decided": store.approvals.decided(RECENT_DECISIONS)}


def overview(store: Store) -> dict[str, Any]:
    quarantine = store.quarantine.entries()[::-1]  # newest first
    return {
        "data": store.url,
        "dataset": store.dataset.recorded(),
        "champion": store.registry.champion(),
        "models": model_rows(store),
        "quarantine": [
            {
                **{k: q.get(k) for k in ("id", "file", "stage", "reason", "quarantined_at", "suggested_fix", "data_docs")},
                "original": store.quarantine.original_name(q),
            }
            for q in quarantine
        ],
        "inbox": inbox_state(store),
        "live": store.deployments.live(),
        "scoring": scoring_state(store),
        "approvals": approvals_state(store),
        "drift": drift_state(store),
        "alerts": [message_summary(m) for m in store.alerts.messages(newest=RECENT_ALERTS)[::-1]],
    }
