"""End to end: S3 goes away mid-chain and comes back; the pipeline resumes by itself.

The stack (``make run`` on a bucket of the real moto server) reaches S3 only through a TCP
proxy the test cuts (moto keeps its data in memory, so the server itself stays up): the
runs that hit the outage fail, saying "storage unreachable", and are retried; once S3 answers
again the watcher finds the work they left behind and the chain finishes, with no new drop
and no restart. Then every dropped file is in exactly one place and nothing stays claimed.
"""

from __future__ import annotations

import time

import pytest
from conftest import iris_sample

from tasks.stack.harness import DAGS, LaunchedStack, TcpProxy, wait_for

pytestmark = pytest.mark.e2e


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

            def healed() -> bool:
                validated = any(m["source_file"] == "during-outage.csv" for m in stack.store.batches.validated())
                return (
                    validated and len(stack.store.registry.versions()) > models_before and not stack.store.registry.unevaluated()
                )

            wait_for("the chain to resume by itself and train on the batch", healed, timeout=240)
            assert not stack.store.inbox.pending() and stack.store.stalled_work(older_than_s=0) == {}
            archived = [k for k in stack.store.backend.walk_files("archive") if k.endswith("/during-outage.csv")]
            quarantined = [k for k in stack.store.backend.walk_files("quarantine") if k.endswith("/during-outage.csv")]
            assert len(archived) == 1 and quarantined == [], (archived, quarantined)
            assert outage > 0
            terminal = stack.log.read_text(errors="replace")  # what `make run` printed meanwhile
            assert f"storage unreachable: {data_url} at {proxy.url}" in terminal and "storage is back" in terminal
    finally:
        proxy.cut()
