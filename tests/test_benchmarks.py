"""`make bench` runs every script of benchmarks/run_all.py: each must at least import (the
figures themselves are printed by `make bench`, not asserted here)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO_ROOT

BENCHMARKS = REPO_ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from run_all import SCRIPTS  # noqa: E402


@pytest.mark.parametrize("script", sorted({s for s, *_ in SCRIPTS}))
def test_every_benchmark_make_bench_runs_imports(script):
    module = script.removesuffix(".py")
    done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=BENCHMARKS, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def test_a_claim_id_gives_the_claim_time():
    from common import claim_time

    assert claim_time("20261124T182105.501-8de721d9") == pytest.approx(1795544465.501)
