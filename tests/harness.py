"""Drive a real stack from outside, as a person would: ``make run`` or ``make cluster`` in its own
session (like a terminal's foreground job), bounded waits, drops on any backend, Ctrl-C, and
a check that nothing is left behind. The end-to-end tests and the benchmarks share it; so do
the DAG list and the rows they drop (resampled from a data set's seed). Imports no Airflow."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psutil

from tasks.airflow_api import ApiClient
from tasks.config import CHAIN_DAG_IDS, REPO_ROOT
from tasks.stack.services import free_port
from tasks.store import Store, open_store

DAGS = list(CHAIN_DAG_IDS)
CHAIN_TIMEOUT = 180


def wait_for(what: str, check: Callable[[], Any], timeout: float = CHAIN_TIMEOUT, every: float = 0.5) -> Any:
    """Poll ``check`` until it returns something true, for at most ``timeout`` seconds. A
    request that fails on the way (an API busy past its timeout on a loaded machine) counts as
    "not yet"; the last such error is named if the wait runs out."""
    deadline = time.monotonic() + timeout
    last_error: OSError | None = None
    while time.monotonic() < deadline:
        try:
            if result := check():
                return result
        except OSError as exc:  # URLError, timeouts, refused connections
            last_error = exc
        time.sleep(every)
    raise AssertionError(
        f"timed out after {timeout:.0f} s waiting for {what}" + (f" (last error: {last_error})" if last_error else "")
    )


def resampled_rows(source: Path, n: int, seed: int, jitter: float = 0.0):
    """``n`` valid rows: the rows of the CSV ``source`` resampled (new content each seed),
    their float columns optionally jittered by a normal noise of ``jitter`` and rounded to
    0.1, as measured data would be."""
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(source)
    rows = frame.sample(n, replace=True, random_state=seed).reset_index(drop=True)
    if jitter:
        features = [c for c in rows.columns if rows[c].dtype.kind == "f"]
        noise = np.random.default_rng(seed).normal(0, jitter, (n, len(features)))
        rows[features] = np.clip(rows[features].to_numpy() + noise, 0.1, None).round(1)
    return rows


def seed_features(store: Store, config) -> None:
    """The data set's seed ingested, marked validated (as the gate would: the suite is not what
    is under test) and split into features, in this process: no Airflow."""
    from tasks.stages.ingest import ingest
    from tasks.stages.split import build_features

    ingest(store, seed=config.dataset.seed)
    for manifest in store.batches.committed():
        store.batches.mark_validated(manifest["batch_id"], {"suite": "not run: seeded by the harness"})
    build_features(store, config)


def train_champion(store: Store, config) -> None:
    """Train on the features and evaluate: the first version becomes the champion."""
    from tasks.stages.evaluate import evaluate_pending
    from tasks.stages.train import train

    train(store, config)
    evaluate_pending(store, config)


def constant_champion(store: Store, dataset, answer: Any) -> str:
    """Register a version that predicts ``answer`` for every row and make it the champion, so an
    answer shows which model gave it. Returns the version."""
    from datetime import UTC, datetime

    import joblib
    from sklearn.dummy import DummyClassifier

    from tasks.ml.modeling import feature_frame

    rows = resampled_rows(dataset.seed, 30, seed=1)
    model = DummyClassifier(strategy="constant", constant=answer).fit(feature_frame(rows, dataset), rows[dataset.target])
    card = store.registry.register(lambda path: joblib.dump(model, path), {"estimator": "DummyClassifier"})
    store.registry.set_champion({"version": card["version"], "promoted_at": datetime.now(UTC).isoformat()})
    return card["version"]


@contextmanager
def scoring_server(data_url: str, root: Path, timeout: float = 60) -> Iterator[str]:
    """``pipeline serve`` as its own process on a free port over ``data_url`` (its home and log
    under ``root``), until it answers ``/ping`` (a model is live); yields its URL, stops it after."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PIPELINE_DATA_URL": data_url, "AIRFLOW_HOME": str(root / "serve-home")}
    log_path = root / "serve.log"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/ping").status_code == 200
        except httpx.HTTPError:
            return False

    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tasks.cli", "serve", "--port", str(port)], cwd=REPO_ROOT, env=env, stdout=log, stderr=log
        )
    try:
        wait_for("the scoring server", lambda: proc.poll() is not None or ready(), timeout=timeout)
        assert proc.poll() is None, log_path.read_text(errors="replace")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class TcpProxy:
    """A TCP forwarder on a free 127.0.0.1 port to ``target_port``, for fault tests: ``cut()``
    drops every connection and refuses new ones (storage unreachable, as a network outage),
    ``restore()`` listens again on the same port. ``strip``: bytes removed from what clients
    send (e.g. a request header, to play a server that never sees it)."""

    def __init__(self, target_port: int, strip: bytes | None = None):
        self.target_port, self.strip = target_port, strip
        self.port = free_port()
        self._server: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self.restore()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restore(self) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            server, self._server = self._server, None
            connections, self._connections = self._connections, []
        if server is not None:
            with suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)  # wakes the accept() of its thread
            server.close()
        for conn in connections:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, self.strip), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, None), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, strip: bytes | None) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk.replace(strip, b"") if strip else chunk)
        except OSError:
            pass
        finally:
            with suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


