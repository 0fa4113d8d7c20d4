"""``pipeline``: the user's command-line tool (``pipeline --help``). Imports no Airflow.

Every command finds the stack the same way: the Airflow home (``AIRFLOW_HOME``, default
``.airflow/``) and, while a stack runs on it, the record its launcher keeps there (address,
profile, data location and, for ``--cluster``, the S3 endpoint): so ``status``, ``upload``
and the others work whatever port ``pipeline run`` used. Tables for people, ``--json`` for
scripts. Values from dropped files are printed on one line with no control characters.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from tasks.airflow_api import ApiClient
from tasks.config import CHAIN_DAG_IDS
from tasks.stack.env import airflow_home, requested_port, running_stack
from tasks.ui.text import one_line


@dataclass
class Target:
    """The stack the commands act on (its REST API, its scoring server), and its store. ``env``:
    the settings the commands read: yours, then the running stack's (its data, parameters file,
    and the cluster's S3 endpoint and credentials) for what you did not set."""

    api: ApiClient
    serve_url: str
    env: dict[str, str]

    @classmethod
    def find(cls) -> Target:
        from tasks.config import Settings

        home = airflow_home()
        running = running_stack(home)
        env = dict(os.environ)
        if running is not None:
            found = {**running.env, "PIPELINE_DATA_URL": running.data_url}
            if running.config_file:
                found["PIPELINE_CONFIG"] = running.config_file
            env = {**found, **env}  # the running stack's data wins unless you named other data
        url = running.url if running else f"http://127.0.0.1:{requested_port()}"
        serve_url = running.serve_url if running and running.serve_url else Settings.from_env(env).serve_url
        return cls(api=ApiClient(url, home), serve_url=serve_url, env=env)

    def settings(self):
        from tasks.config import Settings

        return Settings.from_env(self.env)

    def store(self):
        from tasks.store import open_store

        return open_store(env=self.env)

    def config(self):
        """The parameters file's settings; a wrong file is the user's error, said plainly."""
        from tasks.config import ConfigError, load_config

        try:
            return load_config(self.settings().config_file)
        except (ConfigError, OSError) as exc:
            raise click.ClickException(str(exc)) from None

    def require_airflow(self) -> None:
        if not self.api.healthy():
            raise click.ClickException(
                f"Airflow is not running at {self.api.base_url}: start it first (pipeline run, or make run), "
                "so the pipeline can rebuild the features and the model"
            )


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def print_table(rows: list[dict[str, Any]], columns: list[str], title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(one_line("" if row.get(c) is None else row[c]) for c in columns))
    Console(soft_wrap=False).print(table)


class PipelineCommands(click.Group):
    """Every command: a storage failure, or a setting with a wrong value, is one line naming
    the storage or the variable, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from tasks.config import ConfigError
        from tasks.store.backend import StorageUnavailable

        try:
            return super().invoke(ctx)
        except (StorageUnavailable, ConfigError) as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=PipelineCommands, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Event-driven ML pipeline on Apache Airflow: drop a labelled CSV, get a validated,
    trained, evaluated and served model. Each command's --help says more."""


@main.command()
@click.option(
    "--cluster",
    is_flag=True,
    help="CeleryExecutor, PostgreSQL, Redis and S3 storage instead of SQLite, LocalExecutor and a local folder.",
)
def run(cluster: bool) -> None:
    """Start the pipeline's Airflow stack in the foreground; Ctrl-C stops everything.

    AIRFLOW_HOME (default .airflow/), AIRFLOW_PORT (default 8080), PIPELINE_DATA_URL and
    PIPELINE_CONFIG choose where; see docs/configuration.md."""
    from tasks.stack.supervisor import run_foreground

    sys.exit(run_foreground(cluster=cluster))


