"""Run the pipeline's Airflow stack in the foreground: ``make run`` calls this.

Configures Airflow for this project through environment variables (home in
``.airflow/``, this repo's ``dags/``, SQLite + LocalExecutor, API on 127.0.0.1),
migrates the metadata DB, starts api-server, scheduler, dag-processor and
triggerer, and waits. Ctrl-C (SIGINT to the whole process group) or SIGTERM
stops every process it started, task processes included, within seconds: the
launcher is a child subreaper, so nothing it started can escape to init.

Environment: AIRFLOW_HOME (default .airflow), AIRFLOW_PORT (default 8080),
PIPELINE_DATA_URL (default data/; or s3://bucket/prefix with the AWS_* variables).
Any AIRFLOW__SECTION__KEY you set wins.
Tests and benchmarks import ``Stack`` and ``ApiClient`` from here.
"""

from __future__ import annotations

import ctypes
import json
from contextlib import suppress
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
# Scheduler and triggerer would each start a log server on 0.0.0.0; on one machine the
# api-server reads task logs straight from $AIRFLOW_HOME/logs, so they are not needed.
COMPONENTS = {
    "api-server": [],
    "scheduler": ["--skip-serve-logs"],
    "dag-processor": [],
    "triggerer": ["--skip-serve-logs"],
}
# The scheduler imports these before it forks its LocalExecutor workers; task processes
# are forked from those workers and inherit them instead of importing them again (~3 s
# per task, 2.3 s of it Great Expectations). Third-party only: the project's own
# modules are imported fresh by each task, so edits take effect without a restart.
# PIPELINE_PRELOAD=0 turns it off.
PRELOAD_MODULES = ["pandas", "pyarrow.parquet", "sklearn.ensemble", "sklearn.linear_model", "sklearn.model_selection",
                   "sklearn.metrics", "sklearn.pipeline", "joblib", "great_expectations", "matplotlib.pyplot", "fsspec"]
OBJECT_STORAGE_PRELOAD = ["s3fs"]  # only when the data is on S3 (imports only: no client is made before the fork)
PRELOAD_AND_RUN = (
    "import importlib, os, sys\n"
    "for name in filter(None, os.environ.get('PIPELINE_PRELOAD_MODULES', '').split(',')):\n"
    "    importlib.import_module(name)\n"
    "from airflow.__main__ import main\n"
    "sys.argv = ['airflow', *sys.argv[1:]]\n"
    "sys.exit(main())\n"
)
PASSWORD_FILE = "simple_auth_manager_passwords.json.generated"
PR_SET_CHILD_SUBREAPER = 36
GONE = (ProcessLookupError, psutil.NoSuchProcess, PermissionError)  # a process that exited meanwhile


