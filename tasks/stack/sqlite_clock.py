"""SQL ``now()`` with millisecond resolution on SQLite, for the scheduler of ``make run``.

SQLAlchemy renders ``func.now()`` as ``CURRENT_TIMESTAMP`` on SQLite, which has whole-second
resolution. Airflow's scheduler starts a queued DAG run only when ``run_after <= now()``
(``DagRun.get_queued_dag_runs_to_set_running``), and ``run_after`` is stored with
microseconds, so on SQLite every new run (asset-triggered or from the REST API) waits for
the next whole second: 0.5 s on average per DAG, 2 s over the four-DAG chain. Measured
with ``benchmarks/handoffs.py``. PostgreSQL's ``now()`` has microseconds already.

Imported before Airflow by the scheduler's launcher (``tasks.stack.airflow_command``)
when the metadata database is SQLite. Airflow itself is not imported.
"""

from __future__ import annotations

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import now


@compiles(now, "sqlite")
def _sqlite_now_with_milliseconds(element, compiler, **kw) -> str:
    # Same text format as Airflow's stored timestamps ('YYYY-MM-DD HH:MM:SS.fff', UTC), so
    # string comparison orders them; in parentheses, valid in a DEFAULT clause as well.
    return "(strftime('%Y-%m-%d %H:%M:%f', 'now'))"
