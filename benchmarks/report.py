"""Write the figures of the last `make bench` into benchmarks/README.md, from the JSON each
benchmark saved under benchmarks/results/ (never copied by hand): one table per benchmark,
with the date and machine it ran on. Run by run_all.py at the end; or alone:

    .venv/bin/python benchmarks/report.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"
START, END = "<!-- figures:start (benchmarks/report.py writes this part) -->", "<!-- figures:end -->"


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested figures as (dotted key, value) rows; lists of numbers stay one cell."""
    if isinstance(value, dict):
        return [row for key, inner in value.items() for row in flatten(inner, f"{prefix}{key} " if prefix else f"{key} ")]
    return [(prefix.strip(), value)]


def cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, list) and (len(value) > 6 or any(isinstance(v, dict | list) for v in value)):
        return f"{len(value)} values"
    return str(value).replace("|", "\\|")


def section(result: Path) -> str:
    figures = json.loads(result.read_text())
    when, machine = figures.pop("date", "?"), figures.pop("machine", "?")
    rows = "\n".join(f"| {key} | {cell(value)} |" for key, value in flatten(figures))
    return f"### {result.stem}\n\n{when} on {machine}\n\n| figure | value |\n| --- | --- |\n{rows}\n"


def render(results: Path = RESULTS) -> str:
    found = sorted(results.glob("*.json")) if results.is_dir() else []
    if not found:
        return "No figures yet: run `make bench`."
    return "\n".join(section(r) for r in found)


def write(readme: Path = README, results: Path = RESULTS) -> None:
    text = readme.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    readme.write_text(f"{head}{START}\n{render(results)}\n{END}{tail}")


if __name__ == "__main__":
    write()
    print(f"figures written to {README}")
