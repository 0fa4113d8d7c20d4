"""End to end, your own data set: `make dataset` on a sample, then `make run` with that config
on a fresh data root. No seed: the pipeline waits for the first drop; drops of categorical
data with missing values and string labels make a champion; an unseen category and a missing
target column are quarantined, each with a reason naming it; `pipeline predict` scores
unlabelled rows with gaps; and another data set on the same data root is refused at start."""

from __future__ import annotations

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
        env = {k: v for k, v in stack.env.items() if k not in ("PIPELINE_CONFIG", "PIPELINE_DATA_URL")}
        scored = subprocess.run(  # finds the config and data of the running stack by itself
            [str(REPO_ROOT / ".venv" / "bin" / "pipeline"), "predict", str(root / "to-score.csv")],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        )
        assert scored.returncode == 0, scored.stderr
        out = pd.read_csv(root / "to-score.predictions.csv")
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
