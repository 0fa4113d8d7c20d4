"""A storage failure is a storage failure: named in one line (task log, Pipeline page, command
line), never a rejection or a traceback; and storage that would break "exactly once" is refused.

The S3 server is the real moto server; outages and a server that ignores conditional creates
are played by a real TCP proxy in front of it (``TcpProxy``): cut, it refuses connections;
with ``strip``, the server never sees the ``If-None-Match`` header.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import time

import pytest
from conftest import REPO_ROOT
from harness import TcpProxy, fill, small_tmpfs

from tasks.store.backend import ObjectBackend, StoragePromiseBroken, StorageUnavailable, open_backend, storage_cause


@pytest.fixture
def proxied_bucket(s3_server, monkeypatch):
    """A bucket reached through a proxy the test can cut: (data url, proxy)."""
    bucket = s3_server.new_bucket()
    proxy = TcpProxy(int(s3_server.env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]))
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    yield f"s3://{bucket}/data", proxy
    proxy.cut()


def test_both_backends_refuse_a_second_conditional_create(store):
    store.backend.check_exclusive_create()  # raises if not
    assert not [k for k in store.backend.walk_files("") if k.startswith(".probes/")]  # the probe is gone


def test_a_server_that_ignores_if_none_match_is_refused_naming_it(s3_server, monkeypatch):
    proxy = TcpProxy(int(s3_server.env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]), strip=b"If-None-Match: *\r\n")
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        backend = ObjectBackend(f"s3://{s3_server.new_bucket()}/data")
        with pytest.raises(StoragePromiseBroken) as refused:
            backend.check_exclusive_create()
        assert proxy.url in str(refused.value) and "'Compatible servers'" in str(refused.value)
    finally:
        proxy.cut()


@pytest.mark.e2e
def test_make_run_refuses_such_a_server_before_starting_airflow(s3_server, tmp_path):
    from tasks.stack.services import free_port

    proxy = TcpProxy(int(s3_server.env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]), strip=b"If-None-Match: *\r\n")
    try:
        env = {k: v for k, v in os.environ.items() if k != "PIPELINE_CONFIG"}
        env |= {
            **s3_server.env,
            "AWS_ENDPOINT_URL": proxy.url,
            "PIPELINE_DATA_URL": f"s3://{s3_server.new_bucket()}/data",
            "AIRFLOW_HOME": str(tmp_path / "home"),
            "AIRFLOW_PORT": str(free_port()),
        }
        done = subprocess.run(["make", "run"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode != 0
        assert "does not refuse a conditional create of an existing key" in done.stderr and proxy.url in done.stderr
        assert "Preparing the metadata DB" not in done.stdout  # refused before Airflow
    finally:
        proxy.cut()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
        (PermissionError(errno.EACCES, "Permission denied"), "Permission denied"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "Connection refused"),
        (ValueError("bad data"), None),
        (FileNotFoundError(errno.ENOENT, "No such file"), None),
    ],
)
def test_storage_errors_are_told_from_everything_else(error, expected):
    try:
        try:
            raise error
        except Exception as inner:
            raise RuntimeError("a stage failed") from inner
    except RuntimeError as outer:
        assert storage_cause(outer) == expected


def test_an_airflow_api_failure_is_not_called_a_storage_failure():
    import urllib.error

    try:
        try:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        except OSError as refused:
            raise urllib.error.URLError(refused) from None
    except urllib.error.URLError as exc:
        assert storage_cause(exc) is None


def test_the_backend_raises_storage_unavailable_where_the_storage_fails(proxied_bucket):
    """Every primitive, reads and writes alike, names the storage and the cause in the one
    type the edges catch; a missing key stays a FileNotFoundError."""
    data_url, proxy = proxied_bucket
    backend = open_backend(data_url)
    backend.write_bytes("kept.txt", b"kept")
    with pytest.raises(FileNotFoundError):
        backend.read_bytes("missing.txt")
    proxy.cut()
    said = rf"^storage unreachable: {re.escape(data_url)} at {re.escape(proxy.url)}: EndpointConnectionError"
    with pytest.raises(StorageUnavailable, match=said) as read:
        backend.read_bytes("kept.txt")
    assert storage_cause(read.value.__cause__) is not None  # the client's own error is kept as the cause
    with pytest.raises(StorageUnavailable, match=said):
        backend.write_json("new.json", {"a": 1})  # the upload happens as the writer block closes


def test_a_full_local_disk_is_storage_unavailable_not_a_bug(tmp_path):
    with small_tmpfs(tmp_path / "data", 1) as data:
        backend = open_backend(str(data))
        fill(data / ".filler")
        said = rf"^storage unreachable: {re.escape(backend.endpoint)}: No space left on device$"
        with pytest.raises(StorageUnavailable, match=said):
            backend.write_bytes("batch.parquet", b"rows" * 4096)
        assert backend.walk_files("") == [".filler"]  # nothing half-written


def test_the_command_line_says_storage_unreachable_in_one_line(proxied_bucket, tmp_path):
    data_url, proxy = proxied_bucket
    proxy.cut()
    env = {**os.environ, "PIPELINE_DATA_URL": data_url, "AIRFLOW_HOME": str(tmp_path / "home"), "AIRFLOW_PORT": "9"}
    done = subprocess.run(
        [sys.executable, "-m", "tasks.cli", "quarantine"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"Error: storage unreachable: {data_url} at {proxy.url}: EndpointConnectionError")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.airflow
def test_the_pipeline_page_says_storage_unreachable_not_500(proxied_bucket, monkeypatch):
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from tasks.orchestration import ui_plugin

    data_url, proxy = proxied_bucket
    monkeypatch.setenv("PIPELINE_DATA_URL", data_url)
    app = ui_plugin.build_app()
    app.dependency_overrides[get_user] = lambda: {"sub": "admin"}
    client = TestClient(app)
    assert client.get("/").status_code == 200
    proxy.cut()
    page = client.get("/")
    assert page.status_code == 503 and f"storage unreachable: {data_url} at {proxy.url}" in page.text
    assert page.headers["content-security-policy"]  # the security headers still apply
    status = client.get("/api/status")
    assert status.status_code == 503 and status.json()["error"].startswith("storage unreachable")
    proxy.restore()
    assert client.get("/").status_code == 200  # back by itself


@pytest.mark.airflow
def test_a_task_failing_on_storage_says_so_first_and_is_retried(proxied_bucket, monkeypatch, caplog):
    from airflow.sdk.exceptions import AirflowFailException

    from tasks import orchestration as o
    from tasks.store import open_store
    from tasks.store.backend import StorageUnavailable

    data_url, proxy = proxied_bucket
    monkeypatch.setenv("PIPELINE_DATA_URL", data_url)
    store = open_store(data_url)
    proxy.cut()
    with pytest.raises(StorageUnavailable) as failed:
        with o.storage_errors_retried():
            store.batches.committed()
    assert not isinstance(failed.value, AirflowFailException)  # a plain failure: Airflow retries it
    assert str(failed.value).startswith(f"storage unreachable: {data_url} at {proxy.url}: EndpointConnectionError")
    assert "Airflow retries this task" in str(failed.value) and failed.value.__cause__ is None
    with pytest.raises(ValueError):  # anything else passes through untouched
        with o.storage_errors_retried():
            raise ValueError("a bug")
    with pytest.raises(AirflowFailException, match="nothing was rejected"):
        o.fail_the_run(0)


def test_a_data_root_has_one_live_launcher(store):
    import json
    import socket

    from tasks.store.launcher_record import DataRootInUse

    mine = store.launcher.claim(url="http://127.0.0.1:8080", home="/h")
    assert store.launcher.claim(url="http://127.0.0.1:8080", home="/h")["pid"] == mine["pid"] == os.getpid()
    other = {**mine, "pid": 1, "url": "http://127.0.0.1:9999"}  # PID 1 is alive: another launcher
    store.backend.write_bytes("launcher.json", json.dumps(other).encode())
    with pytest.raises(DataRootInUse, match=r"launcher PID 1, http://127.0.0.1:9999"):
        store.launcher.claim(url="http://127.0.0.1:8080", home="/h")
    store.launcher.release()  # not ours: left alone
    assert store.launcher.current()["pid"] == 1
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.backend.write_bytes("launcher.json", json.dumps({**other, "pid": dead.pid, "host": socket.gethostname()}).encode())
    assert store.launcher.claim(url="http://127.0.0.1:8080", home="/h")["pid"] == os.getpid()  # a killed launcher's record
    store.launcher.release()
    assert store.launcher.current() is None


def test_of_launchers_claiming_a_data_root_together_exactly_one_wins(data_url):
    """The claim is the store's exclusive create, not a read then a write."""
    claim = (
        "import sys, time\n"
        "from tasks.store import open_store\n"
        "from tasks.store.launcher_record import DataRootInUse\n"
        "store = open_store(sys.argv[1])\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "try:\n"
        "    store.launcher.claim(url='http://127.0.0.1:1', home='/h')\n"
        "    print('won', flush=True)\n"
        "    time.sleep(3)  # alive while the others look\n"
        "except DataRootInUse:\n"
        "    print('refused')\n"
    )
    together = time.time() + 10  # every process has started and imported by then
    launchers = [
        subprocess.Popen([sys.executable, "-c", claim, data_url, str(together)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outcomes = sorted(p.communicate(timeout=120)[0].strip() for p in launchers)
    assert outcomes == ["refused", "refused", "refused", "won"]


def test_a_model_that_cannot_be_stored_leaves_no_folder_and_the_next_takes_its_number(tmp_path, config):
    from harness import seed_features

    from tasks.stages.train import train
    from tasks.store import open_store

    with small_tmpfs(tmp_path / "data", 16) as data:
        store = open_store(str(data))
        seed_features(store, config)
        filler = data / ".filler"
        fill(filler)
        with pytest.raises(StorageUnavailable, match="No space left on device"):
            train(store, config)
        assert store.registry.versions() == [] and store.backend.children("models") == []  # nothing reserved stays
        filler.unlink()
        assert train(store, config).card["version"] == "v0001"


def _events_within(trigger, seconds: float) -> list:
    """What ``trigger`` fires within ``seconds``, as the triggerer would run it."""
    import asyncio

    async def listen() -> list:
        events, stream = [], trigger.run()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        try:
            while (left := deadline - loop.time()) > 0:
                try:
                    events.append(await asyncio.wait_for(anext(stream), timeout=left))
                except TimeoutError:
                    break
        finally:
            await stream.aclose()
        return events

    return asyncio.run(listen())


def test_the_resume_watcher_waits_for_space_then_rings_once_for_a_feature_set_not_trained_on(tmp_path, config):
    """A train run failed past its last retry on a full disk: its feature set waits. The watcher
    does not ring while the disk is full (train would fail again), rings once space is back,
    and a restarted watcher does not ring again for the same work."""
    from harness import seed_features

    from tasks.orchestration.resume_trigger import LeftBehindTrigger
    from tasks.stages.train import train
    from tasks.store import open_store

    with small_tmpfs(tmp_path / "data", 16) as data:
        store = open_store(str(data))
        seed_features(store, config)
        fingerprint = store.features.current()["fingerprint"]
        watcher = LeftBehindTrigger(str(data), "untrained_features", check_s=0.05, after_s=0)
        filler = data / ".filler"
        fill(filler)
        assert _events_within(watcher, 0.5) == []  # storage full: no ring
        filler.unlink()
        (event,) = _events_within(watcher, 0.5)
        assert event.payload == {"resumed": "untrained_features", "left_behind": [fingerprint]}
        restarted = LeftBehindTrigger(*watcher.serialize()[1].values())
        assert _events_within(restarted, 0.5) == []  # rung once: a stage failing again is not rung again
        train(store, config)
        assert store.left_behind("untrained_features", 0) == []
