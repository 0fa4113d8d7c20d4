"""End to end, people are told: `make run` with an [alerts] table, a real SMTP server (aiosmtpd)
and a real webhook receiver. A bad drop is one email and one webhook message naming the file
and its reason; 50 bad files at once are at most 2 messages per channel naming all 50; a task
that fails after its retries is one alert, none for the retries; with the webhook down the
runs go on, `pipeline alerts` shows the failed delivery, and it arrives once the receiver is
back; a new champion live is told (info). Approvals on the same stack: a model evaluation
would promote waits (Required Actions, the "approval waiting" alert), goes live only on a
yes (from `pipeline approve`), stays out on a no (through the REST API), on a timeout, or when
a newer candidate supersedes it; a second answer is refused.

Its own stack: the [alerts] table must be there when `make run` starts (it starts the alert
deliverer), and no other test's drops should alert anyone.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from alert_receivers import SmtpReceiver, WebhookReceiver
from conftest import REPO_ROOT, iris_config_text, iris_sample
from harness import CHAIN_TIMEOUT, DAGS, LaunchedStack, wait_for

pytestmark = pytest.mark.e2e
GROUP_S = 60  # the default: a burst spread over several ingest runs is still one message after the first


def _alerts_table(smtp: SmtpReceiver, hook: WebhookReceiver) -> str:
    return (
        "\n[alerts]\n"
        f'webhook = "{hook.url}"\n'
        'email = ["ml-team@example.org"]\n'
        f"group_s = {GROUP_S}\n"
        'levels = ["error", "warning", "info"]\n'
        "[alerts.smtp]\n"
        'host = "127.0.0.1"\n'
        f"port = {smtp.port}\n"
        'sender = "pipeline@example.org"\n'
        "starttls = false\n"
        'user = "pipeline"\n'
    )


def _bodies(hook: WebhookReceiver, event: str) -> list[dict]:
    return [b for b in hook.bodies if b["event"] == event]


def _mails(smtp: SmtpReceiver, word: str) -> list:
    return [m for m in smtp.mails if word in m["Subject"]]


@pytest.fixture(scope="module")
def alerting(tmp_path_factory) -> Iterator[SimpleNamespace]:
    """One stack for the module: alerts on, a real SMTP server and webhook receiver."""
    root = tmp_path_factory.mktemp("alerts")
    with SmtpReceiver(user="pipeline", password="s3cret") as smtp, WebhookReceiver() as hook:
        config = root / "pipeline.toml"
        config.write_text(iris_config_text() + _alerts_table(smtp, hook))
        stack = LaunchedStack(root, str(root / "data"), env={"PIPELINE_CONFIG": str(config), "PIPELINE_SMTP_PASSWORD": "s3cret"})
        with stack.started():
            yield SimpleNamespace(stack=stack, smtp=smtp, hook=hook, config=config)


# Approvals share this stack: the approval waiting alert goes through the same receivers, and
# [deploy] is read when each task runs, so switching it on needs no restart.
APPROVALS_ON = '\n[deploy]\napproval = "always"\napproval_timeout = "{timeout}"\non_timeout = "{on_timeout}"\n'


def _pipeline(stack: LaunchedStack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(REPO_ROOT / ".venv/bin/pipeline"), *args], env=stack.env, capture_output=True, text=True, timeout=120
    )


def _held(stack: LaunchedStack) -> list[dict]:
    """What `pipeline approvals --json` lists as asked in Airflow."""
    listed = _pipeline(stack, "approvals", "--json")
    assert listed.returncode == 0, listed.stderr
    return [e for e in json.loads(listed.stdout) if e["asked"]]


def _retrain_and_wait_until_asked(stack: LaunchedStack, waiting_before: set[str]) -> dict:
    """A new version (same data and settings: an equal score, so evaluation would promote it)."""
    assert _pipeline(stack, "retrain", "--why", "approval test").returncode == 0
    return wait_for(
        "a new version to be asked for approval",
        lambda: next((e for e in _held(stack) if e["version"] not in waiting_before), None),
        timeout=180,
    )


def _hitl_path(asked: dict) -> str:
    return (
        f"/api/v2/dags/{asked['dag_id']}/dagRuns/{asked['run_id']}/taskInstances/{asked['task_id']}/"
        f"{asked['map_index']}/hitlDetails"
    )


def _decision(stack: LaunchedStack, version: str) -> dict | None:
    return stack.store.approvals.decision(version)


def test_a_model_goes_live_only_on_approval_answered_by_cli_api_or_timeout(alerting):
    stack, hook, config = alerting.stack, alerting.hook, alerting.config
    usual = config.read_text()
    # First in the module: the chain is idle once the seed's model is live (the alerts test's
    # failed training would leave a model to train that races this test's own).
    wait_for("a champion live", lambda: stack.served_version(), timeout=CHAIN_TIMEOUT)
    champion = stack.store.registry.champion()["version"]
    # Any retrained version is "not worse" (the alerts test's drops may have made the data harder).
    usual = usual.replace("tolerance = 0.0", "tolerance = 1.0")
    config.write_text(usual + APPROVALS_ON.format(timeout="10m", on_timeout="reject"))

    # Held: Airflow asks (Required Actions, the REST API), people are told, nothing goes live.
    held = _retrain_and_wait_until_asked(stack, set())
    version = held["version"]
    assert held["score"] > 0.8 and held["champion"] == champion and held["report"].endswith(f"/pipeline/reports/{version}")
    waiting = stack.api.get("/api/v2/dags/~/dagRuns/~/hitlDetails?response_received=false")["hitl_details"]
    assert [version in w["subject"] for w in waiting] == [True]
    told = wait_for("the approval waiting alert", lambda: _bodies(hook, "approval_waiting"), timeout=60)
    assert told[0]["level"] == "warning" and told[0]["versions"] == [version]
    assert f"pipeline approve {version}" in told[0]["text"] and "/required_actions" in told[0]["links"][0]
    assert (stack.store.registry.champion()["version"], stack.served_version()) == (champion, champion)

    # Approved from the terminal: champion and served version move, the deployment says who.
    answered = _pipeline(stack, "approve", version, "--reason", "checked the report")
    assert answered.returncode == 0 and f"{version} approved by admin (answered)" in answered.stdout, answered.stderr
    wait_for("the approved model to be served", lambda: stack.served_version() == version, timeout=CHAIN_TIMEOUT)
    assert stack.store.registry.champion()["approval"]["reason"] == "checked the report"
    deployment = stack.api.asset_id("deployment")
    # The server switches before the deploy task ends and posts its event.
    deployed = wait_for(
        "the deployment event",
        lambda: next(
            (e["extra"] for e in stack.api.asset_events(asset_id=deployment) if e["extra"].get("version") == version), None
        ),
        timeout=60,
    )
    assert deployed["approval"]["by"] == "admin" and deployed["approval"]["how"] == "answered"
    again = _pipeline(stack, "approve", version)
    assert again.returncode != 0 and "already decided" in again.stderr
    status = json.loads(_pipeline(stack, "status", "--json").stdout)
    assert status["approvals"]["decided"][0]["decision"]["by"] == "admin"

    # Rejected through Airflow's REST API (as the UI does): the champion stays; a second answer is refused.
    rejected = _retrain_and_wait_until_asked(stack, {version})
    path = _hitl_path(rejected["asked"])
    stack.api.patch(path, {"chosen_options": ["Reject"], "params_input": {"reason": "not this week"}})
    decided = wait_for("the rejection to be recorded", lambda: _decision(stack, rejected["version"]), timeout=60)
    assert (decided["decision"], decided["by"], decided["reason"]) == ("rejected", "admin", "not this week")
    with pytest.raises(urllib.error.HTTPError) as second:
        stack.api.patch(path, {"chosen_options": ["Approve"]})
    assert second.value.code == 409
    late = _pipeline(stack, "reject", rejected["version"])
    assert late.returncode != 0 and "already decided" in late.stderr
    assert (stack.store.registry.champion()["version"], stack.served_version()) == (version, version)

    # A newer candidate supersedes the waiting one, whose Required Action is closed.
    older = _retrain_and_wait_until_asked(stack, {version, rejected["version"]})
    newer = _retrain_and_wait_until_asked(stack, {version, rejected["version"], older["version"]})
    superseded = _decision(stack, older["version"])
    assert (superseded["how"], superseded["decision"]) == ("superseded", "rejected")
    wait_for("the superseded request closed in Airflow", lambda: stack.api.get(_hitl_path(older["asked"]))["response_received"])
    assert [e["version"] for e in _held(stack)] == [newer["version"]]
    assert stack.served_version() == version

    # Unanswered: the timeout decides (on_timeout = reject), the newer one stays out.
    config.write_text(usual + APPROVALS_ON.format(timeout="5s", on_timeout="reject"))
    stack.api.patch(_hitl_path(newer["asked"]), {"chosen_options": ["Reject"], "params_input": {"reason": "make room"}})
    timed = _retrain_and_wait_until_asked(stack, {version, rejected["version"], older["version"], newer["version"]})
    decided = wait_for("the timeout to decide", lambda: _decision(stack, timed["version"]), timeout=90)
    assert (decided["decision"], decided["how"], decided["by"]) == ("rejected", "timeout", "timeout")
    assert stack.store.registry.champion()["version"] == version and stack.served_version() == version
    config.write_text(usual.replace("tolerance = 1.0", "tolerance = 0.0"))


def test_people_are_told_once_per_burst_never_on_a_retry_and_nothing_is_lost_while_a_channel_is_down(alerting):
    stack, smtp, hook, config = alerting.stack, alerting.smtp, alerting.hook, alerting.config
    stack.wait_chain({d: set() for d in DAGS})  # the seed's chain
    wait_for("the first champion to be told", lambda: _bodies(hook, "promoted"), timeout=60)
    first = _bodies(hook, "promoted")[0]  # the seed's (the approvals test, run before, promotes more)
    assert "the first champion of this data root" in first["text"] and first["level"] == "info"

    # One bad drop: one message per channel naming the file and the reason.
    bad = iris_sample(20, seed=950).drop(columns=["petal width (cm)"]).to_csv(index=False)
    stack.drop("missing-a-column.csv", bad)
    wait_for("the quarantine alert", lambda: _bodies(hook, "quarantine") and _mails(smtp, "quarantined"), timeout=120)
    (message,) = _bodies(hook, "quarantine")
    assert message["files"] == ["missing-a-column.csv"] and "petal width (cm)" in message["text"]
    assert message["level"] == "warning" and message["links"][0].startswith(stack.api.base_url)
    (mail,) = _mails(smtp, "quarantined")
    assert "missing-a-column.csv" in mail.get_payload()

    # 50 bad files at once: at most 2 messages per channel, naming all 50.
    names = [f"burst-{i:02d}.csv" for i in range(50)]
    for name in names:
        stack.drop(name, f"not,a\nvalid,iris {name}\n")

    def burst_told() -> bool:
        told = {f for b in _bodies(hook, "quarantine")[1:] for f in b["files"]}
        return told >= set(names)

    wait_for("all 50 files to be told", burst_told, timeout=180)
    assert len(_bodies(hook, "quarantine")) - 1 <= 2
    wait_for("the burst's email", lambda: len(_mails(smtp, "quarantined")) >= 2, timeout=60)
    mailed = "".join(m.get_payload() for m in _mails(smtp, "quarantined")[1:])
    assert all(name in mailed for name in names) and len(_mails(smtp, "quarantined")) - 1 <= 2

    # A task that fails after its retries: one alert, none for the retries.
    usual = config.read_text()
    config.write_text(
        usual.replace('estimator = "sklearn.ensemble.RandomForestClassifier"', 'estimator = "sklearn.nowhere.Model"')
    )
    before = stack.run_ids()
    stack.drop("trains-into-a-wall.csv", iris_sample(30, seed=951).to_csv(index=False))

    def train_failed() -> bool:
        return any(r["state"] == "failed" for r in stack.runs("train") if r["dag_run_id"] not in before["train"])

    wait_for("train to fail after its retries", train_failed, timeout=240)
    config.write_text(usual)
    wait_for("the failure alert", lambda: _bodies(hook, "task_failed"), timeout=60)
    (failed,) = _bodies(hook, "task_failed")
    assert "train.train_model failed after 3 tries" in failed["text"] and failed["level"] == "error"

    # The webhook down: the runs go on, the delivery waits, and arrives once it is back.
    hook.down = True
    before = stack.run_ids()
    stack.drop("while-the-hook-is-down.csv", "still,not\nvalid,iris\n")
    wait_for("the email for it", lambda: any("while-the-hook-is-down.csv" in m.get_payload() for m in smtp.mails), timeout=120)

    def shown_waiting() -> list[dict]:
        listed = subprocess.run(
            [str(REPO_ROOT / ".venv/bin/pipeline"), "alerts", "--json"],
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        rows = json.loads(listed.stdout)
        return [r for r in rows if r["channels"].get("webhook", {}).get("state") == "retrying"]

    (waiting, *_) = wait_for("pipeline alerts to show the failed delivery", shown_waiting, timeout=60)
    assert "HTTP 503" in waiting["channels"]["webhook"]["last_error"]
    assert waiting["channels"]["email"]["state"] == "delivered"
    hook.down = False
    wait_for(
        "the waiting message to arrive once the webhook is back",
        lambda: any("while-the-hook-is-down.csv" in b["files"] for b in hook.bodies),
        timeout=120,
    )
    assert len(_bodies(hook, "task_failed")) == 1  # still one: never for a retry
