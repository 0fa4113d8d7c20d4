"""The plugin's HTML: one page with the models (and a plot of the primary metric), what is
live in the scoring server, recent scoring jobs, drift checks, the quarantine and the inbox. Self-contained (inline styles, inline SVG) and linked only with
relative URLs, so it works offline and behind a proxy that moves Airflow's base path."""

from __future__ import annotations

import io
from html import escape
from typing import Any
from urllib.parse import quote

from tasks.ui.alerts import delivery_line
from tasks.ui.approvals import decision_line, waiting_line
from tasks.ui.drift import checks_table
from tasks.ui.style import STYLE


def metric_plot_svg(rows: list[dict[str, Any]]) -> str:
    """Primary metric per evaluated version: the challenger, and the champion it faced."""
    judged = [r for r in rows if r["score"] is not None]
    if not judged:
        return '<p class="muted">No model evaluated yet.</p>'
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = list(range(len(judged)))
    fig, ax = plt.subplots(figsize=(7.5, 2.8), dpi=100)
    ax.plot(x, [r["score"] for r in judged], marker="o", label="challenger (this version)")
    faced = [(i, r["champion_score_then"]) for i, r in zip(x, judged, strict=True) if r["champion_score_then"] is not None]
    if faced:
        ax.plot(*zip(*faced, strict=True), marker="s", linestyle="--", label="champion it faced")
    for i, r in zip(x, judged, strict=True):
        if r["decision"] == "promoted":
            ax.annotate("promoted", (i, r["score"]), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
    ax.set_xticks(x, [r["version"] for r in judged], fontsize=8)
    ax.set_ylabel(judged[-1]["metric"])
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]


def _models_table(rows: list[dict[str, Any]]) -> str:
    body = []
    for r in reversed(rows):  # newest first
        report = f'<a href="reports/{quote(r["version"])}">report</a>' if r["has_report"] else ""
        score = ", ".join(f"{k} {v:.4f}" for k, v in (r.get("scores") or {}).items())
        marker = " (champion)" if r["is_champion"] else ""
        body.append(
            f'<tr class="{"champion" if r["is_champion"] else ""}"><td>{escape(r["version"])}{marker}</td>'
            f"<td>{escape(r['created_at'] or '')}</td><td>{escape(r['estimator'])}</td><td>{score}</td>"
            f'<td class="{escape(r["decision"])}">{escape(r["decision"])}</td><td class="reason">{escape(r["reason"])}</td>'
            f"<td>{report}</td></tr>"
        )
    return (
        "<table><tr><th>version</th><th>trained</th><th>model</th><th>scores</th><th>decision</th><th>why</th><th></th></tr>"
        + "".join(body)
        + "</table>"
    )


