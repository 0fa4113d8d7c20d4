"""The scheduler's SQL now() on SQLite has milliseconds (tasks/stack/sqlite_clock.py).

Without it SQLite's CURRENT_TIMESTAMP has whole seconds, and a DAG run whose ``run_after``
lies in the current second is not "due" (``run_after <= now()``) until the next one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT

CHECK = """
import sys, time
from datetime import UTC, datetime, timedelta
if sys.argv[1] == "fixed":
    import tasks.stack.sqlite_clock
from sqlalchemy import create_engine, func, literal, select
while not 300_000 <= datetime.now(UTC).microsecond < 450_000:  # 50 ms ago, and the query, in this second
    time.sleep(0.01)
run_after = (datetime.now(UTC) - timedelta(milliseconds=50)).strftime("%Y-%m-%d %H:%M:%S.%f")  # as Airflow stores it
with create_engine("sqlite://").connect() as db:
    print(db.execute(select(literal(run_after) <= func.now())).scalar())
"""


def due(mode: str) -> str:
    done = subprocess.run([sys.executable, "-c", CHECK, mode], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_run_due_50_ms_ago_is_due_with_the_fix_and_not_without():
    assert due("plain") in ("False", "0")  # SQLite's own clock: not before the next whole second
    assert due("fixed") in ("True", "1")


def test_the_scheduler_is_started_with_the_fix_on_sqlite_only(tmp_path):
    from tasks.stack import Stack, airflow_command

    stack = Stack(home=tmp_path, port=8080)
    assert stack._airflow("scheduler")[1:4] == ["-m", "tasks.stack.airflow_command", "--preload"]
    assert stack._airflow("triggerer")[1:4] == ["-m", "tasks.stack.airflow_command", "triggerer"]  # no preload
    assert stack._airflow("api-server")[0].endswith("/airflow")  # nothing forks tasks from it: no preload
    source = Path(airflow_command.__file__).read_text()
    assert '"tasks.stack.sqlite_clock"' in source and '.startswith("sqlite:")' in source
