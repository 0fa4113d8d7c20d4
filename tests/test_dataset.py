"""Your own data set: the profiler behind `pipeline dataset`, and the whole chain (ingest,
gate, split, train, evaluate, predict) on a data set with categorical features, missing
values and string labels, in-process on both backends."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import REPO_ROOT
from make_sample import churn_rows

from tasks.config import load_config
from tasks.ml.profiling import ProfileError, create_dataset, make_suite, profile_frame
from tasks.stages.evaluate import evaluate_pending
from tasks.stages.ingest import ingest
from tasks.stages.predict import predict_csv
from tasks.stages.split import build_features
from tasks.stages.train import train
from tasks.stages.validate import validate_pending
from tasks.store.dataset_record import DatasetMismatch


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 40
    return pd.DataFrame(
        {
            "name": [f"person {i}" for i in range(n)],  # text, unique per row: an identifier
            "row_id": range(100, 100 + n),  # integer counting up with an id-like name: an identifier
            "height": rng.normal(170, 10, n).round(1),  # float, unique by chance: a feature
            "visits": rng.integers(0, 5, n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "score": np.where(np.arange(n) % 4 == 0, np.nan, rng.normal(0, 1, n)),
            "label": rng.choice([3, 7], n),
        }
    )


def test_the_profile_finds_types_categories_ranges_missing_shares_and_identifiers():
    profile = profile_frame(_frame(), "label", name="t", source="t.csv")
    roles = {c.name: (c.role, c.kind) for c in profile.columns}
    assert roles == {
        "name": ("identifier", "identifier"),
        "row_id": ("identifier", "identifier"),
        "height": ("feature", "numeric"),
        "visits": ("feature", "numeric"),
        "colour": ("feature", "categorical"),
        "score": ("feature", "numeric"),
        "label": ("target", "categorical"),
    }
    by_name = {c.name: c for c in profile.columns}
    assert by_name["colour"].values == ["blue", "green", "red"] and profile.classes == [3, 7]
    assert by_name["score"].missing_share == 0.25 and by_name["height"].missing == 0
    assert by_name["visits"].low == _frame()["visits"].min() and by_name["visits"].high == _frame()["visits"].max()


def test_the_suite_widens_ranges_tolerates_the_missing_share_and_says_where_each_check_came_from():
    suite = make_suite(profile_frame(_frame(), "label", name="t", source="t.csv"))
    by_check = {(e["type"], e["kwargs"].get("column")): e for e in suite["expectations"]}
    visits = by_check[("expect_column_values_to_be_between", "visits")]["kwargs"]
    assert visits["min_value"] == 0.0  # widened, but not below 0: the sample has values at 0 and none below
    assert visits["max_value"] >= 4 + 2.0  # at least half the span
    height = by_check[("expect_column_values_to_be_between", "height")]
    assert "widened by" in height["meta"]["source"] and "floor 0" not in height["meta"]["source"]
    assert by_check[("expect_column_values_to_not_be_null", "score")]["kwargs"]["mostly"] == pytest.approx(1 - (0.5 + 0.05))
    assert "mostly" not in by_check[("expect_column_values_to_not_be_null", "height")]["kwargs"]
    assert by_check[("expect_column_values_to_be_in_set", "colour")]["kwargs"]["value_set"] == ["blue", "green", "red"]
    assert by_check[("expect_column_values_to_be_in_set", "label")]["kwargs"]["value_set"] == [3, 7]
    assert not any(c in ("name", "row_id") for _, c in by_check)  # identifiers: only required as columns
    assert all(e["meta"]["intent"] and e["meta"]["source"] for e in suite["expectations"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="label"), "the sample has no column 'label'"),
        (lambda f: f.assign(label=3), "a classifier needs at least two"),
    ],
)
def test_a_sample_that_cannot_define_a_data_set_says_why(change, message):
    with pytest.raises(ProfileError, match=message):
        profile_frame(change(_frame()), "label", name="t", source="t.csv")


def test_the_command_writes_a_config_that_loads_and_refuses_to_overwrite(tmp_path):
    (tmp_path / "s.csv").write_text(_frame().to_csv(index=False))
    command = [sys.executable, "-m", "tasks.cli", "dataset", str(tmp_path / "s.csv"), "--target", "label"]
    done = subprocess.run([*command, "--out", str(tmp_path / "mine")], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "identifiers name, row_id" in done.stdout and f"PIPELINE_CONFIG={tmp_path / 'mine' / 'pipeline.toml'}" in done.stdout
    config = load_config(tmp_path / "mine" / "pipeline.toml")
    assert config.dataset.name == "mine" and config.dataset.seed is None
    assert config.dataset.features == {"height": "numeric", "visits": "numeric", "colour": "categorical", "score": "numeric"}
    assert config.estimator == load_config(REPO_ROOT / "pipeline.toml").estimator  # the other tables: the defaults
    again = subprocess.run([*command, "--out", str(tmp_path / "mine")], cwd=REPO_ROOT, capture_output=True, text=True)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_every_example_folder_loads_and_its_suite_loads_as_written():
    from tasks.quality.contract import build_suite, load_suite_json

    for config_file in [REPO_ROOT / "pipeline.toml", *sorted((REPO_ROOT / "examples").glob("*/pipeline.toml"))]:
        dataset = load_config(config_file).dataset
        suite = load_suite_json(dataset.suite)
        assert len(build_suite(suite).expectations) == len(suite["expectations"]), config_file


@pytest.fixture
def churn(tmp_path):
    """The churn example's own config, made from its sample as a user would."""
    create_dataset(REPO_ROOT / "examples" / "churn" / "sample.csv", "churned", tmp_path / "churn")
    return load_config(tmp_path / "churn" / "pipeline.toml")


