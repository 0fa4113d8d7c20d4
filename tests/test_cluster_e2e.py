"""End to end, cluster profile: `make cluster` starts PostgreSQL, Redis, an S3 + SQS server, and
Airflow with CeleryExecutor and two Celery workers; the same DAG files run on it, driven only
by files uploaded to the bucket's ``inbox/``.

One cluster for the module, on free ports, in a temp home; the scenarios build on each other.
A worker is killed with SIGKILL mid-chain, and the chain must finish on the other. The last test
presses Ctrl-C and checks that every process (servers included) is gone and every port free.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from conftest import iris_sample
from harness import DAGS, LaunchedStack, wait_for

from tasks.stack.services import free_port, port_is_free

pytestmark = pytest.mark.e2e
AWS_KEYS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
HEARTBEAT_TIMEOUT_S = 20  # how soon the scheduler gives up on a task whose worker vanished


@pytest.fixture(scope="module")
def cluster():
    # PostgreSQL runs as the postgres user, which must be able to reach the home: not under
    # pytest's private (0700) temp folder.
    root = Path(tempfile.mkdtemp(prefix="cluster-e2e-", dir="/tmp"))
    root.chmod(0o711)
    ports = {name: free_port() for name in ("postgres", "redis", "s3")}
    saved = {k: os.environ.get(k) for k in AWS_KEYS}
    # This process reads the cluster's bucket too (moto takes any credentials).
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{ports['s3']}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    env = {
        "PIPELINE_DATA_URL": "",  # the cluster puts the data on its own S3 server
        **{f"PIPELINE_{name.upper()}_PORT": str(port) for name, port in ports.items()},
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S),
    }
    try:
        with LaunchedStack(root, "s3://pipeline/data", target="cluster", env=env).started(timeout=360) as running:
            running.ports = ports
            yield running
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(root, ignore_errors=True)


def _processes(stack: LaunchedStack) -> list[str]:
    out = []
    for p in psutil.Process(stack.make.pid).children(recursive=True):
        try:
            out.append(" ".join(p.cmdline()))
        except (psutil.NoSuchProcess, psutil.ZombieProcess):  # exited meanwhile
            continue
    return out


def _worker_log(stack: LaunchedStack, n: int) -> str:
    return (stack.home / "logs" / "components" / f"worker-{n}.log").read_text(errors="replace")


def _workloads(log: str) -> list[str]:
    """The DAG ids of the task workloads a Celery worker executed, in order."""
    return re.findall(r"Executing workload in Celery: .*?dag_id='(\w+)'", log)


def test_the_cluster_runs_every_server_and_two_celery_workers(cluster):
    procs = _processes(cluster)
    (cluster.root / "processes.txt").write_text("\n".join(procs))
    for needle in (
        "postgres -D",
        "redis-server",
        "moto_server",
        "worker-1@",
        "worker-2@",
        "scheduler --skip-serve-logs",
        "dag-processor",
        "triggerer --skip-serve-logs",
        "tasks.cli serve --port",
    ):
        assert any(needle in p for p in procs), (needle, procs)
    assert cluster.api.healthy()  # api-server, metadata DB, scheduler, triggerer, dag-processor
    wait_for("the launcher's banner", lambda: "make upload FILE=" in cluster.log_tail(), timeout=30)
    assert "Starting api-server, scheduler, dag-processor, triggerer, scoring-server, worker-1, worker-2" in cluster.log_tail()
    env_file = cluster.home / "cluster.env"
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert values["PIPELINE_DATA_URL"] == "s3://pipeline/data"
    assert values["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{cluster.ports['s3']}" and values["PIPELINE_INBOX_QUEUE"]
    assert (
        oct(env_file.stat().st_mode & 0o777) == "0o600" and oct((cluster.home / "secrets.json").stat().st_mode & 0o777) == "0o600"
    )
    assert "aws s3 cp" in cluster.log_tail()


def test_the_seed_chain_runs_on_celery_with_the_data_on_s3(cluster):
    cluster.wait_chain({d: set() for d in DAGS})
    executed = _workloads(_worker_log(cluster, 1) + _worker_log(cluster, 2))
    assert set(DAGS) <= set(executed), executed
    assert cluster.read_json("models/champion.json")["version"] == "v0001"
    assert cluster.store.reports.metrics()["decision"] == "promoted"
    # The scoring server runs in the cluster too, with the champion it read from S3.
    wait_for("the champion to be served", lambda: cluster.served_version() == "v0001", timeout=60)
    assert cluster.store.deployments.live()["version"] == "v0001"


def test_a_scoring_upload_is_scored_on_the_cluster(cluster):
    cluster.drop("cluster_to_score.csv", iris_sample(30, seed=203).drop(columns="target").to_csv(index=False), to_score=True)
    predictions = cluster.api.asset_id("predictions")  # (the score task also posts a drift check)
    event = wait_for("a predictions event", lambda: cluster.api.asset_events(asset_id=predictions), timeout=120)[0]["extra"]
    assert event["files"] == ["cluster_to_score.csv"] and event["rows"] == 30
    (job,) = event["jobs"]
    assert cluster.store.predictions.summary(job)["model_version"] == "v0001"
    assert cluster.inbox_is_empty()


def test_an_upload_is_announced_by_sqs_and_runs_the_chain(cluster):
    before = cluster.run_ids()
    csv = iris_sample(40, seed=201).to_csv(index=False)
    cluster.drop("cluster_batch_1.csv", csv)
    cluster.wait_chain(before)
    # Exactly one ingest event names the upload. The SQS notification and the listing safety net
    # may each start an ingest run; the later one, finding the batch not validated yet, rings
    # 'raw' for it with no new file, so the upload's event is not always the newest.
    (raw,) = [
        e["extra"] for e in cluster.api.asset_events(source_dag_id="ingest") if "cluster_batch_1.csv" in e["extra"]["files"]
    ]
    assert raw["files"] == ["cluster_batch_1.csv"] and raw["rows_added"] == 40
    (batch_id,) = raw["batches"]
    assert cluster.store.backend.read_bytes(f"archive/{batch_id}/cluster_batch_1.csv").decode() == csv
    notified = [e for e in cluster.api.asset_events() if "message_batch" in e["extra"].get("payload", {})]
    assert any("cluster_batch_1.csv" in str(e["extra"]["payload"]) for e in notified)  # the SQS notification
    model = cluster.api.asset_events(source_dag_id="train")[0]["extra"]
    assert model["version"] == "v0002" and cluster.api.asset_events(source_dag_id="evaluate")[0]["extra"]["version"] == "v0002"
    assert cluster.inbox_is_empty()


def test_a_bad_upload_is_quarantined_on_s3_and_nothing_downstream_runs(cluster):
    before = {d: cluster.successes(d) for d in DAGS}
    bad = iris_sample(30, seed=202)
    bad.loc[[0, 1], "target"] = 9
    cluster.drop("cluster_bad.csv", bad.to_csv(index=False))
    wait_for("preprocess to fail", lambda: [r for r in cluster.runs("preprocess") if r["state"] == "failed"])
    (entry,) = cluster.store.quarantine.entries()
    assert entry["file"] == "cluster_bad.csv" and "'target' has 2 value(s) not in [0, 1, 2]" in entry["reason"]
    assert cluster.store.backend.exists(f"quarantine/{entry['id']}/original/cluster_bad.csv")
    assert {d: cluster.successes(d) for d in DAGS[2:]} == {d: before[d] for d in DAGS[2:]}


def test_a_worker_killed_mid_chain_leaves_the_chain_to_the_other(cluster):
    before = cluster.run_ids()
    done_before = {n: len(_workloads(_worker_log(cluster, n))) for n in (1, 2)}
    cluster.drop("cluster_batch_2.csv", iris_sample(40, seed=203).to_csv(index=False))
    wait_for("ingest to succeed", lambda: cluster.api.new_successful_run("ingest", before["ingest"]))
    worker = cluster.group_leader("worker-1@")  # the worker, not its pool
    os.killpg(worker.pid, signal.SIGKILL)  # the worker and its pool: as if its machine died
    killed_at = time.monotonic()
    wait_for("worker-1 to be gone", lambda: not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE, timeout=10)
    cluster.wait_chain(before, dags=DAGS[1:])
    assert cluster.make.poll() is None, "losing one worker must not stop the cluster"
    assert len(_workloads(_worker_log(cluster, 2))) > done_before[2]
    assert "worker-1" in cluster.log_tail() and "carry on" in cluster.log_tail()
    assert time.monotonic() - killed_at < 240


def test_ctrl_c_stops_every_process_and_frees_every_port(cluster):
    cluster.remember_processes()
    took = cluster.stop(timeout=90)
    assert cluster.make.returncode is not None, f"make cluster still running {took:.0f} s after Ctrl-C"
    wait_for("every process to exit", lambda: not cluster.alive(), timeout=15, every=0.2)
    for name, port in {"airflow": cluster.port, **cluster.ports}.items():
        assert port_is_free(port), f"{name} still listens on {port}"
    assert not (cluster.home / "cluster.env").exists()  # its endpoint is gone