@main.command()
@click.argument("sample", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", required=True, help="The column holding the class to predict.")
@click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path), help="A new folder for pipeline.toml and suite.json."
)
@click.option("--name", default=None, help="The data set's name (default: the folder's name).")
def dataset(sample: Path, target: str, out: Path, name: str | None) -> None:
    """Start your own data set from SAMPLE, a labelled CSV: writes OUT/pipeline.toml (the
    [dataset] table filled in) and OUT/suite.json (the Great Expectations suite), prints
    what to review, and never overwrites an existing folder."""
    from tasks.ml.profiling import ProfileError, create_dataset, summary
    from tasks.quality.drops import UnreadableDrop

    try:
        profile = create_dataset(sample, target, out, name=name)
    except (ProfileError, UnreadableDrop) as exc:
        raise click.ClickException(f"{sample}: {exc}") from None
    for line in summary(profile, out):
        click.echo(one_line(line))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of tables.")
def status(as_json: bool) -> None:
    """The pipeline at a glance: champion, what is live, newest model, inbox, scoring, quarantine, Airflow's runs."""
    from tasks.ui.approvals import decision_line, waiting_line
    from tasks.ui.overview import overview

    target = Target.find()
    state = overview(target.store())
    airflow: dict[str, Any] = {"url": target.api.base_url, "running": target.api.healthy()}
    if airflow["running"]:
        airflow["last_runs"] = {}
        for dag_id in CHAIN_DAG_IDS:
            runs = target.api.get(f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after&limit=1")["dag_runs"]
            airflow["last_runs"][dag_id] = {k: runs[0][k] for k in ("state", "run_after", "run_type")} if runs else None
        airflow["next_daily_ingest"] = target.api.get("/api/v2/dags/ingest").get("next_dagrun_run_after")
    from tasks.stages.deploy import served_version

    server = {"url": target.serve_url, "serving": served_version(target.serve_url)}
    if as_json:
        print_json({**state, "airflow": airflow, "scoring_server": server})
        return
    champion, inbox, last = state["champion"], state["inbox"], state["inbox"]["last_ingest"]
    newest = state["models"][-1] if state["models"] else None
    summary = [
        {"what": "data", "value": state["data"]},
        {"what": "data set", "value": (state["dataset"] or {}).get("name", "none yet (recorded on first use)")},
        {
            "what": "champion",
            "value": f"{champion['version']} (promoted {champion.get('promoted_at', '?')}"
            + (f", approved by {a['by']} ({a['how']}) at {a['at']})" if (a := champion.get("approval")) else ")")
            if champion
            else "none yet",
        },
        {
            "what": "live",
            "value": (
                f"{live['version']} since {live['live_since']}"
                + (f" (before: {live['previous']})" if live.get("previous") else "")
                if (live := state["live"])
                else "nothing yet"
            )
            + f"; server {server['url']}: "
            + (f"serves {server['serving']}" if server["serving"] else "not answering (pipeline run starts it)"),
        },
        {
            "what": "newest model",
            "value": (
                f"{newest['version']}: {newest['decision']}"
                + (f" ({', '.join(f'{k} {v:.4f}' for k, v in newest['scores'].items())})" if newest.get("scores") else "")
            )
            if newest
            else "none yet",
        },
        {
            "what": "inbox",
            "value": f"{len(inbox['waiting'])} waiting, {len(inbox['claimed'])} claimed, {inbox['batches']} batches"
            + (f"; last ingest {last['file']} ({last['rows']} rows) at {last['at']}" if last else ""),
        },
        {
            "what": "quarantine",
            "value": f"{len(state['quarantine'])} entries"
            + (f"; newest {state['quarantine'][0]['file']} [{state['quarantine'][0]['stage']}]" if state["quarantine"] else ""),
        },
        {
            "what": "scoring",
            "value": f"{len(state['scoring']['waiting']) + len(state['scoring']['claimed'])} waiting"
            + (
                f"; last {(j := state['scoring']['recent'][0])['file']} ({j['rows']} rows, {j['model_version']}) at {j['scored_at']}"
                if state["scoring"]["recent"]
                else ""
            ),
        },
        {
            "what": "approvals",
            "value": "; ".join(
                [f"waiting: {waiting_line(e)} (pipeline approve {e['version']})" for e in state["approvals"]["waiting"]]
                + [f"last decision: {decision_line(e)}" for e in state["approvals"]["decided"][:1]]
            )
            or "none",
        },
        {"what": "airflow", "value": airflow["url"] if airflow["running"] else f"not running at {airflow['url']} (pipeline run)"},
    ]
    print_table(summary, ["what", "value"], title="Pipeline")
    if airflow["running"]:
        runs = [{"dag": d, **(r or {"state": "no run yet"})} for d, r in airflow["last_runs"].items()]
        print_table(runs, ["dag", "state", "run_after", "run_type"], title="Last runs")
        click.echo(f"Next daily ingest: {airflow['next_daily_ingest'] or 'not scheduled'}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON instead of text.")
def quarantine(as_json: bool) -> None:
    """What was rejected, and why: newest first."""
    store = Target.find().store()
    entries = store.quarantine.entries()[::-1]
    if as_json:
        print_json(entries)
        return
    if not entries:
        click.echo(f"Nothing quarantined in {store.quarantine.uri}")
    try:
        for item in entries:
            click.echo(
                f"{item['quarantined_at']}  {one_line(item['file'])}  [{item['stage']}]  quarantine/{item['id']}\n"
                f"    {one_line(item['reason'])}"
            )
    except BrokenPipeError:  # `pipeline quarantine | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print a list of JSON objects instead of a table.")
@click.option("--last", default=20, show_default=True, help="How many recent alerts.")
@click.pass_context
def alerts(ctx: click.Context, as_json: bool, last: int) -> None:
    """Recent alerts and each channel's delivery state (pipeline alerts test: a test message)."""
    if ctx.invoked_subcommand is not None:
        return
    from tasks.ui.alerts import delivery_line, message_summary

    rows = [message_summary(m) for m in Target.find().store().alerts.messages(newest=last)[::-1]]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("No alerts yet.")
    for row in rows:
        click.echo(f"{row['made_at']}  {row['level']:<7}  {one_line(row['subject'])}\n    {delivery_line(row)}")


@alerts.command("test")
def alerts_test() -> None:
    """Send a test message to every channel; say for each whether it was accepted."""
    from tasks.alerts.channels import DeliveryFailed, channels_for
    from tasks.alerts.messages import compose
    from tasks.config import ConfigError

    target = Target.find()
    config = target.config()
    if config.alerts is None:
        raise click.ClickException(f"no [alerts] table in {target.settings().config_file}: nobody to send to")
    try:
        channels = channels_for(config.alerts, target.env)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    message = compose("test", "info", config.dataset.name, [{"what": "a test message from pipeline alerts test"}])
    failed = 0
    for channel in channels:
        try:
            channel.send(message)
            click.echo(f"{channel.name}: accepted")
        except DeliveryFailed as exc:
            failed += 1
            click.echo(f"{channel.name}: NOT accepted: {exc}")
    if failed:
        sys.exit(1)


@alerts.command("deliver")
def alerts_deliver() -> None:
    """Deliver alerts until stopped (pipeline run starts this when [alerts] is set)."""
    import logging
    import signal

    from tasks.alerts.channels import channels_for
    from tasks.alerts.deliverer import Deliverer, run_forever

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    target = Target.find()
    config = target.config()
    if config.alerts is None:
        raise click.ClickException("no [alerts] table in the parameters file: nothing to deliver")
    stopping = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stopping.update(now=True))
    deliverer = Deliverer(target.store(), config.alerts, channels_for(config.alerts, target.env), config.dataset.name)
    click.echo(f"Delivering alerts to {', '.join(c.name for c in deliverer.channels) or 'no channel'}")
    run_forever(deliverer, stop=lambda: stopping["now"])


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print a list of JSON objects instead of a table.")
@click.option("--last", default=20, show_default=True, help="How many recent checks.")
def drift(as_json: bool, last: int) -> None:
    """Recent drift checks against the champion's training data, newest first: labelled
    batches at the gate, scored files, and the scoring server's request windows (source server)."""
    from tasks.ml.drift import figures, summary_line

    checks = Target.find().store().drift.recent(last)
    if as_json:
        print_json([{**figures(c), "checked_at": c["checked_at"]} for c in checks])
        return
    rows = [
        {
            "when": c["checked_at"],
            "source": c["source"],
            "model": c["model_version"],
            "rows": c["rows"],
            "result": summary_line(c),
        }
        for c in checks
    ]
    if not rows:
        click.echo(
            "No drift check yet (labelled batches, files scored through the scoring inbox and the scoring server's"
            " requests are checked; see the Pipeline page's Drift section)."
        )
        return
    print_table(rows, ["when", "source", "model", "rows", "result"], title="Drift checks")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print a list of JSON objects (each with its version) instead of lines.")
