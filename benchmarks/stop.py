"""Stopping `make run`: Ctrl-C (SIGINT to the process group) to the launcher's exit, and
whether any component had to be SIGKILLed. Each round starts a fresh stack on its own
folder, lets the seed's chain finish, waits 5 s, then presses Ctrl-C.

    .venv/bin/python benchmarks/stop.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import tempfile
import time
from pathlib import Path

from common import med, save
from harness import DAGS, LaunchedStack


def one_round() -> tuple[float, float, int]:
    root = Path(tempfile.mkdtemp(prefix="bench-stop-"))
    stack = LaunchedStack(root, str(root / "data"))
    with stack.started():
        stack.wait_chain({d: set() for d in DAGS})
        time.sleep(5)
        started = time.monotonic()
        os.killpg(stack.make.pid, signal.SIGINT)
        stack.make.wait(timeout=60)
        took = time.monotonic() - started
    said = re.search(r"Stopped in ([0-9.]+) s(?: \(killed (\d+) stragglers)?", stack.log_tail())
    return took, float(said.group(1)), int(said.group(2) or 0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    rounds = [one_round() for _ in range(parser.parse_args().rounds)]
    figures = {
        "ctrl_c_to_exit_s": {"median": round(med([r[0] for r in rounds]), 2), "all": [round(r[0], 2) for r in rounds]},
        "launcher_stop_s": {"median": round(med([r[1] for r in rounds]), 2), "all": [r[1] for r in rounds]},
        "stragglers_killed": [r[2] for r in rounds],
    }
    print(figures)
    save("stop", figures)
