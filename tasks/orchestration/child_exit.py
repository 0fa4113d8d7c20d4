"""Stopping a supervised child: notice its exit at once, not after Airflow's escalation delay.

Airflow's ``WatchedSubprocess.kill()`` (the triggerer stopping its trigger runner, the DAG
processor its parsers, a worker its task) waits in a loop of ``selector.select(timeout)`` on
the child's sockets, then ``waitpid(WNOHANG)``. When the child closed its sockets and exited
before that loop began (Ctrl-C reaches the whole process group, so the runner stops on its own),
nothing is left to select on, and the first ``select`` sleeps out the whole escalation delay
(10 s for the triggerer) with a zombie child: ``make run`` then killed the triggerer at its own
10 s grace in about one stop in three (``benchmarks/stop.py``). With no socket left to watch,
the wait is cut into short polls of the child's exit.
"""

from __future__ import annotations

import functools
from typing import Any

EXIT_POLL_S = 0.05


def notice_child_exit_promptly() -> None:
    from airflow.sdk.execution_time.supervisor import WatchedSubprocess

    serve = WatchedSubprocess._service_subprocess
    if getattr(serve, "polls_for_exit", False):
        return

    @functools.wraps(serve)
    def service_subprocess(self: Any, max_wait_time: float, *args: Any, **kwargs: Any) -> Any:
        if not self.selector.get_map():  # no socket left: only the exit can end the wait
            max_wait_time = min(max_wait_time, EXIT_POLL_S)
        return serve(self, max_wait_time, *args, **kwargs)

    service_subprocess.polls_for_exit = True  # type: ignore[attr-defined]
    WatchedSubprocess._service_subprocess = service_subprocess
