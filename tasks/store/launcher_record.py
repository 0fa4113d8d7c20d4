"""Which launcher runs on a data root: ``launcher.json``, while a stack runs on it.

Two stacks on one data root (with two Airflow homes) would each run the chain on the same
batches and models. The launcher records itself here at start and removes the record when it
stops; a second launcher refuses while the recorded one is alive. A record left by a killed
launcher (its process is gone) is taken over. Liveness is judged on this machine: a record
from another host is reported, not trusted blindly.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime
from typing import Any

import psutil

from tasks.store.backend import StorePart

RECORD = "launcher.json"


class DataRootInUse(RuntimeError):
    """Another live launcher runs on this data root; the message names it."""


def process_alive(pid: int) -> bool:
    """A process with this PID runs on this machine (a zombie does not count)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class LauncherRecord(StorePart):
    folder = RECORD

    def current(self) -> dict[str, Any] | None:
        return self.backend.read_json_or_none(RECORD)

    def claim(self, *, url: str, home: str) -> dict[str, Any]:
        """Record this process as the data root's launcher, unless another live one is. The
        record is made with the store's exclusive create: of two launchers starting together on
        one data root, exactly one wins. A record whose launcher is gone is taken over."""
        mine = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "url": url,
            "home": home,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        for _ in range(3):  # created; or a stale record removed, then created
            if self.backend.create_exclusive(RECORD, json.dumps(mine, indent=1).encode()):
                return mine
            record = self.current()
            if record is None:
                continue  # released meanwhile
            if record.get("pid") == os.getpid() and record.get("host") == mine["host"]:
                return record  # ours already
            self._refuse_unless_gone(record)
            self.backend.delete(RECORD)  # its launcher is gone: take over
        raise DataRootInUse(f"another launcher keeps claiming the data root {self.backend.url}: try again")

    def _refuse_unless_gone(self, record: dict[str, Any]) -> None:
        same_host = record.get("host") == socket.gethostname()
        if not same_host or process_alive(int(record["pid"])):
            where = "" if same_host else f" on host {record.get('host')}"
            raise DataRootInUse(
                f"a stack already runs on the data root {self.backend.url}: launcher PID {record['pid']}{where}, "
                f"{record.get('url')} (Airflow home {record.get('home')}). Stop it first, or use another "
                f"PIPELINE_DATA_URL" + ("" if same_host else f"; if it is gone, delete {self.backend.url}/{RECORD}")
            )

    def release(self) -> None:
        """Remove the record if it is this process's (never another launcher's)."""
        record = self.current()
        if record is not None and record.get("pid") == os.getpid() and record.get("host") == socket.gethostname():
            self.backend.delete(RECORD)