class LaunchedStack:
    """``make <target>`` with its home under ``root`` and its data at ``data_url``."""

    def __init__(
        self, root: Path, data_url: str, target: str = "run", env: dict[str, str] | None = None, log_name: str | None = None
    ):
        self.root, self.home, self.port = root, root / "airflow", free_port()
        self.data_url = data_url
        self.target = target
        self.log = root / (log_name or f"make-{target}.log")
        self.serve_port = free_port()
        self.serve_url = f"http://127.0.0.1:{self.serve_port}"
        self.env = {
            **os.environ,
            **(env or {}),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW_PORT": str(self.port),
            "PIPELINE_SERVE_PORT": str(self.serve_port),
        }
        if target == "run":
            self.env["PIPELINE_DATA_URL"] = data_url
        self.store: Store = open_store(data_url)
        self.api = ApiClient(f"http://127.0.0.1:{self.port}", self.home)
        self.seen: dict[int, float] = {}
        self.make: subprocess.Popen | None = None

    @contextmanager
    def started(self, timeout: float = 240) -> Iterator[LaunchedStack]:
        """Start, wait (bounded) until healthy, yield; stop everything afterwards, also on failure."""
        with open(self.log, "wb") as out:
            # A session of its own, like a terminal's foreground job: Ctrl-C = SIGINT to this group.
            self.make = subprocess.Popen(
                ["make", self.target], cwd=REPO_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            wait_for("Airflow to be healthy", lambda: self.make.poll() is not None or self.api.healthy(), timeout=timeout)
            assert self.make.poll() is None, self.log_tail()
            self.remember_processes()
            yield self
        finally:
            self.remember_processes()
            self.stop()
            self.force_cleanup()

    def remember_processes(self) -> None:
        """Record every process under `make` (pid -> create time, to survive pid reuse)."""
        if self.make is None:
            return
        try:
            children = psutil.Process(self.make.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for p in children:
            try:
                self.seen[p.pid] = p.create_time()
            except psutil.NoSuchProcess:
                pass

    def launcher_pid(self) -> int:
        """The PID of ``pipeline run``, which ``make`` started."""
        (launcher,) = [p for p in psutil.Process(self.make.pid).children() if "pipeline" in " ".join(p.cmdline())]
        return launcher.pid

    def alive(self) -> list[str]:
        out = []
        for pid, created in self.seen.items():
            try:
                p = psutil.Process(pid)
                if p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE:
                    out.append(f"{pid} {' '.join(p.cmdline())[:120]}")
            except psutil.NoSuchProcess:
                pass
        return out

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def successes(self, dag_id: str) -> int:
        return sum(r["state"] == "success" for r in self.api.dag_runs(dag_id))

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.api.dag_runs(dag_id)

    def drop(self, name: str, content: str, *, to_score: bool = False) -> None:
        """Deliver a file the way the README asks: written elsewhere and moved into the local
        inbox (taken at once), or uploaded to the bucket's inbox/ prefix. (The fault tests
        also copy files in place, which are taken once quiet.) ``to_score``: into the
        scoring inbox instead."""
        folder = self.store.scoring_inbox.folder if to_score else self.store.inbox.folder
        if self.store.backend.can_rename:
            staging = self.root / "staging" / name
            staging.parent.mkdir(exist_ok=True)
            staging.write_text(content)
            inbox = Path(self.store.backend.path(folder))
            inbox.mkdir(parents=True, exist_ok=True)
            os.replace(staging, inbox / name)
            return
        import boto3

        bucket, _, prefix = self.data_url.removeprefix("s3://").partition("/")
        s3 = boto3.client("s3", endpoint_url=self.store.backend.fs.client_kwargs.get("endpoint_url"))
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{folder}/{name}", Body=content.encode())

    def served_version(self) -> str | None:
        """The model version the scoring server serves (``None``: none yet, or not answering)."""
        from tasks.stages.deploy import served_version

        return served_version(self.serve_url)

    def inbox_is_empty(self) -> bool:
        folders = tuple(f"{f}/" for box in (self.store.inbox, self.store.scoring_inbox) for f in (box.folder, box.claimed))
        return not [k for k in self.store.backend.walk_files("") if k.startswith(folders)]

    def read_json(self, key: str) -> Any:
        return self.store.backend.read_json(key)

    def wait_chain(
        self, before: dict[str, set[str]], dags: list[str] = DAGS, timeout: float = CHAIN_TIMEOUT, every: float = 0.5
    ) -> dict[str, dict[str, Any]]:
        """Wait until each DAG has a new successful run (fail fast if a new run failed); the runs."""
        return {
            dag_id: wait_for(
                f"a new successful {dag_id} run",
                lambda d=dag_id: self.api.new_successful_run(d, before[d]),
                timeout=timeout,
                every=every,
            )
            for dag_id in dags
        }

    def run_ids(self) -> dict[str, set[str]]:
        return self.api.run_ids(DAGS)

    def stop(self, timeout: float = 60) -> float:
        started = time.monotonic()
        if self.make is not None and self.make.poll() is None:
            os.killpg(self.make.pid, signal.SIGINT)
            try:
                self.make.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        return time.monotonic() - started

    def group_leader(self, marker: str) -> psutil.Process:
        """The component process (its own process group) whose command line contains ``marker``;
        exited or zombie children met on the way are skipped."""
        found = []
        for p in psutil.Process(self.make.pid).children(recursive=True):
            try:
                if marker in " ".join(p.cmdline()) and os.getpgid(p.pid) == p.pid:
                    found.append(p)
            except (psutil.NoSuchProcess, psutil.ZombieProcess, ProcessLookupError):
                continue
        (leader,) = found
        return leader

    def kill_everything(self) -> None:
        """SIGKILL every process the stack started, launcher included: a power cut."""
        self.remember_processes()
        for pid in [self.make.pid, *self.seen]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.make.wait(timeout=10)

    def force_cleanup(self) -> None:
        for pid, created in self.seen.items():
            try:
                p = psutil.Process(pid)
                if p.create_time() == created:
                    p.kill()
            except psutil.NoSuchProcess:
                pass
        if self.make is not None:
            try:
                os.killpg(self.make.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@contextmanager
def small_tmpfs(path: Path, size_mib: int) -> Iterator[Path]:
    """A file system of ``size_mib`` at ``path`` (needs root, as CI runs), unmounted afterwards."""
    path.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        import pytest

        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)


def fill(path: Path) -> None:
    """Write zeros into ``path`` until the file system is full."""
    chunk = 1 << 20
    with open(path, "wb", buffering=0) as fh:
        while chunk:
            try:
                fh.write(b"\0" * chunk)
            except OSError:
                chunk //= 4
