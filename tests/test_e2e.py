"""End to end: the real Airflow stack, started with `make run`, driven only by files dropped in the inbox.

The module runs twice, with the same assertions: data in a local folder (files copied into
``inbox/`` as a person would), and data on S3 (``PIPELINE_DATA_URL=s3://...`` on the real
moto server, files uploaded to ``inbox/`` with boto3). One stack per backend (start-up is
the expensive part); the scenarios run in order and build on each other, as a team's drops
would. The last test presses Ctrl-C (SIGINT to the whole process group) and checks that no
process is left behind. The fixture stops everything it started even when a test fails.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import threading
import time

import httpx
import pandas as pd
import pytest
from conftest import REPO_ROOT, everything, iris_config_text, iris_sample
from harness import DAGS, LaunchedStack, wait_for

from tasks.stack.services import port_is_free

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["local", "s3"])
def stack(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"e2e-{request.param}")
    if request.param == "local":
        data_url = str(root / "data")
    else:
        data_url = f"s3://{request.getfixturevalue('s3_server').new_bucket()}/data"
    config = root / "pipeline.toml"  # the stack's own copy: a test edits it
    config.write_text(iris_config_text())
    with LaunchedStack(root, data_url, env={"PIPELINE_CONFIG": str(config)}).started() as running:
        running.config = config
        yield running


def _chain_events(stack: LaunchedStack) -> dict[str, int]:
    """Events each DAG produced on the chain's assets (the side exits, quarantine and drift, apart)."""
    side = {a["id"] for a in stack.api.get("/api/v2/assets?limit=100")["assets"] if a["name"] in ("quarantine", "drift")}
    return {d: len([e for e in stack.api.asset_events(source_dag_id=d) if e["asset_id"] not in side]) for d in DAGS}


def _quarantine_id(stack: LaunchedStack) -> int:
    return stack.api.asset_id("quarantine")


def _quarantine_events(stack: LaunchedStack) -> dict[str, dict]:
    """The ``quarantine`` asset's events, by rejected file name (newest first wins)."""
    events = stack.api.asset_events(asset_id=_quarantine_id(stack))
    return {
        e["extra"]["file"]: {
            **e["extra"],
            "source_task_id": e["source_task_id"],
            "source_run_id": e["source_run_id"],
            "source_dag_id": e["source_dag_id"],
        }
        for e in reversed(events)
    }


def _run_note(stack: LaunchedStack, event: dict) -> str:
    """The note the scheduler's listener wrote on the run that rejected ``event``'s file."""
    path = f"/api/v2/dags/{event['source_dag_id']}/dagRuns/{event['source_run_id']}"
    return wait_for("the run's note", lambda: stack.api.get(path).get("note"), timeout=60)


def _champion_model_sha(stack: LaunchedStack) -> tuple[str, str]:
    version = stack.read_json("models/champion.json")["version"]
    return version, hashlib.sha256(stack.store.backend.read_bytes(f"models/{version}/model.joblib")).hexdigest()


def test_a_fresh_stack_seeds_iris_and_runs_the_whole_chain(stack):
    stack.wait_chain({d: set() for d in DAGS})
    assert stack.runs("ingest")[-1]["run_type"] == "scheduled"  # the daily run, at unpause
    assert all(r["run_type"] == "asset_triggered" for d in DAGS[1:] for r in stack.runs(d))
    assert stack.read_json("models/champion.json")["version"] == "v0001"
    assert stack.store.reports.metrics()["version"] == "v0001"
    assert b"<h1>Model v0001 (iris)</h1>" in stack.store.backend.read_bytes("metrics/latest/report.html")
    stack.remember_processes()


