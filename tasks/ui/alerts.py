"""How an alert message is shown to people: ``pipeline alerts`` and the Pipeline page."""

from __future__ import annotations

from typing import Any

from tasks.ui.text import one_line


def message_summary(message: dict[str, Any]) -> dict[str, Any]:
    """What ``pipeline alerts --json`` and the Pipeline page show of a message."""
    return {
        **{k: message.get(k) for k in ("made_at", "level", "event", "count", "subject")},
        "channels": message.get("channels", {}),
        **({"not_sent": message["not_sent"]} if message.get("not_sent") else {}),
    }


def delivery_line(summary: dict[str, Any]) -> str:
    """Each channel's state in one line: ``webhook: retrying (2 tries: <cause>); email: delivered``."""
    if not summary["channels"]:
        return summary.get("not_sent") or "not sent"
    return "; ".join(
        f"{name}: {state['state']}"
        + (
            f" ({state['attempts']} tries: {one_line(state.get('last_error', ''))[:200]})"
            if state["state"] != "delivered"
            else ""
        )
        for name, state in summary["channels"].items()
    )
