"""Run the pipeline's Airflow stack in the foreground: ``make run`` and ``make cluster`` call this.

One supervisor, two profiles:

- ``local`` (``make run``): SQLite + LocalExecutor, data in ``data/`` (or ``PIPELINE_DATA_URL``);
  api-server, scheduler, dag-processor, triggerer.
- ``cluster`` (``make cluster``): PostgreSQL, Redis and an S3 + SQS server first
  (``cluster_services.py``), then the same four components with CeleryExecutor and two
  ``airflow celery worker`` processes; data on S3, uploads announced through SQS.

Both configure Airflow through environment variables (home in ``.airflow/``, this repo's
``dags/``, API on 127.0.0.1, one JWT and API secret generated per home), migrate the
metadata DB, start everything, and wait. Ctrl-C (SIGINT to the whole process group) or
SIGTERM stops every process it started, task processes and servers included: the launcher
is a child subreaper, so nothing it started can escape to init.

Environment: AIRFLOW_HOME (default .airflow), AIRFLOW_PORT (default 8080),
PIPELINE_DATA_URL (default data/; or s3://bucket/prefix with the AWS_* variables);
cluster ports PIPELINE_POSTGRES_PORT (5433), PIPELINE_REDIS_PORT (6380), PIPELINE_S3_PORT (9100).
Any AIRFLOW__SECTION__KEY you set wins.
Tests and benchmarks import ``Stack`` and ``ApiClient`` from here.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from cluster_services import MotoServer, PostgresServer, RedisServer, Server, free_port, port_is_free  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[1]
# Scheduler and triggerer would each start a log server on 0.0.0.0; on one machine the
# api-server reads task logs straight from $AIRFLOW_HOME/logs, so they are not needed.
# The same holds for the Celery workers here (two on one machine would also fight over 8793).
COMPONENTS = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
CELERY_WORKERS = {
    f"worker-{i}": ["celery", "worker", "--concurrency", "2", "--skip-serve-logs", "--celery-hostname", f"worker-{i}@%h"]
    for i in (1, 2)
}
PRELOADING = {"scheduler", *CELERY_WORKERS}  # task processes are forked from these
CLUSTER_BUCKET, CLUSTER_PREFIX, CLUSTER_QUEUE = "pipeline", "data", "pipeline-inbox"
SECRETS_FILE = "secrets.json"  # per home, 0600, never committed (the home is git-ignored)
# Pipeline outputs (reports, models, quarantine) are written by the Airflow processes with
# this umask: 027 makes them readable by the group, not by others. PIPELINE_UMASK overrides.
DEFAULT_UMASK = "027"
# Files in the Airflow home that hold credentials or the metadata: owner only.
PRIVATE_FILES = ("airflow.db", SECRETS_FILE, "simple_auth_manager_passwords.json.generated", "cluster.env", "airflow.cfg")
CLUSTER_ENV_FILE = "cluster.env"
# The scheduler (and each Celery worker) imports these before it forks its workers; task
# processes are forked from those workers and inherit them instead of importing them again
# (~3 s per task, 2.3 s of it Great Expectations). Third-party only: the project's own
# modules are imported fresh by each task, so edits take effect without a restart.
# PIPELINE_PRELOAD=0 turns it off.
PRELOAD_MODULES = ["pandas", "pyarrow.parquet", "sklearn.ensemble", "sklearn.linear_model", "sklearn.model_selection",
                   "sklearn.metrics", "sklearn.pipeline", "joblib", "great_expectations", "matplotlib.pyplot", "fsspec"]
OBJECT_STORAGE_PRELOAD = ["s3fs"]  # only when the data is on S3 (imports only: no client is made before the fork)
# On SQLite the scheduler also gets a sub-second SQL now() (see sqlite_subsecond_now.py):
# without it every new DAG run waits for the next whole second.
PRELOAD_AND_RUN = (
    "import importlib, os, sys\n"
    "if os.environ.get('AIRFLOW__DATABASE__SQL_ALCHEMY_CONN', 'sqlite:').startswith('sqlite:'):\n"
    f"    sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
    "    import sqlite_subsecond_now\n"
    "    sys.path.pop(0)\n"
    "for name in filter(None, os.environ.get('PIPELINE_PRELOAD_MODULES', '').split(',')):\n"
    "    importlib.import_module(name)\n"
    "from airflow.__main__ import main\n"
    "sys.argv = ['airflow', *sys.argv[1:]]\n"
    "sys.exit(main())\n"
)
PASSWORD_FILE = "simple_auth_manager_passwords.json.generated"
PR_SET_CHILD_SUBREAPER = 36
GONE = (ProcessLookupError, psutil.NoSuchProcess, PermissionError)  # a process that exited meanwhile


def airflow_env(home: Path, port: int, data_url: str | None = None, base: dict[str, str] | None = None,
                profile_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every Airflow process of this project runs with. ``profile_env``: the
    cluster's settings; its AIRFLOW__* keys yield to yours, the rest (addresses of the servers
    it started) are forced."""
    env = dict(os.environ if base is None else base)
    venv_bin = str(Path(sys.executable).parent)
    secrets_ = home_secrets(home)
    defaults = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # Default 32 forks 32 idle workers (~1 GiB PSS). Two: the chain runs one task at a time
        # (one run per DAG, DAGs in sequence), and each idle worker costs ~25 MiB.
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",  # the four DAGs come up unpaused
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        # Task workers reach the API here; must follow the port or every task fails.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        # Every component signs and checks task tokens with the same keys.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets_["jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": secrets_["api_secret_key"],
        # Latency against idle CPU: the scheduler loop sleeps 0.15 s instead of 1 s when idle
        # (scheduler idle: 0.1 s ~9% of a core, 0.2 s ~4%; benchmarks/memory.py).
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.15",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        # After a crash, the tasks the dead scheduler was running stay "running" until this
        # sweep resets them (default every 300 s): restart-to-recovery in ~1 min, not 5.
        "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "30",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "GX_ANALYTICS_ENABLED": "False",
        "MPLBACKEND": "Agg",
        "PIPELINE_PRELOAD": "1",
    }
    for key, value in (profile_env or {}).items():
        if key.startswith("AIRFLOW__"):
            env.setdefault(key, value)
        else:
            env[key] = value
    for key, value in defaults.items():
        env.setdefault(key, value)
    env["AIRFLOW_HOME"] = str(home)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    if data_url is not None:
        env["PIPELINE_DATA_URL"] = data_url
    preload = PRELOAD_MODULES + (OBJECT_STORAGE_PRELOAD if "://" in env.get("PIPELINE_DATA_URL", "") else [])
    env["PIPELINE_PRELOAD_MODULES"] = ",".join(preload) if env["PIPELINE_PRELOAD"] != "0" else ""
    return env