def test_the_first_champion_is_live_on_the_scoring_server(stack):
    champion, _ = _champion_model_sha(stack)
    wait_for("the scoring server to serve the champion", lambda: stack.served_version() == champion, timeout=60)
    (deployed,) = stack.api.asset_events(source_dag_id="deploy")
    assert deployed["extra"]["version"] == champion and deployed["extra"]["previous"] is None
    assert stack.store.deployments.live()["version"] == champion
    columns = list(iris_sample(1, seed=1).columns.drop("target"))
    answer = httpx.post(
        f"{stack.serve_url}/invocations", json={"dataframe_split": {"columns": columns, "data": [[5.1, 3.5, 1.4, 0.2]]}}
    )
    assert answer.status_code == 200 and answer.headers["X-Model-Version"] == champion
    assert answer.json()["predictions"][0]["prediction"] == 0
    bad = httpx.post(f"{stack.serve_url}/invocations", json={"dataframe_records": [{"sepal length (cm)": "five"}]})
    assert bad.status_code == 400 and "missing feature column(s)" in bad.json()["message"]


def test_a_dropped_csv_runs_the_chain_with_metadata_on_every_event(stack):
    before = stack.run_ids()
    csv = iris_sample(40, seed=101).to_csv(index=False)
    stack.drop("team_batch_1.csv", csv)
    stack.wait_chain(before)
    assert stack.runs("ingest")[0]["run_type"] == "asset_triggered"

    raw = stack.api.asset_events(source_dag_id="ingest")[0]
    assert raw["extra"]["files"] == ["team_batch_1.csv"] and raw["extra"]["rows_added"] == 40
    (batch_id,) = raw["extra"]["batches"]
    assert len(raw["extra"]["sha256"][batch_id]) == 64
    features = stack.api.asset_events(asset_id=stack.api.asset_id("features"))[0]["extra"]
    assert features["passed_batches"] == [batch_id] and features["rows_train"] + features["rows_test"] == 190
    model = stack.api.asset_events(source_dag_id="train")[0]["extra"]
    assert model["version"] == "v0002" and model["rows_used"] == features["rows_train"]
    metrics = stack.api.asset_events(source_dag_id="evaluate")[0]["extra"]
    assert metrics["version"] == "v0002" and metrics["decision"] in {"promoted", "rejected"} and metrics["f1_macro"] > 0.8
    trigger = [e for e in stack.api.asset_events() if e["extra"].get("from_trigger")][0]
    assert trigger["extra"]["payload"]["files"] == ["team_batch_1.csv"]

    assert stack.store.backend.read_bytes(f"archive/{batch_id}/team_batch_1.csv").decode() == csv
    assert stack.inbox_is_empty()
    stack.remember_processes()


def test_a_bad_drop_is_quarantined_and_nothing_downstream_runs(stack):
    before = {d: stack.successes(d) for d in DAGS}
    events_before = _chain_events(stack)
    champion_before = _champion_model_sha(stack)
    bad = iris_sample(30, seed=102)
    bad.loc[[0, 1, 2], "target"] = 7
    stack.drop("bad_labels.csv", bad.to_csv(index=False))

    wait_for("ingest to succeed", lambda: stack.successes("ingest") > before["ingest"])
    failed = wait_for("preprocess to fail", lambda: [r for r in stack.runs("preprocess") if r["state"] == "failed"])
    assert len(failed) == 1
    (entry,) = stack.store.quarantine.entries()
    assert "'target' has 3 value(s) not in [0, 1, 2]" in entry["reason"] and entry["file"] == "bad_labels.csv"
    folder = f"quarantine/{entry['id']}"
    assert stack.store.backend.exists(f"{folder}/original/bad_labels.csv") and stack.store.backend.exists(
        f"{folder}/{entry['data_docs']}"
    )
    run_id = failed[0]["dag_run_id"]
    ti = stack.api.get(f"/api/v2/dags/preprocess/dagRuns/{run_id}/taskInstances/validate_and_split")
    assert ti["state"] == "failed" and ti["try_number"] == 1  # bad data is not retried
    log = json.dumps(stack.api.get(f"/api/v2/dags/preprocess/dagRuns/{run_id}/taskInstances/validate_and_split/logs/1"))
    assert "not in [0, 1, 2]" in log and "bad_labels.csv" in log  # the reason, where the UI shows it
    assert log.index("REJECTED bad_labels.csv") < log.index("Task failed with exception")  # reasons first
    # The rejection is an Airflow event too, posted by record_rejections since the gate failed.
    event = wait_for("a quarantine event", lambda: _quarantine_events(stack).get("bad_labels.csv"), timeout=60)
    assert (
        event["stage"] == "validation"
        and "not in [0, 1, 2]" in event["reason"]
        and event["source_task_id"] == "record_rejections"
    )
    assert event["moved_to"].endswith(f"/quarantine/{entry['id']}/")

    time.sleep(5)  # give anything that would (wrongly) fire the time to do so
    assert _chain_events(stack) == {**events_before, "ingest": events_before["ingest"] + 1}
    assert {d: stack.successes(d) for d in DAGS[1:]} == {d: before[d] for d in DAGS[1:]}
    assert _champion_model_sha(stack) == champion_before


