"""A note on every DAG run that rejected input, so the run itself says so in the UI (a
mixed drop's run is green: its good files went on). Runs in the scheduler, which calls
these hooks while it sets the run's final state, inside its own database session.
"""

from __future__ import annotations

from typing import Any

from airflow.listeners import hookimpl

MAX_NOTE = 1000  # characters; the full reasons are on the events and in reason.json


def rejection_note(extras: list[dict[str, Any]]) -> str:
    lines = [f"Rejected {len(extras)} file(s) (see the quarantine asset's events, or make quarantine):"]
    lines += [f"- {e.get('file')} [{e.get('stage')}]: {e.get('reason')}" for e in extras]
    note = "\n".join(lines)
    return note if len(note) <= MAX_NOTE else note[: MAX_NOTE - 1] + "…"


def note_rejections(dag_run: Any) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    from airflow.models.asset import AssetEvent, AssetModel
    from tasks.orchestration import QUARANTINE

    session = object_session(dag_run)
    if session is None or dag_run.note:  # never overwrite a person's note
        return
    extras = session.scalars(
        select(AssetEvent.extra)
        .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        .where(AssetModel.name == QUARANTINE.name, AssetEvent.source_dag_id == dag_run.dag_id,
               AssetEvent.source_run_id == dag_run.run_id)
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
