"""Drift against what the champion learned from, without Airflow: the reference each version
keeps, the checks (PSI and a test per feature, a Bonferroni-corrected level, a minimum of rows),
on a public table that drifts with the seasons (vega_datasets' Seattle weather), and scoring
files checked as they are scored, with the drift asset's event and the alert."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import csv_bytes, iris_sample
from vega_datasets import data

from tasks.config import Dataset, Monitoring
from tasks.ml.drift import check, figures, make_reference, psi, summary_line
from tasks.stages.score import score_pending

pytestmark = pytest.mark.filterwarnings("ignore:The .convert_dates. keyword:Warning")  # inside vega_datasets
WEATHER = Dataset(
    name="weather",
    target="weather",
    features={"precipitation": "numeric", "temp_max": "numeric", "temp_min": "numeric", "wind": "numeric"},
    suite=None,
)


@pytest.fixture(scope="module")
def weather() -> pd.DataFrame:
    return data.seattle_weather()


@pytest.fixture(scope="module")
def reference(weather) -> dict:
    """What a model of 2012-2013's weather (every season) learned from."""
    years = weather[weather["date"].dt.year <= 2013]
    return make_reference(years[list(WEATHER.features)], years["weather"], WEATHER)


def test_rows_drawn_like_the_training_data_drift_nowhere(weather, reference):
    later = weather[weather["date"].dt.year >= 2014].sample(400, random_state=1)
    found = check(reference, later, Monitoring())
    assert found["drifted"] == [] and not found["dataset_drift"], summary_line({**found, "source": "x"})


def test_another_season_drifts_in_its_temperatures_and_the_data_set_drifts(weather, reference):
    summer = weather[(weather["date"].dt.year >= 2014) & weather["date"].dt.month.isin([7, 8])]
    found = check(reference, summer, Monitoring())
    assert {"temp_max", "temp_min"} <= set(found["drifted"]) and found["dataset_drift"]
    assert found["scores"]["temp_max"]["psi"] > 0.25 and found["scores"]["temp_max"]["p_value"] < 0.05 / 4
    assert found["thresholds"]["alpha_per_feature"] == pytest.approx(0.0125)  # Bonferroni over 4 features


def test_a_small_sample_raises_no_alarm(weather, reference):
    summer = weather[weather["date"].dt.month == 7].head(30)
    found = check(reference, summer, Monitoring())
    assert found["drifted"] == [] and {s["status"] for s in found["scores"].values()} == {"too few rows"}


def test_an_empty_feature_and_values_beyond_training_are_reported_not_crashed_on(weather, reference):
    rows = weather.sample(300, random_state=2).assign(wind=float("nan"), temp_max=lambda f: f["temp_max"] + 30)
    found = check(reference, rows, Monitoring())
    assert found["scores"]["wind"]["status"] == "all missing" and found["scores"]["wind"]["psi"] is None
    assert "wind" in found["drifted"] and found["scores"]["temp_max"]["outside_range"] > 0.5


def test_a_category_that_shifts_drifts_and_the_psi_is_the_textbook_one():
    cars = data.cars()
    origin = Dataset(name="cars", target="Miles_per_Gallon", features={"Origin": "categorical"}, suite=None, task="regression")
    ref = make_reference(cars[["Origin"]], cars["Miles_per_Gallon"], origin)
    japan = cars[cars["Origin"] == "Japan"]
    found = check(ref, pd.concat([japan] * 2), Monitoring())
    assert found["drifted"] == ["Origin"] and found["scores"]["Origin"]["shares"]["Japan"] == 1.0
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0 and psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(0.5 * 0.8 * 2.1972, rel=1e-3)


def test_a_scored_file_is_checked_kept_and_told(champion):
    """Iris: a file like the training rows, and one whose lengths grew 1.5 cm."""
    store, config = champion.store, champion.config
    assert store.registry.reference("v0001")["features"]["petal length (cm)"]["kind"] == "numeric"
    like = iris_sample(150, seed=31).drop(columns=["target"])
    grown = like.assign(**{c: like[c] + 1.5 for c in ("sepal length (cm)", "petal length (cm)")})  # the suite's relations kept
    store.scoring_inbox.add_claimed("like.csv", csv_bytes(like))
    store.scoring_inbox.add_claimed("grown.csv", csv_bytes(grown))
    result = score_pending(store, config)
    by_file = {d["source"]: d for d in result.drift}
    assert by_file["like.csv"]["drifted"] == [] and "petal length (cm)" in by_file["grown.csv"]["drifted"]
    event = next(e for e in result.drift_checks() if e["source"] == "grown.csv")
    assert event == figures(by_file["grown.csv"]) and event["dataset_drift"] and event["model_version"] == "v0001"
    assert set(event["scores"]["petal length (cm)"]) >= {"status", "psi", "p_value", "missing", "outside_range"}
    (alert,) = result.alerts()
    assert alert["kind"] == "drift" and alert["files"] == ["grown.csv"] and "petal length (cm)" in alert["what"]
    assert sorted(c["source"] for c in store.drift.recent(5)) == ["grown.csv", "like.csv"]