def home_secrets(home: Path) -> dict[str, str]:
    """The JWT and API secrets of this Airflow home: generated once, kept private (0600)."""
    path = home / SECRETS_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"jwt_secret": secrets.token_urlsafe(48), "api_secret_key": secrets.token_urlsafe(48)}, fh)
    return json.loads(path.read_text())


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

    def post(self, path: str, body: Any) -> Any:
        return self._request("POST", path, body)

    def asset_id(self, name: str) -> int:
        assets = self.get(f"/api/v2/assets?name_pattern={name}&limit=100")["assets"]
        return next(a["id"] for a in assets if a["name"] == name)

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
    """The Airflow components (and, in the cluster profile, the servers they need), each in its
    own process group, logs under ``$AIRFLOW_HOME/logs/components``."""

    home: Path
    port: int
    data_url: str | None = None
    profile: str = "local"
    ports: dict[str, int] = field(default_factory=dict)  # cluster: postgres, redis, s3
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    services: list[Server] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.profile not in ("local", "cluster"):
            raise ValueError(f"unknown profile {self.profile!r}")
        self.log_dir = self.home / "logs" / "components"
        self.api = ApiClient(f"http://127.0.0.1:{self.port}", self.home)
        self.components = {**COMPONENTS, **(CELERY_WORKERS if self.profile == "cluster" else {})}
        self.env = airflow_env(self.home, self.port, self.data_url)
        self.cluster_env: dict[str, str] = {}
        self.prepared = False
        self.umask = int(os.environ.get("PIPELINE_UMASK") or DEFAULT_UMASK, 8)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _airflow(self, name: str) -> list[str]:
        args = self.components[name]
        if name in PRELOADING:
            return [sys.executable, "-c", PRELOAD_AND_RUN, *args]
        return [str(Path(sys.executable).parent / "airflow"), *args]

    def start_services(self) -> None:
        """Cluster profile: PostgreSQL, Redis and (unless PIPELINE_DATA_URL names your own S3)
        the moto S3 server with a bucket and an upload-notification queue; then the Airflow
        environment that points at them. Local profile: nothing to start."""
        become_subreaper()
        self.home.mkdir(parents=True, exist_ok=True)
        # The home holds the password, the secrets and the metadata DB: owner only. The cluster's
        # PostgreSQL runs as the postgres user inside it, so there others may pass (not list).
        self.home.chmod(0o700 if self.profile == "local" else 0o711)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.prepared = True
        if self.profile != "cluster":
            return
        postgres = PostgresServer(self.log_dir / "postgres.log", self.home / "postgres", self.ports.get("postgres"))
        redis = RedisServer(self.log_dir / "redis.log", self.home / "redis", self.ports.get("redis"))
        for server in (postgres, redis):
            self.services.append(server)
            server.start()
        settings = {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url,
            "AIRFLOW__CELERY__BROKER_URL": redis.url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{postgres.url}",
            # A worker that vanishes leaves its task "running"; notice it after 60 s, not 300 s.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
        }
        if (self.data_url or "").startswith("s3://"):  # your own S3: its AWS_* and queue come from your env
            self.cluster_env = {k: os.environ[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                                           "AWS_DEFAULT_REGION", "PIPELINE_INBOX_QUEUE") if os.environ.get(k)}
        else:
            s3 = MotoServer(self.log_dir / "s3.log", self.ports.get("s3"))
            self.services.append(s3)
            s3.start()
            s3.new_bucket(CLUSTER_BUCKET)
            queue = s3.notify_uploads(CLUSTER_BUCKET, f"{CLUSTER_PREFIX}/inbox/", CLUSTER_QUEUE)
            self.data_url = f"s3://{CLUSTER_BUCKET}/{CLUSTER_PREFIX}"
            self.cluster_env = {**s3.env, "PIPELINE_INBOX_QUEUE": queue}
        self.cluster_env["PIPELINE_DATA_URL"] = self.data_url
        self.env = airflow_env(self.home, self.port, self.data_url, profile_env={**settings, **self.cluster_env})
        self.write_cluster_env()  # the servers are up: uploads can start before Airflow is

    def write_cluster_env(self) -> Path:
        """What a user needs to upload files (``make upload`` reads it): KEY=VALUE lines, 0600."""
        path = self.home / CLUSTER_ENV_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.writelines(f"{k}={v}\n" for k, v in self.cluster_env.items())
        return path

    def migrate(self) -> None:
        if not self.prepared:
            self.start_services()
        with open(self.log_dir / "db-migrate.log", "wb") as log:
            done = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], env=self.env, stdout=log,
                                  stderr=subprocess.STDOUT, cwd=self.home, umask=self.umask)
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed; see {self.log_dir / 'db-migrate.log'}")
        self.make_private()

    def make_private(self) -> None:
        """Owner-only modes for the credential and database files Airflow created with its own."""
        for name in PRIVATE_FILES:
            with suppress(FileNotFoundError):
                (self.home / name).chmod(0o600)

    def start(self) -> None:
        if not port_is_free(self.port):
            raise RuntimeError(f"port {self.port} is already in use on 127.0.0.1: set AIRFLOW_PORT to a free port")
        become_subreaper()
        for name in self.components:
            log = open(self.log_dir / f"{name}.log", "ab")
            self.procs[name] = subprocess.Popen(
                self._airflow(name), env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.home, start_new_session=True,
                umask=self.umask,
            )
            log.close()

    def wait_healthy(self, timeout: float = 180) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if dead := self.dead_components():
                raise RuntimeError(f"{dead} exited during start-up; see {self.log_dir}")
            if self.api.healthy():
                self.make_private()  # the api-server has written the generated password by now
                return time.monotonic() - started
            time.sleep(0.5)
        raise TimeoutError(f"Airflow not healthy after {timeout:.0f} s; see {self.log_dir}")

    def dead_components(self) -> list[str]:
        return [name for name, p in self.procs.items() if p.poll() is not None] + [
            s.name for s in self.services if not s.alive()]

    def pids(self) -> set[int]:
        """Every live process this launcher started, however deep."""
        return {p.pid for p in psutil.Process().children(recursive=True)}

    def _service_pids(self) -> set[int]:
        pids: set[int] = set()
        for server in self.services:
            if server.alive():
                with suppress(psutil.NoSuchProcess):
                    root = psutil.Process(server.process.pid)
                    pids |= {root.pid} | {c.pid for c in root.children(recursive=True)}
        return pids

    def stop(self, grace: float = 10.0) -> dict[str, Any]:
        """Airflow first (SIGTERM, ``grace`` s, then SIGKILL), then the servers it used, each
        its own way. Returns what it took."""
        started = time.monotonic()
        me = psutil.Process()

        def airflow_left() -> list[psutil.Process]:
            services = self._service_pids()
            return [c for c in me.children(recursive=True) if c.pid not in services]

        for proc in self.procs.values():
            with suppress(*GONE):
                os.killpg(proc.pid, signal.SIGTERM)
        for child in airflow_left():
            with suppress(*GONE):
                child.terminate()
        killed: list[int] = []
        while time.monotonic() - started < grace:
            _reap()
            if not airflow_left():
                break
            time.sleep(0.1)
        for child in airflow_left():
            with suppress(*GONE):
                child.kill()
                killed.append(child.pid)
        for server in reversed(self.services):
            server.stop()
        deadline = time.monotonic() + 5
        while me.children(recursive=True) and time.monotonic() < deadline:
            _reap()
            time.sleep(0.05)
        for child in me.children(recursive=True):  # nothing may outlive the launcher
            with suppress(*GONE):
                child.kill()
                killed.append(child.pid)
        _reap()
        return {"seconds": round(time.monotonic() - started, 2), "killed": killed, "left": [p.pid for p in me.children(recursive=True)]}


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the pipeline's Airflow stack in the foreground; Ctrl-C stops it.")
    parser.add_argument("--profile", choices=["local", "cluster"], default="local")
    args = parser.parse_args(argv)
    home = Path(os.environ.get("AIRFLOW_HOME", REPO_ROOT / ".airflow")).resolve()
    port = int(os.environ.get("AIRFLOW_PORT", "8080"))
    sys.path.insert(0, str(REPO_ROOT))
    from tasks.config import Settings
    from tasks.store import part_uri

    settings = Settings.from_env()
    cluster = args.profile == "cluster"
    ports = {name: int(os.environ.get(f"PIPELINE_{name.upper()}_PORT", default))
             for name, default in (("postgres", 5433), ("redis", 6380), ("s3", 9100))}
    stack = Stack(home=home, port=port, data_url=settings.data_url if (not cluster or settings.on_object_storage) else None,
                  profile=args.profile, ports=ports)

    stopping = {"requested": False}

    def request_stop(signum: int, _frame: Any) -> None:
        if stopping["requested"]:  # second Ctrl-C: no more waiting
            for child in psutil.Process().children(recursive=True):
                with suppress(*GONE):
                    child.kill()
        stopping["requested"] = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    started = time.monotonic()
    code = 0
    try:
        print(f"Airflow home: {home}  (profile: {args.profile})", flush=True)
        if cluster:
            print("Starting PostgreSQL, Redis and the S3 server...", flush=True)
        stack.start_services()
        data_url = stack.data_url or settings.data_url
        print(f"Data:         {data_url}\nPreparing the metadata DB...", flush=True)
        stack.migrate()
        stack.start()
        print(f"Starting {', '.join(stack.components)} (logs: {stack.log_dir})...", flush=True)
        while not stopping["requested"]:
            try:
                stack.wait_healthy(timeout=1.0)
                break
            except TimeoutError:
                continue
        took = time.monotonic() - started
        if not stopping["requested"]:
            inbox = part_uri(data_url, "inbox")
            if cluster:
                env_file = home / CLUSTER_ENV_FILE
                how_to_drop = (
                    f"Upload a CSV to {inbox}/ : make upload FILE=x.csv\n"
                    f"  or: set -a; . {env_file}; set +a; aws s3 cp x.csv {inbox}/\n"
                    f"S3 endpoint and credentials for your tools: {env_file}"
                )
            elif "://" in data_url:
                how_to_drop = f"Upload a CSV to {inbox}/ (make upload FILE=x.csv)"
            else:
                how_to_drop = f"Drop a CSV into {inbox.removeprefix('file://')}"
            print(
                f"\nAirflow is up after {took:.0f} s: {stack.url}  (Assets page: {stack.url}/assets)\n"
                f"Log in as 'admin'; the generated password is in {home / PASSWORD_FILE}: {stack.api.password()}\n"
                f"{how_to_drop}\nCtrl-C stops everything.",
                flush=True,
            )
        reported: set[str] = set()
        while not stopping["requested"]:
            dead = [d for d in stack.dead_components() if d not in reported]
            workers = [d for d in dead if d in CELERY_WORKERS]
            if workers:  # like a lost machine: the other worker carries on
                print(f"{workers} exited; the other workers carry on (see {stack.log_dir}).", file=sys.stderr, flush=True)
                reported |= set(workers)
            if core := [d for d in dead if d not in CELERY_WORKERS]:
                print(f"{core} exited unexpectedly; see {stack.log_dir}. Stopping.", file=sys.stderr, flush=True)
                code = 1
                break
            time.sleep(0.5)
    except Exception as exc:  # start-up failed: say why, then clean up
        print(f"error: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        print("Stopping Airflow" + (", then PostgreSQL, Redis and the S3 server" if cluster else "") + "...", flush=True)
        result = stack.stop()
        (home / CLUSTER_ENV_FILE).unlink(missing_ok=True)  # its endpoint is gone
        print(f"Stopped in {result['seconds']} s" + (f" (killed {len(result['killed'])} stragglers)" if result["killed"] else "") + ".", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
