"""The servers cluster mode runs beside Airflow: PostgreSQL (metadata DB), Redis (Celery broker)
and an S3 + SQS server (moto, for the data and upload notifications). All listen on
127.0.0.1 only, each in its own process group, started before Airflow and stopped after it.

PostgreSQL and Redis come from Debian's packages (``scripts/system_packages.sh`` installs
them); moto comes from PyPI (``moto[server]``).
"""

from __future__ import annotations

import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import psutil

GONE = (ProcessLookupError, psutil.NoSuchProcess, PermissionError)  # a process that exited meanwhile
PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the kernel send the child SIGTERM when the process starting
    it dies, even by SIGKILL: a launcher killed with ``kill -9`` leaves no server or Airflow
    component behind (Linux; elsewhere None). If the parent is already gone, the child exits."""
    if not sys.platform.startswith("linux"):
        return None
    parent = os.getpid()

    def in_child() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # died before the call above: nobody would send the signal
            os._exit(1)

    return in_child


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


def spawn(argv: list[str], log_path: Path, **options: Any) -> subprocess.Popen:
    """Start ``argv`` the one way this launcher starts every process (Airflow's components and
    the servers alike): its own session (a signal to its group reaches all it forks, and a
    terminal's Ctrl-C reaches only the launcher), output appended to ``log_path``, and ended
    by the kernel if the launcher dies."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent(), **options
        )


def signal_group(process: subprocess.Popen, signum: int) -> None:
    """Send ``signum`` to the process group ``process`` leads (nothing if it is gone)."""
    with suppress(*GONE):
        os.killpg(process.pid, signum)


def stop_group(process: subprocess.Popen, signum: int, timeout: float) -> None:
    """``signum`` to the group, then SIGKILL if it has not exited after ``timeout`` seconds."""
    if process.poll() is not None:
        return
    signal_group(process, signum)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        signal_group(process, signal.SIGKILL)
        process.wait()


class Server:
    """A server process in its own process group, logging to ``log_path``."""

    name = "server"
    stop_signal = signal.SIGTERM

    def __init__(self, log_path: Path, port: int | None = None):
        self.log_path = log_path
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """One-time set-up before the first start (data folders)."""

    def after_start(self) -> None:
        """Set-up that needs the running server (databases, buckets)."""

    def popen_options(self) -> dict[str, Any]:
        return {}

    def start(self, timeout: float = 60) -> Server:
        if not port_is_free(self.port):
            raise RuntimeError(f"port {self.port} for {self.name} is already in use on 127.0.0.1: choose another")
        self.prepare()
        self.process = spawn(self.argv(), self.log_path, **self.popen_options())
        deadline = time.monotonic() + timeout
        while port_is_free(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start on port {self.port}; see {self.log_path}")
            time.sleep(0.1)
        self.after_start()
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15) -> None:
        if self.process is not None:
            stop_group(self.process, self.stop_signal, timeout)


class MotoServer(Server):
    """S3 + SQS in one in-memory process (``moto_server``): the tests', the benchmarks' and
    the cluster profile's S3-compatible server. Data does not survive a restart."""

    name = "S3 server (moto)"

    def argv(self) -> list[str]:
        return [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The standard variables every S3 client here (boto3, s3fs, Airflow's hooks) reads.
        moto accepts any credentials; these are not secrets."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self, service: str):
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region_name=self.env["AWS_DEFAULT_REGION"],
        )

    def new_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique one by default) and return its name."""
        name = name or f"bucket-{uuid.uuid4().hex[:12]}"
        self.client("s3").create_bucket(Bucket=name)
        return name

    def notify_uploads(self, bucket: str, prefix: str, queue_name: str) -> str:
        """An SQS queue fed by the bucket's ObjectCreated events under ``prefix``; returns its URL."""
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.client("s3").put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                    }
                ]
            },
        )
        sqs.purge_queue(QueueUrl=url)  # setting a notification sends an s3:TestEvent
        return url


class RedisServer(Server):
    name = "Redis"

    def __init__(self, log_path: Path, data_dir: Path, port: int | None = None):
        super().__init__(log_path, port)
        self.data_dir = data_dir

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def argv(self) -> list[str]:
        return [
            _binary("redis-server"),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.data_dir),
        ]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class PostgresServer(Server):
    """A throwaway cluster in ``data_dir``, run as the ``postgres`` user (initdb refuses root);
    user ``airflow`` trusted on 127.0.0.1 only. SIGINT is PostgreSQL's fast shutdown."""

    name = "PostgreSQL"
    stop_signal = signal.SIGINT

    def __init__(self, log_path: Path, data_dir: Path, port: int | None = None):
        super().__init__(log_path, port)
        self.data_dir = data_dir
        self.bin = (
            Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_version)[-1]).parent
            if glob.glob("/usr/lib/postgresql/*/bin/postgres")
            else None
        )

    def prepare(self) -> None:
        if self.bin is None:
            raise RuntimeError(
                "PostgreSQL is not installed: run `make cluster` as root to install it, or `apt-get install -y postgresql`"
            )
        if os.geteuid() != 0:
            raise RuntimeError("make cluster runs PostgreSQL as the 'postgres' user, which needs root: run it as root")
        pg = pwd.getpwnam("postgres")
        _let_user_traverse(self.data_dir.parent)
        if not (self.data_dir / "PG_VERSION").exists():
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir.mkdir(parents=True, mode=0o700)
            os.chown(self.data_dir, pg.pw_uid, pg.pw_gid)
            done = subprocess.run(
                [str(self.bin / "initdb"), "-D", str(self.data_dir), "-U", "airflow", "--auth=trust", "-E", "UTF8"],
                user="postgres",
                group="postgres",
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise RuntimeError(f"initdb failed: {done.stderr.strip()[-500:]}")

    def popen_options(self) -> dict[str, Any]:
        return {"user": "postgres", "group": "postgres"}

    def argv(self) -> list[str]:
        return [
            str(self.bin / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-k",
            str(self.data_dir),
            "-c",
            "listen_addresses=127.0.0.1",
        ]

    def after_start(self) -> None:
        import psycopg2

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="airflow", dbname="postgres")
                break
            except psycopg2.OperationalError:  # still starting up
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = 'airflow'")
            if cur.fetchone() is None:
                cur.execute("CREATE DATABASE airflow")
        conn.close()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://airflow@127.0.0.1:{self.port}/airflow"


def _binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        raise RuntimeError(
            f"{name} is not installed: run `make cluster` as root to install it, or `apt-get install -y redis-server`"
        )
    return path


def _version(path: str) -> tuple[int, ...]:
    return tuple(int(p) for p in Path(path).parts[-3].split(".") if p.isdigit())


def _let_user_traverse(folder: Path) -> None:
    """The postgres user must reach its data folder: make the folders on the way traversable
    (x only, no listing), refusing to touch system folders."""
    folder.mkdir(parents=True, exist_ok=True)
    for part in [folder, *folder.parents]:
        mode = part.stat().st_mode
        if mode & 0o001:
            continue
        if part == Path("/") or part in (Path("/root"), Path("/home")):
            raise RuntimeError(
                f"the postgres user cannot reach {folder} ({part} is not traversable); set AIRFLOW_HOME to a folder outside it"
            )
        part.chmod(mode | 0o001)