def test_a_labelled_batch_is_checked_as_it_passes_the_gate(champion):
    """A batch of one species only: its petals are unlike the training mix (drift), yet its
    labels are right (the label check passes it)."""
    from tasks.stages.ingest import ingest
    from tasks.stages.validate import validate_pending

    store, config = champion.store, champion.config
    rows = iris_sample(600, seed=41)
    store.inbox.add_claimed("mixed.csv", csv_bytes(rows.iloc[:150]))
    store.inbox.add_claimed("setosa-only.csv", csv_bytes(rows[rows["target"] == 0].head(150)))
    store.inbox.add_claimed("tiny.csv", csv_bytes(rows.iloc[200:230]))
    ingest(store)
    result = validate_pending(store, config)
    assert {b["file"] for b in result.passed} == {"mixed.csv", "setosa-only.csv", "tiny.csv"}
    by_file = {d["source"]: d for d in result.drift}
    assert set(by_file) == {"mixed.csv", "setosa-only.csv"}  # 30 rows: not checked (noise)
    assert by_file["mixed.csv"]["drifted"] == [] and by_file["mixed.csv"]["source_kind"] == "labelled batch"
    assert {"petal length (cm)", "petal width (cm)"} <= set(by_file["setosa-only.csv"]["drifted"])
    assert [a["files"] for a in result.alerts()] == [["setosa-only.csv"]]
    assert {e["source"] for e in result.drift_checks()} == {"mixed.csv", "setosa-only.csv"}


def test_a_window_closes_on_rows_on_time_and_on_another_version():
    from tasks.serving.request_window import MAX_WAITING, RequestWindow

    now = [0.0]
    window = RequestWindow(window_rows=5, window_s=60, clock=lambda: now[0])
    rows = pd.DataFrame({"a": [1.0, 2.0]})
    window.add("v1", rows, np.array([0, 1]))
    window.add("v1", rows, np.array([0, 1]))
    assert window.take() == []  # 4 rows, 0 s: still open
    window.add("v1", rows, np.array([1, 1]))  # 6 rows: closes
    (full,) = window.take()
    assert full.requests == 3 and len(full.rows()[0]) == 6 and full.rows()[1].tolist() == [0, 1, 0, 1, 1, 1]
    window.add("v1", rows, np.array([0, 0]))
    window.add("v2", rows, np.array([0, 0]))  # another version answered: v1's window closes
    now[0] = 61.0
    assert [w.version for w in window.take()] == ["v1", "v2"]  # and v2's, its time up
    for _ in range(MAX_WAITING + 3):  # a checker that cannot keep up: bounded, the drop counted
        window.add("v1", pd.DataFrame({"a": [1.0] * 5}), np.zeros(5))
    assert len(window.take()) == MAX_WAITING and window.dropped == 3


def test_the_servers_requests_are_checked_per_window_and_posted_by_the_score_dag(champion):
    """Iris through the real app: a window of training-like rows drifts nowhere, a window of
    rows with 1.5 cm longer petals drifts; each check is kept with source 'server', marked to
    announce, and the score DAG's stage posts it (an event each, an alert for the drifted)."""
    from fastapi.testclient import TestClient

    from tasks.serving.scoring_server import ScoringServer
    from tasks.stages.score import announce_server_checks

    store, config = champion.store, champion.config
    server = ScoringServer(store, config.dataset, Monitoring(window_rows=150, window_s=3600))
    like = iris_sample(300, seed=51).drop(columns=["target"])
    grown = like.assign(**{c: like[c] + 1.5 for c in ("sepal length (cm)", "petal length (cm)")})
    with TestClient(server.app()) as client:
        for rows in (like.iloc[:150], grown.iloc[:150]):
            for start in range(0, 150, 10):  # 15 requests of 10 rows: one window
                part = rows.iloc[start : start + 10]
                split = {"columns": list(part.columns), "data": part.to_numpy().tolist()}
                assert client.post("/invocations", json={"dataframe_split": split}).status_code == 200
        checks = client.portal.call(server.check_windows)
    assert [c["source"] for c in checks] == ["server", "server"]
    assert checks[0]["drifted"] == [] and "petal length (cm)" in checks[1]["drifted"] and checks[1]["dataset_drift"]
    assert checks[1]["window"]["requests"] == 15 and checks[1]["rows"] == 150 and checks[1]["model_version"] == "v0001"
    assert store.drift.to_announce() == [c["id"] for c in checks]
    assert store.left_behind("server_drift_checks", 0) == store.drift.to_announce()

    posted = announce_server_checks(store)
    assert [e["source"] for e in posted.drift_checks()] == ["server", "server"]
    assert posted.drift_checks()[1] == figures(checks[1])
    (alert,) = posted.alerts()
    assert alert["files"] == ["server"] and alert["page"] == f"drift/{checks[1]['id']}"
    assert store.drift.to_announce() == [] and announce_server_checks(store).drift == []


def test_a_window_served_before_a_stop_is_checked_and_a_full_disk_keeps_it(config, tmp_path):
    """A real full file system: the window waits in the server, and is checked and kept once
    the storage takes writes again (at the latest when the server stops)."""
    from fastapi.testclient import TestClient
    from harness import fill, seed_features, small_tmpfs, train_champion

    from tasks.serving.scoring_server import ScoringServer
    from tasks.store import open_store

    rows = iris_sample(20, seed=52).drop(columns=["target"])
    with small_tmpfs(tmp_path / "data", 16) as data:
        store = open_store(str(data))
        seed_features(store, config)
        train_champion(store, config)
        server = ScoringServer(store, config.dataset, Monitoring(window_rows=1000, window_s=3600))
        with TestClient(server.app()) as client:
            assert client.post("/invocations", json={"dataframe_records": rows.to_dict("records")}).status_code == 200
            assert client.portal.call(server.check_windows) == []  # open, not due
            fill(data / ".filler")
            assert client.portal.call(lambda: server.check_windows(everything=True)) == []  # full: kept
            assert client.post("/invocations", json={"dataframe_records": rows.to_dict("records")}).status_code == 200
            (data / ".filler").unlink()
        kept = store.drift.recent(5)  # both windows checked at the stop: too few rows to flag anything
    assert [(c["source"], c["rows"], c["window"]["requests"], c["drifted"]) for c in kept] == [("server", 20, 1, [])] * 2
    assert {s["status"] for c in kept for s in c["scores"].values()} == {"too few rows"}
