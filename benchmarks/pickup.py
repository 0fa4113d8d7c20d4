"""Pickup: how late each way into the inbox is taken, and how often the settle is the reason.

    PYTHONPATH=tests python benchmarks/pickup.py [ROUNDS]      (default 10)

The inbox watcher's own trigger (``InboxTrigger``, the code the triggerer runs, with the
settings ``dags/`` give it) watches a local inbox (inotify) and an S3 prefix on a moto S3
server started here. Each round puts a 150-row CSV in by every path, at a random moment, and
times from the file being whole to the trigger's event naming it:

- ``mv``: written beside the inbox, renamed in (whole at the rename);
- ``cp``: the ``cp`` command into the inbox (one open, one close; whole when ``cp`` exits);
- ``appender``: a script appending 16 lines, opening and closing the file for each, every
  0.5 s (a logger, ``echo row >> f``; whole at its last close); it must be taken once, whole;
- ``s3 upload``: one PUT to the S3 prefix (whole when the PUT answers);
- ``daily sweep``: ``Inbox.sweep()`` (what a daily or manual ingest run does first) on a file
  closed in place 0.2 s before it, and on one closed a minute before it (its mtime set back):
  here the time from the sweep's start to its claim.

"late by the settle": taken at least the settle time (``PIPELINE_INBOX_SETTLE_S``, 3 s) after
it was whole. Prints a table; saves benchmarks/results/pickup.json.
"""

from __future__ import annotations

import asyncio
import os
import queue
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import cp_into, iris_like, med, pct, save

from tasks.config import DEFAULT_SETTLE_S
from tasks.orchestration.assets import inbox_watchers
from tasks.stack.services import MotoServer
from tasks.store import open_store

ROWS = 150
LINES_APPENDED, APPEND_EVERY_S = 16, 0.5


class Watcher:
    """Runs the watcher's trigger in its own event loop (a thread, as in the triggerer) and
    notes when each file name was reported."""

    def __init__(self, data_url: str):
        (watcher, _) = inbox_watchers(data_url, inbox_queue=None)
        self.trigger = watcher.trigger
        self.reported: queue.Queue[tuple[float, list[str]]] = queue.Queue()
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        async def consume() -> None:
            async for event in self.trigger.run():
                self.reported.put((time.time(), event.payload["files"]))

        self._task = self._loop.create_task(consume())
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout=10)

    def wait_for(self, name: str, timeout: float = 60.0) -> list[float]:
        """When ``name`` was reported, once per event naming it (more than one: taken in pieces);
        waits ``timeout`` s for the first, then 2 s for more."""
        seen, deadline = [], time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                at, files = self.reported.get(timeout=left)
            except queue.Empty:
                break
            if name in files:
                seen.append(at)
                deadline = time.monotonic() + 2.0
        if not seen:
            raise TimeoutError(f"{name} was not reported within {timeout} s")
        return seen


def csv_text(seed: int) -> str:
    return iris_like(ROWS, seed).to_csv(index=False)


def by_mv(inbox: Path, name: str, seed: int) -> float:
    staged = inbox.parent / f"staged-{name}"
    staged.write_text(csv_text(seed))
    os.replace(staged, inbox / name)
    return time.time()


def by_cp(inbox: Path, name: str, seed: int) -> float:
    return cp_into(inbox, name, csv_text(seed))


def by_appender(inbox: Path, name: str, seed: int) -> float:
    lines = iris_like(LINES_APPENDED, seed).to_csv(index=False).splitlines(keepends=True)
    for i, line in enumerate(lines):
        if i:
            time.sleep(APPEND_EVERY_S)
        with open(inbox / name, "a") as fh:
            fh.write(line)
    return time.time()


def local_paths(rounds: int, root: Path) -> dict[str, list[float]]:
    data_url = str(root / "data")
    store = open_store(data_url)
    store.inbox.make_ready()
    inbox = Path(store.backend.path(store.inbox.folder))
    watcher = Watcher(data_url)
    time.sleep(1.0)  # its first scan
    delays: dict[str, list[float]] = {"mv": [], "cp": [], "appender": []}
    pieces = 0
    for r in range(rounds):
        for path, put in (("mv", by_mv), ("cp", by_cp), ("appender", by_appender)):
            time.sleep(random.uniform(0.2, 1.2))
            name = f"{path}-{r:02d}.csv"
            whole_at = put(inbox, name, seed=r)
            seen = watcher.wait_for(name)
            delays[path].append(seen[0] - whole_at)
            pieces += len(seen) - 1
    watcher.stop()
    print(f"appender files taken in more than one piece: {pieces}")
    return delays


def s3_path(rounds: int, root: Path) -> list[float]:
    moto = MotoServer(log_path=root / "moto_server.log").start()
    saved = dict(os.environ)
    try:
        os.environ.update(moto.env)
        data_url = f"s3://{moto.new_bucket('pickup')}/data"
        client = moto.client("s3")
        bucket, prefix = data_url.removeprefix("s3://").split("/", 1)
        watcher = Watcher(data_url)
        time.sleep(1.5)
        delays = []
        for r in range(rounds):
            time.sleep(random.uniform(0.2, 1.2))
            name = f"upload-{r:02d}.csv"
            client.put_object(Bucket=bucket, Key=f"{prefix}/inbox/{name}", Body=csv_text(r).encode())
            whole_at = time.time()
            delays.append(watcher.wait_for(name)[0] - whole_at)
        watcher.stop()
        return delays
    finally:
        os.environ.clear()
        os.environ.update(saved)
        moto.stop()


def sweep_path(rounds: int, root: Path) -> dict[str, list[float]]:
    """No watcher here: the sweep alone, as a daily run with nothing else listening."""
    store = open_store(str(root / "sweep"))
    store.inbox.make_ready()
    inbox = Path(store.backend.path(store.inbox.folder))
    delays: dict[str, list[float]] = {"daily sweep, closed 0.2 s before": [], "daily sweep, closed 60 s before": []}
    for r in range(rounds):
        for label, age in (("daily sweep, closed 0.2 s before", 0.2), ("daily sweep, closed 60 s before", 60.0)):
            name = f"swept-{r:02d}.csv"
            (inbox / name).write_text(csv_text(r))
            stamp = time.time() - age
            os.utime(inbox / name, (stamp, stamp))
            if age < 1:
                time.sleep(age)
            started = time.time()
            claims = store.inbox.sweep()
            assert [c.name for c in claims] == [name], claims
            delays[label].append(time.time() - started)
            for claim in claims:
                store.inbox.finish(claim)
    return delays


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    random.seed(7)
    root = Path(tempfile.mkdtemp(prefix="bench-pickup-"))
    try:
        delays = local_paths(rounds, root)
        delays["s3 upload"] = s3_path(rounds, root)
        delays.update(sweep_path(rounds, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{rounds} rounds; settle {DEFAULT_SETTLE_S:g} s; whole -> reported, seconds")
    print(f"{'path':34} {'p50':>6} {'p95':>6} {'max':>6}  late by the settle")
    figures = {}
    for path, values in delays.items():
        late = sum(v >= DEFAULT_SETTLE_S for v in values)
        print(f"{path:34} {med(values):6.2f} {pct(values, 95):6.2f} {max(values):6.2f}  {late}/{len(values)}")
        figures[path] = {"p50_s": med(values), "p95_s": pct(values, 95), "late": late, "n": len(values)}
    save("pickup", {"rounds": rounds, "settle_s": DEFAULT_SETTLE_S, "paths": figures})


if __name__ == "__main__":
    main()
