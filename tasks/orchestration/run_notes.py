"""A note on every DAG run that rejected input, so the run itself says so in the UI (a
mixed drop's run is green: its good files went on). Runs in the scheduler, which calls
these hooks while it sets the run's final state, inside its own database session.
"""

from __future__ import annotations

import re
from typing import Any

from airflow.listeners import hookimpl

from tasks.ui.text import one_line

MAX_NOTE = 1000  # characters; the full reasons are on the events and in reason.json


def rejection_note(extras: list[dict[str, Any]]) -> str:
    """The note, Markdown whose data part is one fenced code block: Airflow renders notes as
    Markdown, and file names, column names and values come from dropped files, so none of
    them may become a link, an image (a remote load) or HTML. The fence is longer than any
    run of backticks in the text, so nothing inside can close it."""
    lines = [f"- {one_line(e.get('file'))} [{one_line(e.get('stage'))}]: {one_line(e.get('reason'))}" for e in extras]
    body = "\n".join(lines)
    if len(body) > MAX_NOTE:
        body = body[: MAX_NOTE - 1] + "…"
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", body)), default=0))
    return (
        f"Rejected {len(extras)} file(s) (see the quarantine asset's events, or make quarantine):\n\n{fence}text\n{body}\n{fence}"
    )


def note_rejections(dag_run: Any) -> None:
    from airflow.models.asset import AssetEvent, AssetModel
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    from tasks.orchestration import QUARANTINE_NAME

    session = object_session(dag_run)
    if session is None or dag_run.note:  # never overwrite a person's note
        return
    extras = session.scalars(
        select(AssetEvent.extra)
        .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        .where(
            AssetModel.name == QUARANTINE_NAME,
            AssetEvent.source_dag_id == dag_run.dag_id,
            AssetEvent.source_run_id == dag_run.run_id,
        )
        .order_by(AssetEvent.id)
    ).all()
    if extras:
        dag_run.note = rejection_note(list(extras))


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    note_rejections(dag_run)


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    note_rejections(dag_run)
