"""Evaluate: score each new model version against the champion on the same held-out split.

The challenger is promoted when its primary metric is not worse than the champion's
(within the configured tolerance). Every judged version gets a report (metrics, a
confusion matrix, one self-contained HTML page) and an evaluation record; the champion
pointer moves only on promotion.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tasks.config import LOWER_IS_BETTER, TASK_METRICS, PipelineConfig
from tasks.ml.modeling import features_and_target, regression_scores, score
from tasks.results import StageResult
from tasks.store import Store
from tasks.store.registry import ModelIntegrityError

AWAITING_APPROVAL = "awaiting_approval"


@dataclass
class EvaluationResult(StageResult):
    judged: list[dict[str, Any]] = field(default_factory=list)  # one metrics record per version, oldest first

    def nothing_new(self) -> str | None:
        return None if self.judged else "Every model version is already evaluated"

    def event_extra(self) -> dict[str, Any]:
        last = self.judged[-1]
        metric = last["primary_metric"]
        shown = ("rmse", "mae", "r2") if metric in TASK_METRICS["regression"] else ("accuracy", "f1_macro", "roc_auc")
        return {
            "version": last["version"],
            "decision": last["decision"],
            "reason": last["reason"],
            **{k: _rounded(last["challenger"].get(k)) for k in shown},
            f"champion_{metric}": None if last["champion"] is None else _rounded(last["champion"].get(metric)),
            "test_rows": last["test_rows"],
            "evaluated": [m["version"] for m in self.judged],
        }

    def summary(self) -> dict[str, Any]:
        return {m["version"]: m["decision"] for m in self.judged}

    def log_lines(self) -> list[str]:
        return [f"{m['version']}: {m['decision']} - {m['reason']}" for m in self.judged]

    def awaiting_approval(self) -> str | None:
        """The version this evaluation holds for a person's yes (the newest; older are superseded)."""
        held = [m["version"] for m in self.judged if m["decision"] == AWAITING_APPROVAL]
        return held[-1] if held else None

    def alerts(self) -> list[dict[str, Any]]:
        """A refused challenger (a promotion is told once it is live, by deploy; a model
        awaiting approval once Airflow asks for it)."""
        return [
            {
                "kind": "refused",
                "level": "info",
                "what": f"{m['version']} was not promoted",
                "why": m["reason"],
                "versions": [m["version"]],
            }
            for m in self.judged
            if m["decision"] == "rejected"
        ]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def decide(challenger: float | None, champion: float | None, *, metric: str, tolerance: float) -> tuple[bool, str]:
    """Promotion rule: not worse than the champion on ``metric``, within ``tolerance`` (in the
    metric's units; for an error such as RMSE lower is better)."""
    if champion is None:
        return True, "first model: no champion yet"
    if challenger is None:
        return False, f"{metric} is undefined on these held-out rows (a constant target): cannot judge"
    lower = metric in LOWER_IS_BETTER
    gain = (champion - challenger) if lower else (challenger - champion)  # > 0: better
    direction = " (lower is better)" if lower else ""
    if gain >= -tolerance:
        verdict = "better than" if gain > 0 else "as good as" if gain == 0 else "within tolerance of"
        return True, f"{metric} {challenger:.4f} is {verdict} the champion's {champion:.4f}{direction} (tolerance {tolerance})"
    return False, f"{metric} {challenger:.4f} is worse than the champion's {champion:.4f}{direction} (tolerance {tolerance})"


def evaluate_pending(store: Store, config: PipelineConfig) -> EvaluationResult:
    """Judge every version not evaluated yet, oldest first."""
    return EvaluationResult([evaluate_version(store, v, config) for v in store.registry.unevaluated()])


def _retracted_lineage(store: Store, champion: dict[str, Any]) -> list[str]:
    """Batches the champion was trained on that have since been retracted."""
    try:
        lineage = {b["batch_id"] for b in store.registry.card(champion["version"])["training_batches"]}
    except (FileNotFoundError, ValueError, KeyError):
        return []
    return sorted(lineage & store.batches.retracted())


