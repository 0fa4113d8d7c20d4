"""Run the pipeline's Airflow stack in the foreground (``pipeline run``, ``make run``).

One supervisor, two profiles:

- ``local``: SQLite + LocalExecutor, data in ``data/`` (or ``PIPELINE_DATA_URL``);
  api-server, scheduler, dag-processor, triggerer.
- ``cluster`` (``pipeline run --cluster``): PostgreSQL, Redis and an S3 + SQS server first
  (``tasks.stack.services``), then the same four components with CeleryExecutor and two
  ``airflow celery worker`` processes; data on S3, uploads announced through SQS.

Both configure Airflow through environment variables (``tasks.stack.env``), migrate the
metadata DB, start everything, record the running stack in its home, and wait. Ctrl-C
(SIGINT to the whole process group) or SIGTERM stops every process it started, task
processes and servers included: the launcher is a child subreaper, so nothing it started
can escape to init.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tasks.airflow_api import PASSWORD_FILE, ApiClient
from tasks.stack.env import (
    CLUSTER_ENV_FILE,
    DEFAULT_UMASK,
    PRIVATE_FILES,
    RunningStack,
    airflow_env,
    airflow_home,
    requested_port,
    running_stack,
)
from tasks.stack.services import (
    GONE,
    MotoServer,
    PostgresServer,
    RedisServer,
    Server,
    port_is_free,
    signal_group,
    spawn,
)

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
SCORING_SERVER = "scoring-server"  # the champion online (``pipeline serve``), supervised like the rest
ALERT_DELIVERER = "alert-deliverer"  # ``pipeline alerts deliver``, when the parameters file has [alerts]
UVICORN = {"api-server", SCORING_SERVER}  # stopped with SIGINT twice (see stop())
PRELOADING = {"scheduler", *CELERY_WORKERS}  # task processes are forked from these
# These stop children of their own (trigger runner, DAG parsers, tasks): see tasks.orchestration.child_exit
SUPERVISING = {"scheduler", "dag-processor", "triggerer", *CELERY_WORKERS}
CLUSTER_BUCKET, CLUSTER_PREFIX, CLUSTER_QUEUE = "pipeline", "data", "pipeline-inbox"
PR_SET_CHILD_SUBREAPER = 36
WATCHDOG_GRACE_S = 5.0  # after the launcher died: SIGTERM every component, SIGKILL what is left then
# Ctrl-C: how long the components may take to exit on their own before SIGKILL. A stop takes
# ~4 s; on a loaded machine (2 cores running three stacks) the API server or the DAG processor
# took just over 10 s, and a kill mid-write is worse than the wait. The stop ends as soon as
# every component has exited.
STOP_GRACE_S = 30.0


@dataclass
class Stack:
    """The Airflow components (and, in the cluster profile, the servers they need), each in its
    own process group, logs under ``$AIRFLOW_HOME/logs/components``."""

    home: Path
    port: int
    data_url: str | None = None
    serve_port: int = 8000
    profile: str = "local"
    ports: dict[str, int] = field(default_factory=dict)  # cluster: postgres, redis, s3
    base_env: dict[str, str] = field(default_factory=lambda: dict(os.environ))  # the children's, before ours
    alerts: bool = False  # run the alert deliverer
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    services: list[Server] = field(default_factory=list)
    watchdog: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        if self.profile not in ("local", "cluster"):
            raise ValueError(f"unknown profile {self.profile!r}")
        self.log_dir = self.home / "logs" / "components"
        self.api = ApiClient(f"http://127.0.0.1:{self.port}", self.home)
        self.components = {
            **COMPONENTS,
            SCORING_SERVER: ["serve", "--port", str(self.serve_port)],
            **({ALERT_DELIVERER: ["alerts", "deliver"]} if self.alerts else {}),
            **(CELERY_WORKERS if self.profile == "cluster" else {}),
        }
        self.env = airflow_env(self.home, self.port, self.data_url, base=self.base_env)
        self.cluster_env: dict[str, str] = {}
        self.prepared = False
        self.umask = int(self.base_env.get("PIPELINE_UMASK") or DEFAULT_UMASK, 8)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def serve_url(self) -> str:
        return f"http://127.0.0.1:{self.serve_port}"

    def _airflow(self, name: str) -> list[str]:
        args = self.components[name]
        if name in (SCORING_SERVER, ALERT_DELIVERER):
            return [sys.executable, "-m", "tasks.cli", *args]
        if name in SUPERVISING:
            preload = ["--preload"] if name in PRELOADING else []
            return [sys.executable, "-m", "tasks.stack.airflow_command", *preload, *args]
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
            self.cluster_env = {
                k: self.base_env[k]
                for k in (
                    "AWS_ENDPOINT_URL",
                    "AWS_ACCESS_KEY_ID",
                    "AWS_SECRET_ACCESS_KEY",
                    "AWS_DEFAULT_REGION",
                    "PIPELINE_INBOX_QUEUE",
                )
                if self.base_env.get(k)
            }
        else:
            s3 = MotoServer(self.log_dir / "s3.log", self.ports.get("s3"))
            self.services.append(s3)
            s3.start()
            s3.new_bucket(CLUSTER_BUCKET)
            queue = s3.notify_uploads(CLUSTER_BUCKET, f"{CLUSTER_PREFIX}/inbox/", CLUSTER_QUEUE)
            self.data_url = f"s3://{CLUSTER_BUCKET}/{CLUSTER_PREFIX}"
            self.cluster_env = {**s3.env, "PIPELINE_INBOX_QUEUE": queue}
        self.cluster_env["PIPELINE_DATA_URL"] = self.data_url
        self.env = airflow_env(
            self.home, self.port, self.data_url, base=self.base_env, profile_env={**settings, **self.cluster_env}
        )
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
            done = subprocess.run(
                [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                umask=self.umask,
            )
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
        if not port_is_free(self.serve_port):
            raise RuntimeError(
                f"port {self.serve_port} (the scoring server's) is already in use on 127.0.0.1: set PIPELINE_SERVE_PORT to a free port"
            )
        become_subreaper()
        for name in self.components:
            self.procs[name] = spawn(
                self._airflow(name), self.log_dir / f"{name}.log", env=self.env, cwd=self.home, umask=self.umask
            )
        self._start_watchdog()

    def _start_watchdog(self) -> None:
        """A process that ends every component if this launcher dies (``tasks.stack.watchdog``)."""
        groups = [str(p.pid) for p in self.procs.values()]  # each component leads its own session
        self.watchdog = spawn(
            [sys.executable, "-m", "tasks.stack.watchdog", str(WATCHDOG_GRACE_S), *groups],
            self.log_dir / "watchdog.log",
            cwd=self.home,
            stdin=subprocess.DEVNULL,
        )

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
        return [name for name, p in self.procs.items() if p.poll() is not None] + [s.name for s in self.services if not s.alive()]

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

    def stop(self, grace: float = STOP_GRACE_S) -> dict[str, Any]:
        """Airflow first (SIGTERM, ``grace`` s, then SIGKILL), then the servers it used, each
        its own way. Returns what it took."""
        started = time.monotonic()
        me = psutil.Process()
        if self.watchdog is not None:  # a normal stop: the watchdog must not step in
            self.watchdog.kill()
            self.watchdog.wait()

        def airflow_left() -> list[psutil.Process]:
            services = self._service_pids()
            return [c for c in me.children(recursive=True) if c.pid not in services]

        for name, proc in self.procs.items():
            # uvicorn (the API server) waits up to its keep-alive timeout for idle
            # connections on SIGTERM; a second SIGINT makes it close them at once.
            signal_group(proc, signal.SIGINT if name in UVICORN else signal.SIGTERM)
        time.sleep(0.2)
        for name in UVICORN & set(self.procs):
            signal_group(self.procs[name], signal.SIGINT)
        signalled = {proc.pid for proc in self.procs.values()}  # each component leads its own group
        for child in airflow_left():
            with suppress(*GONE):
                # Only what left its group: a second signal makes Airflow components "force"
                # their exit (the triggerer then SIGKILLs its runner after 5 s).
                if os.getpgid(child.pid) not in signalled:
                    child.terminate()
        killed: list[str] = []  # "pid command", so the message says who did not stop

        def kill(child: psutil.Process) -> None:
            with suppress(*GONE):
                killed.append(f"{child.pid} {' '.join(child.cmdline())[:80]}")
                child.kill()

        while time.monotonic() - started < grace:
            _reap()
            if not airflow_left():
                break
            time.sleep(0.1)
        for child in airflow_left():
            kill(child)
        for server in reversed(self.services):
            server.stop()
        deadline = time.monotonic() + 5
        while me.children(recursive=True) and time.monotonic() < deadline:
            _reap()
            time.sleep(0.05)
        for child in me.children(recursive=True):  # nothing may outlive the launcher
            kill(child)
        _reap()
        return {
            "seconds": round(time.monotonic() - started, 2),
            "killed": killed,
            "left": [p.pid for p in me.children(recursive=True)],
        }


class StorageWatch(threading.Thread):
    """Checks the data root every ``every`` seconds (in a thread: an unreachable S3 takes
    seconds to fail) so the terminal says when storage goes away and when it is back."""

    def __init__(self, store, every: float = 10.0):
        super().__init__(daemon=True, name="storage-watch")
        self.store, self.every = store, every
        self._problem: str | None = None
        self._told: str | None = None
        self._lock = threading.Lock()

    def run(self) -> None:
        from tasks.store.backend import StorageUnavailable

        while True:
            try:
                self.store.dataset.recorded()
                problem = self.store.space_problem()
            except StorageUnavailable as exc:
                problem = str(exc)
            except Exception as exc:  # a bug here must not stop the stack: report and go on
                problem = f"storage unreachable: {self.store.backend.endpoint}: {type(exc).__name__}: {exc}"
            with self._lock:
                self._problem = problem
            time.sleep(self.every)

    def news(self) -> str | None:
        """A line for the terminal when the state changed since the last one told."""
        with self._lock:
            problem = self._problem
        if problem == self._told:
            return None
        was_down, self._told = self._told is not None, problem
        if problem is not None:
            return f"{problem}. Tasks fail and are retried; the pipeline resumes once it works again."
        return "storage is back: the pipeline resumes (work left behind is picked up within a minute)." if was_down else None


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


def run_foreground(cluster: bool = False) -> int:
    """Start the stack, say where it is, supervise it until Ctrl-C or SIGTERM; the exit code."""
    from tasks.config import ConfigError, Settings, load_config

    home = airflow_home()
    if refusal := _another_launcher_on(home):
        print(refusal, file=sys.stderr)
        return 1
    try:
        settings = Settings.from_env()
        config = load_config(settings.config_file)
        dataset = config.dataset
        if config.alerts is not None:
            config.alerts.smtp_password()  # refused now, naming the variable, not at the first alert
    except (ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stack = Stack(
        home=home,
        port=requested_port(),
        serve_port=settings.serve_port,
        data_url=settings.data_url if (not cluster or settings.on_object_storage) else None,
        profile="cluster" if cluster else "local",
        ports=_cluster_ports(),
        base_env={**os.environ, "PIPELINE_CONFIG": str(settings.config_file)},  # absolute: components run elsewhere
        alerts=config.alerts is not None,
    )
    stopping = _stop_on_signals()
    started = time.monotonic()
    code = 0
    claimed_root = None
    try:
        print(f"Airflow home: {home}  (profile: {stack.profile})", flush=True)
        if cluster:
            print("Starting PostgreSQL, Redis and the S3 server...", flush=True)
        stack.start_services()
        data_url = stack.data_url or settings.data_url
        claimed_root = store = _claim_data_root(stack, data_url, dataset, settings.config_file)
        _record_running(stack, data_url, settings.config_file)
        print(f"Data:         {data_url}  (data set '{dataset.name}', {settings.config_file})", flush=True)
        print("Preparing the metadata DB...", flush=True)
        stack.migrate()
        stack.start()
        print(f"Starting {', '.join(stack.components)} (logs: {stack.log_dir})...", flush=True)
        while not stopping["requested"]:
            try:
                stack.wait_healthy(timeout=1.0)
                break
            except TimeoutError:
                continue
        if not stopping["requested"]:
            print(_banner(stack, data_url, took=time.monotonic() - started), flush=True)
        code = _supervise(stack, StorageWatch(store), stopping)
    except Exception as exc:  # start-up failed: say why, then clean up
        print(f"error: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        _stop(stack, claimed_root)
    return code


def _another_launcher_on(home: Path) -> str | None:
    """The refusal when a launcher already runs on this Airflow home."""
    if running := running_stack(home):
        return (
            f"error: a stack already runs on this Airflow home ({home}): launcher PID {running.pid}, {running.url}. "
            "Stop it first (Ctrl-C in its terminal), or set AIRFLOW_HOME to another folder."
        )
    return None


def _cluster_ports() -> dict[str, int]:
    """The cluster profile's server ports (``PIPELINE_POSTGRES_PORT`` ...)."""
    return {
        name: int(os.environ.get(f"PIPELINE_{name.upper()}_PORT", default))
        for name, default in (("postgres", 5433), ("redis", 6380), ("s3", 9100))
    }


