"""The scoring command: uses the champion, refuses what a drop would be refused for."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from conftest import REPO_ROOT, SUITE_FILE, iris_sample
from tasks.evaluation import evaluate_version
from tasks.predict import RefusedInput, predict_csv
from tasks.training import train_model


@pytest.fixture
def champion(featured):
    card = train_model(featured.raw, featured.features, featured.models, featured.config)
    evaluate_version(featured.models, featured.features, featured.metrics, card["version"], featured.config)
    return featured


def test_scores_unlabelled_rows_with_the_champion(champion, tmp_path):
    rows = iris_sample(25, seed=5)
    src = tmp_path / "new.csv"
    rows.drop(columns="target").to_csv(src, index=False)
    result = predict_csv(src, tmp_path / "out.csv", champion.models, SUITE_FILE)
    out = pd.read_csv(tmp_path / "out.csv")
    assert result["model"] == "v0001" and len(out) == 25
    assert (out["predicted_target"] == rows["target"]).mean() > 0.9
    assert set(out["predicted_species"]) <= {"setosa", "versicolor", "virginica"}


@pytest.mark.parametrize(
    ("csv", "expected"),
    [("a;b\n1;2\n", "semicolon"), ("sepal length (cm),x\n1,2\n", "columns do not match")],
)
def test_refuses_input_that_fails_the_drop_checks(champion, tmp_path, csv, expected):
    src = tmp_path / "bad.csv"
    src.write_text(csv)
    with pytest.raises(RefusedInput, match=expected):
        predict_csv(src, tmp_path / "out.csv", champion.models, SUITE_FILE)
    assert not (tmp_path / "out.csv").exists()


def test_the_command_line_uses_the_catalogue(champion, tmp_path):
    src = tmp_path / "in.csv"
    iris_sample(5, seed=6).to_csv(src, index=False)
    env = {**os.environ, "PIPELINE_DATA_DIR": str(champion.root)}
    done = subprocess.run([sys.executable, "-m", "tasks.predict", str(src)], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "5 rows scored with champion v0001" in done.stdout
    assert len(pd.read_csv(tmp_path / "in.predictions.csv")) == 5
