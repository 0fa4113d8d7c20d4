"""The seed's single four-task DAG, as a yardstick (never deployed: it lives under
``benchmarks/``; ``seed_vs_chain.py`` adds it to a benchmark stack's DAG folder).

load -> split -> train -> evaluate, PythonOperators handing file paths over XCom, each
task importing pandas/scikit-learn itself, iris from scikit-learn, a random forest as in
``pipeline.toml``. Triggered through the REST API.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import dag


def load(**context) -> str:
    from sklearn.datasets import load_iris

    folder = tempfile.mkdtemp(prefix="seed-dag-")
    path = f"{folder}/raw.parquet"
    load_iris(as_frame=True).frame.to_parquet(path, index=False)
    return path


def split(ti, **context) -> dict:
    import pandas as pd
    from sklearn.model_selection import train_test_split

    raw = ti.xcom_pull(task_ids="load")
    frame = pd.read_parquet(raw)
    train, test = train_test_split(frame, test_size=0.2, random_state=42, stratify=frame["target"])
    paths = {"train": raw.replace("raw", "train"), "test": raw.replace("raw", "test")}
    train.to_parquet(paths["train"], index=False)
    test.to_parquet(paths["test"], index=False)
    return paths


def train(ti, **context) -> str:
    import joblib
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier

    paths = ti.xcom_pull(task_ids="split")
    frame = pd.read_parquet(paths["train"])
    model = RandomForestClassifier(n_estimators=100, random_state=42, n_jobs=2).fit(frame.drop(columns="target"), frame["target"])
    path = paths["train"].replace("train.parquet", "model.joblib")
    joblib.dump(model, path)
    return path


def evaluate(ti, **context) -> float:
    import joblib
    import pandas as pd
    from sklearn.metrics import f1_score

    paths, model_path = ti.xcom_pull(task_ids="split"), ti.xcom_pull(task_ids="train")
    test = pd.read_parquet(paths["test"])
    predicted = joblib.load(model_path).predict(test.drop(columns="target"))
    return float(f1_score(test["target"], predicted, average="macro"))


@dag(dag_id="seed_pipeline", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC), catchup=False, tags=["benchmark"])
def seed_pipeline():
    steps = [PythonOperator(task_id=f.__name__, python_callable=f) for f in (load, split, train, evaluate)]
    steps[0] >> steps[1] >> steps[2] >> steps[3]


seed_pipeline()