def approvals(as_json: bool) -> None:
    """Models waiting for a person's yes: version, metrics against the champion, report link."""
    from tasks.ui.approvals import waiting_line

    target = Target.find()
    waiting = target.store().approvals.waiting()
    for entry in waiting:
        entry["report"] = f"{target.api.base_url}/pipeline/reports/{entry['version']}"
    if as_json:
        print_json(waiting)
        return
    if not waiting:
        click.echo("No model awaits approval.")
    for entry in waiting:
        click.echo(
            f"{one_line(waiting_line(entry))}\n    report: {entry['report']}\n"
            f"    pipeline approve {entry['version']}  |  pipeline reject {entry['version']} --reason TEXT"
        )


APPROVAL_RECORDED_WITHIN_S = 60.0  # the task resumes and records the answer (scheduler, then a worker)


def _answer(version: str, approve: bool, reason: str) -> None:
    """Answer the Required Action holding ``version``, then wait for the pipeline to record it."""
    import time
    import urllib.error

    from tasks.ui.approvals import decision_line

    target = Target.find()
    store = target.store()
    entry = store.approvals.entry(version)
    if entry is None:
        raise click.ClickException(f"{version} was never held for approval: pipeline approvals lists what waits")
    if entry["decision"] is not None:
        raise click.ClickException(f"already decided: {decision_line(entry)}")
    if entry["asked"] is None:
        raise click.ClickException(
            f"{version} is not asked in Airflow yet (its evaluate run's ask_for_approval task starts within seconds): try again"
        )
    try:
        target.api.answer_approval(entry["asked"], approve, reason)
    except urllib.error.HTTPError as exc:
        if exc.code == 409:
            raise click.ClickException(f"already decided: {version} was answered in Airflow before this answer") from None
        raise click.ClickException(f"Airflow refused the answer for {version}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise click.ClickException(
            f"Airflow is not reachable at {target.api.base_url} ({exc}): start it with pipeline run"
        ) from None
    deadline = time.monotonic() + APPROVAL_RECORDED_WITHIN_S
    while time.monotonic() < deadline:
        if (entry := store.approvals.entry(version)) and entry["decision"] is not None:
            click.echo(decision_line(entry))
            if entry["decision"]["decision"] == "approved":
                click.echo(f"{version} becomes the champion and goes live next (pipeline status shows it).")
            return
        time.sleep(0.5)
    click.echo(f"Answered in Airflow; the decision on {version} is recorded once its task resumes (pipeline approvals).")


