"""End to end, your own data set: `make dataset` on a sample, then `make run` with that config
on a fresh data root. No seed: the pipeline waits for the first drop; drops of categorical
data with missing values and string labels make a champion; an unseen category and a missing
target column are quarantined, each with a reason naming it; `pipeline predict` scores
unlabelled rows with gaps; and another data set on the same data root is refused at start.
A number to predict (regression) end to end as well, on a public table."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import REPO_ROOT
from harness import LaunchedStack, wait_for
from make_sample import churn_rows

from tasks.stack.services import free_port

pytestmark = pytest.mark.e2e


def _quarantine_reason(stack: LaunchedStack, file: str) -> str | None:
    return next((e["reason"] for e in stack.store.quarantine.entries() if e["file"] == file), None)


def _predict(stack: LaunchedStack, root, csv_name: str) -> pd.DataFrame:
    """`pipeline predict` run from the data set's folder, as a user would: it finds the config
    and data of the running stack by itself. Returns the predictions file it wrote."""
    env = {k: v for k, v in stack.env.items() if k not in ("PIPELINE_CONFIG", "PIPELINE_DATA_URL")}
    done = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "pipeline"), "predict", str(root / csv_name)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return pd.read_csv(root / csv_name.replace(".csv", ".predictions.csv"))


def test_your_own_data_set_from_sample_to_predictions(tmp_path_factory):
    root = tmp_path_factory.mktemp("own-dataset")
    sample = root / "sample.csv"
    churn_rows(600, 1).to_csv(sample, index=False)
    made = subprocess.run(
        ["make", "dataset", f"FROM={sample}", "TARGET=churned", f"OUT={root / 'churn'}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    assert "identifiers customer_id" in made.stdout
    config = root / "churn" / "pipeline.toml"
    data_url = str(root / "data")

    stack = LaunchedStack(root, data_url, env={"PIPELINE_CONFIG": str(config)})
    with stack.started():
        stack.wait_chain({"ingest": set()}, dags=["ingest"])  # the daily run at unpause: nothing to seed
        assert stack.store.batches.committed() == [] and stack.read_json("dataset.json")["name"] == "churn"

        before = stack.run_ids()
        stack.drop("first.csv", churn_rows(300, 2, first_id=200_000).to_csv(index=False))
        stack.drop("second.csv", churn_rows(300, 3, first_id=300_000).to_csv(index=False))
        stack.wait_chain(before)
        wait_for("both batches in the data", lambda: len(stack.store.batches.validated()) == 2, timeout=120)
        wait_for("a champion", lambda: stack.store.registry.champion(), timeout=180)
        report = wait_for("its report", lambda: stack.store.reports.metrics(), timeout=60)
        assert set(report["challenger"]["per_class"]) == {"no", "yes"} and "roc_auc" in report["challenger"]

        unseen = churn_rows(60, 4, first_id=400_000)
        unseen.loc[7, "plan"] = "platinum"
        stack.drop("unseen.csv", unseen.to_csv(index=False))
        reason = wait_for("unseen.csv quarantined", lambda: _quarantine_reason(stack, "unseen.csv"), timeout=120)
        assert "column 'plan' has 1 value(s) not in ['basic', 'premium', 'standard'], e.g. ['platinum']" in reason

        stack.drop("no-target.csv", churn_rows(60, 5, first_id=500_000).drop(columns="churned").to_csv(index=False))
        reason = wait_for("no-target.csv quarantined", lambda: _quarantine_reason(stack, "no-target.csv"), timeout=120)
        assert "columns do not match: missing ['churned']" in reason

        to_score = churn_rows(100, 6, first_id=600_000).drop(columns="churned")
        to_score.loc[0, "age"] = np.nan
        to_score.loc[1, "plan"] = None
        to_score.to_csv(root / "to-score.csv", index=False)
        out = _predict(stack, root, "to-score.csv")
        assert list(out.columns) == [*to_score.columns, "prediction", "probability"]
        assert set(out["prediction"]) <= {"no", "yes"} and len(out) == 100
        assert out["age"].isna().any() and out["plan"].isna().any()  # scored despite the gaps

    # Another data set (the repo's iris) on the same data root: refused before Airflow starts.
    env = {k: v for k, v in os.environ.items() if k != "PIPELINE_CONFIG"}
    env |= {"AIRFLOW_HOME": str(root / "other-home"), "AIRFLOW_PORT": str(free_port()), "PIPELINE_DATA_URL": data_url}
    refused = subprocess.run(["make", "run"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0
    assert f"data root {data_url} holds data set 'churn'" in refused.stderr
    assert f"{REPO_ROOT / 'pipeline.toml'} describes 'iris'" in refused.stderr
    assert stack.store.batches.committed() and len(stack.store.batches.validated()) == 2  # nothing mixed in


def test_a_number_to_predict_from_sample_to_the_three_ways_of_scoring(tmp_path_factory):
    """Regression end to end (issue 31) on a real public table, vega_datasets' cars: missing
    values, a categorical origin, the model year as a date, a near-unique name. Its own stack:
    another data set needs a data root (and so a stack) of its own."""
    import httpx
    from vega_datasets import data

    root = tmp_path_factory.mktemp("regression")
    cars = data.cars().dropna(subset=["Miles_per_Gallon"]).assign(Year=lambda f: f["Year"].dt.strftime("%Y-%m-%d"))
    cars = cars.sample(frac=1.0, random_state=3).reset_index(drop=True)
    cars.iloc[:150].to_csv(root / "sample.csv", index=False)
    made = subprocess.run(
        ["make", "dataset", f"FROM={root / 'sample.csv'}", "TARGET=Miles_per_Gallon", f"OUT={root / 'cars'}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    assert "task regression:" in made.stdout and "Year: a date or timestamp" in made.stdout

    stack = LaunchedStack(root, str(root / "data"), env={"PIPELINE_CONFIG": str(root / "cars" / "pipeline.toml")})
    with stack.started():
        before = stack.run_ids()
        stack.drop("first.csv", cars.iloc[:250].to_csv(index=False))
        stack.wait_chain(before)
        champion = wait_for("a champion", lambda: stack.store.registry.champion(), timeout=180)
        scores = stack.store.reports.metrics()["challenger"]
        assert scores["rmse"] < 6 and scores["r2"] > 0.5 and "rmse" in champion
        wait_for("the champion live", lambda: stack.served_version() == champion["version"], timeout=120)

        shuffled = cars.iloc[250:].assign(
            Miles_per_Gallon=lambda f: f["Miles_per_Gallon"].sample(frac=1.0, random_state=1).to_numpy()
        )
        stack.drop("shuffled.csv", shuffled.to_csv(index=False))
        reason = wait_for("shuffled.csv quarantined", lambda: _quarantine_reason(stack, "shuffled.csv"), timeout=120)
        assert "misses this batch's 'Miles_per_Gallon' by" in reason and "on held-out data by" in reason

        unlabelled = cars.iloc[250:270].drop(columns="Miles_per_Gallon")
        unlabelled.to_csv(root / "to-score.csv", index=False)
        by_predict = _predict(stack, root, "to-score.csv")
        assert list(by_predict["Name"]) == list(unlabelled["Name"]) and by_predict["prediction"].between(5, 50).all()

        stack.drop("to-score.csv", unlabelled.to_csv(index=False), to_score=True)
        job = wait_for("the scoring inbox's predictions", lambda: stack.store.predictions.recent(1), timeout=120)[0]
        assert job["rows"] == 20 and set(job["class_counts"]) == {"min", "median", "max"}

        records = json.loads(unlabelled.iloc[:3].to_json(orient="records"))  # a gap as null
        served = httpx.post(f"{stack.serve_url}/invocations", json={"dataframe_records": records}, timeout=30)
        assert served.status_code == 200, served.text
        numbers = [row["prediction"] for row in served.json()["predictions"]]
        assert numbers == pytest.approx(list(by_predict["prediction"][:3]), rel=1e-6)
