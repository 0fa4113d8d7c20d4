"""Alerts: a bad drop -> its message received by a webhook, and whether alerts cost the chain
anything (drop -> evaluate success with an [alerts] table against without one).

    PYTHONPATH=tests python benchmarks/alerts.py [N]      (N drops of each kind; default 8)

The receiver is a real HTTP server in this process (tests/alert_receivers.py). ``group_s = 0``
here, so each quarantine is its own message and the figure is the delivery path alone; with the
default window (60 s) the first event of a kind goes out just as fast and later ones in the
window wait for it to close.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from alert_receivers import WebhookReceiver
from common import DAGS, drop, iris_like, med, pct, run_ids, running_stack, save, stage_times, trigger_event_time, wait_chain
from conftest import iris_config_text

TOTAL = "total (drop -> evaluate success)"


def parameters(webhook: str | None) -> Path:
    """The iris parameters file, with an [alerts] table sending every level to ``webhook``."""
    text = iris_config_text()
    if webhook:
        text += f'\n[alerts]\nwebhook = "{webhook}"\ngroup_s = 0\nlevels = ["error", "warning", "info"]\n'
    path = Path(tempfile.mkdtemp(prefix="bench-alerts-")) / "pipeline.toml"
    path.write_text(text)
    return path


def chain_totals(bench, n: int, offset: int) -> list[float]:
    """``n`` good drops, one at a time: drop -> evaluate success of each."""
    stack, store = bench.stack, bench.store
    totals = []
    for i in range(n):
        before = run_ids(stack)
        name = f"good_{offset + i:02d}.csv"
        drop_at = drop(store, name, iris_like(150, seed=offset + i))
        runs = wait_chain(stack, before)
        totals.append(stage_times(drop_at, runs, trigger_event_time(stack, name))[TOTAL])
        print(f"  {name}: drop -> evaluate success {totals[-1]:.2f} s", flush=True)
        time.sleep(1)
    return totals


def alert_delays(bench, hook: WebhookReceiver, n: int) -> list[float]:
    """``n`` bad drops, one at a time: drop -> the webhook has the message naming the file."""
    delays = []
    for i in range(n):
        name = f"bad_{i:02d}.csv"
        frame = iris_like(30, seed=500 + i).drop(columns=["petal width (cm)"])
        drop_at = drop(bench.store, name, frame)
        deadline = time.monotonic() + 180
        while not any(name in b.get("files", []) for b in hook.bodies):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no alert for {name} within 180 s")
            time.sleep(0.05)
        delays.append(time.time() - drop_at)
        print(f"  {name}: drop -> webhook message {delays[-1]:.2f} s", flush=True)
        time.sleep(1)
    return delays


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    print(f"Without [alerts]: {n} good drops", flush=True)
    with running_stack(env={"PIPELINE_CONFIG": str(parameters(None))}) as bench:
        wait_chain(bench.stack, {d: set() for d in DAGS})
        off = chain_totals(bench, n, 0)
    with WebhookReceiver() as hook:
        print(f"With [alerts] (webhook, group_s 0, every level): {n} good drops, then {n} bad ones", flush=True)
        with running_stack(env={"PIPELINE_CONFIG": str(parameters(hook.url))}) as bench:
            wait_chain(bench.stack, {d: set() for d in DAGS})
            on = chain_totals(bench, n, 0)
            delays = alert_delays(bench, hook, n)
    print(f"\nDrop -> evaluate success, median of {n}: alerts off {med(off):.2f} s, on {med(on):.2f} s")
    print(f"Bad drop -> webhook message received: p50 {pct(delays, 50):.2f} s, p95 {pct(delays, 95):.2f} s")
    save(
        "alerts",
        {
            "drops": n,
            "chain_alerts_off_p50_s": med(off),
            "chain_alerts_on_p50_s": med(on),
            "chain_on_minus_off_s": med(on) - med(off),
            "drop_to_alert_p50_s": pct(delays, 50),
            "drop_to_alert_p95_s": pct(delays, 95),
        },
    )


if __name__ == "__main__":
    main()
