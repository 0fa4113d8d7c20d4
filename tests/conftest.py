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

# `make test` runs the tests on parallel workers (pytest-xdist): each unit of work below runs
# whole on one worker, so a module's stack and fixtures are set up once. The units that take
# longest go first (measured with --durations) and the short unit-test modules fill the gaps.
SLOWEST_FIRST = [
    "test_faults_e2e",
    "test_storage_outage_e2e",
    "test_browser_e2e",
    "test_e2e",
    "test_cluster_e2e",
    "test_alerts_e2e",
    "test_dataset_e2e",
    "test_dag_runs",
    "test_validation",
    "test_storage_faults",
    "test_label_check",
    "test_plugin_serving",
]
# Each outage test needs a stack of its own, so they run side by side: one reaches S3 only through
# a proxy the test cuts, the other keeps its data on a small tmpfs the test fills.
OWN_STACK_PER_TEST = {"test_storage_outage_e2e"}
STACK_PER_BACKEND = {"test_e2e"}  # one stack per backend (the [local] / [s3] parameter): side by side


def work_unit(nodeid: str) -> str:
    """What one worker runs whole: a module, one backend's stack of a module, or one test."""
    path, _, test = nodeid.partition("::")
    module = Path(path).stem
    if module in OWN_STACK_PER_TEST:
        return nodeid
    if module in STACK_PER_BACKEND and test.endswith("]"):
        return f"{path}[{test.rpartition('[')[2]}"
    return path


def pytest_xdist_make_scheduler(config, log):
    """xdist's scope scheduling, with the units above (its own --dist loadgroup does not work
    with pytest 9: it renames node ids through an attribute pytest no longer reads)."""
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return ByWorkUnit(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        module = item.path.stem
        return SLOWEST_FIRST.index(module) if module in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)  # stable: a module's own order (and its stacks') is kept


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
    from harness import resampled_rows

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
    from harness import seed_features

    seed_features(store, config)
    return SimpleNamespace(store=store, config=config)


@pytest.fixture
def champion(featured) -> SimpleNamespace:
    """``featured``, trained and evaluated: v0001 is the champion."""
    from harness import train_champion

    train_champion(featured.store, featured.config)
    return featured
