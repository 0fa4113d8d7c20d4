"""One ``dag.test()`` run per DAG, in chain order, on a fresh AIRFLOW_HOME and data folder.

``dag.test()`` runs the tasks in-process with no scheduler (so it never starts the
downstream DAG itself): each DAG is run in turn and must succeed on the files the
previous one wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

pytestmark = pytest.mark.airflow

SCRIPT = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
states = {}
for dag_id in ["ingest", "preprocess", "train", "evaluate"]:
    run = bag.dags[dag_id].test()
    states[dag_id] = {"run": str(run.state), "tasks": {ti.task_id: str(ti.state) for ti in run.get_task_instances()}}
# Nothing new in the inbox: the task skips, so no 'raw' event (no pointless retraining).
from airflow.models.asset import AssetEvent
from airflow.utils.session import create_session
def raw_events():
    with create_session() as session:
        return sum(1 for e in session.query(AssetEvent).all() if e.asset.name == "raw")
before = raw_events()
run = bag.dags["ingest"].test()
states["ingest_again"] = {"run": str(run.state), "tasks": {ti.task_id: str(ti.state) for ti in run.get_task_instances()},
                          "raw_events_before": before, "raw_events_after": raw_events()}
print("STATES=" + json.dumps(states))
"""


@pytest.fixture(scope="module")
def chain_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("dagtest")
    env = {**os.environ, "AIRFLOW_HOME": str(root / "airflow"), "PIPELINE_DATA_URL": str(root / "data")}
    airflow = str(REPO_ROOT / ".venv" / "bin" / "airflow") if (REPO_ROOT / ".venv").exists() else "airflow"
    migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(REPO_ROOT / "dags")], env=env, capture_output=True, text=True, timeout=600
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("STATES=")]
    assert done.returncode == 0 and lines, done.stdout[-5000:] + done.stderr[-5000:]
    return json.loads(lines[-1][len("STATES=") :]), root / "data"


@pytest.mark.parametrize("dag_id", ["ingest", "preprocess", "train", "evaluate"])
def test_dag_test_run_succeeds(chain_run, dag_id):
    states, _ = chain_run
    assert states[dag_id]["run"] == "success", states[dag_id]
    # The rejection tasks run only when the stage before them failed on bad input; the
    # approval tasks only when [deploy] approval = "always" (not in the default parameters).
    rejection_tasks = {"record_rejections", "fail_the_run", "ask_for_approval", "promote_approved"}
    assert {t: s for t, s in states[dag_id]["tasks"].items() if t not in rejection_tasks} == {
        t: "success" for t in states[dag_id]["tasks"] if t not in rejection_tasks
    }, states[dag_id]
    assert {s for t, s in states[dag_id]["tasks"].items() if t in rejection_tasks} <= {"skipped"}, states[dag_id]


def test_the_chain_of_test_runs_leaves_a_champion_and_its_report(chain_run):
    _, data = chain_run
    assert len([p for p in (data / "raw").iterdir() if p.is_dir()]) == 1  # the iris seed
    assert json.loads((data / "models" / "champion.json").read_text())["version"] == "v0001"
    metrics = json.loads((data / "metrics" / "latest" / "metrics.json").read_text())
    assert metrics["decision"] == "promoted" and metrics["challenger"]["accuracy"] > 0.85


def test_an_ingest_run_with_nothing_new_skips_and_emits_no_raw_event(chain_run):
    states, _ = chain_run
    again = states["ingest_again"]
    assert again["tasks"]["ingest_claimed_files"] == "skipped"
    assert again["raw_events_before"] == 1 and again["raw_events_after"] == 1
