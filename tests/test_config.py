"""Configuration: the repo's pipeline.toml, and the data root chosen by PIPELINE_DATA_URL."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import CONFIG_FILE, REPO_ROOT, iris_config_text

from tasks.config import Settings, load_config


def test_the_default_model_is_a_seeded_random_forest_of_100_trees():
    config = load_config(CONFIG_FILE)
    assert config.estimator == "sklearn.ensemble.RandomForestClassifier"
    assert config.params["n_estimators"] == 100 and "random_state" in config.params
    assert (config.metric, config.tolerance) == ("f1_macro", 0.0)


@pytest.mark.parametrize(("line", "error"), [('metric = "recall"', "promotion.metric"), ("test_size = 1.5", "test_size")])
def test_invalid_values_are_refused(tmp_path, line, error):
    text = iris_config_text()
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


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PIPELINE_SERVE_PORT", "eighty"), ("PIPELINE_SERVE_PORT", "70000"), ("PIPELINE_INBOX_SETTLE_S", "-1")],
)
def test_a_wrong_setting_is_refused_naming_its_variable(variable, value, tmp_path):
    from tasks.config import ConfigError

    with pytest.raises(ConfigError, match=rf"^{variable}='{value}' is not valid: .*; fix it or unset it$"):
        Settings.from_env({variable: value})
    env = {**os.environ, variable: value, "PIPELINE_DATA_URL": str(tmp_path / "data"), "AIRFLOW_HOME": str(tmp_path / "h")}
    done = subprocess.run(
        [sys.executable, "-m", "tasks.cli", "quarantine"], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 1 and done.stderr.startswith(f"Error: {variable}=") and "Traceback" not in done.stderr


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


DATASET_ONLY = """
[dataset]
name = "tips"
target = "smoker"
identifiers = ["id"]
suite = "suite.json"

[dataset.features]
total_bill = "numeric"
day = "categorical"
"""


def _write(tmp_path, text: str):
    (tmp_path / "suite.json").write_text('{"name": "s", "expectations": []}')
    (tmp_path / "p.toml").write_text(text)
    return tmp_path / "p.toml"


def test_a_dataset_table_alone_means_every_other_default(tmp_path):
    config = load_config(_write(tmp_path, DATASET_ONLY))
    assert (config.test_size, config.metric, config.max_train_rows) == (0.2, "f1_macro", 0)
    dataset = config.dataset
    assert (dataset.name, dataset.target, dataset.identifiers, dataset.seed) == ("tips", "smoker", ("id",), None)
    assert dataset.numeric == ["total_bill"] and dataset.categorical == ["day"]
    assert dataset.suite == tmp_path / "suite.json"  # relative to the parameters file, not the working folder


def test_a_file_without_a_dataset_table_says_how_to_make_one(tmp_path):
    from tasks.config import ConfigError

    with pytest.raises(ConfigError, match=r"no \[dataset\] table: .*`pipeline dataset`"):
        load_config(_write(tmp_path, "[split]\nseed = 1\n"))


def test_the_fingerprint_follows_the_schema_not_the_suite_or_the_name_of_files(tmp_path):
    base = load_config(_write(tmp_path, DATASET_ONLY)).dataset
    other_suite = load_config(_write(tmp_path, DATASET_ONLY.replace('suite = "suite.json"', 'suite = "./suite.json"'))).dataset
    other_kind = load_config(_write(tmp_path, DATASET_ONLY.replace('day = "categorical"', 'day = "numeric"'))).dataset
    assert base.fingerprint == other_suite.fingerprint != other_kind.fingerprint


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("", ""), None),
        (('day = "categorical"', 'day = "category"'), "'dataset.features.day': Input should be 'numeric' or 'categorical'"),
        (('target = "smoker"', 'target = "day"'), "[dataset]: column(s) ['day'] are listed as both target and features"),
        (('identifiers = ["id"]', 'identifiers = ["total_bill"]'), "listed as both features and identifiers"),
        (('suite = "suite.json"', 'suite = "nowhere.json"'), "[dataset] suite file"),
        (('name = "tips"', 'nmae = "tips"'), "unknown key 'dataset.nmae' (did you mean 'dataset.name'?)"),
        (("[dataset]", "[data_set]"), "unknown key 'data_set' (did you mean 'dataset'?)"),
        (('name = "tips"', ""), "'dataset.name' is missing"),
    ],
)
def test_the_dataset_table_is_checked(tmp_path, change, message):
    from tasks.config import ConfigError

    path = _write(tmp_path, DATASET_ONLY.replace(*change))
    if message is None:
        load_config(path)
        return
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert message in str(refused.value)