def evaluate_version(store: Store, version: str, config: PipelineConfig) -> dict[str, Any]:
    """Score ``version`` against the champion, publish the report, promote or not."""
    features = store.features.current()
    if features is None:
        raise FileNotFoundError(f"no feature set yet in {store.features.uri}")
    # Both models are judged on the same rows: every held-out row, or a bounded stratified
    # sample of them (max_eval_rows), so a drop's evaluation does not grow with the history.
    dataset = config.dataset
    X, y = features_and_target(store.features.sample(features, "test", config.max_eval_rows), dataset)
    if len(y) == 0:
        raise ValueError(f"the held-out split of {features['fingerprint']} is empty: not enough data to evaluate")
    card = store.registry.card(version)
    challenger_model = store.registry.load(version)
    # A number's predictions feed both the scores and the plot: predict once.
    predicted = challenger_model.predict(X) if dataset.regression else None
    challenger = regression_scores(predicted, y) if dataset.regression else score(challenger_model, X, y, dataset)

    champion_scores, champion_version, champion_note = None, None, None
    try:
        champion = store.registry.champion()
    except (ValueError, OSError) as exc:
        champion, champion_note = None, f"champion pointer unreadable ({exc})"
    retracted = _retracted_lineage(store, champion) if champion is not None else []
    if retracted:  # its score on any split says nothing: it learned from data we took back
        champion_note = f"champion {champion['version']} was trained on retracted batch(es) {', '.join(retracted)}"
    elif champion is not None and champion["version"] != version:
        try:
            champion_scores = score(store.registry.load(champion["version"]), X, y, dataset)
            champion_version = champion["version"]
        except (ModelIntegrityError, ValueError, OSError) as exc:
            champion_note = f"champion {champion['version']} could not be loaded ({exc})"

    promote, reason = decide(
        challenger.get(config.metric),
        None if champion_scores is None else champion_scores.get(config.metric),
        metric=config.metric,
        tolerance=config.tolerance,
    )
    if retracted:
        reason = f"{champion_note}; {version}, trained without them, takes its place"
    elif champion_note:
        reason = f"{champion_note}; {reason}"
    now = datetime.now(UTC).isoformat(timespec="seconds")
    held = promote and config.approval.required  # a person says yes first; the champion stays
    metrics = {
        "version": version,
        "dataset": dataset.name,
        "evaluated_at": now,
        "features": features["fingerprint"],
        "test_rows": len(y),
        "test_rows_available": features["rows_test"],
        "test_sample": f"stratified sample, max_eval_rows {config.max_eval_rows}"
        if len(y) < features["rows_test"]
        else "every held-out row",
        "primary_metric": config.metric,
        "challenger": challenger,
        "champion": None if champion_scores is None else {"version": champion_version, **champion_scores},
        "decision": AWAITING_APPROVAL if held else "promoted" if promote else "rejected",
        "reason": reason,
        "model": {k: card[k] for k in ("estimator", "params", "rows_used", "train_seconds", "sha256")},
    }
    title = f"{version} on {len(y)} held-out rows"
    if dataset.regression:
        plot_name, png = "predicted_vs_actual.png", residuals_png(y.to_numpy(), predicted, title=title)
    else:
        plot_name, png = (
            "confusion_matrix.png",
            confusion_matrix_png(np.array(challenger["confusion_matrix"]), challenger["classes"], title=title),
        )
    store.reports.publish(version, metrics, {plot_name: png, "report.html": render_report(metrics, png).encode()})
    # The pointer before the record: a crash in between re-judges the version (now its own
    # champion) and promotes it again, instead of leaving a promoted version that is not champion.
    if held:
        hold_for_approval(store, metrics, config)
    elif promote:
        store.registry.set_champion({"version": version, "promoted_at": now, config.metric: challenger.get(config.metric)})
    store.registry.record_evaluation(
        version,
        {
            **{k: metrics[k] for k in ("evaluated_at", "decision", "reason", "primary_metric")},
            # the model card's scores: RMSE, MAE, R² for a number; accuracy, macro F1 for classes
            "scores": {k: v for k, v in challenger.items() if isinstance(v, float)},
        },
    )
    return metrics


def hold_for_approval(store: Store, metrics: dict[str, Any], config: PipelineConfig) -> None:
    """Ask for a person's yes on the challenger in ``metrics``; an older request still
    waiting is superseded (rejected: the newer candidate is the one to decide on)."""
    version, metric = metrics["version"], metrics["primary_metric"]
    champion = metrics["champion"]
    store.approvals.request(
        version,
        {
            "requested_at": metrics["evaluated_at"],
            "timeout_s": config.approval.timeout_s,
            "on_timeout": config.approval.on_timeout,
            "metric": metric,
            "score": metrics["challenger"].get(metric),
            "champion": None if champion is None else champion["version"],
            "champion_score": None if champion is None else champion.get(metric),
            "reason": metrics["reason"],
        },
    )
    for older in store.approvals.waiting():
        if older["version"] != version:
            store.approvals.decide(
                older["version"],
                {
                    "decision": "rejected",
                    "how": "superseded",
                    "by": "pipeline",
                    "at": metrics["evaluated_at"],
                    "reason": f"superseded by {version}, a newer candidate",
                },
            )
            store.registry.update_evaluation(
                older["version"],
                {"evaluated_at": metrics["evaluated_at"], "decision": "rejected", "reason": f"superseded by {version}"},
            )


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on a worker
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed (pyplot keeps every open one alive)."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    _pyplot().close(fig)
    return buf.getvalue()


