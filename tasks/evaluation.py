"""Evaluate: score the challenger and the champion on the same held-out split, then decide.

The challenger is promoted when its primary metric is not worse than the
champion's (within the configured tolerance). ``models/champion.json`` is a
pointer replaced atomically. Every run writes ``metrics/<version>/``:
``metrics.json``, ``confusion_matrix.png`` and a self-contained ``report.html``;
``metrics/latest`` points at the newest.
"""

from __future__ import annotations

import base64
import html
import io
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tasks import atomic_io
from tasks.config import PipelineConfig
from tasks.features import current_folder, load_split
from tasks.schema import CLASS_NAMES
from tasks.training import ModelIntegrityError, list_versions, load_model, model_card

CHAMPION = "champion.json"
EVALUATION_RECORD = "evaluation.json"  # models/<version>/: written once the version is judged
LATEST = "latest"


def score(model: Any, X: pd.DataFrame, y: pd.Series) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

    labels = sorted(CLASS_NAMES)
    predicted = model.predict(X)
    report = classification_report(y, predicted, labels=labels, output_dict=True, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "f1_macro": float(f1_score(y, predicted, labels=labels, average="macro", zero_division=0)),
        "per_class": {
            CLASS_NAMES[k]: {m: float(report[str(k)][m]) for m in ("precision", "recall", "f1-score", "support")}
            for k in labels
        },
        "confusion_matrix": confusion_matrix(y, predicted, labels=labels).tolist(),
        "rows": len(y),
    }


def unevaluated_versions(models_dir: Path) -> list[str]:
    """Model versions not judged yet, oldest first."""
    return [v for v in list_versions(models_dir) if not (models_dir / v / EVALUATION_RECORD).exists()]


def read_champion(models_dir: Path) -> dict[str, Any] | None:
    """The champion pointer, or ``None`` when there is none yet. Raises on a corrupt file."""
    pointer = models_dir / CHAMPION
    if not pointer.exists():
        return None
    champion = atomic_io.read_json(pointer)
    if not isinstance(champion, dict) or "version" not in champion:
        raise ValueError(f"{pointer} has no 'version'")
    return champion


def decide(challenger: float, champion: float | None, *, metric: str, tolerance: float) -> tuple[bool, str]:
    """Promotion rule: not worse than the champion on ``metric``, within ``tolerance``."""
    if champion is None:
        return True, "first model: no champion yet"
    if challenger >= champion - tolerance:
        verdict = "better than" if challenger > champion else "as good as" if challenger == champion else "within tolerance of"
        return True, f"{metric} {challenger:.4f} is {verdict} the champion's {champion:.4f} (tolerance {tolerance})"
    return False, f"{metric} {challenger:.4f} is worse than the champion's {champion:.4f} (tolerance {tolerance})"


def evaluate_version(models_dir: Path, features_dir: Path, metrics_dir: Path, version: str, config: PipelineConfig) -> dict[str, Any]:
    """Score ``version`` against the champion, write the report, promote or not."""
    folder = current_folder(features_dir)
    X, y = load_split(folder, "test")
    if len(y) == 0:
        raise ValueError(f"the held-out split in {folder} is empty: not enough data to evaluate")
    card = model_card(models_dir, version)
    challenger = score(load_model(models_dir, version), X, y)

    champion_scores, champion_version, champion_note = None, None, None
    try:
        champion = read_champion(models_dir)
    except (ValueError, OSError) as exc:
        champion, champion_note = None, f"champion pointer unreadable ({exc})"
    if champion is not None and champion["version"] != version:
        try:
            champion_scores = score(load_model(models_dir, champion["version"]), X, y)
            champion_version = champion["version"]
        except (ModelIntegrityError, ValueError, OSError) as exc:
            champion_note = f"champion {champion['version']} could not be loaded ({exc})"

    promote, reason = decide(
        challenger[config.metric],
        None if champion_scores is None else champion_scores[config.metric],
        metric=config.metric,
        tolerance=config.tolerance,
    )
    if champion_note:
        reason = f"{champion_note}; {reason}"
    now = datetime.now(UTC).isoformat(timespec="seconds")
    metrics = {
        "version": version,
        "evaluated_at": now,
        "features": folder.name,
        "test_rows": len(y),
        "primary_metric": config.metric,
        "challenger": challenger,
        "champion": None if champion_scores is None else {"version": champion_version, **champion_scores},
        "decision": "promoted" if promote else "rejected",
        "reason": reason,
        "model": {k: card[k] for k in ("estimator", "params", "rows_used", "train_seconds", "sha256")},
    }
    out = metrics_dir / version
    out.mkdir(parents=True, exist_ok=True)
    png = confusion_matrix_png(np.array(challenger["confusion_matrix"]), title=f"{version} on {len(y)} held-out rows")
    atomic_io.write_bytes(out / "confusion_matrix.png", png)
    atomic_io.write_text(out / "report.html", render_report(metrics, png))
    atomic_io.write_json(out / "metrics.json", metrics)
    point_latest(metrics_dir, version)
    atomic_io.write_json(models_dir / version / EVALUATION_RECORD, {k: metrics[k] for k in ("evaluated_at", "decision", "reason")})
    if promote:
        atomic_io.write_json(models_dir / CHAMPION, {"version": version, "promoted_at": now, config.metric: challenger[config.metric]})
    return metrics


