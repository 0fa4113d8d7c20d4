"""The plugin's drift pages: the recent checks with each feature's score over time, and one
check drawn feature by feature (the training reference beside the rows checked).

Plain inline SVG built here, every label escaped: category names and file names come from
dropped files. No script, no external resource.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any
from urllib.parse import quote

from tasks.ui.style import STYLE
from tasks.ui.text import one_line

CHECK_ID = re.compile(r"^\d{8}T\d{6}\.\d{6}-[0-9a-f]{8}$")  # the drift log's ids
STATUS_CLASS = {"drifted": "rejected", "all missing": "rejected", "warning": "warn", "stable": "promoted"}
REFERENCE_COLOUR, CURRENT_COLOUR = "#9aa5b1", "#1f6feb"
LINE_COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7480", "#57606a")
STYLE_EXTRA = ".warn{color:#9a6700;font-weight:bold}.feature{display:inline-block;margin:0 1.5em 1.2em 0;vertical-align:top}"
MAX_LABEL = 18


def _label(value: Any) -> str:
    text = one_line(value)
    return escape(text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…")


def _bins(score: dict[str, Any]) -> tuple[list[str], list[float], list[float]]:
    """Bar labels, the reference's shares and the checked rows' shares of one feature."""
    if score.get("kind") == "categorical":
        categories = list(score.get("reference_shares") or {})
        return categories, [score["reference_shares"][c] for c in categories], [score["shares"].get(c, 0.0) for c in categories]
    edges = score.get("edges") or []
    labels = [f"< {edges[0]:.3g}"] if edges else ["all"]
    labels += [f"{a:.3g}–{b:.3g}" for a, b in zip(edges, edges[1:], strict=False)]
    labels += [f"≥ {edges[-1]:.3g}"] if edges else []
    return labels, list(score.get("reference_shares") or []), list(score.get("shares") or [])


def feature_svg(name: str, score: dict[str, Any]) -> str:
    """One feature: per bin (numbers) or category, the training share beside the checked share."""
    labels, reference, current = _bins(score)
    if not current:
        return f'<p class="muted">{escape(one_line(name))}: {escape(score.get("status", ""))}, nothing to draw.</p>'
    width, height, bottom = 34 * len(labels) + 80, 190, 150  # room for the last slanted label
    top = max([*reference, *current, 0.01])
    bars = []
    for i, (label, ref, cur) in enumerate(zip(labels, reference, current, strict=False)):
        x = 40 + 34 * i
        for dx, share, colour in ((0, ref, REFERENCE_COLOUR), (13, cur, CURRENT_COLOUR)):
            h = 130 * share / top
            bars.append(f'<rect x="{x + dx}" y="{bottom - h:.1f}" width="12" height="{h:.1f}" fill="{colour}"/>')
        bars.append(
            f'<text x="{x + 12}" y="{bottom + 8}" font-size="8" transform="rotate(35 {x + 12} {bottom + 8})">{_label(label)}</text>'
        )
    axis = f'<line x1="38" y1="{bottom}" x2="{width}" y2="{bottom}" stroke="#888"/>'
    scale = f'<text x="2" y="24" font-size="9">{top:.0%}</text><text x="2" y="{bottom}" font-size="9">0</text>'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 20}" role="img" '
        f'aria-label="{escape(one_line(name))}: training beside checked">{axis}{scale}{"".join(bars)}</svg>'
    )


def scores_over_time_svg(checks: list[dict[str, Any]], thresholds: dict[str, Any] | None) -> str:
    """Each feature's PSI per check (oldest left), with the warning and drift thresholds."""
    ordered = [c for c in reversed(checks) if c.get("scores")]
    features = list(dict.fromkeys(f for c in ordered for f in c["scores"]))
    if len(ordered) < 2 or not features:
        return '<p class="muted">The score over time is drawn once there are two checks.</p>'
    psis = [[(c["scores"].get(f) or {}).get("psi") for c in ordered] for f in features]
    top = max([v for row in psis for v in row if v is not None] + [(thresholds or {}).get("psi_drift", 0.25) * 1.2])
    width, plot_h, left = max(360, 40 * len(ordered) + 60), 150, 40

    def y(value: float) -> float:
        return 10 + plot_h * (1 - min(value, top) / top)

    def x(i: int) -> float:
        return left + i * (width - left - 20) / max(1, len(ordered) - 1)

    parts = [f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - 20}" y2="{y(0):.1f}" stroke="#888"/>']
    for key, dash in (("psi_warning", "4 3"), ("psi_drift", "8 3")):
        if thresholds and thresholds.get(key) is not None:
            level = y(thresholds[key])
            parts.append(
                f'<line x1="{left}" y1="{level:.1f}" x2="{width - 20}" y2="{level:.1f}" stroke="#b42318" stroke-dasharray="{dash}"/>'
                f'<text x="2" y="{level + 3:.1f}" font-size="8">{escape(key)}</text>'
            )
    legend = []
    for n, (feature, row) in enumerate(zip(features, psis, strict=True)):
        colour = LINE_COLOURS[n % len(LINE_COLOURS)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(row) if v is not None)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        legend.append(f'<span style="color:{colour}">■ {escape(one_line(feature))}</span>')
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{plot_h + 20}" role="img" '
        f'aria-label="PSI per feature over the recent checks">{"".join(parts)}</svg>'
    )
    return f'{svg}<div class="summary">{"".join(legend)}</div><p class="muted">PSI per feature, oldest check left.</p>'