def test_the_next_good_drop_goes_through(stack):
    before = stack.run_ids()
    stack.drop("team_batch_2.csv", iris_sample(40, seed=103).to_csv(index=False))
    stack.wait_chain(before)
    assert stack.api.asset_events(source_dag_id="train")[0]["extra"]["version"] == "v0003"
    assert stack.store.registry.versions() == ["v0001", "v0002", "v0003"]


def test_shuffled_labels_are_stopped_by_the_label_check_before_training(stack):
    before = {d: stack.successes(d) for d in DAGS}
    champion_before = _champion_model_sha(stack)
    scrambled = iris_sample(600, seed=104)  # valid for the suite, labels shuffled across classes
    scrambled["target"] = scrambled["target"].sample(frac=1.0, random_state=3).to_numpy()
    stack.drop("scrambled_labels.csv", scrambled.to_csv(index=False))
    wait_for("ingest to succeed", lambda: stack.successes("ingest") > before["ingest"])
    wait_for("preprocess to fail", lambda: len([r for r in stack.runs("preprocess") if r["state"] == "failed"]) == 2)
    entry = next(e for e in stack.store.quarantine.entries() if e["file"] == "scrambled_labels.csv")
    assert entry["stage"] == "label_check" and "labels may be shuffled or mis-mapped" in entry["reason"]
    assert entry["label_check"]["disagreement_rate"] > 0.5
    time.sleep(3)
    assert {d: stack.successes(d) for d in DAGS[2:]} == {d: before[d] for d in DAGS[2:]}
    assert _champion_model_sha(stack) == champion_before
    assert stack.store.registry.versions() == ["v0001", "v0002", "v0003"]  # nothing trained on it


