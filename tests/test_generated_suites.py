"""A suite `pipeline dataset` generates from a sample lets the rest of the same data through.

Real public tables, as a new user would bring them (vega_datasets ships them; no network): a
sample of 200 rows is profiled, then every other row of the same period is validated in
batches of 100 with the suite just written. Before issue 31, two batches of Seattle weather
were quarantined (precipitation 54.1 against [0, 22.66], temp_max -1.1 against a floor of 0,
wind 9.5 against 8.31). Values far outside are still refused.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from vega_datasets import data

from tasks.config import load_config
from tasks.ml.profiling import create_dataset
from tasks.quality.contract.run import validate_frame

pytestmark = pytest.mark.filterwarnings("ignore:The .convert_dates. keyword:Warning")  # inside vega_datasets

SAMPLE_ROWS, BATCH_ROWS = 200, 100

TABLES = {
    # daily weather in Seattle, 2012-2015: a heavy-tailed rainfall, frost the sample may miss
    "seattle-weather": (lambda: data.seattle_weather(), "weather"),
    # 406 cars of 1970-1982: missing values, a near-unique name, a date column
    "cars": (lambda: data.cars(), "Origin"),
}


def _generated(tmp_path, frame: pd.DataFrame, target: str):
    sample = tmp_path / "sample.csv"
    frame.to_csv(sample, index=False)
    out = tmp_path / "dataset"
    profile = create_dataset(sample, target, out)
    return profile, json.loads((out / "suite.json").read_text()), load_config(out / "pipeline.toml").dataset


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_other_row_of_the_same_period_passes_the_suite_made_from_a_sample(tmp_path, table):
    load, target = TABLES[table]
    rows = load()
    rows = rows.assign(**{c: rows[c].dt.strftime("%Y-%m-%d") for c in rows.columns if rows[c].dtype.kind == "M"})  # as in a CSV
    sample = rows.sample(SAMPLE_ROWS, random_state=7)
    _, suite, dataset = _generated(tmp_path, sample, target)
    rest = rows.drop(sample.index)
    refused = []
    for start in range(0, len(rest), BATCH_ROWS):
        batch = rest.iloc[start : start + BATCH_ROWS].reset_index(drop=True)
        result = validate_frame(batch, suite, dataset)
        if not result.success:
            refused.append(result.reason)
    assert not refused, refused


def test_dates_and_near_unique_names_are_left_out_of_training_and_say_why(tmp_path):
    cars = data.cars().assign(Year=lambda f: f["Year"].dt.strftime("%Y-%m-%d"))
    profile, _, dataset = _generated(tmp_path, cars.sample(SAMPLE_ROWS, random_state=7), "Origin")
    why = {c.name: c.why for c in profile.by_role("identifier")}
    assert set(why) == {"Name", "Year"} and set(dataset.identifiers) == {"Name", "Year"}
    assert why["Year"].startswith("a date or timestamp") and "of the rows: a name or an id" in why["Name"]
    parameters = (tmp_path / "dataset" / "pipeline.toml").read_text()
    assert '# "Year": a date or timestamp: left out of training' in parameters
    assert "Name" not in dataset.features and "Year" not in dataset.features


def test_rainfall_keeps_its_floor_and_a_high_ceiling_a_temperature_gets_no_invented_floor(tmp_path):
    weather = data.seattle_weather().assign(date=lambda f: f["date"].dt.strftime("%Y-%m-%d"))
    sample = weather.sample(SAMPLE_ROWS, random_state=7)
    sample = sample[sample["temp_max"] > 0]  # a sample with no frost, as in the issue
    _, suite, dataset = _generated(tmp_path, sample, "weather")
    ranges = {e["kwargs"]["column"]: e for e in suite["expectations"] if e["type"] == "expect_column_values_to_be_between"}
    rain = ranges["precipitation"]
    assert rain["kwargs"]["min_value"] == 0.0 and "floor 0" in rain["meta"]["source"]
    assert rain["kwargs"]["max_value"] > 2 * sample["precipitation"].max() and "long right tail" in rain["meta"]["source"]
    assert ranges["temp_max"]["kwargs"]["min_value"] < -1.1 < 0 < sample["temp_max"].min()
    # Far outside is still refused: the same days in Fahrenheit.
    fahrenheit = weather.iloc[150:250].assign(temp_max=lambda f: f["temp_max"] * 9 / 5 + 32)  # May to September
    refused = validate_frame(fahrenheit.reset_index(drop=True), suite, dataset)
    assert not refused.success and "temp_max" in refused.reason