def _stop_on_signals() -> dict[str, bool]:
    """Ctrl-C or SIGTERM asks the supervisor to stop; a second Ctrl-C kills everything at once."""
    stopping = {"requested": False}

    def request_stop(signum: int, _frame: Any) -> None:
        if stopping["requested"]:  # second Ctrl-C: no more waiting
            for child in psutil.Process().children(recursive=True):
                with suppress(*GONE):
                    child.kill()
        stopping["requested"] = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    return stopping


def _claim_data_root(stack: Stack, data_url: str, dataset, config_file: Path):
    """Refuse storage that breaks "exactly once" and a data root holding another data set, before
    anything runs on it; then claim the data root for this launcher. The store."""
    from tasks.store import open_store

    store = open_store(data_url, env=stack.env)  # the components' settings: the cluster's S3 endpoint
    store.backend.check_exclusive_create()
    store.dataset.bind(dataset.identity(), described_by=str(config_file))
    store.launcher.claim(url=stack.url, home=str(stack.home))  # one stack per data root
    if removed := store.remove_interrupted_writes():  # a killed stack's half-written files
        print(f"Removed {len(removed)} half-written file(s) a stopped stack left: {', '.join(removed[:5])}", flush=True)
    return store


def _record_running(stack: Stack, data_url: str, config_file: Path) -> None:
    """The stack's record in its home, before Airflow starts: a second launcher on this home
    refuses from now on, and every command finds the stack."""
    RunningStack(
        pid=os.getpid(),
        url=stack.url,
        serve_url=stack.serve_url,
        profile=stack.profile,
        data_url=data_url,
        config_file=str(config_file),
        env=stack.cluster_env,
    ).write(stack.home)