def test_a_mixed_drop_quarantines_the_bad_files_and_trains_on_the_good_one(stack):
    before = stack.run_ids()
    bad_labels = iris_sample(30, seed=105)
    bad_labels.loc[0, "petal width (cm)"] = -1.0
    files = {
        "mixed_good.csv": iris_sample(40, seed=106).to_csv(index=False),
        "mixed_semicolon.csv": iris_sample(10, seed=107).to_csv(index=False, sep=";"),
        "mixed_negative.csv": bad_labels.to_csv(index=False),
    }
    for name, content in files.items():
        stack.drop(name, content)

    expected = {"mixed_good.csv": "archive", "mixed_semicolon.csv": "quarantine", "mixed_negative.csv": "quarantine"}

    def placed() -> dict[str, list[str]]:
        where: dict[str, list[str]] = {}
        for key in everything(stack.store):  # archive/<batch>/<name> or quarantine/<id>/original/<name>
            folders = key.split("/")
            original = (folders[0] == "archive" and len(folders) == 3) or folders[0:3:2] == ["quarantine", "original"]
            if original and folders[-1].startswith("mixed_"):
                where.setdefault(folders[-1], []).append(folders[0])
        return where

    # The GX-failing file is archived (ingested) until preprocess moves it to quarantine.
    wait_for("each file in its final place", lambda: placed() == {k: [v] for k, v in expected.items()})
    reasons = {e["file"]: e for e in stack.store.quarantine.entries()}
    assert reasons["mixed_semicolon.csv"]["stage"] == "ingest" and "semicolon" in reasons["mixed_semicolon.csv"]["reason"]
    assert reasons["mixed_negative.csv"]["stage"] == "validation" and "outside" in reasons["mixed_negative.csv"]["reason"]
    assert stack.inbox_is_empty()

    # Each rejected file is an event on the quarantine asset, from the stage that rejected it.
    events = wait_for(
        "both rejections as events",
        lambda: (e := _quarantine_events(stack)).keys() >= {"mixed_semicolon.csv", "mixed_negative.csv"} and e,
    )
    assert (events["mixed_semicolon.csv"]["stage"], events["mixed_semicolon.csv"]["source_task_id"]) == (
        "ingest",
        "ingest_claimed_files",
    )
    assert "semicolon" in events["mixed_semicolon.csv"]["reason"] and "Fix:" in events["mixed_semicolon.csv"]["reason"]
    # Validated with the good file, its run is green and the gate posts the event; validated alone
    # (uploads are taken one by one when they arrive apart), the run fails and record_rejections does.
    assert events["mixed_negative.csv"]["stage"] == "validation"
    assert events["mixed_negative.csv"]["source_task_id"] in ("validate_and_split", "record_rejections")
    # The preprocess run stays green (the good file went on) and says what it rejected in its note.
    assert "mixed_negative.csv [validation]" in _run_note(stack, events["mixed_negative.csv"])

    good_batch = next(
        k.split("/")[1] for k in everything(stack.store) if k.startswith("archive/") and k.endswith("/mixed_good.csv")
    )
    wait_for(
        "a features event naming the good batch",
        lambda: any(
            good_batch in e["extra"].get("passed_batches", []) for e in stack.api.asset_events(source_dag_id="preprocess")
        ),
    )
    wait_for(
        "train and evaluate to run on it",
        lambda: all(
            any(r["state"] == "success" and r["dag_run_id"] not in before[d] for r in stack.runs(d))
            for d in ("train", "evaluate", "deploy")
        ),
    )


def test_a_drop_of_only_unusable_files_fails_ingest_visibly_within_seconds(stack):
    """A non-CSV is taken as soon as it settles (not after an hour) and rejected; with
    nothing usable the ingest task fails, and each file still becomes a quarantine event."""
    before = {d: stack.successes(d) for d in DAGS}
    failed_before = {r["dag_run_id"] for r in stack.runs("ingest")}
    stack.drop("export.txt", "sepal length;sepal width\n5,1;3,5\n")
    stack.drop("empty.csv", "")
    events = wait_for(
        "both files as quarantine events",
        lambda: (e := _quarantine_events(stack)).keys() >= {"export.txt", "empty.csv"} and e,
        timeout=60,
    )
    assert "not a .csv file" in events["export.txt"]["reason"] and events["export.txt"]["source_task_id"] == "record_rejections"
    assert "empty" in events["empty.csv"]["reason"]
    assert "export.txt [ingest]: 'export.txt' is not a .csv file" in _run_note(stack, events["export.txt"])
    runs = wait_for(
        "the ingest run(s) to end",
        lambda: (
            (new := [r for r in stack.runs("ingest") if r["dag_run_id"] not in failed_before])
            and all(r["state"] in ("success", "failed") for r in new)
            and new
        ),
    )
    # Red, whichever way the two files were grouped into runs. A run takes every claimed file:
    # when the second file's event makes a run after the first run took both, that run finds
    # nothing new: it skips, green, with no rejection to record and no raw event.
    red = {"ingest_claimed_files": "failed", "record_rejections": "success", "fail_the_run": "failed"}
    nothing_left = {"ingest_claimed_files": "skipped", "record_rejections": "skipped", "fail_the_run": "skipped"}
    outcomes = []
    for run in runs:
        states = {
            t["task_id"]: t["state"]
            for t in stack.api.get(f"/api/v2/dags/ingest/dagRuns/{run['dag_run_id']}/taskInstances")["task_instances"]
        }
        outcomes.append((run["state"], states))
    assert ("failed", red) in outcomes, outcomes
    assert all(o in (("failed", red), ("success", nothing_left)) for o in outcomes), outcomes
    assert stack.inbox_is_empty()
    time.sleep(3)
    assert {d: stack.successes(d) for d in DAGS[1:]} == {d: before[d] for d in DAGS[1:]}


