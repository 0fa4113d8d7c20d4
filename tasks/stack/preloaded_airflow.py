"""Run Airflow's command line after importing the pipeline's heavy libraries.

    python -m tasks.stack.preloaded_airflow scheduler --skip-serve-logs

The scheduler (and each Celery worker) forks its task processes, which inherit what it
imported instead of importing it again (~3 s per task, 2.3 s of it Great Expectations).
``PIPELINE_PRELOAD_MODULES`` lists them (``tasks.stack.env``). On SQLite the scheduler also
gets a sub-second SQL ``now()`` (``tasks.stack.sqlite_clock``). Airflow then runs as its own
program (as the ``airflow`` executable would), not as a library.
"""

from __future__ import annotations

import importlib
import os
import runpy
import sys


def main() -> None:
    if os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "sqlite:").startswith("sqlite:"):
        importlib.import_module("tasks.stack.sqlite_clock")
    for name in filter(None, os.environ.get("PIPELINE_PRELOAD_MODULES", "").split(",")):
        importlib.import_module(name)
    sys.argv = ["airflow", *sys.argv[1:]]
    runpy.run_module("airflow", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
