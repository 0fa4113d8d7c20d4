"""Ends a stack whose launcher died, even by SIGKILL (``kill -9`` of a terminal's ``make run``).

    python -m tasks.stack.watchdog GRACE_S PGID...

Started by the launcher with a parent-death signal: when the launcher dies, the kernel sends
this process SIGTERM, and it ends each component's process group (SIGTERM, then SIGKILL after
``GRACE_S``). A parent-death signal on the components alone is not enough: the scheduler waits
for its running tasks, which wait for the API server that just died. A normal stop ends the
watchdog first, so it never interferes.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import suppress


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def end_groups(groups: list[int], grace_s: float) -> None:
    for pgid in groups:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(group_alive(g) for g in groups):
        time.sleep(0.1)
    for pgid in groups:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def main(argv: list[str]) -> None:
    grace_s, groups = float(argv[0]), [int(g) for g in argv[1:]]

    def launcher_died(_signum: int, _frame: object) -> None:
        end_groups(groups, grace_s)
        os._exit(0)

    signal.signal(signal.SIGTERM, launcher_died)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the launcher, which stops us first
    while True:
        signal.pause()


if __name__ == "__main__":
    main(sys.argv[1:])
