"""Where a stack lives and how its Airflow processes are configured: the Airflow home, the
environment every component runs with, the home's secrets, and the record a running stack
leaves in its home (``stack.json``: launcher PID, address, profile, data) so that every
command finds it, whatever port it runs on. Imports no Airflow.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tasks.airflow_api import PASSWORD_FILE
from tasks.config import REPO_ROOT
from tasks.store.launcher_record import process_alive

DEFAULT_PORT = 8080
STACK_FILE = "stack.json"  # written by the launcher once healthy, removed when it stops
SECRETS_FILE = "secrets.json"  # per home, 0600, never committed (the home is git-ignored)
# Pipeline outputs (reports, models, quarantine) are written by the Airflow processes with
# this umask: 027 makes them readable by the group, not by others. PIPELINE_UMASK overrides.
DEFAULT_UMASK = "027"
# Files in the Airflow home that hold credentials or the metadata: owner only.
PRIVATE_FILES = (
    "airflow.db",
    SECRETS_FILE,
    PASSWORD_FILE,
    "cluster.env",
    "airflow.cfg",
    STACK_FILE,
)
CLUSTER_ENV_FILE = "cluster.env"
# The scheduler (and each Celery worker) imports these before it forks its workers; task
# processes are forked from those workers and inherit them instead of importing them again
# (~3 s per task, 2.3 s of it Great Expectations). Third-party only: the project's own
# modules are imported fresh by each task, so edits take effect without a restart.
# PIPELINE_PRELOAD=0 turns it off.
PRELOAD_MODULES = [
    "pandas",
    "pyarrow.parquet",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.model_selection",
    "sklearn.metrics",
    "sklearn.pipeline",
    "joblib",
    "great_expectations",
    "matplotlib.pyplot",
    "fsspec",
]
OBJECT_STORAGE_PRELOAD = ["s3fs"]  # only when the data is on S3 (imports only: no client is made before the fork)
# On SQLite the scheduler also gets a sub-second SQL now() (see sqlite_subsecond_now.py):
# without it every new DAG run waits for the next whole second.


def airflow_home(env: dict[str, str] | None = None) -> Path:
    """``AIRFLOW_HOME``, or the repo's private ``.airflow/``."""
    env = os.environ if env is None else env
    return Path(env.get("AIRFLOW_HOME") or REPO_ROOT / ".airflow").resolve()


def requested_port(env: dict[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    return int(env.get("AIRFLOW_PORT") or DEFAULT_PORT)


def airflow_env(
    home: Path,
    port: int,
    data_url: str | None = None,
    base: dict[str, str] | None = None,
    profile_env: dict[str, str] | None = None,
) -> dict[str, str]:
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
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",  # the links in task logs and alerts
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
        "GX_ANALYTICS_ENABLED": "False",  # GX 1.24 ships no analytics; a release that brings them back stays off
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


@dataclass(frozen=True)
class RunningStack:
    """What a launcher records in its home while it runs."""

    pid: int
    url: str
    profile: str
    data_url: str
    config_file: str = ""  # the parameters file it runs with
    serve_url: str = ""  # the scoring server
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    env: dict[str, str] = field(default_factory=dict)  # the cluster's S3 endpoint and queue, for uploads

    def write(self, home: Path) -> None:
        path = home / STACK_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(self), fh, indent=1)

    @staticmethod
    def clear(home: Path) -> None:
        (home / STACK_FILE).unlink(missing_ok=True)


def running_stack(home: Path) -> RunningStack | None:
    """The stack running on ``home``, if its launcher is still alive (a record left by one
    that was killed is ignored)."""
    try:
        record = RunningStack(**json.loads((home / STACK_FILE).read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None
    return record if process_alive(record.pid) else None