def airflow_env(home: Path, port: int, data_url: str | None = None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every Airflow process of this project runs with."""
    env = dict(os.environ if base is None else base)
    venv_bin = str(Path(sys.executable).parent)
    defaults = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",  # default 32 forks 32 idle workers (~1 GiB PSS)
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",  # the four DAGs come up unpaused
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        # Task workers reach the API here; must follow the port or every task fails.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        # Latency over idle CPU: the scheduler loop sleeps 0.1 s instead of 1 s when idle.
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "GX_ANALYTICS_ENABLED": "False",
        "MPLBACKEND": "Agg",
        "PIPELINE_PRELOAD": "1",
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    env["AIRFLOW_HOME"] = str(home)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    if data_url is not None:
        env["PIPELINE_DATA_URL"] = data_url
    preload = PRELOAD_MODULES + (OBJECT_STORAGE_PRELOAD if "://" in env.get("PIPELINE_DATA_URL", "") else [])
    env["PIPELINE_PRELOAD_MODULES"] = ",".join(preload) if env["PIPELINE_PRELOAD"] != "0" else ""
    return env


class ApiClient:
    """Airflow's REST API with a real token (SimpleAuthManager, generated password)."""

    def __init__(self, base_url: str, home: Path, username: str = "admin"):
        self.base_url = base_url.rstrip("/")
        self.home = home
        self.username = username
        self._token: str | None = None

    def password(self) -> str:
        return json.loads((self.home / PASSWORD_FILE).read_text())[self.username]

    def _request(self, method: str, path: str, body: Any = None, token: bool = True, timeout: float = 10) -> Any:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")

    def token(self) -> str:
        if self._token is None:
            reply = self._request("POST", "/auth/token", {"username": self.username, "password": self.password()}, token=False)
            self._token = reply["access_token"]
        return self._token

    def get(self, path: str, attempts: int = 6) -> Any:
        """GET with a bounded retry on 5xx. Airflow 3.3.2's /assets/events answers 500 while
        a run created by one of the listed events is still queued (its response model requires
        the run's start_date); it clears once the run starts."""
        for attempt in range(attempts):
            try:
                return self._request("GET", path)
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt == attempts - 1:
                    raise
                time.sleep(0.5)

    def patch(self, path: str, body: Any) -> Any:
        return self._request("PATCH", path, body)

    def healthy(self) -> bool:
        try:
            health = self._request("GET", "/api/v2/monitor/health", token=False, timeout=2)
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return all(health.get(k, {}).get("status") == "healthy" for k in ("metadatabase", "scheduler", "triggerer", "dag_processor"))

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after&limit=100")["dag_runs"]

    def run_ids(self, dag_ids: list[str]) -> dict[str, set[str]]:
        """The runs each DAG has now, to tell the new ones apart later."""
        return {d: {r["dag_run_id"] for r in self.dag_runs(d)} for d in dag_ids}

    def new_successful_run(self, dag_id: str, before: set[str]) -> dict[str, Any] | None:
        """A run not in ``before`` that succeeded, or None yet; raises if a new run failed."""
        new = [r for r in self.dag_runs(dag_id) if r["dag_run_id"] not in before]
        if failed := [r for r in new if r["state"] == "failed"]:
            raise RuntimeError(f"{dag_id} run failed: {failed[0]['dag_run_id']}")
        return next((r for r in reversed(new) if r["state"] == "success"), None)

    def asset_events(self, **params: Any) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return self.get(f"/api/v2/assets/events?limit=100&order_by=-timestamp&{query}")["asset_events"]


@dataclass
class Stack:
    """The four Airflow components, each in its own process group, logs under ``$AIRFLOW_HOME/logs``."""

    home: Path
    port: int
    data_url: str | None = None
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = airflow_env(self.home, self.port, self.data_url)
        self.log_dir = self.home / "logs" / "components"
        self.api = ApiClient(f"http://127.0.0.1:{self.port}", self.home)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _airflow(self, *args: str) -> list[str]:
        if args[0] == "scheduler":
            return [sys.executable, "-c", PRELOAD_AND_RUN, *args]
        return [str(Path(sys.executable).parent / "airflow"), *args]

    def migrate(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / "db-migrate.log", "wb") as log:
            done = subprocess.run(self._airflow("db", "migrate"), env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.home)
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed; see {self.log_dir / 'db-migrate.log'}")

    def start(self) -> None:
        if not port_is_free(self.port):
            raise RuntimeError(f"port {self.port} is already in use on 127.0.0.1: set AIRFLOW_PORT to a free port")
        become_subreaper()
        for name, args in COMPONENTS.items():
            log = open(self.log_dir / f"{name}.log", "ab")
            self.procs[name] = subprocess.Popen(
                self._airflow(name, *args), env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.home, start_new_session=True
            )
            log.close()

    def wait_healthy(self, timeout: float = 180) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if dead := self.dead_components():
                raise RuntimeError(f"{dead} exited during start-up; see {self.log_dir}")
            if self.api.healthy():
                return time.monotonic() - started
            time.sleep(0.5)
        raise TimeoutError(f"Airflow not healthy after {timeout:.0f} s; see {self.log_dir}")

    def dead_components(self) -> list[str]:
        return [name for name, p in self.procs.items() if p.poll() is not None]

    def pids(self) -> set[int]:
        """Every live process this launcher started, however deep."""
        return {p.pid for p in psutil.Process().children(recursive=True)}

    def stop(self, grace: float = 10.0) -> dict[str, Any]:
        """SIGTERM everything below us, wait ``grace`` s, SIGKILL what is left. Returns what it took."""
        started = time.monotonic()
        me = psutil.Process()
        for proc in self.procs.values():
            with suppress(*GONE):
                os.killpg(proc.pid, signal.SIGTERM)
        for child in me.children(recursive=True):
            with suppress(*GONE):
                child.terminate()
        killed: list[int] = []
        while time.monotonic() - started < grace:
            _reap()
            if not me.children(recursive=True):
                break
            time.sleep(0.1)
        for child in me.children(recursive=True):
            with suppress(*GONE):
                child.kill()
                killed.append(child.pid)
        deadline = time.monotonic() + 5
        while me.children(recursive=True) and time.monotonic() < deadline:
            _reap()
            time.sleep(0.05)
        _reap()
        return {"seconds": round(time.monotonic() - started, 2), "killed": killed, "left": [p.pid for p in me.children(recursive=True)]}


@dataclass
class MotoServer:
    """An S3 + SQS server (``moto_server`` from PyPI) on 127.0.0.1, in memory: what the tests
    and benchmarks run the S3 backend against. Its own process group; ``stop`` ends it."""

    log_path: Path
    port: int = field(default_factory=lambda: free_port())
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The standard variables every S3 client here (boto3, s3fs, Airflow's hooks) reads."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1"}

    def start(self, timeout: float = 30) -> MotoServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while port_is_free(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto_server did not start on port {self.port}; see {self.log_path}")
            time.sleep(0.1)
        return self

    def new_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique one by default) and return its name."""
        import uuid

        import boto3

        name = name or f"bucket-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=self.endpoint, **{k.lower(): v for k, v in self.env.items()
                                                          if k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")},
                     region_name=self.env["AWS_DEFAULT_REGION"]).create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with suppress(*GONE):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with suppress(*GONE):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:port (connections in TIME_WAIT do not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def become_subreaper() -> None:
    """Orphaned descendants re-parent to us instead of init, so stop() can find them (Linux)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main() -> int:
    home = Path(os.environ.get("AIRFLOW_HOME", REPO_ROOT / ".airflow")).resolve()
    port = int(os.environ.get("AIRFLOW_PORT", "8080"))
    sys.path.insert(0, str(REPO_ROOT))
    from tasks.config import Settings
    from tasks.store import part_uri

    settings = Settings.from_env()
    stack = Stack(home=home, port=port, data_url=settings.data_url)
    inbox = part_uri(settings.data_url, "inbox")
    how_to_drop = (f"Upload a CSV to {inbox}/ (make upload FILE=x.csv)" if settings.on_object_storage
                   else f"Drop a CSV into {inbox.removeprefix('file://')}")

    stopping = {"requested": False}

    def request_stop(signum: int, _frame: Any) -> None:
        if stopping["requested"]:  # second Ctrl-C: no more waiting
            for child in psutil.Process().children(recursive=True):
                with suppress(*GONE):
                    child.kill()
        stopping["requested"] = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    print(f"Airflow home: {home}\nData:         {settings.data_url}\nPreparing the metadata DB...", flush=True)
    started = time.monotonic()
    code = 0
    try:
        stack.migrate()
        stack.start()
        print(f"Starting {', '.join(COMPONENTS)} (logs: {stack.log_dir})...", flush=True)
        while not stopping["requested"]:
            try:
                stack.wait_healthy(timeout=1.0)
                break
            except TimeoutError:
                continue
        took = time.monotonic() - started
        if not stopping["requested"]:
            print(
                f"\nAirflow is up after {took:.0f} s: {stack.url}  (Assets page: {stack.url}/assets)\n"
                f"Log in as 'admin'; the generated password is in {home / PASSWORD_FILE}: {stack.api.password()}\n"
                f"{how_to_drop} to run the pipeline. Ctrl-C stops everything.",
                flush=True,
            )
        while not stopping["requested"]:
            if dead := stack.dead_components():
                print(f"{dead} exited unexpectedly; see {stack.log_dir}. Stopping.", file=sys.stderr, flush=True)
                code = 1
                break
            time.sleep(0.5)
    except Exception as exc:  # start-up failed: say why, then clean up
        print(f"error: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        print("Stopping Airflow...", flush=True)
        result = stack.stop()
        print(f"Stopped in {result['seconds']} s" + (f" (killed {len(result['killed'])} stragglers)" if result["killed"] else "") + ".", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
