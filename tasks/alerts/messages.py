"""The words of an alert. File names and reasons come from dropped files: every value is
made one plain line (no control characters), and what chat services render as markup
(``<``, ``>``, ``&``: links and mentions in Slack's format) is escaped, so nothing a dropper
wrote becomes a link, a mention or a line of its own."""

from __future__ import annotations

from typing import Any

from tasks.ui.text import one_line

TITLES = {
    "quarantine": "file(s) quarantined",
    "task_failed": "task(s) failed after their last retry",
    "storage_unavailable": "storage unavailable",
    "storage_back": "storage is back",
    "promoted": "new champion live",
    "refused": "challenger refused",
    "approval_waiting": "model(s) awaiting approval",
    "drift": "drift detected",
    "test": "test message",
}
MAX_LINES = 500  # a message lists at most this many events; the rest are counted


def inert(value: Any) -> str:
    """``value`` as one line of plain text no chat service turns into markup."""
    return one_line(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def event_line(event: dict[str, Any]) -> str:
    """One event as one line: what, why, what to do."""
    parts = [inert(event.get("what", ""))]
    if event.get("why"):
        parts.append(f"why: {inert(event['why'])}")
    if event.get("fix"):
        parts.append(f"fix: {inert(event['fix'])}")
    if event.get("link"):
        parts.append(inert(event["link"]))
    return " | ".join(p for p in parts if p)


def compose(kind: str, level: str, dataset: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """A message about ``events`` (all of one kind): a subject, the text, and the structured
    fields a webhook carries beside the text."""
    title = TITLES.get(kind, kind.replace("_", " "))
    count = sum(len(e.get("items") or [e]) for e in events)
    subject = f"[{inert(dataset)}] {level.upper()}: {count} {title}" if count > 1 else None
    subject = subject or f"[{inert(dataset)}] {level.upper()}: {title}: {inert(events[0].get('what', ''))}"[:200]
    items = [item for e in events for item in (e.get("items") or [e])]  # an event may list several
    lines = [event_line(item) for item in items[:MAX_LINES]]
    if len(items) > MAX_LINES:
        lines.append(f"... and {len(items) - MAX_LINES} more (the files are listed in the webhook's 'files')")
    return {
        "subject": subject,
        "text": subject + "\n" + "\n".join(f"- {line}" for line in lines),
        "event": kind,
        "level": level,
        "dataset": dataset,
        "count": count,
        "files": [f for e in events for f in e.get("files", [])],
        "versions": sorted({v for e in events for v in e.get("versions", [])}),
        "links": [e["link"] for e in events if e.get("link")][:MAX_LINES],
    }
