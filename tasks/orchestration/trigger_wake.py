"""The triggerer's runner wakes as soon as a trigger yields an event, not at its next pass.

Airflow 3.3's ``TriggerRunner.arun`` (airflow/jobs/triggerer_job_runner.py) runs triggers as
coroutines, and a trigger's event is appended to ``self.events``; the runner's own loop only
sends those events to its supervisor (which writes them to the database, where the scheduler
sees them) on its next pass, after ``with anyio.move_on_after(1): await stop_event.wait()``.
An inbox watcher's event therefore waits 0.5 s on average, up to a second, before a run can be
created: a third of the single DAG's whole time (issue 33).

The fix, written so it could go upstream as a change of a few lines (an ``asyncio.Event`` set
on append, awaited beside ``stop_event``): ``self.events`` becomes a deque that, on
``append``, cancels the loop's current one-second wait, so the pass runs at once. Nothing
wakes while no trigger fires: an idle triggerer does exactly what it did.

Applied by ``tasks.stack.airflow_command`` before Airflow starts (the runner is a forked
child of the triggerer, so it inherits the patch). ``tests/test_orchestration.py`` fails if
an Airflow upgrade changes the code patched here.
"""

from __future__ import annotations

from collections import deque
from typing import Any

PASS_WAIT = "with anyio.move_on_after(1):"  # the runner loop's wait between passes, in arun
EVENT_APPEND = "self.events.append("  # where run_trigger queues a trigger's event


class _PassWait:
    """The runner loop's current wait (one runner per process), for the events to cancel."""

    scope: Any = None


class _AnyioRecordingTheWait:
    """``anyio`` as the triggerer module sees it: ``move_on_after`` also records its scope."""

    def __init__(self, anyio: Any):
        self._anyio = anyio

    def __getattr__(self, name: str) -> Any:
        return getattr(self._anyio, name)

    def move_on_after(self, delay: float | None, shield: bool = False) -> Any:
        scope = self._anyio.move_on_after(delay, shield=shield)
        _PassWait.scope = scope
        return scope


class WakingEvents(deque):
    """The runner's queue of trigger events: appending one ends the loop's wait."""

    def append(self, item: Any) -> None:
        super().append(item)
        if (scope := _PassWait.scope) is not None:
            scope.cancel()  # same event loop and thread: no await between queue and wake


def wake_on_trigger_events() -> None:
    from airflow.jobs import triggerer_job_runner as module

    runner = module.TriggerRunner
    if getattr(runner, "wakes_on_events", False):
        return
    original_init = runner.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.events = WakingEvents(self.events)

    runner.__init__ = __init__
    runner.wakes_on_events = True
    module.anyio = _AnyioRecordingTheWait(module.anyio)
