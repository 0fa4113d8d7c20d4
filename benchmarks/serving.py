"""The scoring server and scoring by drop.

python benchmarks/serving.py            # server figures, then drop -> predictions through `make run`
python benchmarks/serving.py --server   # server figures only (about a minute)

Server (``pipeline serve`` as its own process, the iris champion: a random forest of 100 trees,
predicting in one thread), against the bare ``model.predict_proba`` on the same rows in one process:
- one-row request: p50/p99 over 500 sequential requests (one keep-alive connection), and requests/s
  with 8 concurrent clients for 10 s (clients and server share the 2 cores);
- 1,000-row request: p50 over 50;
- hot swap under 20 requests/s: 3 swaps between two models that answer differently (a request
  answered by a mix of the two, or failing, is counted);
Drop -> ``predictions`` event (the real stack): a 1,000-row and a 10^6-row file dropped in the
scoring inbox, the time until the score run's event, and the stack's peak PSS meanwhile.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import httpx
from common import REPO_ROOT, MemorySampler, iris_like, med, pct, running_stack, save, ts, write_csv
from harness import constant_champion, scoring_server, seed_features, train_champion, wait_for

from tasks.config import load_config
from tasks.ml.modeling import feature_frame
from tasks.ml.scoring import load_champion
from tasks.store import open_store


def champion_store(root: Path):
    """A data root with the iris champion, built by the pipeline's own stages."""
    store, config = open_store(str(root / "data")), load_config(REPO_ROOT / "pipeline.toml")
    seed_features(store, config)
    train_champion(store, config)
    return store, config


def timed(call, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def server_figures() -> dict:
    root = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    store, config = champion_store(root)
    columns = list(config.dataset.features)
    one = iris_like(1, seed=5)
    thousand = iris_like(1000, seed=6)
    bare = load_champion(store, single_threaded=True).model
    one_x, thousand_x = feature_frame(one, config.dataset), feature_frame(thousand, config.dataset)

    with scoring_server(store.url, root) as url:
        port = int(url.rsplit(":", 1)[1])
        body_one = {"dataframe_split": {"columns": columns, "data": one[columns].values.tolist()}}
        body_thousand = {"dataframe_split": {"columns": columns, "data": thousand[columns].values.tolist()}}
        # Bare call and request alternate, so both meet the same caches and clock speed.
        bare_one, served_one = side_by_side(port, body_one, lambda: bare.predict_proba(one_x), 500)
        bare_thousand, served_thousand = side_by_side(port, body_thousand, lambda: bare.predict_proba(thousand_x), 50)
        throughput = concurrent_rate(url, body_one, clients=8, seconds=10)
        swaps = hot_swaps(url, store, config, body_one)
    return {
        "one_row_ms": {
            "bare predict_proba p50": round(med(bare_one), 2),
            "server p50": round(med(served_one), 2),
            "server p99": round(pct(served_one, 99), 2),
            "server overhead p50": round(med(served_one) - med(bare_one), 2),
        },
        "one_row_requests_per_s_8_clients": throughput,
        "thousand_rows_ms": {
            "bare predict_proba p50": round(med(bare_thousand), 2),
            "server p50": round(med(served_thousand), 2),
            "server / bare": round(med(served_thousand) / med(bare_thousand), 2),
        },
        "hot_swap_at_20_rps": swaps,
    }


def side_by_side(port: int, body: dict, bare, repeat: int) -> tuple[list[float], list[float]]:
    """Milliseconds of ``bare()`` and of one request (a lean keep-alive client: ``http.client``), alternating."""
    import http.client
    import json

    payload = json.dumps(body)
    connection = http.client.HTTPConnection("127.0.0.1", port)

    def request() -> None:
        connection.request("POST", "/invocations", body=payload, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status

    for _ in range(20):  # warm up both
        bare()
        request()
    bare_ms, served_ms = [], []
    for _ in range(repeat):
        bare_ms += timed(bare, 1)
        served_ms += timed(request, 1)
    connection.close()
    return bare_ms, served_ms


def concurrent_rate(url: str, body: dict, clients: int, seconds: float) -> float:
    done, errors = [0] * clients, [0]
    stop = threading.Event()

    def client(i: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            while not stop.is_set():
                if http.post("/invocations", json=body).status_code == 200:
                    done[i] += 1
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    assert errors[0] == 0, f"{errors[0]} failed requests"
    return round(sum(done) / seconds, 1)


def hot_swaps(url: str, store, config, body: dict) -> dict:
    """20 requests/s for the whole run; three swaps between two constant models (answers 1, 2)."""
    answers: list[tuple[int, str, list]] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            while not stop.is_set():
                started = time.monotonic()
                r = http.post(
                    "/invocations",
                    json={"dataframe_split": {**body["dataframe_split"], "data": body["dataframe_split"]["data"] * 5}},
                )
                answers.append(
                    (
                        r.status_code,
                        r.headers.get("X-Model-Version", ""),
                        [p["prediction"] for p in r.json().get("predictions", [])],
                    )
                )
                time.sleep(max(0.0, 0.05 - (time.monotonic() - started)))

    sender = threading.Thread(target=client)
    sender.start()
    expected, swap_ms = {}, []
    try:
        for answer in (1, 2, 1):
            time.sleep(2)
            version = constant_champion(store, config.dataset, answer)
            expected[version] = answer
            started = time.perf_counter()
            assert httpx.post(f"{url}/reload", timeout=60).json()["model_version"] == version
            swap_ms.append((time.perf_counter() - started) * 1000)
        time.sleep(2)
    finally:
        stop.set()
        sender.join()
    failed = sum(status != 200 for status, _, _ in answers)
    mixed = sum(
        1 for status, version, rows in answers if status == 200 and version in expected and set(rows) != {expected[version]}
    )
    return {"requests": len(answers), "failed": failed, "mixed_or_wrong_model": mixed, "reload_ms_median": round(med(swap_ms), 1)}


def drop_figures() -> dict:
    figures = {}
    with running_stack("local") as bench:
        stack = bench.stack
        wait_for("the seed's champion to be live", lambda: stack.served_version() is not None, timeout=600)
        for rows in (1000, 1_000_000):
            with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
                local = Path(tmp) / f"score-{rows}.csv"
                write_csv(iris_like(rows, seed=7).drop(columns="target"), local)
                predictions = stack.api.asset_id("predictions")
                seen = len(stack.api.asset_events(asset_id=predictions))
                with MemorySampler(stack.launcher_pid()) as memory:
                    dropped = time.time()
                    stack.store.scoring_inbox.put_file(local.name, local)
                    events = wait_for(
                        "the predictions event",
                        lambda seen=seen, asset=predictions: (
                            (e := stack.api.asset_events(asset_id=asset)) and len(e) > seen and e
                        ),
                        timeout=900,
                    )
            figures[f"{rows} rows"] = {
                "drop_to_event_s": round(ts(events[0]["timestamp"]) - dropped, 2),
                "stack_peak_pss_mib": round(memory.peak_pss / 2**20),
                "score_task_peak_rss_mib": round(max(memory.task_rss.values(), default=0) / 2**20),
            }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", action="store_true", help="only the server's figures")
    args = parser.parse_args()
    figures = {"server": server_figures()}
    print("Scoring server (iris random forest, 100 trees, one thread):")
    for group, values in figures["server"].items():
        print(f"  {group}: {values}")
    if not args.server:
        figures["drop_to_predictions"] = drop_figures()
        print("Scoring by drop (make run, local data):")
        for size, values in figures["drop_to_predictions"].items():
            print(f"  {size}: {values}")
    save("serving", figures)


if __name__ == "__main__":
    main()
