"""Drift: the cost of one check (tasks.ml.drift.check) of a big batch against a reference, and
what the scoring server's request capture adds to a served request.

    PYTHONPATH=tests python benchmarks/drift.py [ROWS]      (default 1000000; median of 5)

The reference is made from 50,000 iris-like training rows (as train does, from its bounded
sample); the checked rows are iris-like too, with their predictions' column.

Capture: the iris champion (a random forest of 100 trees, built by the pipeline's stages) in
the server's own ``ScoringServer.score`` (the request's work without HTTP, where the capture
runs), one-row requests, 3,000 alternating pairs with the capture on and off (a window that
drops what it is given); p50 of each and their difference. Then the checker's cost for one
window of 1,000 rows (off the request path, in a thread, once per window).
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
from common import iris_like, save

from tasks.config import REPO_ROOT, Monitoring, load_config
from tasks.ml.drift import check, make_reference


def capture_figures() -> dict:
    import json
    import tempfile
    from pathlib import Path

    from serving import champion_store

    from tasks.serving.request_window import RequestWindow
    from tasks.serving.scoring_server import ScoringServer

    class NoCapture(RequestWindow):
        def add(self, version, frame, predictions) -> None:
            pass

    store, config = champion_store(Path(tempfile.mkdtemp(prefix="bench-capture-")))
    columns = list(config.dataset.features)
    body = json.dumps({"dataframe_split": {"columns": columns, "data": iris_like(1, seed=5)[columns].values.tolist()}}).encode()
    on, off = ScoringServer(store, config.dataset), ScoringServer(store, config.dataset)
    import asyncio

    for server in (on, off):
        asyncio.run(server.reload())
    off.window = NoCapture(10**9, 10**9)
    on.window = RequestWindow(10**9, 10**9)  # never closes here: the request path alone
    with_capture, without = [], []
    for _ in range(3000):
        for server, out in ((on, with_capture), (off, without)):
            started = time.perf_counter()
            server.score(body, "application/json")
            out.append((time.perf_counter() - started) * 1000)
    one_row, prediction = iris_like(1, seed=8), np.array([0])
    adds = RequestWindow(10**9, 10**9)
    add_times = []
    for _ in range(10_000):
        started = time.perf_counter()
        adds.add("v", one_row, prediction)
        add_times.append((time.perf_counter() - started) * 1000)
    window = RequestWindow(1000, 3600)
    batch = iris_like(1000, seed=7)
    for start in range(0, 1000, 10):
        window.add(on.live.model.version, batch.iloc[start : start + 10], batch["target"].to_numpy()[start : start + 10])
    (closed,) = window.take()
    checks = []
    for _ in range(5):
        started = time.perf_counter()
        on._check_window(closed)
        checks.append((time.perf_counter() - started) * 1000)
    figures = {
        "request p50 ms, capture off": round(statistics.median(without), 4),
        "request p50 ms, capture on": round(statistics.median(with_capture), 4),
        "capture adds p50 ms": round(statistics.median(with_capture) - statistics.median(without), 4),
        "RequestWindow.add alone p50 ms": round(statistics.median(add_times), 5),
        "window check of 1,000 rows (100 requests), median ms": round(statistics.median(checks), 1),
    }
    for k, v in figures.items():
        print(f"{k}: {v}")
    return figures


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    dataset = load_config(REPO_ROOT / "pipeline.toml").dataset
    training = iris_like(50_000, seed=1)
    reference = make_reference(training[list(dataset.features)], training["target"], dataset, training["target"].to_numpy())
    batch = iris_like(rows, seed=2)
    predictions = batch["target"].to_numpy()
    times = []
    for _ in range(5):
        started = time.perf_counter()
        found = check(reference, batch, Monitoring(), predictions=predictions)
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    print(
        f"check of {rows:,} rows, {len(dataset.features)} features: median {median:.3f} s (runs {np.round(times, 3).tolist()}); drifted {found['drifted']}"
    )
    save("drift", {"rows": rows, "check_p50_s": median, "capture": capture_figures()})


if __name__ == "__main__":
    main()
