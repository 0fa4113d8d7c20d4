"""Shared by the benchmarks: a real stack in a temp folder, drops, run timings, sampling, data."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "scripts"))
sys.path.insert(0, str(REPO_ROOT))
from airflow_stack import MotoServer, Stack, free_port  # noqa: E402

DAGS = ["ingest", "preprocess", "train", "evaluate"]
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
    """Synthetic iris-like rows: real iris rows resampled, jittered, rounded; valid for the suite."""
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True).frame
    rng = np.random.default_rng(seed)
    rows = iris.iloc[rng.integers(0, len(iris), n)].reset_index(drop=True)
    features = rows.columns[:4]
    jitter = rng.normal(0, 0.05, (n, 4))
    values = np.clip(rows[features].to_numpy() + jitter, 0.1, None).round(1)
    frame = pd.DataFrame(values, columns=features)
    frame["target"] = rows["target"].to_numpy()
    return frame


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    tmp = path.with_name(f".{path.name}.tmp")
    pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), tmp, pacsv.WriteOptions(quoting_style="none"))
    os.replace(tmp, path)  # appears in the inbox complete


@dataclass
class Bench:
    stack: Stack
    store: Any
    healthy_s: float
    moto: MotoServer | None = None

    def s3_requests(self) -> int:
        """Requests the S3 server has answered so far (its access log has one line each)."""
        if self.moto is None:
            return 0
        return sum(1 for line in self.moto.log_path.read_text(errors="replace").splitlines() if '" 20' in line or '" 30' in line or '" 40' in line)


@contextmanager
def running_stack(backend: str = "local", extra_dags: list[Path] = (), prepare: Any = None) -> Iterator[Bench]:
    """Start the real stack (as `make run` / `make cluster` do) in a temp folder and always stop
    everything. ``local``: data in a folder; ``s3``: data on a bucket of a moto S3 server
    started here; ``cluster``: the cluster profile (Celery, PostgreSQL, Redis, its own S3).
    ``extra_dags``: DAG files served beside the project's (a copy of ``dags/`` plus these).
    ``prepare``: called with the (local) data URL before the stack starts, to fill it."""
    from tasks.store import open_store

    root = Path(tempfile.mkdtemp(prefix="bench-"))
    root.chmod(0o711)  # the cluster's PostgreSQL runs as the postgres user
    moto = None
    saved = dict(os.environ)
    try:
        if extra_dags:
            dags = root / "dags"
            shutil.copytree(REPO_ROOT / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
            for extra in extra_dags:
                shutil.copy(extra, dags / extra.name)
            os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
        data_url = None
        if backend == "s3":
            moto = MotoServer(log_path=root / "moto_server.log").start()
            os.environ.update(moto.env)
            data_url = f"s3://{moto.new_bucket('bench')}/data"
        elif backend == "local":
            data_url = str(root / "data")
            if prepare is not None:
                prepare(data_url)
        ports = {name: free_port() for name in ("postgres", "redis", "s3")}
        stack = Stack(home=root / "airflow", port=free_port(), data_url=data_url,
                      profile="cluster" if backend == "cluster" else "local", ports=ports)
        try:
            started = time.monotonic()
            stack.migrate()
            if backend == "cluster":
                os.environ.update(stack.cluster_env)
                moto = next(s for s in stack.services if isinstance(s, MotoServer))
            stack.start()
            stack.wait_healthy(timeout=300)
            yield Bench(stack, open_store(stack.data_url), time.monotonic() - started, moto)
        finally:
            stack.stop()
    finally:
        if moto is not None:
            moto.stop()
        os.environ.clear()
        os.environ.update(saved)


def drop(store: Any, name: str, frame: pd.DataFrame) -> float:
    """Put a CSV into the inbox as one complete file; returns the time it became visible."""
    with tempfile.TemporaryDirectory(prefix="bench-drop-") as tmp:
        local = Path(tmp) / name
        write_csv(frame, local)
        store.inbox.put_file(name, local)
        return time.time()


def run_ids(stack: Stack) -> dict[str, set[str]]:
    return stack.api.run_ids(DAGS)


def wait_new_success(stack: Stack, dag_id: str, before: set[str], timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run := stack.api.new_successful_run(dag_id, before):
            return run
        time.sleep(0.2)
    raise TimeoutError(f"no new successful {dag_id} run after {timeout} s")


def wait_chain(stack: Stack, before: dict[str, set[str]], timeout: float = 600) -> dict[str, dict[str, Any]]:
    return {d: wait_new_success(stack, d, before[d], timeout) for d in DAGS}


def stage_times(drop_at: float, runs: dict[str, dict[str, Any]], heard: tuple[float, float]) -> dict[str, float]:
    """Where the time between a drop and evaluate's success went (seconds). ``heard``: when the
    watcher's event was stored, and when it claimed the file (NaN for queue notifications)."""
    event_at, claimed_at = heard
    if claimed_at == claimed_at:  # the watcher claimed it: split pickup from Airflow's side
        out = {"pickup (drop -> claimed)": claimed_at - drop_at,
               "claimed -> inbox event (triggerer's 1 s sync)": event_at - claimed_at}
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


COMPONENT_NAMES = ["postgres", "redis-server", "moto_server", "worker-1", "worker-2", "api_server", "scheduler",
                   "dag-processor", "triggerer"]


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


def task_names(stack: Stack, runs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Task instance id -> 'dag.task' for the given runs."""
    names = {}
    for d, r in runs.items():
        tis = stack.api.get(f"/api/v2/dags/{d}/dagRuns/{r['dag_run_id']}/taskInstances")["task_instances"]
        names.update({ti["id"]: f"{d}.{ti['task_id']}" for ti in tis})
    return names


def claim_time(claim_id: str) -> float:
    """A claim id starts with its UTC claim time: ``20261124T082533.123-1a2b3c4d``."""
    stamp, millis = claim_id.split("-", 1)[0].split(".")
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc).timestamp() + int(millis) / 1000


def trigger_event_time(stack: Stack, file_name: str) -> tuple[float, float]:
    """When the inbox watcher's event for the file was stored, and when the watcher claimed
    it (NaN if an SQS notification reported it: its payload carries the URL-encoded key)."""
    for e in stack.api.asset_events():
        payload = e["extra"].get("payload", {}) if e["extra"].get("from_trigger") else {}
        if file_name in str(payload):
            files, claimed = payload.get("files", []), payload.get("claimed", [])
            claimed_at = claim_time(claimed[files.index(file_name)]) if file_name in files and len(claimed) == len(files) else float("nan")
            return ts(e["timestamp"]), claimed_at
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
