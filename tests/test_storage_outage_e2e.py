"""End to end: storage fails mid-chain and comes back; the pipeline resumes by itself.

S3 goes away:
The stack (``make run`` on a bucket of the real moto server) reaches S3 only through a TCP
proxy the test cuts (moto keeps its data in memory, so the server itself stays up): the
runs that hit the outage fail, saying "storage unreachable", and are retried; once S3 answers
again the watcher finds the work they left behind and the chain finishes, with no new drop
and no restart. Then every dropped file is in exactly one place and nothing stays claimed.

A local disk fills up: the data root is a small tmpfs the test fills; the drop's ingest fails
saying "No space left on device" (a storage failure, never a rejection: nothing is
quarantined), `make run` says the storage is full, and once space is freed the drop is
ingested and trained on with no new drop. Then, on the same stack, the disk fills while a
model trains: every try of train fails, and once space is freed a model from the waiting
batches is evaluated within a minute, with no reserved version left without its model.
"""

from __future__ import annotations

import os
import time

import pytest
from conftest import iris_config_text, iris_sample
from harness import DAGS, LaunchedStack, TcpProxy, fill, small_tmpfs, wait_for

pytestmark = pytest.mark.e2e


def _healed(stack: LaunchedStack, dropped: str, models_before: int) -> bool:
    """The chain finished on its own: the drop validated, a new version trained and evaluated,
    the champion live (deploy follows evaluate: checking before it raced on a fresh clone) and
    no claim left open."""
    validated = any(m["source_file"] == dropped for m in stack.store.batches.validated())
    trained = len(stack.store.registry.versions()) > models_before and not stack.store.registry.unevaluated()
    live = (stack.store.deployments.live() or {}).get("version")
    finished = not stack.store.inbox.pending()  # ingest, rung on its own, finished its claim
    return validated and trained and live == stack.store.registry.champion()["version"] and finished


def test_an_s3_outage_mid_chain_heals_with_no_new_drop(s3_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("outage")
    proxy = TcpProxy(int(s3_server.env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]))
    data_url = f"s3://{s3_server.new_bucket()}/data"
    stack = LaunchedStack(root, data_url, env={"AWS_ENDPOINT_URL": proxy.url})  # the test itself reads S3 directly
    try:
        with stack.started():
            stack.wait_chain({d: set() for d in DAGS})  # the seed's chain: a first champion
            models_before = len(stack.store.registry.versions())
            before = stack.run_ids()
            stack.drop("during-outage.csv", iris_sample(40, seed=900).to_csv(index=False))
            wait_for(
                "the drop to be ingested",
                lambda: any(m["source_file"] == "during-outage.csv" for m in stack.store.batches.committed()),
                timeout=120,
                every=0.1,
            )
            proxy.cut()
            cut_at = time.monotonic()

            def a_run_failed_on_storage() -> bool:
                return any(
                    r["state"] == "failed" and r["dag_run_id"] not in before[d]
                    for d in ("ingest", "preprocess")
                    for r in stack.runs(d)
                )

            wait_for("a run to fail while S3 is unreachable (after its retries)", a_run_failed_on_storage, timeout=240)
            assert stack.store.batches.pending_validation() or stack.store.inbox.pending()  # work left behind
            proxy.restore()
            outage = time.monotonic() - cut_at

            wait_for(
                "the chain to resume by itself, train on the batch and deploy the champion",
                lambda: _healed(stack, "during-outage.csv", models_before),
                timeout=240,
            )
            assert not stack.store.inbox.pending() and stack.store.stalled_work(older_than_s=0) == {}
            archived = [k for k in stack.store.backend.walk_files("archive") if k.endswith("/during-outage.csv")]
            quarantined = [k for k in stack.store.backend.walk_files("quarantine") if k.endswith("/during-outage.csv")]
            assert len(archived) == 1 and quarantined == [], (archived, quarantined)
            assert outage > 0
            # What `make run` printed meanwhile; it checks every 10 s, so "back" may come after the heal.
            wait_for("make run to say the storage is back", lambda: "storage is back" in stack.log_tail(), timeout=30)
            assert f"storage unreachable: {data_url} at {proxy.url}" in stack.log.read_text(errors="replace")
    finally:
        proxy.cut()


