"""Shared fixtures. Airflow reads AIRFLOW_HOME when first imported, so point it (and the
pipeline's data root) at a throw-away folder before any test module imports it."""

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
os.environ["PIPELINE_DATA_DIR"] = str(_SESSION_TMP / "data")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT / "dags")
sys.path.insert(0, str(REPO_ROOT / "scripts"))

SUITE_FILE = REPO_ROOT / "expectations" / "raw.json"
CONFIG_FILE = REPO_ROOT / "pipeline.toml"


@pytest.fixture
def dirs(tmp_path: Path) -> SimpleNamespace:
    """The data layout of the catalogue, under a temp folder."""
    names = ["inbox", "claimed", "raw", "archive", "quarantine", "features", "models", "metrics"]
    for name in names:
        (tmp_path / name).mkdir()
    return SimpleNamespace(root=tmp_path, **{n: tmp_path / n for n in names})


@pytest.fixture(scope="session")
def iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    return load_iris(as_frame=True).frame


def iris_sample(n: int, seed: int) -> pd.DataFrame:
    """A valid iris-like batch: real iris rows, resampled, so each has new content."""
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    return frame.sample(n, replace=True, random_state=seed).reset_index(drop=True)


@pytest.fixture
def featured(dirs) -> SimpleNamespace:
    """The iris seed ingested, marked validated (as the gate would) and split into features."""
    from tasks.config import load_config
    from tasks.features import build_features
    from tasks.ingest import ingest_claimed
    from tasks.validation import VALIDATION_RECORD, validated_batches

    ingest_claimed(dirs.claimed, dirs.raw, dirs.archive, dirs.quarantine)
    for batch in dirs.raw.iterdir():
        (batch / VALIDATION_RECORD).write_text("{}")
    build_features(dirs.raw, dirs.features, validated_batches(dirs.raw), test_size=0.2, seed=42)
    dirs.config = load_config(CONFIG_FILE)
    return dirs
