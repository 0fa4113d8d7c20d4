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
    with open(root / "cars" / "pipeline.toml", "a") as toml:  # a window per request of 100 rows or more
        toml.write("\n[monitoring]\nwindow_rows = 100\n")

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

        _drift_by_model_year(stack, cars)


def _drift_by_model_year(stack: LaunchedStack, cars: pd.DataFrame) -> None:
    """Cars drift with their model year (the oil crises made them lighter and smaller): the
    champion learned from 250 cars of every year. Rows drawn like those drift nowhere; the cars
    of 1979-1982 drift in their engines and weight, and the data set drifts: as scoring files
    and as the scoring server's windows. The drift asset's events, ``pipeline drift --json``
    and the Pipeline page's check pages agree."""
    import httpx

    features = ["Cylinders", "Displacement", "Horsepower", "Weight_in_lbs", "Acceleration", "Origin"]
    like = cars.iloc[250:].drop(columns="Miles_per_Gallon")
    late = cars[cars["Year"].str[:4].astype(int) >= 1979].drop(columns="Miles_per_Gallon")
    stack.drop("like-training.csv", like.to_csv(index=False), to_score=True)
    stack.drop("from-1979.csv", late.to_csv(index=False), to_score=True)
    for rows in (like, late):  # one request each: a window of 100 rows or more closes with it
        records = json.loads(rows.to_json(orient="records"))
        assert httpx.post(f"{stack.serve_url}/invocations", json={"dataframe_records": records}, timeout=30).status_code == 200

    def checks_by_source() -> dict[str, list[dict]] | None:
        listed = json.loads(_pipeline(stack, "drift", "--json"))
        by_source: dict[str, list[dict]] = {}
        for check in listed:
            by_source.setdefault(check["source"], []).append(check)
        return (
            by_source
            if {"like-training.csv", "from-1979.csv"} <= set(by_source) and len(by_source.get("server", [])) >= 2
            else None
        )

    by_source = wait_for("the files' and the server windows' drift checks", checks_by_source, timeout=120)
    served_like, served_late = sorted(by_source["server"], key=lambda c: c["check_id"])[-2:]  # ids sort by time (µs)
    (file_like,), (file_late,) = by_source["like-training.csv"], by_source["from-1979.csv"]
    for check in (file_like, served_like):
        assert check["drifted"] == [] and not check["dataset_drift"], check
    assert served_late["rows"] == file_late["rows"] == len(late)
    assert (
        {"Displacement", "Weight_in_lbs"}
        <= set(file_late["drifted"])
        <= {"Cylinders", "Displacement", "Horsepower", "Weight_in_lbs"}
    )
    assert file_late["dataset_drift"] and served_late["drifted"] == file_late["drifted"] and served_late["dataset_drift"]
    assert set(file_late["scores"]) == set(features)

    def events() -> dict[str, dict] | None:
        # The alias makes the asset on its first event: it may not exist yet
        assets = stack.api.get("/api/v2/assets?name_pattern=drift&limit=100")["assets"]
        if not (ids := [a["id"] for a in assets if a["name"] == "drift"]):
            return None
        extras = {e["extra"]["check_id"]: e["extra"] for e in stack.api.asset_events(asset_id=ids[0])}
        wanted = [file_like, file_late, served_like, served_late]
        return extras if all(c["check_id"] in extras for c in wanted) else None

    extras = wait_for("the drift events (the server's posted by the score DAG)", events, timeout=120)
    for check in (file_like, file_late, served_like, served_late):
        event = extras[check["check_id"]]
        assert {k: event[k] for k in ("source", "drifted", "dataset_drift", "scores")} == {
            k: check[k] for k in ("source", "drifted", "dataset_drift", "scores")
        }
        page = httpx.get(
            f"{stack.api.base_url}/pipeline/drift/{check['check_id']}",
            headers={"Authorization": f"Bearer {stack.api.token()}"},
            timeout=30,
        )
        assert page.status_code == 200
        assert page.text.count("<svg") == len(features) + 1  # each feature beside its reference; the PSI over time
        for feature, score in check["scores"].items():
            assert f"{feature} <span" in page.text and score["status"] in page.text


def _pipeline(stack: LaunchedStack, *args: str) -> str:
    done = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "pipeline"), *args], env=stack.env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
