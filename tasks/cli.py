"""Command-line views of the store, for people who live in a shell. Imports no Airflow.

    python -m tasks.cli quarantine        what was rejected, and why     (make quarantine)
    python -m tasks.cli upload FILE...    drop files into the inbox       (make upload FILE=...)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tasks.store import open_store
from tasks.ui.text import one_line


def show_quarantine() -> int:
    """Newest first: what went wrong last is what a person is looking for."""
    store = open_store()
    items = store.quarantine.entries()[::-1]
    if not items:
        print(f"Nothing quarantined in {store.quarantine.uri}")
    for item in items:
        print(f"{item['quarantined_at']}  {one_line(item['file'])}  [{item['stage']}]  quarantine/{item['id']}\n"
              f"    {one_line(item['reason'])}")
    return 0


def upload(files: list[Path]) -> int:
    store = open_store()
    for path in files:
        store.inbox.put(path.name, path.read_bytes())
        print(f"{path} -> {store.inbox.uri}/{path.name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("quarantine", help="list rejected files and batches with their reasons")
    up = commands.add_parser("upload", help="drop files into the inbox (any backend)")
    up.add_argument("files", type=Path, nargs="+")
    args = parser.parse_args(argv)
    try:
        if args.command == "quarantine":
            return show_quarantine()
        return upload(args.files)
    except BrokenPipeError:  # `make quarantine | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
