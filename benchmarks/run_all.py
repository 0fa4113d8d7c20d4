"""`make bench`: every benchmark in turn; each prints its figures (JSON copies in benchmarks/results/).
About 45 minutes on the project's 2-core machine (history.py fills 10^7 rows of history)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The benchmarks drive stacks through the end-to-end tests' harness (tests/harness.py).
HARNESS_ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent / "tests"), os.environ.get("PYTHONPATH")])),
}
# Issue 12's figures first: the seed-DAG comparison, the hand-off profile, idle cost, history.
SCRIPTS = [
    ["seed_vs_chain.py"],
    ["handoffs.py"],
    ["memory.py"],
    ["history.py"],
    ["parse_time.py"],
    ["validation_time.py"],
    ["latency.py"],
    ["latency.py", "--backend", "s3"],
    ["latency.py", "--backend", "cluster"],
    ["memory.py", "--backend", "cluster"],
    ["scale.py"],
    ["burst.py"],
    ["stop.py"],
    ["serving.py"],
    ["alerts.py"],
    ["regression_scale.py"],
    ["drift.py"],
]

if __name__ == "__main__":
    failed = []
    for script, *args in SCRIPTS:
        print(f"\n=== {' '.join([script, *args])} ===", flush=True)
        if subprocess.run([sys.executable, str(HERE / script), *args], cwd=HERE, env=HARNESS_ENV).returncode != 0:
            failed.append(script)
    subprocess.run([sys.executable, str(HERE / "report.py")], cwd=HERE)  # the README's figures, from the JSON
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")
