"""Configuration: the repo's pipeline.toml, and the data root chosen by PIPELINE_DATA_URL."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import CONFIG_FILE, REPO_ROOT

from tasks.config import Settings, load_config


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


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, str(REPO_ROOT / "data")),
        ("relative/dir", str(REPO_ROOT / "relative" / "dir")),
        ("file:///srv/data/", "/srv/data"),
        ("s3://bucket/some/prefix/", "s3://bucket/some/prefix"),
    ],
)
def test_the_data_url_is_one_setting(value, expected):
    env = {} if value is None else {"PIPELINE_DATA_URL": value}
    old = os.getcwd()
    os.chdir(REPO_ROOT)
    try:
        settings = Settings.from_env(env)
    finally:
        os.chdir(old)
    assert settings.data_url == expected and settings.on_object_storage == expected.startswith("s3://")


@pytest.mark.parametrize("url", ["LOCAL", "s3://pipeline-bucket/team-a"])
def test_assets_follow_the_data_url(tmp_path, url):
    url = str(tmp_path) if url == "LOCAL" else url
    code = (
        "from tasks import orchestration as o; a = o.chain_assets(); print(a.raw.uri); print(a.metrics.uri); "
        "print(a.inbox.watchers[0].trigger.data_url)"
    )
    env = {**os.environ, "PIPELINE_DATA_URL": url}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    if url.startswith("s3://"):
        assert out == [f"{url}/raw", f"{url}/metrics", url]
    else:
        assert out == [(tmp_path / "raw").as_uri(), (tmp_path / "metrics").as_uri(), url]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[model]\nestimater = 'x'\n", "unknown key 'model.estimater' (did you mean 'model.estimator'?)"),
        ("[promotoin]\nmetric = 'accuracy'\n", "unknown key 'promotoin' (did you mean 'promotion'?)"),
        ("[split]\ntest_size = 'a fifth'\n", "'split.test_size': Input should be a valid number"),
        ("[model]\nmax_train_rows = -1\n", "'model.max_train_rows'"),
    ],
)
def test_a_mistyped_or_wrong_key_is_an_error_naming_it(tmp_path, toml, message):
    from tasks.config import ConfigError

    (tmp_path / "p.toml").write_text(toml)
    with pytest.raises(ConfigError) as refused:
        load_config(tmp_path / "p.toml")
    assert str(refused.value).startswith(f"{tmp_path / 'p.toml'}: ") and message in str(refused.value)


def test_an_empty_parameters_file_means_every_default(tmp_path):
    (tmp_path / "p.toml").write_text("")
    config = load_config(tmp_path / "p.toml")
    assert (config.test_size, config.metric, config.max_train_rows) == (0.2, "f1_macro", 0)
