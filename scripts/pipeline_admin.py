"""Undo steps, applied through the running pipeline: ``make retract`` and ``make release``.

    python scripts/pipeline_admin.py retract BATCH_ID --why "..."     take a batch out of the data
    python scripts/pipeline_admin.py release QUARANTINE_ID --why "..." let a quarantined batch in

The change is recorded next to the batch (who, when, why); then a ``raw`` asset event carrying
the same record is posted through Airflow's REST API, so preprocess, train and evaluate
rebuild from the cleaned data. Needs the stack (`make run` or `make cluster`) to be up.
Imports no Airflow: the store, and HTTP.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from airflow_stack import ApiClient  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pipeline_admin.py")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, target, what in (("retract", "batch_id", "the batch to take out (b-...)"),
                               ("release", "quarantine_id", "the quarantine entry to let in")):
        command = commands.add_parser(name)
        command.add_argument(target, help=what)
        command.add_argument("--why", required=True, help="kept next to the batch and on the asset event")
    args = parser.parse_args(argv)

    from tasks.stages.undo import release_quarantined, retract_batch
    from tasks.store import open_store

    home = Path(os.environ.get("AIRFLOW_HOME", REPO_ROOT / ".airflow")).resolve()
    api = ApiClient(f"http://127.0.0.1:{os.environ.get('AIRFLOW_PORT', '8080')}", home)
    if not api.healthy():
        print(f"error: Airflow is not running at {api.base_url}: start `make run` (or `make cluster`) first, "
              "so the pipeline can rebuild the features and the model", file=sys.stderr)
        return 2
    store = open_store()
    try:
        if args.command == "retract":
            result = retract_batch(store, args.batch_id, args.why)
        else:
            result = release_quarantined(store, args.quarantine_id, args.why)
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    api.post("/api/v2/assets/events", {"asset_id": api.asset_id("raw"), "extra": result.event_extra()})
    for line in result.log_lines():
        print(line)
    print("Posted a 'raw' event: preprocess, train and evaluate now rebuild (see the Assets page).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
