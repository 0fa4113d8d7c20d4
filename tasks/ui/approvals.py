"""Approvals as people read them: one line per waiting model, one per decision. Used by
``pipeline approvals``, ``pipeline status`` and the Pipeline page."""

from __future__ import annotations

from typing import Any


def decision_line(entry: dict[str, Any]) -> str:
    """``v0003 approved by admin (answered) at ...: reason`` for people."""
    d = entry["decision"]
    return f"{entry['version']} {d['decision']} by {d['by']} ({d['how']}) at {d['at']}" + (
        f": {d['reason']}" if d.get("reason") else ""
    )


def waiting_line(entry: dict[str, Any]) -> str:
    """``v0003 (f1_macro 0.95 vs champion v0002 0.93) since ...`` for people."""
    against = f"champion {entry['champion']} {entry['champion_score']:.4f}" if entry.get("champion") else "no champion yet"
    return f"{entry['version']} ({entry['metric']} {entry['score']:.4f} vs {against}) since {entry['requested_at']}"
