"""Shared by the benchmarks: a real stack in a temp folder, drops, run timings, sampling, data."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
from harness import DAGS, LaunchedStack, resampled_rows

from tasks.stack.env import running_stack as find_running_stack
from tasks.stack.services import MotoServer, free_port
from tasks.store import open_store
from tasks.store.inbox import claimed_at

REPO_ROOT = Path(__file__).resolve().parents[1]
IRIS_SEED = REPO_ROOT / "examples" / "iris" / "iris.csv"

RESULTS = REPO_ROOT / "benchmarks" / "results"


def machine() -> str:
    return f"{platform.node()}: {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}"


def save(name: str, figures: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    figures = {"date": datetime.now().isoformat(timespec="seconds"), "machine": machine(), **figures}
    (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2, default=str))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ts(value: str | None) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else float("nan")


def iris_like(n: int, seed: int) -> pd.DataFrame:
    """Iris-like rows as measured: resampled, jittered by 0.05 cm, rounded; valid for the suite."""
    return resampled_rows(IRIS_SEED, n, seed, jitter=0.05)


def cp_into(directory: Path, name: str, text: str) -> float:
    """``text`` copied into ``directory/name`` by the ``cp`` command (one open, one close: what
    most people type); returns the time ``cp`` exited, when the file is whole."""
    with tempfile.TemporaryDirectory(prefix="bench-cp-") as tmp:
        source = Path(tmp) / name
        source.write_text(text)
        subprocess.run(["cp", str(source), str(directory / name)], check=True)
        return time.time()


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    tmp = path.with_name(f".{path.name}.tmp")
    pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), tmp, pacsv.WriteOptions(quoting_style="none"))
    os.replace(tmp, path)  # appears in the inbox complete


@dataclass
class Bench:
    stack: LaunchedStack
    store: Any
    healthy_s: float
    s3_log: Path | None = None  # the S3 server's access log (one line per request)

    def s3_requests(self) -> int:
        """Requests the S3 server has answered so far."""
        if self.s3_log is None or not self.s3_log.exists():
            return 0
        return sum(
            1
            for line in self.s3_log.read_text(errors="replace").splitlines()
            if '" 20' in line or '" 30' in line or '" 40' in line
        )


@contextmanager
def running_stack(
    backend: str = "local", extra_dags: list[Path] = (), prepare: Any = None, env: dict[str, str] | None = None
) -> Iterator[Bench]:
    """Start the real stack with `make run` (``local``: data in a folder; ``s3``: on a bucket of
    a moto S3 server started here) or `make cluster` (Celery, PostgreSQL, Redis, its own S3) in
    a temp folder, through the same harness as the end-to-end tests; always stop everything.
    ``extra_dags``: DAG files served beside the project's (a copy of ``dags/`` plus these).
    ``prepare``: called with the (local) data URL before the stack starts, to fill it.
    ``env``: more settings for the stack (a parameters file, a password)."""
    root = Path(tempfile.mkdtemp(prefix="bench-"))
    root.chmod(0o711)  # the cluster's PostgreSQL runs as the postgres user
    env = dict(env or {})
    moto = None
    saved = dict(os.environ)
    try:
        if extra_dags:
            dags = root / "dags"
            shutil.copytree(REPO_ROOT / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
            for extra in extra_dags:
                shutil.copy(extra, dags / extra.name)
            env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
        data_url, s3_log = str(root / "data"), None
        if backend == "s3":
            moto = MotoServer(log_path=root / "moto_server.log").start()
            env.update(moto.env)
            os.environ.update(moto.env)  # this process drops and reads through the same server
            data_url, s3_log = f"s3://{moto.new_bucket('bench')}/data", moto.log_path
        elif backend == "local" and prepare is not None:
            prepare(data_url)
        if backend == "cluster":
            env.update({f"PIPELINE_{name.upper()}_PORT": str(free_port()) for name in ("postgres", "redis", "s3")})
            env["PIPELINE_DATA_URL"] = ""  # the cluster puts the data on its own S3 server
            data_url = "s3://pipeline/data"
        launched = LaunchedStack(root, data_url, target="cluster" if backend == "cluster" else "run", env=env)
        started = time.monotonic()
        try:
            with launched.started(timeout=300) as stack:
                if backend == "cluster":  # the cluster's S3 server: reach it as its users do
                    os.environ.update(find_running_stack(stack.home).env)
                    s3_log = stack.home / "logs" / "components" / "s3.log"
                    stack.store = open_store(data_url)
                yield Bench(stack, stack.store, time.monotonic() - started, s3_log)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        if moto is not None:
            moto.stop()


def drop(store: Any, name: str, frame: pd.DataFrame) -> float:
    """Put a CSV into the inbox as one complete file; returns the time it became visible."""
    with tempfile.TemporaryDirectory(prefix="bench-drop-") as tmp:
        local = Path(tmp) / name
        write_csv(frame, local)
        store.inbox.put_file(name, local)
        return time.time()


def run_ids(stack: LaunchedStack) -> dict[str, set[str]]:
    return stack.run_ids()


def wait_chain(stack: LaunchedStack, before: dict[str, set[str]], timeout: float = 600) -> dict[str, dict[str, Any]]:
    return stack.wait_chain(before, timeout=timeout, every=0.2)


def task_instances(stack: LaunchedStack, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    tis = stack.api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
    ran = [t for t in tis if t["state"] == "success" and t["start_date"]]
    return sorted(ran, key=lambda t: ts(t["start_date"]))


def handoff_profile(stack: LaunchedStack, runs: dict[str, dict[str, Any]], dag_ids: list[str]) -> dict[str, float]:
    """The scheduler's own timestamps of ``runs`` (one run per DAG of ``dag_ids``, in chain
    order), split into hand-offs (seconds): run created -> started; per task -> scheduled,
    scheduled -> queued, queued -> started (the task process's start), run; last task ended ->
    run ended; between DAGs, upstream task ended -> downstream run created (the asset event)."""
    out: dict[str, float] = {}
    previous_end = None
    for dag_id in dag_ids:
        run = runs[dag_id]
        tis = task_instances(stack, dag_id, run["dag_run_id"])
        if previous_end is not None:
            out[f"{dag_id}: upstream task ended -> run created"] = ts(run["queued_at"]) - previous_end
        out[f"{dag_id}: run created -> started"] = ts(run["start_date"]) - ts(run["queued_at"])
        cursor = ts(run["start_date"])
        for ti in tis:
            name = f"{dag_id}.{ti['task_id']}"
            out[f"{name}: -> scheduled"] = ts(ti["scheduled_when"]) - cursor
            out[f"{name}: scheduled -> queued"] = ts(ti["queued_when"]) - ts(ti["scheduled_when"])
            out[f"{name}: queued -> started"] = ts(ti["start_date"]) - ts(ti["queued_when"])
            out[f"{name}: run"] = ts(ti["end_date"]) - ts(ti["start_date"])
            cursor = ts(ti["end_date"])
        out[f"{dag_id}: last task ended -> run ended"] = ts(run["end_date"]) - cursor
        previous_end = cursor
    return out


def handoff_kinds(profile: dict[str, float]) -> dict[str, float]:
    """A profile summed per kind of hand-off (every task's "queued -> started" together...)."""
    kinds: dict[str, float] = {}
    for key, value in profile.items():
        kind = key.split(": ", 1)[1]
        kind = "task run" if kind == "run" else kind
        kinds[kind] = kinds.get(kind, 0.0) + value
    return kinds


def stage_times(drop_at: float, runs: dict[str, dict[str, Any]], heard: tuple[float, float]) -> dict[str, float]:
    """Where the time between a drop and evaluate's success went (seconds). ``heard``: when the
    watcher's event was stored, and when it claimed the file (NaN for queue notifications)."""
    event_at, claimed_at = heard
    if claimed_at == claimed_at:  # the watcher claimed it: split pickup from Airflow's side
        out = {
            "pickup (drop -> claimed)": claimed_at - drop_at,
            "claimed -> inbox event (triggerer's 1 s sync)": event_at - claimed_at,
        }
    else:
        out = {"pickup (drop -> inbox event)": event_at - drop_at}
    out["inbox event -> ingest queued"] = ts(runs["ingest"]["queued_at"]) - event_at
    for i, d in enumerate(DAGS):
        r = runs[d]
        if i:
            prev = runs[DAGS[i - 1]]
            out[f"hand-off {DAGS[i - 1]} -> {d}"] = ts(r["queued_at"]) - ts(prev["end_date"])
        out[f"{d} queued"] = ts(r["start_date"]) - ts(r["queued_at"])
        out[f"{d} run"] = ts(r["end_date"]) - ts(r["start_date"])
    out["total (drop -> evaluate success)"] = ts(runs["evaluate"]["end_date"]) - drop_at
    return out


class MemorySampler:
    """Samples the stack's PSS (summed, shared pages split fairly) and each task process's RSS."""

    def __init__(self, root_pid: int | None = None, interval: float = 0.25):
        self.root = psutil.Process(root_pid or os.getpid())
        self.interval = interval
        self.pss: list[tuple[float, int]] = []
        self.task_rss: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            total = 0
            for p in self.root.children(recursive=True):
                try:
                    info = p.memory_full_info()
                    total += info.pss
                    title = " ".join(p.cmdline())
                    if title.startswith("airflow worker -- ") and "LocalExecutor" not in title:
                        ti = title.split("-- ", 1)[1].strip()
                        self.task_rss[ti] = max(self.task_rss.get(ti, 0), info.rss)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self.pss.append((time.time(), total))
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_pss(self) -> int:
        return max((v for _, v in self.pss), default=0)


COMPONENT_NAMES = [
    "postgres",
    "redis-server",
    "moto_server",
    "worker-1",
    "worker-2",
    "api_server",
    "scheduler",
    "dag-processor",
    "triggerer",
]


def pss_by_component(root_pid: int | None = None) -> dict[str, tuple[int, int]]:
    """Summed PSS and process count per component (a process counts for the nearest ancestor
    that names one), for every process below ``root_pid``."""
    root = psutil.Process(root_pid or os.getpid())
    out: dict[str, tuple[int, int]] = {}
    for p in root.children(recursive=True):
        try:
            pss = p.memory_full_info().pss
            name = _component(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total, count = out.get(name, (0, 0))
        out[name] = (total + pss, count + 1)
    return out


def stack_pss(root_pid: int | None = None) -> tuple[int, int]:
    """(summed PSS, process count) of every process below ``root_pid``."""
    total, count = 0, 0
    for p in psutil.Process(root_pid or os.getpid()).children(recursive=True):
        try:
            total += p.memory_full_info().pss
            count += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total, count


def task_names(stack: LaunchedStack, runs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Task instance id -> 'dag.task' for the given runs."""
    names = {}
    for d, r in runs.items():
        tis = stack.api.get(f"/api/v2/dags/{d}/dagRuns/{r['dag_run_id']}/taskInstances")["task_instances"]
        names.update({ti["id"]: f"{d}.{ti['task_id']}" for ti in tis})
    return names


def trigger_event_time(stack: LaunchedStack, file_name: str) -> tuple[float, float]:
    """When the inbox watcher's event for the file was stored, and when the watcher claimed
    it (NaN if an SQS notification reported it: its payload carries the URL-encoded key)."""
    for e in stack.api.asset_events():
        payload = e["extra"].get("payload", {}) if e["extra"].get("from_trigger") else {}
        if file_name in str(payload):
            files, claimed = payload.get("files", []), payload.get("claimed", [])
            known = file_name in files and len(claimed) == len(files)
            return ts(e["timestamp"]), claimed_at(claimed[files.index(file_name)]) if known else float("nan")
    return float("nan"), float("nan")


def idle_cpu(seconds: float = 60.0, root_pid: int | None = None) -> tuple[float, dict[str, float]]:
    """CPU used by every process below ``root_pid`` over ``seconds``, in % of one core, in
    total and per component (processes that start meanwhile count from zero)."""
    root = psutil.Process(root_pid or os.getpid())

    def used() -> dict[int, tuple[str, float]]:
        out = {}
        for p in root.children(recursive=True):
            try:
                t = p.cpu_times()
                out[p.pid] = (_component(p), t.user + t.system + t.children_user + t.children_system)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return out

    before = used()
    time.sleep(seconds)
    after = used()
    per: dict[str, float] = {}
    for pid, (name, t) in after.items():
        per[name] = per.get(name, 0.0) + (t - before.get(pid, (name, 0.0))[1]) / seconds * 100
    return sum(per.values()), per


def _component(p: psutil.Process) -> str:
    """The component a process belongs to: the nearest ancestor (or itself) that names one."""
    for q in [p, *p.parents()]:
        line = " ".join(q.cmdline())
        if found := next((c for c in COMPONENT_NAMES if c in line), None):
            return found
    return "other"