def test_a_full_disk_fails_as_storage_and_heals_once_space_is_freed(tmp_path_factory):
    root = tmp_path_factory.mktemp("disk-full")
    config = root / "pipeline.toml"  # the stack's own copy: the second part slows training (read at each task)
    config.write_text(iris_config_text())
    with small_tmpfs(root / "data", 128) as data:
        stack = LaunchedStack(root, str(data), env={"PIPELINE_CONFIG": str(config)})
        with stack.started():
            stack.wait_chain({d: set() for d in DAGS})  # the seed's chain: a first champion
            models_before = len(stack.store.registry.versions())
            content = iris_sample(40, seed=901).to_csv(index=False)
            staged = data / ".staging.csv"  # on the same file system: moving it in needs no space
            staged.write_text(content)
            filler = data / ".filler"
            fill(filler)
            before = stack.run_ids()
            os.replace(staged, data / "inbox" / "on-a-full-disk.csv")

            def ingest_failed() -> list[dict]:
                return [r for r in stack.runs("ingest") if r["state"] == "failed" and r["dag_run_id"] not in before["ingest"]]

            (failed, *_) = wait_for("ingest to fail on the full disk (after its retries)", ingest_failed, timeout=240)
            assert [c.name for c in stack.store.inbox.pending()] == ["on-a-full-disk.csv"]  # kept, still claimed
            assert not any(e["file"] == "on-a-full-disk.csv" for e in stack.store.quarantine.entries())
            task = f"/api/v2/dags/ingest/dagRuns/{failed['dag_run_id']}/taskInstances/ingest_claimed_files"
            tries = stack.api.get(task)["try_number"]
            log = str(stack.api.get(f"{task}/logs/{tries}"))
            assert "No space left on device. Not a data problem, nothing was rejected" in log
            wait_for("make run to say the storage is full", lambda: f"storage full: {data}" in stack.log_tail(), timeout=30)

            filler.unlink()

            wait_for(
                "the chain to resume by itself once space is free, train on the batch and deploy the champion",
                lambda: _healed(stack, "on-a-full-disk.csv", models_before),
                timeout=240,
            )
            archived = [k for k in stack.store.backend.walk_files("archive") if k.endswith("/on-a-full-disk.csv")]
            assert len(archived) == 1 and stack.store.backend.read_bytes(f"archive/{archived[0]}").decode() == content
            assert not stack.store.inbox.pending() and stack.store.stalled_work(older_than_s=0) == {}
            assert not [p for p in data.rglob("*") if p.name.endswith(".tmp")]  # no half-written file left
            assert not stack.store.quarantine.unfinished()
            for version in stack.store.registry.versions():  # every committed version is whole and loadable
                stack.store.registry.load(version)
            assert "storage is back" in stack.log_tail()
            _train_fails_past_its_retries_on_a_full_disk_and_resumes_once_space_is_back(stack, data, config)


def _train_fails_past_its_retries_on_a_full_disk_and_resumes_once_space_is_back(stack, data, config) -> None:
    """Ingest and preprocess succeed; the disk fills while train fits; every try fails."""
    usual = config.read_text()
    config.write_text(usual.replace("n_estimators = 100", "n_estimators = 4000"))  # long enough to fill the disk meanwhile
    models_before = len(stack.store.registry.versions())
    before = stack.run_ids()
    staged = data / ".staging.csv"  # moved in on the same file system, like the first drop
    staged.write_text(iris_sample(40, seed=902).to_csv(index=False))
    os.replace(staged, data / "inbox" / "trained-on-a-full-disk.csv")

    def train_running() -> str | None:
        for run in stack.runs("train"):
            if run["dag_run_id"] not in before["train"]:
                ti = stack.api.get(f"/api/v2/dags/train/dagRuns/{run['dag_run_id']}/taskInstances/train_model")
                if ti["state"] == "running":
                    return run["dag_run_id"]
        return None

    run_id = wait_for("train_model to be running on the new batch", train_running, timeout=180, every=0.2)
    filler = data / ".filler"
    fill(filler)
    config.write_text(usual)  # the retries fit fast, and fail storing the model
    task = f"/api/v2/dags/train/dagRuns/{run_id}/taskInstances/train_model"
    wait_for("every try of train to fail on the full disk", lambda: stack.api.get(task)["state"] == "failed", timeout=240)
    tries = stack.api.get(task)["try_number"]
    assert tries == 3, tries  # the first try and both retries
    assert "No space left on device. Not a data problem" in str(stack.api.get(f"{task}/logs/{tries}"))
    assert len(stack.store.registry.versions()) == models_before
    assert stack.store.registry.abandoned(older_than_s=0) == []  # each failed try removed what it reserved

    filler.unlink()
    freed = time.monotonic()

    def evaluated() -> bool:
        new = stack.store.registry.versions()[models_before:]
        return bool(new) and not stack.store.registry.unevaluated()

    wait_for("a model from the waiting batches to be evaluated, within a minute of space coming back", evaluated, timeout=60)
    print(f"space back -> new model evaluated: {time.monotonic() - freed:.1f} s")
    (new,) = stack.store.registry.versions()[models_before:]
    card = stack.store.registry.card(new)
    assert card["features"] == stack.store.features.current()["fingerprint"]  # trained on the waiting batches
    assert stack.store.registry.abandoned(older_than_s=0) == []  # no folder without its model
    assert [r["kind"] for r in stack.store.resumes.rung("untrained_features")] == ["untrained_features"]
