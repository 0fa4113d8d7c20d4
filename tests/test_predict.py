"""The scoring command: uses the champion, refuses what a drop would be refused for."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
from conftest import REPO_ROOT, iris_sample

from tasks.stages.predict import RefusedInput, predict_csv


def test_scores_unlabelled_rows_with_the_champion(champion, tmp_path):
    rows = iris_sample(25, seed=5)
    src = tmp_path / "new.csv"
    rows.drop(columns="target").to_csv(src, index=False)
    result = predict_csv(champion.store, src, tmp_path / "out.csv", champion.config)
    out = pd.read_csv(tmp_path / "out.csv")
    assert result["model"] == "v0001" and len(out) == 25
    assert (out["prediction"] == rows["target"]).mean() > 0.9
    assert list(out.columns) == [*rows.columns.drop("target"), "prediction", "probability"]


@pytest.mark.parametrize(
    ("csv", "expected"),
    [("a;b\n1;2\n", "semicolon"), ("sepal length (cm),x\n1,2\n", "columns do not match")],
)
def test_refuses_input_that_fails_the_drop_checks(champion, tmp_path, csv, expected):
    src = tmp_path / "bad.csv"
    src.write_text(csv)
    with pytest.raises(RefusedInput, match=expected):
        predict_csv(champion.store, src, tmp_path / "out.csv", champion.config)
    assert not (tmp_path / "out.csv").exists()


def test_the_command_line_scores_with_the_champion_of_the_configured_store(champion, data_url, tmp_path):
    src = tmp_path / "in.csv"
    iris_sample(5, seed=6).to_csv(src, index=False)
    env = {**os.environ, "PIPELINE_DATA_URL": data_url}
    done = subprocess.run(
        [sys.executable, "-m", "tasks.cli", "predict", str(src)], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "5 rows scored with champion v0001" in done.stdout
    assert len(pd.read_csv(tmp_path / "in.predictions.csv")) == 5


def test_extra_columns_such_as_an_id_are_kept_in_the_output(champion, tmp_path):
    rows = iris_sample(8, seed=7).drop(columns="target")
    rows.insert(0, "id", [f"plant-{i}" for i in range(8)])
    rows.to_csv(tmp_path / "keyed.csv", index=False)
    predict_csv(champion.store, tmp_path / "keyed.csv", tmp_path / "out.csv", champion.config)
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out["id"]) == [f"plant-{i}" for i in range(8)]
    assert list(out.columns[-2:]) == ["prediction", "probability"]


@pytest.mark.parametrize("given", ["missing.csv", ""], ids=["missing-file", "no-input"])
def test_the_command_line_says_what_is_wrong_in_one_line(tmp_path, given):
    done = subprocess.run(
        ["make", "-s", "predict", f"IN={tmp_path / given if given else ''}"],
        cwd=REPO_ROOT,
        env={**os.environ, "PIPELINE_DATA_URL": str(tmp_path / "data")},
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "does not exist" in done.stderr and "Usage: pipeline predict" in done.stderr
