"""A number to predict, through every stage without Airflow: `pipeline dataset` on a real public
table (vega_datasets' cars: missing values, a categorical origin, a date, a near-unique name)
infers regression; batches pass the generated suite; a champion is judged by RMSE, MAE and R²
(lower is better for the errors); a batch with shuffled targets is quarantined by the label
check with both errors in the reason; text in the target is refused naming the column; scoring
returns numbers with the identifiers kept, from `pipeline predict` and the scoring server."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import csv_bytes
from fastapi.testclient import TestClient
from vega_datasets import data

from tasks.config import load_config
from tasks.ml.profiling import create_dataset, summary
from tasks.serving.scoring_server import ScoringServer
from tasks.stages.evaluate import decide, evaluate_pending
from tasks.stages.ingest import ingest
from tasks.stages.predict import predict_csv
from tasks.stages.split import build_features
from tasks.stages.train import train
from tasks.stages.validate import validate_pending
from tasks.store.dataset_record import DatasetMismatch

pytestmark = pytest.mark.filterwarnings("ignore:The .convert_dates. keyword:Warning")  # inside vega_datasets
TARGET = "Miles_per_Gallon"


def _cars() -> pd.DataFrame:
    """The 398 labelled cars, shuffled, the model year written as a date (as in a CSV)."""
    cars = data.cars().dropna(subset=[TARGET]).assign(Year=lambda f: f["Year"].dt.strftime("%Y-%m-%d"))
    return cars.sample(frac=1.0, random_state=3).reset_index(drop=True)


@pytest.fixture
def cars(tmp_path, store) -> SimpleNamespace:
    rows = _cars()
    sample = tmp_path / "cars-sample.csv"
    rows.iloc[:150].to_csv(sample, index=False)
    profile = create_dataset(sample, TARGET, tmp_path / "cars")
    config = load_config(tmp_path / "cars" / "pipeline.toml")
    store.dataset.bind(config.dataset.identity(), described_by="test")
    return SimpleNamespace(rows=rows, profile=profile, config=config, store=store, out=tmp_path / "cars")


def _drop(d, name: str, frame: pd.DataFrame):
    """A drop through ingest and the gate; the gate's result."""
    d.store.inbox.add_claimed(name, csv_bytes(frame))
    ingest(d.store)
    return validate_pending(d.store, d.config)


def _champion(d) -> dict:
    _drop(d, "first.csv", d.rows.iloc[:200])
    build_features(d.store, d.config)
    train(d.store, d.config)
    (judged,) = evaluate_pending(d.store, d.config).judged
    return judged


def test_a_number_target_is_inferred_as_regression_with_a_regressor_and_an_error_metric(cars):
    assert cars.profile.task == "regression" and "distinct values" in cars.profile.task_why
    assert cars.config.dataset.regression and cars.config.estimator == "sklearn.ensemble.RandomForestRegressor"
    assert cars.config.metric == "rmse"
    parameters = (cars.out / "pipeline.toml").read_text()
    assert 'task = "regression"' in parameters and "a quantity to predict; change it if that is wrong" in parameters
    assert set(cars.config.dataset.identifiers) == {"Name", "Year"} and cars.config.dataset.categorical == ["Origin"]
    suite = json.loads((cars.out / "suite.json").read_text())
    target_checks = {e["type"] for e in suite["expectations"] if e["kwargs"].get("column") == TARGET}
    assert target_checks == {
        "expect_column_values_to_be_in_type_list",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_between",
    }
    assert any("regression" in line for line in summary(cars.profile, cars.out))


def test_the_champion_is_judged_by_its_errors_and_lower_is_better(cars):
    judged = _champion(cars)
    assert judged["decision"] == "promoted" and judged["primary_metric"] == "rmse"
    scores = judged["challenger"]
    assert 0 < scores["mae"] <= scores["rmse"] < 6 and scores["r2"] > 0.6  # mpg: a forest does well
    report = cars.store.backend.children("metrics/v0001")
    assert sorted(report) == ["metrics.json", "predicted_vs_actual.png", "report.html"]
    html = cars.store.reports.file("v0001", "report.html").decode()
    assert "RMSE (lower is better)" in html and "Predicted against actual" in html
    assert decide(2.0, 2.5, metric="rmse", tolerance=0.0)[0] and not decide(2.6, 2.5, metric="rmse", tolerance=0.0)[0]
    assert (
        decide(2.6, 2.5, metric="rmse", tolerance=0.2)[0] and "lower is better" in decide(2.6, 2.5, metric="mae", tolerance=0)[1]
    )
    assert decide(0.8, 0.7, metric="r2", tolerance=0.0)[0]


def test_honest_cars_pass_and_shuffled_targets_are_quarantined_with_both_errors(cars):
    _champion(cars)
    honest = _drop(cars, "more.csv", cars.rows.iloc[200:300])
    assert [p["file"] for p in honest.passed] == ["more.csv"] and "label check passed" in honest.passed[0]["label_check"]
    shuffled = cars.rows.iloc[300:].assign(**{TARGET: lambda f: f[TARGET].sample(frac=1.0, random_state=1).to_numpy()})
    result = _drop(cars, "shuffled.csv", shuffled)
    (rejected,) = result.quarantined
    assert rejected["stage"] == "label_check" and "misses this batch's 'Miles_per_Gallon' by" in rejected["reason"]
    assert "on held-out data by" in rejected["reason"] and "shuffled, in other units" in rejected["reason"]
    # Kilometres per litre instead of miles per gallon: inside the suite's range, caught by the errors.
    km_per_litre = cars.rows.iloc[300:].assign(**{TARGET: lambda f: (f[TARGET] * 0.425).round(1)})
    (other_units,) = _drop(cars, "km-per-litre.csv", km_per_litre).quarantined
    assert other_units["stage"] == "label_check"


def test_text_in_the_target_is_refused_naming_the_column(cars):
    wrong = cars.rows.iloc[:40].astype({TARGET: object})
    wrong.loc[3, TARGET] = "n/a mpg"
    result = _drop(cars, "text-target.csv", wrong)
    (rejected,) = result.quarantined
    assert TARGET in rejected["reason"] and rejected["stage"] != "label_check"


def test_scoring_returns_numbers_and_keeps_the_identifiers(cars, tmp_path):
    _champion(cars)
    unlabelled = cars.rows.iloc[300:320].drop(columns=[TARGET])
    path = tmp_path / "to-score.csv"
    unlabelled.to_csv(path, index=False)
    done = predict_csv(cars.store, path, tmp_path / "scored.csv", cars.config)
    scored = pd.read_csv(done["output"])
    assert list(scored["Name"]) == list(unlabelled["Name"]) and "probability" not in scored.columns
    assert scored["prediction"].dtype.kind == "f" and scored["prediction"].between(5, 50).all()
    with TestClient(ScoringServer(cars.store, cars.config.dataset).app()) as client:
        records = json.loads(unlabelled.iloc[:2].to_json(orient="records"))
        answer = client.post("/invocations", json={"dataframe_records": records})
    assert answer.status_code == 200, answer.text
    assert [round(r["prediction"], 6) for r in answer.json()["predictions"]] == list(np.round(scored["prediction"][:2], 6))


def test_a_data_root_of_one_task_refuses_the_other(cars):
    classification = cars.config.dataset.__class__(**{**cars.config.dataset.__dict__, "task": "classification"})
    with pytest.raises(DatasetMismatch):
        cars.store.dataset.bind(classification.identity(), described_by="a classification parameters file")
