"""The scheduler's SQL now() on SQLite has milliseconds (scripts/sqlite_subsecond_now.py).

Without it SQLite's CURRENT_TIMESTAMP has whole seconds, and a DAG run whose ``run_after``
lies in the current second is not "due" (``run_after <= now()``) until the next one."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO_ROOT

CHECK = """
import sys, time
from datetime import UTC, datetime, timedelta
if sys.argv[1] == "fixed":
    sys.path.insert(0, {scripts!r})
    import sqlite_subsecond_now
from sqlalchemy import create_engine, func, literal, select
while datetime.now(UTC).microsecond < 300_000:  # 50 ms ago must lie in the current second
    time.sleep(0.01)
run_after = (datetime.now(UTC) - timedelta(milliseconds=50)).strftime("%Y-%m-%d %H:%M:%S.%f")  # as Airflow stores it
with create_engine("sqlite://").connect() as db:
    print(db.execute(select(literal(run_after) <= func.now())).scalar())
"""


def due(mode: str) -> str:
    code = CHECK.format(scripts=str(REPO_ROOT / "scripts"))
    done = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_run_due_50_ms_ago_is_due_with_the_fix_and_not_without():
    assert due("plain") in ("False", "0")  # SQLite's own clock: not before the next whole second
    assert due("fixed") in ("True", "1")


def test_the_scheduler_is_started_with_the_fix_on_sqlite_only():
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    import airflow_stack

    assert "import sqlite_subsecond_now" in airflow_stack.PRELOAD_AND_RUN
    assert "'sqlite:'" in airflow_stack.PRELOAD_AND_RUN and "scheduler" in airflow_stack.PRELOADING