@main.command()
@click.argument("version")
@click.option("--reason", default="", help="Kept with the decision.")
def approve(version: str, reason: str) -> None:
    """Let VERSION (from pipeline approvals) become the champion and go live."""
    _answer(version, True, reason)


@main.command()
@click.argument("version")
@click.option("--reason", default="", help="Kept with the decision.")
def reject(version: str, reason: str) -> None:
    """Refuse VERSION (from pipeline approvals): the champion stays as it is."""
    _answer(version, False, reason)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def upload(files: tuple[Path, ...]) -> None:
    """Drop FILES into the inbox, on any backend (a running cluster's S3 too)."""
    store = Target.find().store()
    for path in files:
        store.inbox.put(path.name, path.read_bytes())
        click.echo(f"{path} -> {store.inbox.uri}/{one_line(path.name)}")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def score(files: tuple[Path, ...]) -> None:
    """Drop FILES into the scoring inbox: the champion scores each one (see `pipeline status`)."""
    store = Target.find().store()
    for path in files:
        store.scoring_inbox.put_file(path.name, path)
        click.echo(f"{path} -> {store.scoring_inbox.uri}/{one_line(path.name)}")
    click.echo(f"Predictions appear under {store.predictions.uri}/<job id>/predictions.csv")


@main.command()
@click.option("--port", type=int, default=None, help="Port on 127.0.0.1 (default: PIPELINE_SERVE_PORT, or 8000).")
def serve(port: int | None) -> None:
    """Run the online scoring server in the foreground (pipeline run starts it for you)."""
    from tasks.serving.scoring_server import serve as run_server

    target = Target.find()
    config = target.config()
    run_server(target.store(), config.dataset, port or target.settings().serve_port, config.monitoring)


