"""The architecture, enforced: Airflow only at the edge, stages independent, the store owns paths."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

TASKS = REPO_ROOT / "tasks"
STAGES = sorted(p for p in (TASKS / "stages").glob("*.py") if p.name != "__init__.py")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_the_rule_sees_an_airflow_import(tmp_path):
    """The check below must be able to fail: it finds imports anywhere in a module."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from airflow.sdk import Asset\n")
    assert "airflow.sdk" in imported_modules(module)


def test_the_import_contracts_hold_and_can_fail(tmp_path):
    """pyproject.toml's import contracts (`lint-imports`; `make lint` runs it too): Airflow only
    at the edge, the store knows no stage, stages are independent, no import cycle. They hold on
    the package, and a copy of it with one offending module breaks them."""
    lint_imports = str(Path(sys.executable).parent / "lint-imports")
    kept = subprocess.run([lint_imports, "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert kept.returncode == 0, kept.stdout[-3000:]
    copy = tmp_path / "repo"
    shutil.copytree(TASKS, copy / "tasks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", copy)
    (copy / "tasks" / "store" / "offender.py").write_text(
        "def f():\n    from airflow.sdk import Asset\n    from tasks.stages import ingest\n"
    )
    (copy / "tasks" / "stages" / "ingest.py").write_text("from tasks.stages import train\n")
    (copy / "tasks" / "config.py").write_text("from tasks.store import open_store\n")
    env = {**os.environ, "PYTHONPATH": str(copy)}
    broken = subprocess.run([lint_imports, "--no-cache"], cwd=copy, capture_output=True, text=True, env=env)
    assert broken.returncode != 0 and "Contracts: 0 kept, 4 broken." in broken.stdout, broken.stdout[-3000:]


@pytest.mark.parametrize("module", STAGES, ids=lambda p: p.stem)
def test_stages_name_no_storage_folder(module):
    """Paths belong to the store: a stage never builds a key like "raw/..." itself."""
    text = module.read_text()
    for folder in ("inbox/", "claimed/", "raw/", "archive/", "quarantine/", "features/", "models/", "metrics/"):
        assert f'"{folder}' not in text and f"'{folder}" not in text and f'f"{folder}' not in text


@pytest.mark.parametrize("command", [["tasks.cli", "quarantine"], ["tasks.cli", "predict", "--help"], ["tasks.cli", "--help"]])
def test_the_command_line_tools_run_without_loading_airflow(command, tmp_path):
    code = (
        "import runpy, sys\n"
        f"sys.argv = {command!r}\n"
        "try:\n"
        f"    runpy.run_module({command[0]!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('AIRFLOW_LOADED=' + str(any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules)))\n"
    )
    env = {**os.environ, "PIPELINE_DATA_URL": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "AIRFLOW_LOADED=False" in done.stdout, done.stdout


def test_every_command_is_listed_by_pipeline_help():
    done = subprocess.run([sys.executable, "-m", "tasks.cli", "--help"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for command in ("run", "status", "upload", "quarantine", "predict", "retract", "release", "retrain"):
        assert f"  {command} " in done.stdout, command


def test_no_script_is_used_as_a_library():
    """Code lives in the package: no Python under scripts/, no sys.path surgery outside the tests' conftest."""
    assert not list((REPO_ROOT / "scripts").glob("*.py"))
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.split()
    surgery = "sys.path." + "insert("  # split, so this line is not an offender itself
    offenders = [p for p in tracked if p != "tests/conftest.py" and surgery in (REPO_ROOT / p).read_text()]
    assert offenders == [], offenders


@pytest.mark.parametrize("module", sorted(TASKS.rglob("*.py")), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_the_logic_package_knows_no_data_set_by_name(module):
    """Column names and classes come from the [dataset] table: iris is an example, not code."""
    text = module.read_text().lower()
    assert not [word for word in ("iris", "setosa", "sepal", "petal", "species") if word in text]


@pytest.mark.parametrize("module", sorted(TASKS.rglob("*.py")), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_the_package_carries_no_test_code(module):
    """What drives a stack from outside (tests/harness.py) and what checks it live under tests/:
    an installed package never raises AssertionError or imports a test runner."""
    names = imported_modules(module)
    assert not {m for m in names if m.split(".")[0] in ("pytest", "harness", "conftest")}
    assert "AssertionError" not in module.read_text()


def environment_writes(source: str) -> list[int]:
    """Lines of ``source`` that change the process environment (``os.environ[k] = v``,
    ``os.environ.update/setdefault/pop/clear``, ``del os.environ[k]``, ``os.putenv``)."""

    def is_environ(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    lines = []
    for node in ast.walk(ast.parse(source)):
        targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else []
        if isinstance(node, ast.AugAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Subscript) and is_environ(t.value) for t in targets):
            lines.append(node.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner, name = node.func.value, node.func.attr
            if (is_environ(owner) and name in {"update", "setdefault", "pop", "popitem", "clear"}) or name in {
                "putenv",
                "unsetenv",
            }:
                lines.append(node.lineno)
    return lines


def test_the_rule_sees_an_environment_write():
    source = "import os\nos.environ['A'] = '1'\nos.environ.setdefault('B', '2')\nos.putenv('C', '3')\nos.environ.get('D')\n"
    assert environment_writes(source) == [2, 3, 4]


def test_no_module_of_the_package_writes_the_environment():
    """Settings are read once at the edge and passed down; the launcher builds its children's
    environments as dicts. A write would change what every later reader in the process sees."""
    writes = {str(m.relative_to(REPO_ROOT)): lines for m in TASKS.rglob("*.py") if (lines := environment_writes(m.read_text()))}
    assert writes == {}