def _drop(store, name: str, frame: pd.DataFrame) -> None:
    store.inbox.add_claimed(name, frame.to_csv(index=False).encode())


def test_the_chain_runs_on_categorical_data_with_missing_values_and_string_labels(store, churn, tmp_path):
    assert ingest(store, seed=churn.dataset.seed).new_batches == []  # no seed: waits for the first drop
    _drop(store, "first.csv", churn_rows(300, 2, first_id=200_000))
    _drop(store, "second.csv", churn_rows(300, 3, first_id=300_000))
    ingest(store)
    assert len(validate_pending(store, churn).passed) == 2
    build_features(store, churn)
    card = train(store, churn).card
    assert card["dataset"]["name"] == "churn" and card["columns"]["plan"] == "categorical"
    (metrics,) = evaluate_pending(store, churn).judged
    assert metrics["decision"] == "promoted" and set(metrics["challenger"]["per_class"]) == {"no", "yes"}
    assert 0.5 < metrics["challenger"]["roc_auc"] <= 1.0  # binary: ROC AUC reported

    unseen = churn_rows(60, 4, first_id=400_000)
    unseen.loc[7, "plan"] = "platinum"
    _drop(store, "unseen.csv", unseen)
    _drop(store, "unlabelled.csv", churn_rows(60, 5, first_id=500_000).drop(columns="churned"))
    ingest(store)
    reasons = {q["file"]: q["reason"] for q in validate_pending(store, churn).quarantined}
    assert (
        "column 'plan' has 1 value(s) not in ['basic', 'premium', 'standard'], e.g. ['platinum'] (row(s) 9 of"
        in reasons["unseen.csv"]
    )
    assert "columns do not match: missing ['churned']" in reasons["unlabelled.csv"]

    to_score = churn_rows(30, 6, first_id=600_000).drop(columns="churned")
    to_score.loc[[0, 3], "age"] = np.nan
    to_score.loc[1, "plan"] = None
    to_score.to_csv(tmp_path / "score.csv", index=False)
    predict_csv(store, tmp_path / "score.csv", tmp_path / "scored.csv", churn)
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert list(scored.columns) == [*to_score.columns, "prediction", "probability"]
    assert set(scored["prediction"]) <= {"no", "yes"} and scored["probability"].between(0.5, 1).all()
    assert list(scored["customer_id"]) == list(to_score["customer_id"])


def test_a_data_root_holds_one_data_set(store, churn):
    iris = load_config(REPO_ROOT / "pipeline.toml").dataset
    store.dataset.bind(churn.dataset.identity(), described_by="churn/pipeline.toml")
    store.dataset.bind(churn.dataset.identity(), described_by="churn/pipeline.toml")  # the same again: fine
    with pytest.raises(DatasetMismatch) as refused:
        store.dataset.bind(iris.identity(), described_by="pipeline.toml")
    message = str(refused.value)
    assert "holds data set 'churn'" in message and "pipeline.toml describes 'iris'" in message
    assert json.loads(store.backend.read_bytes("dataset.json"))["name"] == "churn"


def test_the_column_transformer_imputes_encodes_and_ignores_an_unseen_category(churn):
    from tasks.ml.modeling import feature_frame, make_pipeline

    rows = churn_rows(200, 9)
    model = make_pipeline(churn).fit(feature_frame(rows, churn.dataset), rows["churned"])
    new = churn_rows(5, 10).drop(columns="churned")
    new.loc[0, "plan"], new.loc[1, "region"], new.loc[2, "age"] = "platinum", None, np.nan
    probabilities = model.predict_proba(feature_frame(new, churn.dataset))
    assert probabilities.shape == (5, 2) and np.allclose(probabilities.sum(axis=1), 1)
    assert list(model.classes_) == ["no", "yes"]
    encoded = model.named_steps["prepare"].get_feature_names_out()
    assert "categorical__plan_basic" in encoded and "numeric__age" in encoded and "customer_id" not in " ".join(encoded)


def test_a_category_written_as_a_number_is_one_category_whatever_the_file_wrote(churn):
    from tasks.ml.modeling import feature_frame

    frame = pd.DataFrame({"plan": [3, 3.0, "3", None], "region": ["a"] * 4, "payment": ["b"] * 4}).assign(
        tenure_months=1, monthly_fee=2.0, support_calls=0, age=30.0
    )
    assert feature_frame(frame, churn.dataset)["plan"].tolist()[:3] == ["3", "3", "3"]
    assert pd.isna(feature_frame(frame, churn.dataset)["plan"].iloc[3])