def _banner(stack: Stack, data_url: str, took: float) -> str:
    """What the terminal says once Airflow is healthy: where everything is, how to drop a file."""
    from tasks.store import part_uri

    inbox = part_uri(data_url, "inbox")
    if stack.profile == "cluster":
        env_file = stack.home / CLUSTER_ENV_FILE
        how_to_drop = (
            f"Upload a CSV to {inbox}/ : pipeline upload x.csv (make upload FILE=x.csv)\n"
            f"  or: set -a; . {env_file}; set +a; aws s3 cp x.csv {inbox}/\n"
            f"S3 endpoint and credentials for your tools: {env_file}"
        )
    elif "://" in data_url:
        how_to_drop = f"Upload a CSV to {inbox}/ : pipeline upload x.csv (make upload FILE=x.csv)"
    else:
        how_to_drop = f"Drop a CSV into {inbox.removeprefix('file://')}"
    return (
        f"\nAirflow is up after {took:.0f} s: {stack.url}  (Assets page: {stack.url}/assets)\n"
        f"Log in as 'admin'; the generated password is in {stack.home / PASSWORD_FILE}: {stack.api.password()}\n"
        f"Scoring server (the live champion, MLflow protocol): {stack.serve_url}/invocations\n"
        f"{how_to_drop}\nCtrl-C stops everything."
    )


