"""Run Airflow's command line with the launcher's fixes applied first.

    python -m tasks.stack.airflow_command [--preload] scheduler --skip-serve-logs

- ``--preload`` (the scheduler, each Celery worker): import the pipeline's heavy libraries
  first. Their task processes are forked from them and inherit what they imported instead of
  importing it again (~3 s per task, 2.3 s of it Great Expectations). ``PIPELINE_PRELOAD_MODULES``
  lists them (``tasks.stack.env``).
- The scheduler on SQLite gets a sub-second SQL ``now()`` (``tasks.stack.sqlite_clock``).
- Every component notices at once that a child it supervises has exited while stopping it
  (``tasks.orchestration.child_exit``).
- The triggerer's runner passes an event on as soon as a trigger yields it, not at its next
  one-second pass (``tasks.orchestration.trigger_wake``).

Airflow then runs as its own program (as the ``airflow`` executable would), not as a library.
"""

from __future__ import annotations

import importlib
import os
import runpy
import sys


def main() -> None:
    args = sys.argv[1:]
    preload = args[:1] == ["--preload"]
    if preload:
        args = args[1:]
    if args[:1] == ["scheduler"] and os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "sqlite:").startswith("sqlite:"):
        importlib.import_module("tasks.stack.sqlite_clock")
    for name in filter(None, os.environ.get("PIPELINE_PRELOAD_MODULES", "").split(",") if preload else []):
        importlib.import_module(name)
    from tasks.orchestration.child_exit import notice_child_exit_promptly

    notice_child_exit_promptly()
    if args[:1] == ["triggerer"]:
        from tasks.orchestration.trigger_wake import wake_on_trigger_events

        wake_on_trigger_events()
    sys.argv = ["airflow", *args]
    runpy.run_module("airflow", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