def checks_table(checks: list[dict[str, Any]], *, link_prefix: str) -> str:
    from tasks.ml.drift import summary_line

    if not checks:
        return (
            '<p class="muted">No drift check yet: labelled batches, files to score and the scoring'
            " server's requests are checked against the champion's training data.</p>"
        )
    body = [
        f"<tr><td>{escape(c['checked_at'])}</td><td>{escape(one_line(c['source']))}</td>"
        f"<td>{escape(c.get('source_kind', ''))}</td><td>{escape(c['model_version'])}</td><td>{c['rows']}</td>"
        f'<td class="{"rejected" if c["drifted"] else ""}">{escape(one_line(summary_line(c)))}</td>'
        f'<td><a href="{link_prefix}{quote(c["id"], safe="")}">features</a></td></tr>'
        for c in checks
    ]
    return (
        "<table><tr><th>when</th><th>source</th><th>kind</th><th>model</th><th>rows</th><th>result</th><th></th></tr>"
        + "".join(body)
        + "</table>"
    )


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}{STYLE_EXTRA}</style></head><body>{body}</body></html>"
    )


def drift_page(checks: list[dict[str, Any]]) -> str:
    """``/pipeline/drift``: the recent checks, newest first, and each feature's PSI over them."""
    thresholds = checks[0].get("thresholds") if checks else None
    return _page(
        "Pipeline: drift",
        '<p><a href="./">← Pipeline</a></p><h1>Drift</h1>'
        + scores_over_time_svg(checks, thresholds)
        + checks_table(checks, link_prefix="drift/"),
    )


def check_page(check: dict[str, Any], recent: list[dict[str, Any]]) -> str:
    """``/pipeline/drift/<id>``: one check, each feature drawn beside its training reference."""
    from tasks.ml.drift import summary_line

    features = []
    for name, score in check["scores"].items():
        status = score.get("status", "")
        figures = ", ".join(f"{k} {score[k]}" for k in ("psi", "p_value", "missing", "outside_range") if score.get(k) is not None)
        unseen = f"; unseen: {escape(', '.join(one_line(u) for u in score['unseen'][:10]))}" if score.get("unseen") else ""
        features.append(
            f'<div class="feature" id="feature-{quote(one_line(name), safe="")}"><h3>{escape(one_line(name))} '
            f'<span class="{STATUS_CLASS.get(status, "muted")}">{escape(status)}</span></h3>'
            f'<div class="muted">{escape(figures)}{unseen}</div>{feature_svg(name, score)}</div>'
        )
    window = check.get("window")
    window_line = (
        f"<p class='muted'>{window['requests']} request(s) from {escape(window['opened_at'])} to {escape(window['closed_at'])}</p>"
        if window
        else ""
    )
    legend = (
        f'<p><span style="color:{REFERENCE_COLOUR}">■ training rows of {escape(check["model_version"])}</span> '
        f'<span style="color:{CURRENT_COLOUR}">■ rows checked</span></p>'
    )
    return _page(
        "Pipeline: drift check",
        '<p><a href="../drift">← Drift</a></p>'
        f"<h1>Drift: {escape(one_line(check['source']))}</h1>"
        f'<p id="drift-summary" class="summary"><span>{escape(check["checked_at"])}</span>'
        f"<span>{escape(check.get('source_kind', ''))}</span><span>{check['rows']} rows</span>"
        f'<span class="{"rejected" if check["drifted"] else "promoted"}">{escape(one_line(summary_line(check)))}</span></p>'
        + window_line
        + legend
        + "".join(features)
        + "<h2>Score over time</h2>"
        + scores_over_time_svg(recent, check.get("thresholds")),
    )
