"""Parse time: what the dag-processor pays to import each DAG file, and the whole DagBag.

Each DAG file is timed in a fresh process that has already imported Airflow (as the
dag-processor has), so the figure is the file itself plus the project modules it pulls in.

    python benchmarks/parse_time.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from common import REPO_ROOT, med, save

PROBE = """
import importlib.util, json, sys, time
import airflow.sdk, airflow.sdk.definitions.asset, airflow.triggers.base  # the dag-processor has these
from airflow.sdk import dag, task, Asset, AssetWatcher, AssetOrTimeSchedule, CronTriggerTimetable
before = set(sys.modules)
t = time.perf_counter()
spec = importlib.util.spec_from_file_location("dagfile", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
took = time.perf_counter() - t
new = sorted({m.split(".")[0] for m in set(sys.modules) - before})
print(json.dumps({"seconds": took, "new_packages": new}))
"""

DAGBAG = """
import time
t = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
t1 = time.perf_counter()
bag = DagBag(dag_folder=__import__("sys").argv[1])
t2 = time.perf_counter()
assert not bag.import_errors, bag.import_errors
print(__import__("json").dumps({"import_airflow": t1 - t, "fill_dagbag": t2 - t1, "dags": len(bag.dags)}))
"""


def main() -> None:
    env = {**os.environ, "AIRFLOW_HOME": tempfile.mkdtemp(prefix="bench-parse-"), "PIPELINE_DATA_URL": tempfile.mkdtemp()}
    results = {}
    for dag_file in sorted((REPO_ROOT / "dags").glob("*.py")):
        runs = []
        for _ in range(7):
            out = subprocess.run(
                [sys.executable, "-c", PROBE, str(dag_file)], env=env, capture_output=True, text=True, check=True
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        results[dag_file.name] = {"ms": med([r["seconds"] for r in runs]) * 1000, "new_packages": runs[-1]["new_packages"]}
    bag_runs = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", DAGBAG, str(REPO_ROOT / "dags")], env=env, capture_output=True, text=True, check=True
        )
        bag_runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("Import time per DAG file, Airflow already imported (median of 7 fresh processes):")
    for name, r in results.items():
        print(f"  {name:15s} {r['ms']:6.1f} ms   pulls in: {', '.join(r['new_packages'])}")
    print(
        f"Whole DagBag (4 files): {med([b['fill_dagbag'] for b in bag_runs]) * 1000:.0f} ms "
        f"(plus {med([b['import_airflow'] for b in bag_runs]):.2f} s to import Airflow's DagBag in a cold process)"
    )
    save("parse_time", {"per_file": results, "dagbag": bag_runs})


if __name__ == "__main__":
    main()