def confusion_matrix_png(matrix: np.ndarray, classes: list[str], *, title: str) -> bytes:
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = _pyplot().subplots(figsize=(4.8, 4.2), dpi=100)
    ConfusionMatrixDisplay(matrix, display_labels=classes).plot(ax=ax, cmap="Blues", colorbar=False)
    ax.set_title(title, fontsize=10)
    return _png(fig)


def residuals_png(actual: np.ndarray, predicted: np.ndarray, *, title: str) -> bytes:
    """Predicted against actual (the diagonal is a perfect model), and the residuals' spread."""
    fig, (left, right) = _pyplot().subplots(1, 2, figsize=(8.4, 3.8), dpi=100)
    left.scatter(actual, predicted, s=8, alpha=0.5)
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    left.plot([low, high], [low, high], color="#b42318", linewidth=1)
    left.set(xlabel="actual", ylabel="predicted", title="predicted against actual")
    right.hist(predicted - actual, bins=30)
    right.set(xlabel="residual (predicted - actual)", ylabel="rows", title="residuals")
    fig.suptitle(title, fontsize=10)
    return _png(fig)


def render_report(metrics: dict[str, Any], png: bytes) -> str:
    """One HTML file, no external URL: styles inline, the plot embedded as a data URI."""
    esc = html.escape
    ch, champ = metrics["challenger"], metrics["champion"]

    def cell(scores: dict[str, Any] | None, key: str) -> str:
        return "&mdash;" if scores is None or scores.get(key) is None else f"{scores[key]:.4f}"

    def row(label: str, key: str) -> str:
        return f"<tr><td>{label}</td><td>{cell(ch, key)}</td><td>{cell(champ, key)}</td></tr>"

    if "per_class" in ch:
        rows = row("macro F1", "f1_macro") + row("accuracy", "accuracy") + (row("ROC AUC", "roc_auc") if "roc_auc" in ch else "")
        classes = "".join(
            f"<tr><td>{esc(name)}</td>"
            + "".join(f"<td>{v[m]:.3f}</td>" for m in ("precision", "recall", "f1-score"))
            + f"<td>{int(v['support'])}</td></tr>"
            for name, v in ch["per_class"].items()
        )
        detail = f"""<h2>Per class (challenger)</h2>
<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>{classes}</table>
<h2>Confusion matrix (challenger)</h2>
<img alt="confusion matrix" src="data:image/png;base64,{base64.b64encode(png).decode()}">"""
    else:
        rows = row("RMSE (lower is better)", "rmse") + row("MAE (lower is better)", "mae") + row("R²", "r2")
        detail = f"""<h2>Predicted against actual, and the residuals (challenger)</h2>
<img alt="predicted against actual, and residuals" src="data:image/png;base64,{base64.b64encode(png).decode()}">"""
    colour = "#1a7f37" if metrics["decision"] == "promoted" else "#b42318"
    champ_label = f"champion {esc(champ['version'])}" if champ else "champion (none)"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evaluation {esc(metrics["version"])}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:760px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}.decision{{color:{colour};font-weight:bold}}</style></head>
<body><h1>Model {esc(metrics["version"])} ({esc(metrics.get("dataset", ""))})</h1>
<p class="decision">Decision: {esc(metrics["decision"])} &mdash; {esc(metrics["reason"])}</p>
<p>Evaluated {esc(metrics["evaluated_at"])} on {metrics["test_rows"]} held-out rows ({esc(metrics.get("test_sample", "every held-out row"))} of
{metrics.get("test_rows_available", metrics["test_rows"])}; feature set {esc(metrics["features"])}).
Primary metric: {esc(metrics["primary_metric"])}.</p>
<h2>Challenger vs champion</h2>
<table><tr><th>metric</th><th>challenger {esc(metrics["version"])}</th><th>{champ_label}</th></tr>
{rows}</table>
{detail}
<h2>Model</h2><p>{esc(metrics["model"]["estimator"])} {esc(str(metrics["model"]["params"]))},
trained on {metrics["model"]["rows_used"]} rows in {metrics["model"]["train_seconds"]} s; sha256 {esc(metrics["model"]["sha256"][:16])}&hellip;</p>
</body></html>
"""