@main.command()
@click.argument("input_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("output_csv", required=False, type=click.Path(dir_okay=False, path_type=Path))
def predict(input_csv: Path, output_csv: Path | None) -> None:
    """Score INPUT_CSV with the champion; OUTPUT_CSV defaults to INPUT.predictions.csv beside it.

    The input passes the same checks as a drop (the target column may be absent; other
    columns such as an id are kept)."""
    from tasks.stages.predict import RefusedInput, predict_csv

    target = Target.find()
    output = output_csv or input_csv.with_name(f"{input_csv.stem}.predictions.csv")
    try:
        result = predict_csv(target.store(), input_csv, output, target.config())
    except RefusedInput as exc:
        raise click.ClickException(f"refused: {exc}") from None
    click.echo(f"{result['rows']} rows scored with champion {result['model']} -> {result['output']}")


def _undo(step, record_id: str, why: str) -> None:
    """Apply an undo step (``tasks.stages.undo``) to the store, then post a ``raw`` event with
    its record through the REST API, so preprocess, train and evaluate rebuild."""
    target = Target.find()
    target.require_airflow()
    try:
        result = step(target.store(), record_id, why)
    except (KeyError, ValueError) as exc:
        raise click.ClickException(str(exc.args[0] if exc.args else exc)) from None
    target.api.post("/api/v2/assets/events", {"asset_id": target.api.asset_id("raw"), "extra": result.event_extra()}, attempts=3)
    for line in result.log_lines():
        click.echo(line)
    click.echo("Posted a 'raw' event: preprocess, train and evaluate now rebuild (see the Assets page).")


@main.command()
@click.argument("batch_id")
@click.option("--why", required=True, help="Kept next to the batch and on the asset event.")
def retract(batch_id: str, why: str) -> None:
    """Take batch BATCH_ID (b-...) out of the training and held-out data; the pipeline rebuilds."""
    from tasks.stages.undo import retract_batch

    _undo(retract_batch, batch_id, why)


@main.command()
@click.argument("quarantine_id")
@click.option("--why", required=True, help="Kept next to the batch and on the asset event.")
def release(quarantine_id: str, why: str) -> None:
    """Let a batch the gate quarantined into the data (QUARANTINE_ID from `pipeline quarantine`)."""
    from tasks.stages.undo import release_quarantined

    _undo(release_quarantined, quarantine_id, why)


@main.command()
@click.option("--why", default="", help="Kept in the run's conf and note.")
def retrain(why: str) -> None:
    """Train a new version now, even on unchanged data and settings; evaluate follows."""
    target = Target.find()
    target.require_airflow()
    import urllib.error

    try:
        run_ = target.api.post(
            "/api/v2/dags/train/dagRuns",
            {
                "logical_date": None,
                "conf": {"retrain": True, "why": why},
                "note": f"make retrain: {why}" if why else "make retrain",
            },
            attempts=3,
        )
    except urllib.error.HTTPError as exc:
        raise click.ClickException(
            f"Airflow did not start the train run: HTTP {exc.code} {exc.reason} (three tries): see its api-server log, then try again"
        ) from None
    click.echo(f"Triggered train run {run_['dag_run_id']}: a new version is trained, then evaluated (see the Dags page).")


if __name__ == "__main__":
    main()
