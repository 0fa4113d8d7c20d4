"""DAG integrity: every DAG file imports cleanly, parses light, and the asset graph is the chain."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

from tasks.config import DAG_IDS
from tasks.orchestration import DRIFTED, QUARANTINED

pytestmark = pytest.mark.airflow
DAG_FILES = sorted((REPO_ROOT / "dags").glob("*.py"))
HEAVY = ["pandas", "sklearn", "great_expectations", "matplotlib", "pyarrow", "joblib"]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO_ROOT / "dags"))


def _assets(condition):
    if hasattr(condition, "objects"):
        for obj in condition.objects:
            yield from _assets(obj)
    else:
        yield condition


def test_every_dag_file_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == sorted(DAG_IDS) == ["deploy", "evaluate", "ingest", "preprocess", "score", "train"]
    assert len(DAG_FILES) == 6  # one DAG per file


def walk(dagbag, start: str) -> list[str]:
    """From asset ``start``, follow consumers and producers; at each step there must be exactly one way on."""
    consumers: dict[str, list[str]] = {}
    producers: dict[str, list[str]] = {}
    for dag in dagbag.dags.values():
        for asset in _assets(dag.timetable.asset_condition):
            consumers.setdefault(asset.name, []).append(dag.dag_id)
        for task in dag.tasks:
            for outlet in task.outlets:
                if outlet not in (QUARANTINED, DRIFTED):  # side exits (rejections, drift checks), not links of the chain
                    producers.setdefault(dag.dag_id, set()).add(outlet.name)
    chain, node = [start], start
    while node in consumers or node in producers:
        (node,) = consumers.get(node) or producers.get(node)
        chain.append(node)
    return chain


def test_the_asset_graph_is_the_chain(dagbag):
    assert walk(dagbag, "inbox") == [
        *("inbox", "ingest", "raw", "preprocess", "features", "train", "model", "evaluate", "metrics"),
        *("deploy", "deployment"),
    ]
    assert walk(dagbag, "scoring_inbox") == ["scoring_inbox", "score", "predictions"]


def test_only_the_stages_that_reject_input_report_to_the_quarantine(dagbag):
    reporting = {
        (dag.dag_id, t.task_id, t.trigger_rule) for dag in dagbag.dags.values() for t in dag.tasks if QUARANTINED in t.outlets
    }
    assert reporting == {
        ("ingest", "ingest_claimed_files", "all_success"),
        ("ingest", "record_rejections", "one_failed"),
        ("preprocess", "validate_and_split", "all_success"),
        ("preprocess", "record_rejections", "one_failed"),
        ("score", "score_claimed_files", "all_success"),
        ("score", "record_rejections", "one_failed"),
    }


def test_dags_are_single_run_with_retries_and_ingest_also_runs_daily(dagbag):
    for dag in dagbag.dags.values():
        if dag.dag_id == "evaluate":  # runs may wait for a person; the work in them runs one at a time
            assert dag.max_active_runs > 1
            assert {t.task_id for t in dag.tasks if t.max_active_tis_per_dag != 1} == {"ask_for_approval"}
        else:
            assert dag.max_active_runs == 1
        assert not dag.catchup
        assert all(t.retries >= 1 and t.retry_exponential_backoff for t in dag.tasks)
    ingest = dagbag.dags["ingest"]
    assert type(ingest.timetable).__name__ == "AssetOrTimeSchedule"
    cron = ingest.timetable.timetable
    assert (type(cron).__name__, cron.expression, str(cron.timezone)) == ("CronTriggerTimetable", "0 0 * * *", "UTC")


def test_the_inbox_watcher_uses_the_project_trigger_on_the_configured_data(dagbag):
    (inbox,) = list(_assets(dagbag.dags["ingest"].timetable.asset_condition))
    claims, _ = inbox.watchers
    classpath, kwargs = claims.trigger.serialize()
    assert classpath == "tasks.orchestration.inbox_trigger.InboxTrigger"
    assert kwargs["data_url"] == os.environ["PIPELINE_DATA_URL"] and kwargs["inbox"] == "inbox"
    (scoring,) = list(_assets(dagbag.dags["score"].timetable.asset_condition))
    claims, _, server_checks = scoring.watchers
    assert claims.trigger.serialize()[1]["inbox"] == "scoring"
    # the scoring server's drift checks ring the score DAG at once (it posts them as drift events)
    assert server_checks.trigger.serialize()[1] | {"data_url": None} == {
        "data_url": None,
        "kind": "server_drift_checks",
        "check_s": 5.0,
        "after_s": 0,
    }


def test_every_stage_is_rung_again_for_the_work_a_failed_run_left_behind(dagbag):
    """Each DAG's input asset carries a resume watcher for what that stage takes."""
    expected = {
        "ingest": "claims",
        "preprocess": "unvalidated_batches",
        "train": "untrained_features",
        "evaluate": "unevaluated_model",
        "deploy": "undeployed_champion",
        "score": "scoring_claims",
    }
    for dag_id, kind in expected.items():
        (asset,) = list(_assets(dagbag.dags[dag_id].timetable.asset_condition))
        resumes = [w.trigger.serialize() for w in asset.watchers if w.name.startswith("resume_")]
        assert resumes == [
            (
                "tasks.orchestration.resume_trigger.LeftBehindTrigger",
                {"data_url": os.environ["PIPELINE_DATA_URL"], "kind": kind, "check_s": 15.0, "after_s": 60.0},
            )
        ], dag_id


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_files_import_nothing_heavy(dag_file):
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('dagfile', {str(dag_file)!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_rejection_tasks_wait_for_the_task_that_rejects(dagbag):
    ingest, preprocess = dagbag.dags["ingest"], dagbag.dags["preprocess"]
    assert ingest.get_task("record_rejections").upstream_task_ids == {"ingest_claimed_files"}
    assert ingest.get_task("fail_the_run").upstream_task_ids == {"record_rejections"}
    assert preprocess.get_task("record_rejections").upstream_task_ids == {"validate_and_split"}
    assert preprocess.get_task("fail_the_run").upstream_task_ids == {"record_rejections"}


def test_only_the_scoring_and_gate_tasks_report_drift_checks(dagbag):
    """The gate and the score stage check; the score DAG also posts the scoring server's checks."""
    checking = {(dag.dag_id, t.task_id) for dag in dagbag.dags.values() for t in dag.tasks if DRIFTED in t.outlets}
    assert checking == {
        ("score", "score_claimed_files"),
        ("score", "post_server_drift_checks"),
        ("preprocess", "validate_and_split"),
    }
