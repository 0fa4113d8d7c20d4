"""The online scoring server (MLflow's request formats, the 400s, the version on every answer,
the hot swap: in-process through the app, and against a real ``pipeline serve`` process) and
the deploy stage that makes a champion live in it."""

from __future__ import annotations

import threading

import httpx
import pytest
from conftest import iris_sample
from fastapi.testclient import TestClient
from harness import constant_champion, scoring_server, train_champion, wait_for

from tasks.serving.scoring_server import VERSION_HEADER, ScoringServer
from tasks.stack.services import free_port
from tasks.stages.deploy import ScoringServerUnreachable, deploy_champion

SETOSA = [5.1, 3.5, 1.4, 0.2]  # the first iris row: the champion says class 0
VIRGINICA = 2


@pytest.fixture
def client(champion):
    with TestClient(ScoringServer(champion.store, champion.config.dataset).app()) as c:
        yield c


@pytest.fixture
def columns(config) -> list[str]:
    return list(config.dataset.features)


def test_records_split_and_csv_are_answered_alike(client, columns):
    records = client.post("/invocations", json={"dataframe_records": [dict(zip(columns, SETOSA, strict=True))]})
    split = client.post("/invocations", json={"dataframe_split": {"columns": columns, "data": [SETOSA]}})
    csv = client.post(
        "/invocations", content=",".join(columns) + "\n" + ",".join(map(str, SETOSA)) + "\n", headers={"Content-Type": "text/csv"}
    )
    for answer in (records, split, csv):
        assert answer.status_code == 200, answer.text
        assert answer.headers[VERSION_HEADER] == "v0001"
        (row,) = answer.json()["predictions"]
        assert row["prediction"] == 0 and 0.5 < row["probability"] <= 1.0


def test_many_rows_keep_their_order_and_extra_columns_are_ignored(client, columns):
    rows = iris_sample(40, seed=9)
    answer = client.post(
        "/invocations",
        json={
            "dataframe_split": {"columns": ["id", *rows.columns], "data": [[i, *r] for i, r in enumerate(rows.values.tolist())]}
        },
    )
    predictions = [p["prediction"] for p in answer.json()["predictions"]]
    assert len(predictions) == 40
    assert sum(p == t for p, t in zip(predictions, rows["target"], strict=True)) >= 36


def test_numbers_written_as_text_and_gaps_are_scored(client, columns):
    row = dict(zip(columns, ["5.1", "3.5", None, "0.2"], strict=True))
    answer = client.post("/invocations", json={"dataframe_records": [row]})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ({"dataframe_records": [{"sepal length (cm)": 5.1}]}, None, "missing feature column(s) ['sepal width (cm)'"),
        ("text-in-a-number", None, "column 'sepal length (cm)' must hold numbers; row 0 has 'five'"),
        ({"dataframe_records": [{"x": [1, 2]}]}, None, "missing feature column"),
        ({"instances": [[1, 2, 3, 4]]}, None, "expected a JSON object with one of ['dataframe_split', 'dataframe_records']"),
        ({"dataframe_records": {"a": 1}}, None, "'dataframe_records' must be a list of objects"),
        ({"dataframe_records": []}, None, "no rows to score"),
        ({"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}, None, "the rows do not form a table"),
        (b"{not json", "application/json", "the body is not valid JSON"),
        (b"a,b\n1,2", "application/x-parquet", "unsupported Content-Type 'application/x-parquet'"),
        (b"", "text/csv", "the body is not a readable CSV"),
        ([1, 2], None, "got list"),
    ],
)
def test_unscorable_input_is_a_400_with_the_reason(client, columns, body, content_type, expected):
    if body == "text-in-a-number":
        body = {"dataframe_records": [dict(zip(columns, ["five", 3.5, 1.4, 0.2], strict=True))]}
    if isinstance(body, bytes):
        answer = client.post("/invocations", content=body, headers={"Content-Type": content_type})
    else:
        answer = client.post("/invocations", json=body)
    assert answer.status_code == 400, answer.text
    assert expected in answer.json()["message"]
    assert answer.headers[VERSION_HEADER] == "v0001"


def test_health_and_version(client):
    assert client.get("/ping").status_code == 200 and client.get("/health").status_code == 200
    version = client.get("/version").json()
    assert version["model_version"] == "v0001" and version["previous"] is None and version["data_set"] == "iris"
    assert client.get("/no-such-page").headers[VERSION_HEADER] == "v0001"


def test_before_any_champion_it_answers_503_and_says_why(featured, columns):
    with TestClient(ScoringServer(featured.store, featured.config.dataset).app()) as c:
        assert c.get("/ping").status_code == 503
        answer = c.post("/invocations", json={"dataframe_split": {"columns": columns, "data": [SETOSA]}})
        assert answer.status_code == 503 and "no model is live yet" in answer.json()["message"]
        assert answer.headers[VERSION_HEADER] == "none" and c.get("/version").json()["model_version"] is None


def test_a_server_started_before_any_champion_serves_the_first_one_by_itself(featured, columns, monkeypatch):
    """No deploy needed for the first model when the server came up without one (or with storage
    down): it looks again while nothing is live."""
    from tasks.serving import scoring_server as module

    monkeypatch.setattr(module, "RETRY_S", 0.2)
    with TestClient(ScoringServer(featured.store, featured.config.dataset).app()) as c:
        assert c.get("/ping").status_code == 503
        train_champion(featured.store, featured.config)
        wait_for("the first champion to be live", lambda: c.get("/ping").status_code == 200, timeout=30, every=0.2)
        assert c.get("/version").json()["model_version"] == "v0001"


