"""Shared fixtures. Airflow reads AIRFLOW_HOME when first imported, so point it (and the
pipeline's data root) at a throw-away folder before any test module imports it.

``store`` runs a test on both backends: a local folder, and a bucket on a real
S3-compatible server (``moto_server``, started once per session on a free
127.0.0.1 port and stopped at the end, also on failure).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="pipeline-tests-"))
os.environ["AIRFLOW_HOME"] = str(_SESSION_TMP / "airflow")
os.environ["PIPELINE_DATA_URL"] = str(_SESSION_TMP / "data")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT / "dags")
sys.path.insert(0, str(REPO_ROOT / "scripts"))

SUITE_FILE = REPO_ROOT / "expectations" / "raw.json"
CONFIG_FILE = REPO_ROOT / "pipeline.toml"
BACKENDS = ["local", "s3"]


@dataclass
class S3Server:
    endpoint: str
    env: dict[str, str]
    process: subprocess.Popen

    def new_bucket(self) -> str:
        import boto3

        name = f"test-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=self.endpoint).create_bucket(Bucket=name)
        return name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 + SQS server process (moto) on 127.0.0.1, for the whole session."""
    port = _free_port()
    log = open(_SESSION_TMP / "moto_server.log", "wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in env}
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not start; see {log.name}")
            time.sleep(0.1)
        os.environ.update(env)
        yield S3Server(endpoint, env, process)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@pytest.fixture(params=BACKENDS)
def data_url(request, tmp_path) -> str:
    """A fresh, empty data root on each backend."""
    if request.param == "local":
        return str(tmp_path / "data")
    server = request.getfixturevalue("s3_server")
    return f"s3://{server.new_bucket()}/data"


@pytest.fixture
def store(data_url):
    from tasks.store import open_store

    return open_store(data_url)


@pytest.fixture(scope="session")
def iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    return load_iris(as_frame=True).frame


def iris_sample(n: int, seed: int) -> pd.DataFrame:
    """A valid iris-like batch: real iris rows, resampled, so each has new content."""
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    return frame.sample(n, replace=True, random_state=seed).reset_index(drop=True)


def csv_bytes(frame: pd.DataFrame, **kwargs) -> bytes:
    return frame.to_csv(index=False, **kwargs).encode()


def everything(store) -> list[str]:
    """Every key in the store (what a person listing the bucket or folder sees)."""
    return store.backend.walk_files("")


@pytest.fixture
def config():
    from tasks.config import load_config

    return load_config(CONFIG_FILE)


@pytest.fixture
def featured(store, config) -> SimpleNamespace:
    """The iris seed ingested, marked validated (as the gate would) and split into features."""
    from tasks.stages.ingest import ingest
    from tasks.stages.split import build_features

    ingest(store)
    for manifest in store.batches.committed():
        store.batches.mark_validated(manifest["batch_id"], {"suite": "test"})
    build_features(store, config)
    return SimpleNamespace(store=store, config=config)