def _quarantine_table(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return '<p class="muted">Nothing quarantined.</p>'
    body = []
    for q in entries:
        qid = quote(q["id"], safe="")
        links = [
            f'<a href="quarantine/{qid}/reason.json">reason.json</a>',
            f'<a href="quarantine/{qid}/{quote(q["original"])}" download>original</a>',
        ]
        if q.get("data_docs"):
            links.append(f'<a href="quarantine/{qid}/{quote(q["data_docs"])}">Data Docs</a>')
        fixes = "".join(f'<div class="fix">Fix: {escape(f)}</div>' for f in q.get("suggested_fix") or [])
        reason = q["reason"].split(". Fix: ")[0] if fixes else q["reason"]  # the fixes get their own lines
        body.append(
            f"<tr><td>{escape(q['quarantined_at'])}</td><td>{escape(q['file'])}</td><td>{escape(q['stage'])}</td>"
            f'<td class="reason">{escape(reason)}{fixes}</td><td>{" ".join(links)}</td></tr>'
        )
    return "<table><tr><th>when</th><th>file</th><th>stage</th><th>reason</th><th></th></tr>" + "".join(body) + "</table>"


def _live_line(live: dict[str, Any] | None) -> str:
    if not live:
        return "Live in the scoring server: nothing yet (the first champion goes live once trained)"
    previous = f", before it {escape(live['previous'])}" if live.get("previous") else ""
    return f"Live in the scoring server: <b>{escape(live['version'])}</b> since {escape(live['live_since'])}{previous}"


def _scoring_table(scoring: dict[str, Any]) -> str:
    waiting = len(scoring["waiting"]) + len(scoring["claimed"])
    head = f'<p class="muted">{waiting} file(s) waiting to be scored.</p>' if waiting else ""
    if not scoring["recent"]:
        return head + '<p class="muted">Nothing scored yet: drop unlabelled CSVs in scoring/inbox/ (pipeline score FILE).</p>'
    body = [
        f"<tr><td>{escape(j['scored_at'] or '')}</td><td>{escape(j['file'] or '')}</td><td>{j['rows']}</td>"
        f"<td>{escape(j['model_version'] or '')}</td>"
        f"<td>{escape(', '.join(f'{k}: {v}' for k, v in (j['class_counts'] or {}).items()))}</td>"
        f"<td class='muted'>predictions/{escape(j['id'])}/</td></tr>"
        for j in scoring["recent"]
    ]
    return (
        head
        + "<table><tr><th>when</th><th>file</th><th>rows</th><th>model</th><th>predictions</th><th>output</th></tr>"
        + "".join(body)
        + "</table>"
    )


def _alerts_table(alerts: list[dict[str, Any]]) -> str:
    if not alerts:
        return '<p class="muted">No alerts (an [alerts] table in the parameters file turns them on).</p>'
    body = [
        f"<tr><td>{escape(a['made_at'] or '')}</td><td>{escape(a['level'] or '')}</td><td>{escape(a['subject'] or '')}</td>"
        f"<td>{escape(delivery_line(a))}</td></tr>"
        for a in alerts
    ]
    return "<table><tr><th>when</th><th>level</th><th>message</th><th>delivery</th></tr>" + "".join(body) + "</table>"


def _approvals_section(approvals: dict[str, Any]) -> str:
    if not approvals["waiting"] and not approvals["decided"]:
        return '<p class="muted">Nothing held for approval ([deploy] approval = "always" holds each promotion for a person).</p>'
    waiting = [
        f'<div class="fix">waiting: {escape(waiting_line(e))}: <a href="reports/{quote(e["version"])}">report</a>; '
        f"answer in Required Actions, or pipeline approve {escape(e['version'])}</div>"
        for e in approvals["waiting"]
    ]
    decided = [f"<div>{escape(decision_line(e))}</div>" for e in approvals["decided"]]
    return "".join(waiting) + "".join(decided)


def index_page(state: dict[str, Any]) -> str:
    champion = state["champion"]
    inbox = state["inbox"]
    last = inbox["last_ingest"]
    headline = (
        f"Champion: <b>{escape(champion['version'])}</b> (promoted {escape(champion.get('promoted_at', ''))}"
        + (f", approved by {escape(str(a['by']))} ({escape(str(a['how']))})" if (a := champion.get("approval")) else "")
        + ")"
        if champion
        else "No champion yet"
    )
    last_ingest = f"{last['file']} ({last['rows']} rows) at {last['at']}" if last else "none"
    dataset = (state.get("dataset") or {}).get("name") or "none yet"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Pipeline</title><style>{STYLE}</style></head>
<body><h1>Pipeline</h1>
<p class="summary"><span id="champion">{headline}</span><span>Data set: {escape(dataset)}</span><span>Data: {escape(state["data"])}</span></p>
<p class="summary"><span id="live">{_live_line(state.get("live"))}</span></p>
<h2 id="inbox">Inbox</h2>
<p class="summary"><span>waiting: {len(inbox["waiting"])}</span><span>claimed, not ingested yet: {len(inbox["claimed"])}</span>
<span>batches: {inbox["batches"]}</span>
<span>last ingest: {escape(last_ingest)}</span></p>
{"".join(f"<div class='muted'>waiting: {escape(n)}</div>" for n in inbox["waiting"])}
<h2 id="models">Models</h2>
{metric_plot_svg(state["models"])}
{_models_table(state["models"])}
<h2 id="scoring">Scoring</h2>
{_scoring_table(state.get("scoring") or {"waiting": [], "claimed": [], "recent": []})}
<h2 id="approvals">Approvals</h2>
{_approvals_section(state.get("approvals") or {"waiting": [], "decided": []})}
<h2 id="drift">Drift</h2>
{checks_table(state.get("drift") or [], link_prefix="drift/")}
<p><a href="drift">Every recent check, and each feature's score over time</a></p>
<h2 id="quarantine">Quarantine</h2>
{_quarantine_table(state["quarantine"])}
<h2 id="alerts">Alerts</h2>
{_alerts_table(state.get("alerts") or [])}
</body></html>"""


def storage_unreachable_page(message: str) -> str:
    """What the Pipeline page says while the storage is down (instead of a 500)."""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Pipeline: storage unreachable</title>
<style>{STYLE}</style></head><body><h1>Pipeline</h1>
<p class="error" id="storage-error">{escape(message)}</p>
<p>Nothing is lost: files wait in the inbox and the pipeline resumes once the storage answers. Reload to check.</p>
</body></html>"""