def test_a_changed_model_setting_trains_a_new_version_and_make_retrain_forces_one(stack):
    versions = stack.store.registry.versions()
    before = stack.run_ids()
    stack.api.post("/api/v2/dags/train/dagRuns", {"logical_date": None})  # unchanged: nothing to train
    skipped = wait_for(
        "the manual train run",
        lambda: [
            r for r in stack.runs("train") if r["dag_run_id"] not in before["train"] and r["state"] in ("success", "failed")
        ],
    )
    assert stack.store.registry.versions() == versions
    assert skipped[0]["state"] == "success"  # skipped task: nothing new, nothing downstream

    stack.config.write_text(stack.config.read_text().replace("n_estimators = 100", "n_estimators = 40"))
    before = stack.run_ids()
    stack.api.post("/api/v2/dags/train/dagRuns", {"logical_date": None})
    stack.wait_chain(before, dags=["train", "evaluate", "deploy"])
    new = stack.store.registry.versions()[-1]
    assert new not in versions and stack.store.registry.card(new)["params"]["n_estimators"] == 40

    before = stack.run_ids()
    done = subprocess.run(
        ["make", "-s", "retrain", "WHY=new sklearn"], cwd=REPO_ROOT, env=stack.env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "Triggered train run" in done.stdout, done.stdout + done.stderr
    stack.wait_chain(before, dags=["train", "evaluate", "deploy"])
    forced = stack.store.registry.versions()[-1]
    assert forced > new and stack.store.registry.card(forced)["retrained_on_request"]


def test_a_promoted_model_goes_live_while_clients_keep_sending(stack):
    """A new champion is swapped in under load: no request fails, none is answered by a
    version other than the old or the new one, and the new one answers once deploy ran."""
    old = wait_for("a served version", stack.served_version, timeout=60)
    columns = list(iris_sample(1, seed=1).columns.drop("target"))
    body = {"dataframe_split": {"columns": columns, "data": [[5.1, 3.5, 1.4, 0.2], [6.5, 3.0, 5.5, 2.0]]}}
    answers: list[tuple[int, str]] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=stack.serve_url, timeout=30) as http:
            while not stop.is_set():
                r = http.post("/invocations", json=body)
                answers.append((r.status_code, r.headers.get("X-Model-Version", "")))
                time.sleep(0.05)

    # Any challenger is promoted from here on, so the retrain surely makes a new champion.
    original = stack.config.read_text()
    stack.config.write_text(original.replace("tolerance = 0.0", "tolerance = 1.0"))
    sender = threading.Thread(target=client)
    sender.start()
    try:
        before = stack.run_ids()
        stack.api.post("/api/v2/dags/train/dagRuns", {"logical_date": None, "conf": {"retrain": True}})
        stack.wait_chain(before, dags=["train", "evaluate", "deploy"])
        new = stack.read_json("models/champion.json")["version"]
        assert new != old
        wait_for("the new champion to answer", lambda: answers and answers[-1][1] == new, timeout=30)
    finally:
        stop.set()
        sender.join(timeout=30)
        stack.config.write_text(original)
    assert {status for status, _ in answers} == {200}
    assert {version for _, version in answers} == {old, new}
    deployed = stack.api.asset_events(source_dag_id="deploy")[0]["extra"]
    assert deployed["version"] == new and deployed["previous"] == old