def point_latest(metrics_dir: Path, version: str) -> None:
    """Make ``metrics/latest`` a symlink to ``<version>``, swapped atomically."""
    tmp = metrics_dir / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(version, target_is_directory=True)
    os.replace(tmp, metrics_dir / LATEST)


def confusion_matrix_png(matrix: np.ndarray, *, title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(4.8, 4.2), dpi=100)
    ConfusionMatrixDisplay(matrix, display_labels=[CLASS_NAMES[k] for k in sorted(CLASS_NAMES)]).plot(ax=ax, cmap="Blues", colorbar=False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def render_report(metrics: dict[str, Any], png: bytes) -> str:
    """One HTML file, no external URL: styles inline, the plot embedded as a data URI."""
    esc = html.escape
    ch, champ = metrics["challenger"], metrics["champion"]

    def cell(scores: dict[str, Any] | None, key: str) -> str:
        return "&mdash;" if scores is None else f"{scores[key]:.4f}"

    classes = "".join(
        f"<tr><td>{esc(name)}</td>" + "".join(f"<td>{v[m]:.3f}</td>" for m in ("precision", "recall", "f1-score")) + f"<td>{int(v['support'])}</td></tr>"
        for name, v in ch["per_class"].items()
    )
    colour = "#1a7f37" if metrics["decision"] == "promoted" else "#b42318"
    champ_label = f"champion {esc(champ['version'])}" if champ else "champion (none)"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evaluation {esc(metrics['version'])}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:760px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}.decision{{color:{colour};font-weight:bold}}</style></head>
<body><h1>Model {esc(metrics['version'])}</h1>
<p class="decision">Decision: {esc(metrics['decision'])} &mdash; {esc(metrics['reason'])}</p>
<p>Evaluated {esc(metrics['evaluated_at'])} on {metrics['test_rows']} held-out rows (feature set {esc(metrics['features'])}).
Primary metric: {esc(metrics['primary_metric'])}.</p>
<h2>Challenger vs champion</h2>
<table><tr><th>metric</th><th>challenger {esc(metrics['version'])}</th><th>{champ_label}</th></tr>
<tr><td>macro F1</td><td>{cell(ch, 'f1_macro')}</td><td>{cell(champ, 'f1_macro')}</td></tr>
<tr><td>accuracy</td><td>{cell(ch, 'accuracy')}</td><td>{cell(champ, 'accuracy')}</td></tr></table>
<h2>Per class (challenger)</h2>
<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>{classes}</table>
<h2>Confusion matrix (challenger)</h2>
<img alt="confusion matrix" src="data:image/png;base64,{base64.b64encode(png).decode()}">
<h2>Model</h2><p>{esc(metrics['model']['estimator'])} {esc(str(metrics['model']['params']))},
trained on {metrics['model']['rows_used']} rows in {metrics['model']['train_seconds']} s; sha256 {esc(metrics['model']['sha256'][:16])}&hellip;</p>
</body></html>
"""
