"""Shared fixtures. Airflow reads AIRFLOW_HOME when first imported, so point it (and the
pipeline's data root) at a throw-away folder before any test module imports it.

``store`` runs a test on both backends: a local folder, and a bucket on a real
S3-compatible server (``moto_server``, started once per session on a free
127.0.0.1 port and stopped at the end, also on failure).
"""

from __future__ import annotations

import os
import sys
import tempfile
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

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))  # the benchmark scripts' tests import them
sys.path.insert(0, str(REPO_ROOT / "examples" / "churn"))  # the churn example's generator (make_sample)

SUITE_FILE = REPO_ROOT / "expectations" / "iris.json"
CONFIG_FILE = REPO_ROOT / "pipeline.toml"
IRIS_SEED = REPO_ROOT / "examples" / "iris" / "iris.csv"
IRIS_COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)", "target"]
BACKENDS = ["local", "s3"]


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 + SQS server process (moto) on 127.0.0.1, for the whole session; its AWS_*
    variables are set for the session so every client (and `make run`) reaches it."""
    from tasks.stack.services import MotoServer

    server = MotoServer(log_path=_SESSION_TMP / "moto_server.log")
    saved = {k: os.environ.get(k) for k in server.env}
    try:
        server.start()
        os.environ.update(server.env)
        yield server
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
    from tasks.stack.harness import resampled_rows

    return resampled_rows(IRIS_SEED, n, seed)


def iris_config_text() -> str:
    """The repo's parameters file with its suite and seed paths made absolute, to copy
    elsewhere and change."""
    text = CONFIG_FILE.read_text()
    for path in ("expectations/iris.json", "examples/iris/iris.csv"):
        text = text.replace(f'"{path}"', f'"{REPO_ROOT / path}"')
    return text


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
    from tasks.stack.harness import seed_features

    seed_features(store, config)
    return SimpleNamespace(store=store, config=config)


@pytest.fixture
def champion(featured) -> SimpleNamespace:
    """``featured``, trained and evaluated: v0001 is the champion."""
    from tasks.stack.harness import train_champion

    train_champion(featured.store, featured.config)
    return featured