def test_the_airflow_home_is_private_and_outputs_are_readable_by_the_group(stack):
    import os
    import stat

    def mode(path) -> int:
        return stat.S_IMODE(os.stat(path).st_mode)

    assert mode(stack.home) == 0o700
    for name in ("airflow.db", "secrets.json", "simple_auth_manager_passwords.json.generated"):
        assert mode(stack.home / name) == 0o600, name
    if stack.store.backend.can_rename:  # modes exist on the local folder only
        version = stack.read_json("models/champion.json")["version"]
        for key in ("metrics/latest/report.html", f"models/{version}/model.joblib", "models/champion.json"):
            assert mode(stack.store.backend.path(key)) == 0o640, key
        assert mode(stack.store.backend.path("models")) == 0o750


def test_make_retract_takes_a_batch_out_and_the_chain_rebuilds_without_it(stack):
    before = stack.run_ids()
    champion = stack.read_json("models/champion.json")["version"]
    batch_id = next(k.split("/")[1] for k in everything(stack.store) if k.endswith("/team_batch_1.csv"))
    features_before = stack.api.asset_events(asset_id=stack.api.asset_id("features"))[0]["extra"]
    refused = subprocess.run(
        ["make", "-s", "retract", "BATCH=b-0000000000000000", "WHY=typo"],
        cwd=REPO_ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0 and "Error: no batch" in refused.stderr and "Traceback" not in refused.stderr
    done = subprocess.run(
        ["make", "-s", "retract", f"BATCH={batch_id}", "WHY=exported from the wrong sheet"],
        cwd=REPO_ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    stack.wait_chain(before, dags=DAGS[1:])
    raw = next(e for e in stack.api.asset_events() if e["extra"].get("retracted") == batch_id)
    assert raw["extra"]["why"] == "exported from the wrong sheet" and raw["extra"]["from_rest_api"]
    features = stack.api.asset_events(asset_id=stack.api.asset_id("features"))[0]["extra"]
    assert features["total_batches"] == features_before["total_batches"] - 1
    metrics = stack.api.asset_events(source_dag_id="evaluate")[0]["extra"]
    assert metrics["decision"] == "promoted" and f"champion {champion} was trained on retracted batch" in metrics["reason"]
    assert stack.read_json("models/champion.json")["version"] == metrics["version"] != champion
    assert stack.store.batches.retraction(batch_id)["why"] == "exported from the wrong sheet"


def test_columns_in_another_order_pass_and_the_same_rows_reencoded_are_a_duplicate(stack):
    rows = iris_sample(30, seed=950)
    before = stack.run_ids()
    stack.drop("reordered.csv", rows[rows.columns[::-1]].to_csv(index=False))
    stack.wait_chain(before)
    (batch,) = [m for m in stack.store.batches.validated() if m["source_file"] == "reordered.csv"]
    # The same rows as a spreadsheet saves them: BOM, CRLF, every field quoted.
    stack.drop("reordered-from-excel.csv", "\ufeff" + rows.to_csv(index=False, quoting=1, lineterminator="\r\n"))
    event = wait_for(
        "the re-encoded copy to be quarantined", lambda: _quarantine_events(stack).get("reordered-from-excel.csv"), timeout=120
    )
    assert event["reason"].startswith(f"duplicate: the same rows were already ingested as batch {batch['batch_id']}")


def test_a_scoring_drop_produces_predictions_and_an_event(stack):
    rows = iris_sample(25, seed=202).drop(columns="target")
    stack.drop("to_score.csv", rows.to_csv(index=False), to_score=True)
    predictions = stack.api.asset_id("predictions")
    event = wait_for("a predictions event", lambda: stack.api.asset_events(asset_id=predictions), timeout=120)[0]["extra"]
    assert event["files"] == ["to_score.csv"] and event["rows"] == 25

    # Checked for drift against the champion's training rows: 25 rows are too few to flag anything.
    def drift_events() -> list[dict]:  # the drift asset exists once its alias posted the first event
        drift = next(
            (a["id"] for a in stack.api.get("/api/v2/assets?name_pattern=drift")["assets"] if a["name"] == "drift"), None
        )
        return drift is not None and stack.api.asset_events(asset_id=drift)

    checked = wait_for("a drift event", drift_events, timeout=60)[0]["extra"]
    assert checked["source"] == "to_score.csv" and checked["drifted"] == [] and not checked["dataset_drift"]
    assert {s["status"] for s in checked["scores"].values()} == {"too few rows"}
    (job,) = event["jobs"]
    scored = pd.read_csv(io.BytesIO(stack.store.predictions.read_output(job)))
    assert list(scored.columns) == [*rows.columns, "prediction", "probability"] and len(scored) == 25
    assert stack.store.predictions.summary(job)["model_version"] == event["model_versions"][0] == stack.served_version()
    assert stack.inbox_is_empty()


def test_a_bad_scoring_file_is_quarantined_with_its_reason(stack):
    stack.drop("not_iris.csv", "a,b\n1,2\n", to_score=True)
    event = wait_for("the rejection's quarantine event", lambda: _quarantine_events(stack).get("not_iris.csv"), timeout=120)
    assert event["stage"] == "score" and "columns" in event["reason"] and event["source_dag_id"] == "score"
    assert stack.store.quarantine.reason(event["quarantine_id"])["file"] == "not_iris.csv"
    wait_for("the score run to fail visibly", lambda: [r for r in stack.runs("score") if r["state"] == "failed"], timeout=60)
    assert stack.inbox_is_empty()


def test_the_commands_find_the_running_stack_on_its_port(stack):
    """No AIRFLOW_PORT given: `pipeline status` reads the address the launcher recorded."""
    env = {k: v for k, v in stack.env.items() if k not in ("AIRFLOW_PORT", "PIPELINE_DATA_URL")}
    wait_for("a champion to report", lambda: stack.store.registry.champion())

    def status() -> dict:
        done = subprocess.run(
            [str(REPO_ROOT / ".venv/bin/pipeline"), "status", "--json"], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        return json.loads(done.stdout)

    reported = wait_for("status to see Airflow running", lambda: (s := status())["airflow"]["running"] and s, timeout=60)
    assert reported["airflow"]["url"] == f"http://127.0.0.1:{stack.port}" and reported["data"] == stack.store.url
    assert reported["champion"]["version"] == stack.read_json("models/champion.json")["version"]
    done = subprocess.run(["make", "-s", "status"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert f"http://127.0.0.1:{stack.port}" in done.stdout and "not running" not in done.stdout and "Last runs" in done.stdout


def test_a_second_launcher_on_the_same_home_is_refused_with_the_running_ones_address(stack):
    env = {**stack.env, "AIRFLOW_PORT": "1"}  # never reached: the refusal comes first
    done = subprocess.run([str(REPO_ROOT / ".venv/bin/pipeline"), "run"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"launcher PID {stack.launcher_pid()}, http://127.0.0.1:{stack.port}" in done.stderr


def test_a_second_stack_on_the_same_data_root_is_refused_with_the_running_ones_address(stack, tmp_path):
    env = {**stack.env, "AIRFLOW_HOME": str(tmp_path / "another-home"), "AIRFLOW_PORT": "1"}
    done = subprocess.run([str(REPO_ROOT / ".venv/bin/pipeline"), "run"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"a stack already runs on the data root {stack.data_url}: launcher PID {stack.launcher_pid()}" in done.stderr
    assert stack.api.healthy()  # the running one is untouched


def test_ctrl_c_stops_every_process_it_started(stack):
    stack.remember_processes()
    assert len(stack.seen) >= 5, stack.seen  # launcher, four components, their workers
    took = stack.stop(timeout=60)
    assert stack.make.returncode is not None, f"make run still running {took:.0f} s after Ctrl-C"
    wait_for("every process to exit", lambda: not stack.alive(), timeout=10, every=0.2)
    assert port_is_free(stack.port)  # nothing listens on it any more
    # Every component exited on its own: none was SIGKILLed (how long it took: benchmarks/stop.py).
    said = re.search(r"Stopped in [0-9.]+ s(.*)", stack.log_tail())
    assert said and "killed" not in said.group(1), stack.log_tail()
