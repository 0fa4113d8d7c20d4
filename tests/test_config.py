"""Configuration: the repo's pipeline.toml and the catalogue's data root."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import CONFIG_FILE, REPO_ROOT
from tasks.config import load_config


def test_the_default_model_is_a_seeded_random_forest_of_100_trees():
    config = load_config(CONFIG_FILE)
    assert config.estimator == "sklearn.ensemble.RandomForestClassifier"
    assert config.params["n_estimators"] == 100 and "random_state" in config.params
    assert (config.metric, config.tolerance) == ("f1_macro", 0.0)


@pytest.mark.parametrize(("line", "error"), [('metric = "recall"', "promotion.metric"), ("test_size = 1.5", "test_size")])
def test_invalid_values_are_refused(tmp_path, line, error):
    text = CONFIG_FILE.read_text()
    key = line.split(" = ")[0]
    text = "\n".join(line if row.startswith(f"{key} =") else row for row in text.splitlines())
    (tmp_path / "p.toml").write_text(text)
    with pytest.raises(ValueError, match=error):
        load_config(tmp_path / "p.toml")


def test_the_catalogue_follows_the_data_root(tmp_path):
    code = "from tasks import catalog; print(catalog.RAW_DIR); print(catalog.RAW.uri); print(catalog.INBOX.watchers[0].trigger.inbox)"
    env = {**os.environ, "PIPELINE_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(tmp_path / "raw"), (tmp_path / "raw").as_uri(), str(tmp_path / "inbox")]
