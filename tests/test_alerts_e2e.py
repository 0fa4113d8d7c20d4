"""End to end, people are told: `make run` with an [alerts] table, a real SMTP server (aiosmtpd)
and a real webhook receiver. A bad drop is one email and one webhook message naming the file
and its reason; 50 bad files at once are at most 2 messages per channel naming all 50; a task
that fails after its retries is one alert, none for the retries; with the webhook down the
runs go on, `pipeline alerts` shows the failed delivery, and it arrives once the receiver is
back; a new champion live is told (info).

Its own stack: the [alerts] table must be there when `make run` starts (it starts the alert
deliverer), and no other test's drops should alert anyone.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from alert_receivers import SmtpReceiver, WebhookReceiver
from conftest import REPO_ROOT, iris_config_text, iris_sample
from harness import DAGS, LaunchedStack, wait_for

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


def test_people_are_told_once_per_burst_never_on_a_retry_and_nothing_is_lost_while_a_channel_is_down(tmp_path_factory):
    root = tmp_path_factory.mktemp("alerts")
    with SmtpReceiver(user="pipeline", password="s3cret") as smtp, WebhookReceiver() as hook:
        config = root / "pipeline.toml"
        config.write_text(iris_config_text() + _alerts_table(smtp, hook))
        stack = LaunchedStack(root, str(root / "data"), env={"PIPELINE_CONFIG": str(config), "PIPELINE_SMTP_PASSWORD": "s3cret"})
        with stack.started():
            stack.wait_chain({d: set() for d in DAGS})  # the seed's chain
            wait_for("the first champion to be told", lambda: _bodies(hook, "promoted"), timeout=60)
            (first,) = _bodies(hook, "promoted")
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
            wait_for(
                "the email for it", lambda: any("while-the-hook-is-down.csv" in m.get_payload() for m in smtp.mails), timeout=120
            )

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
