"""`make bench` runs every script of benchmarks/run_all.py: each must at least import (the
figures themselves are printed by `make bench`, not asserted here)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from conftest import REPO_ROOT
from run_all import HARNESS_ENV, SCRIPTS  # benchmarks/ is on the path (conftest)

BENCHMARKS = REPO_ROOT / "benchmarks"


@pytest.mark.parametrize("script", sorted({s for s, *_ in SCRIPTS}))
def test_every_benchmark_make_bench_runs_imports(script):
    module = script.removesuffix(".py")
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], cwd=BENCHMARKS, env=HARNESS_ENV, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_a_claim_id_gives_the_claim_time():
    from tasks.store.inbox import claimed_at, new_claim_id

    assert claimed_at("20261124T182105.501-8de721d9") == pytest.approx(1795544465.501)
    assert claimed_at(new_claim_id()) == pytest.approx(time.time(), abs=2)


def test_the_readme_figures_are_written_from_the_saved_json(tmp_path):
    from report import END, START, write

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "latency.json").write_text(
        '{"date": "2026-11-25T10:00:00", "machine": "box: 2 cores", "p50_s": {"local": 2.2712}, "runs": 20}'
    )
    readme = tmp_path / "README.md"
    readme.write_text(f"# Performance\n\n{START}\nold figures\n{END}\n\nanalysis stays\n")
    write(readme, tmp_path / "results")
    text = readme.read_text()
    assert "old figures" not in text and text.endswith("analysis stays\n")
    assert "2026-11-25T10:00:00 on box: 2 cores" in text and "| p50_s local | 2.27 |" in text and "| runs | 20 |" in text