def test_reload_makes_the_new_champion_live_and_names_the_previous(champion, client, columns):
    new = constant_champion(champion.store, champion.config.dataset, VIRGINICA)
    answer = client.post("/reload").json()
    assert answer["model_version"] == new and answer["previous"] == "v0001"
    scored = client.post("/invocations", json={"dataframe_split": {"columns": columns, "data": [SETOSA]}})
    assert scored.headers[VERSION_HEADER] == new and scored.json()["predictions"][0]["prediction"] == VIRGINICA


def test_a_champion_that_fails_to_load_leaves_the_old_one_serving(champion, client, columns):
    new = constant_champion(champion.store, champion.config.dataset, VIRGINICA)
    model_file = champion.store.registry._key(new, "model.joblib")
    champion.store.backend.write_bytes(model_file, b"not the model that was trained")
    answer = client.post("/reload")
    assert answer.status_code == 500
    assert "sha256" in answer.json()["message"] and answer.json()["model_version"] == "v0001"
    scored = client.post("/invocations", json={"dataframe_split": {"columns": columns, "data": [SETOSA]}})
    assert scored.status_code == 200 and scored.headers[VERSION_HEADER] == "v0001"


@pytest.fixture
def data_url(tmp_path) -> str:
    """The server reads the store through the same code on both backends (tests/test_store_backend.py):
    one backend here."""
    return str(tmp_path / "data")


@pytest.fixture
def running_server(champion, tmp_path):
    """``pipeline serve`` as its own process on a free port, on the champion's data."""
    with scoring_server(champion.store.url, tmp_path) as url:
        yield url


def test_hot_swap_under_load_fails_no_request_and_mixes_no_models(champion, running_server, columns):
    """Clients keep sending 5-row requests while a new champion is made live: every request
    succeeds, and each is answered wholly by one model (its header names it, and every row
    carries that model's answer)."""
    answers: list[tuple[int, str, list]] = []
    stop = threading.Event()
    body = {"dataframe_split": {"columns": columns, "data": [SETOSA] * 5}}

    def client() -> None:
        with httpx.Client(base_url=running_server, timeout=10) as http:
            while not stop.is_set():
                r = http.post("/invocations", json=body)
                answers.append((r.status_code, r.headers.get(VERSION_HEADER, ""), r.json().get("predictions", [])))

    clients = [threading.Thread(target=client) for _ in range(4)]
    for t in clients:
        t.start()
    try:
        wait_for("requests answered by v0001", lambda: len(answers) >= 20, timeout=30)
        new = constant_champion(champion.store, champion.config.dataset, VIRGINICA)
        swapped = httpx.post(f"{running_server}/reload", timeout=60).json()
        assert swapped["model_version"] == new
        seen = len(answers)
        wait_for("requests answered by the new champion", lambda: len(answers) >= seen + 20, timeout=30)
    finally:
        stop.set()
        for t in clients:
            t.join(timeout=20)
    assert {status for status, _, _ in answers} == {200}
    expected = {"v0001": 0, new: VIRGINICA}
    assert {version for _, version, _ in answers} == set(expected)
    for _, version, rows in answers:
        assert [r["prediction"] for r in rows] == [expected[version]] * 5
    assert answers[-1][1] == new


def test_deploy_makes_the_champion_live_once(champion, running_server):
    first = deploy_champion(champion.store, running_server)
    assert first.nothing_new() is None and first.failure() is None
    assert first.deployed["version"] == "v0001" and first.deployed["previous"] is None
    assert champion.store.deployments.live()["version"] == "v0001"
    again = deploy_champion(champion.store, running_server)  # evaluated, not promoted: nothing to do
    assert again.nothing_new() == "v0001 is already live: nothing to deploy"
    new = constant_champion(champion.store, champion.config.dataset, VIRGINICA)
    second = deploy_champion(champion.store, running_server)
    assert second.event_extra()["version"] == new and second.event_extra()["previous"] == "v0001"
    assert httpx.get(f"{running_server}/version").json()["model_version"] == new
    assert [d["version"] for d in champion.store.deployments.history(5)] == [new, "v0001"]


def test_deploy_of_a_model_that_fails_to_load_fails_and_the_old_one_serves(champion, running_server):
    deploy_champion(champion.store, running_server)
    new = constant_champion(champion.store, champion.config.dataset, VIRGINICA)
    champion.store.backend.write_bytes(champion.store.registry._key(new, "model.joblib"), b"tampered")
    result = deploy_champion(champion.store, running_server)
    assert result.failure().startswith(f"the scoring server at {running_server} could not load {new}")
    assert "sha256" in result.failure() and "v0001 keeps serving" in result.failure()
    assert httpx.get(f"{running_server}/version").json()["model_version"] == "v0001"
    assert champion.store.deployments.live()["version"] == "v0001"


def test_deploy_without_a_server_says_so_and_is_retried(champion):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ScoringServerUnreachable, match=f"scoring server unreachable at {url}"):
        deploy_champion(champion.store, url)
    assert champion.store.deployments.live() is None


def test_deploy_before_any_champion_has_nothing_to_do(featured):
    assert deploy_champion(featured.store, "http://127.0.0.1:9").nothing_new() == "No champion yet: nothing to deploy"