def _supervise(stack: Stack, storage: StorageWatch, stopping: dict[str, bool]) -> int:
    """Until a stop is asked: say when storage goes and comes back, carry on without a lost
    Celery worker, stop when a core component died. The exit code."""
    reported: set[str] = set()
    storage.start()
    while not stopping["requested"]:
        if (news := storage.news()) is not None:
            print(news, file=sys.stderr, flush=True)
        dead = [d for d in stack.dead_components() if d not in reported]
        workers = [d for d in dead if d in CELERY_WORKERS]
        if workers:  # like a lost machine: the other worker carries on
            print(f"{workers} exited; the other workers carry on (see {stack.log_dir}).", file=sys.stderr, flush=True)
            reported |= set(workers)
        if core := [d for d in dead if d not in CELERY_WORKERS]:
            print(f"{core} exited unexpectedly; see {stack.log_dir}. Stopping.", file=sys.stderr, flush=True)
            return 1
        time.sleep(0.5)
    return 0


def _stop(stack: Stack, claimed_root) -> None:
    """Stop everything started, release the data root, and say how it went."""
    cluster = stack.profile == "cluster"
    print("Stopping Airflow" + (", then PostgreSQL, Redis and the S3 server" if cluster else "") + "...", flush=True)
    RunningStack.clear(stack.home)
    result = stack.stop()
    if claimed_root is not None:
        with suppress(Exception):  # storage down at stop: the record is taken over next start
            claimed_root.launcher.release()
    (stack.home / CLUSTER_ENV_FILE).unlink(missing_ok=True)  # its endpoint is gone
    print(
        f"Stopped in {result['seconds']} s"
        + (f" (killed {len(result['killed'])} stragglers: {'; '.join(result['killed'])})" if result["killed"] else "")
        + ".",
        flush=True,
    )
