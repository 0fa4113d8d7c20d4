"""Steps applied through the running pipeline: ``make retract``, ``make release``, ``make retrain``.

    python scripts/pipeline_admin.py retract BATCH_ID --why "..."     take a batch out of the data
    python scripts/pipeline_admin.py release QUARANTINE_ID --why "..." let a quarantined batch in
    python scripts/pipeline_admin.py retrain [--why "..."]            train a new version now
    python scripts/pipeline_admin.py status                           the pipeline at a glance

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
    retrain = commands.add_parser("retrain", help="trigger train with {retrain: true}; evaluate follows")
    retrain.add_argument("--why", default="", help="kept in the run's conf")
    commands.add_parser("status", help="champion, last runs, inbox, claimed and quarantine counts, next daily run")
    args = parser.parse_args(argv)

    from tasks.stages.undo import release_quarantined, retract_batch
    from tasks.store import open_store

    home = Path(os.environ.get("AIRFLOW_HOME", REPO_ROOT / ".airflow")).resolve()
    api = ApiClient(f"http://127.0.0.1:{os.environ.get('AIRFLOW_PORT', '8080')}", home)
    if args.command == "status":
        print_status(open_store(), api)
        return 0
    if not api.healthy():
        print(f"error: Airflow is not running at {api.base_url}: start `make run` (or `make cluster`) first, "
              "so the pipeline can rebuild the features and the model", file=sys.stderr)
        return 2
    if args.command == "retrain":
        run = api.post("/api/v2/dags/train/dagRuns", {"logical_date": None, "conf": {"retrain": True, "why": args.why},
                                                      "note": f"make retrain: {args.why}" if args.why else "make retrain"})
        print(f"Triggered train run {run['dag_run_id']}: a new version is trained, then evaluated (see the Dags page).")
        return 0
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


def print_status(store, api: ApiClient) -> None:
    """What `make status` prints: the store's view, then Airflow's (when it is running)."""
    from tasks.ui.overview import overview
    from tasks.ui.text import one_line

    state = overview(store)
    champion, inbox = state["champion"], state["inbox"]
    last = inbox["last_ingest"]
    print(f"Data:       {state['data']}")
    print(f"Champion:   {champion['version'] + ' (promoted ' + champion.get('promoted_at', '?') + ')' if champion else 'none yet'}")
    if state["models"]:
        newest = state["models"][-1]
        print(f"Newest:     {newest['version']}: {newest['decision']}" + (f" ({newest['metric']} {newest['score']:.4f})" if newest["score"] is not None else ""))
    print(f"Inbox:      {len(inbox['waiting'])} waiting, {len(inbox['claimed'])} claimed, {inbox['batches']} batches"
          + (f"; last ingest {one_line(last['file'])} ({last['rows']} rows) at {last['at']}" if last else ""))
    print(f"Quarantine: {len(state['quarantine'])} entries" + (
        f"; newest {one_line(state['quarantine'][0]['file'])} [{state['quarantine'][0]['stage']}] (make quarantine)" if state["quarantine"] else ""))
    if not api.healthy():
        print(f"Airflow:    not running at {api.base_url} (make run)")
        return
    print(f"Airflow:    {api.base_url}")
    for dag_id in ("ingest", "preprocess", "train", "evaluate"):
        runs = api.get(f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after&limit=1")["dag_runs"]
        run = runs[0] if runs else None
        print(f"  {dag_id:<11} " + (f"{run['state']:<8} {run['run_after']}  ({run['run_type']})" if run else "no run yet"))
    print(f"  next daily ingest: {api.get('/api/v2/dags/ingest').get('next_dagrun_run_after') or 'not scheduled'}")


if __name__ == "__main__":
    sys.exit(main())
