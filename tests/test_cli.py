"""make quarantine: newest first, and quiet when its reader stops early (| head)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO_ROOT

from tasks.store import open_store


def _quarantine(tmp_path, count: int) -> str:
    url = str(tmp_path / "data")
    store = open_store(url)
    for i in range(count):
        store.quarantine.commit(f"q-{i:04d}", file=f"file-{i:04d}.csv", stage="ingest", reason="the file is empty (0 bytes)")
    return url


def _listing(url: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tasks.cli", "quarantine"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PIPELINE_DATA_URL": url},
    )


def test_the_newest_rejection_comes_first(tmp_path):
    out, err = _listing(_quarantine(tmp_path, 3)).communicate(timeout=60)
    files = [line.split()[1] for line in out.decode().splitlines() if not line.startswith(" ")]
    assert files == ["file-0002.csv", "file-0001.csv", "file-0000.csv"] and not err


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    listing = _listing(_quarantine(tmp_path, 1500))  # far more than a pipe holds
    first = listing.stdout.readline()
    listing.stdout.close()  # what `| head -1` does
    _, err = listing.communicate(timeout=60)
    assert first.startswith(b"20") and listing.returncode == 0 and b"Traceback" not in err, err.decode()[-500:]


def test_the_commands_read_the_running_stacks_data_and_s3_without_touching_the_environment(s3_server, tmp_path, monkeypatch):
    """A cluster's launcher records its bucket and S3 endpoint in its home; the commands reach
    them from there (yours win where you set them), and the process environment is left as it was."""
    from tasks.cli import Target
    from tasks.stack.env import RunningStack

    data_url = f"s3://{s3_server.new_bucket()}/data"
    open_store(data_url).quarantine.commit("q-0001", file="seen.csv", stage="ingest", reason="the file is empty (0 bytes)")
    home = tmp_path / "home"
    home.mkdir()
    RunningStack(
        pid=os.getpid(),
        url="http://127.0.0.1:1",
        serve_url="",
        profile="cluster",
        data_url=data_url,
        config_file="",
        env=s3_server.env,
    ).write(home)
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    for key in ("PIPELINE_DATA_URL", *s3_server.env):
        monkeypatch.delenv(key, raising=False)
    before = dict(os.environ)
    target = Target.find()
    assert [e["file"] for e in target.store().quarantine.entries()] == ["seen.csv"]
    assert target.store().url == data_url and dict(os.environ) == before
    monkeypatch.setenv("PIPELINE_DATA_URL", str(tmp_path / "mine"))
    assert Target.find().store().url == str(tmp_path / "mine")  # data you name wins


def _cli(url: str, home, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PIPELINE_DATA_URL": url, "AIRFLOW_HOME": str(home), "AIRFLOW_PORT": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tasks.cli", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_answering_what_is_not_waiting_says_why_without_asking_airflow(tmp_path):
    """Airflow is not even running (port 1): these answers come from the store alone."""
    url, home = str(tmp_path / "data"), tmp_path / "home"
    store = open_store(url)
    store.approvals.request("v0001", {"requested_at": "t0", "metric": "f1_macro", "score": 0.9, "champion": None, "reason": "r"})
    store.approvals.decide("v0001", {"decision": "approved", "how": "answered", "by": "ann", "at": "t1"})
    store.approvals.request(
        "v0002",
        {"requested_at": "t2", "metric": "f1_macro", "score": 0.9, "champion": "v0001", "champion_score": 0.9, "reason": "r"},
    )
    twice = _cli(url, home, "reject", "v0001")
    assert twice.returncode == 1 and "already decided: v0001 approved by ann (answered) at t1" in twice.stderr
    never = _cli(url, home, "approve", "v0009")
    assert never.returncode == 1 and "v0009 was never held for approval" in never.stderr
    early = _cli(url, home, "approve", "v0002")
    assert early.returncode == 1 and "not asked in Airflow yet" in early.stderr
    listed = _cli(url, home, "approvals", "--json")
    assert [e["version"] for e in json.loads(listed.stdout)] == ["v0002"]
    assert "pipeline approve v0002" in _cli(url, home, "approvals").stdout
