"""Drift against what the champion learned from, without Airflow: the reference each version
keeps, the checks (PSI and a test per feature, a Bonferroni-corrected level, a minimum of rows),
on a public table that drifts with the seasons (vega_datasets' Seattle weather), and scoring
files checked as they are scored, with the drift asset's event and the alert."""

from __future__ import annotations

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
