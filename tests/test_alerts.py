"""Alerts: events become grouped messages, delivered to a real SMTP server (aiosmtpd) and a real
webhook receiver; a channel that is down is retried and delivered once back; what a dropper
wrote stays plain text. Time is the deliverer's own clock, moved by the test (no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alert_receivers import SmtpReceiver, WebhookReceiver

from tasks.alerts.channels import DeliveryFailed, Email, Webhook, channels_for
from tasks.alerts.deliverer import FIRST_RETRY_S, Deliverer
from tasks.alerts.messages import compose
from tasks.config import Alerts, ConfigError, Smtp


class Clock:
    def __init__(self):
        self.now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def quarantined(store, *names: str) -> dict:
    return store.alerts.record(
        "quarantine",
        "warning",
        {"what": f"{len(names)} file(s) quarantined", "files": list(names), "why": "column 'x' is missing", "fix": "add it"},
    )


@pytest.fixture
def receivers():
    with SmtpReceiver(user="pipeline", password="s3cret") as smtp, WebhookReceiver() as hook:
        yield smtp, hook


def deliverer_to(store, receivers, clock, **settings) -> Deliverer:
    smtp, hook = receivers
    alerts = Alerts(
        webhook=hook.url,
        email=("ml-team@example.org",),
        smtp=Smtp("127.0.0.1", smtp.port, "pipeline@example.org", starttls=False, user="pipeline"),
        **settings,
    )
    channels = channels_for(alerts, {"PIPELINE_SMTP_PASSWORD": "s3cret"})
    return Deliverer(store, alerts, channels, "iris", clock=clock)


def test_a_quarantine_event_reaches_both_channels_naming_the_file_and_the_reason(store, receivers):
    smtp, hook = receivers
    deliverer = deliverer_to(store, receivers, Clock())
    quarantined(store, "bad.csv")
    deliverer.step()
    (mail,) = smtp.mails
    assert mail["To"] == "ml-team@example.org" and "[iris] WARNING" in mail["Subject"]
    assert "column 'x' is missing" in mail.get_payload() and "fix: add it" in mail.get_payload()
    (body,) = hook.bodies
    assert body["event"] == "quarantine" and body["level"] == "warning" and body["files"] == ["bad.csv"]
    assert "column 'x' is missing" in body["text"] and body["dataset"] == "iris"
    (message,) = store.alerts.messages()
    assert {c: s["state"] for c, s in message["channels"].items()} == {"webhook": "delivered", "email": "delivered"}


def test_a_burst_is_one_message_then_the_window_groups_what_follows(store, receivers):
    smtp, hook = receivers
    clock = Clock()
    deliverer = deliverer_to(store, receivers, clock, group_s=60)
    names = [f"bad-{i:02d}.csv" for i in range(50)]
    for name in names:
        quarantined(store, name)
    deliverer.step()
    (first,) = hook.bodies
    assert first["count"] == 50 and first["files"] == names  # one message naming all 50
    quarantined(store, "late-1.csv")
    clock.advance(10)
    quarantined(store, "late-2.csv")
    deliverer.step()
    assert len(hook.bodies) == 1  # within the window: held
    clock.advance(51)
    deliverer.step()
    assert [b["files"] for b in hook.bodies[1:]] == [["late-1.csv", "late-2.csv"]]
    assert len(smtp.mails) == 2
    deliverer.step()
    assert len(hook.bodies) == 2  # nothing twice


def test_a_channel_that_is_down_is_retried_with_backoff_and_delivered_once_back(store, receivers):
    smtp, hook = receivers
    clock = Clock()
    deliverer = deliverer_to(store, receivers, clock)
    hook.down = True
    quarantined(store, "while-down.csv")
    deliverer.step()
    (message,) = store.alerts.messages()
    assert message["channels"]["email"]["state"] == "delivered"  # one channel down holds no other
    state = message["channels"]["webhook"]
    assert state["state"] == "retrying" and state["attempts"] == 1 and "HTTP 503" in state["last_error"]
    deliverer.step()
    assert store.alerts.messages()[0]["channels"]["webhook"]["attempts"] == 1  # not due yet
    clock.advance(FIRST_RETRY_S)
    deliverer.step()
    assert store.alerts.messages()[0]["channels"]["webhook"]["attempts"] == 2  # due: tried again, still down
    hook.down = False
    clock.advance(2 * FIRST_RETRY_S)
    restarted = deliverer_to(store, receivers, clock)  # a restart resumes from the saved state
    restarted.step()
    assert [b["files"] for b in hook.bodies] == [["while-down.csv"]] and len(smtp.mails) == 1
    assert store.alerts.messages()[0]["channels"]["webhook"]["state"] == "delivered"


def test_levels_not_listed_are_kept_but_not_sent(store, receivers):
    smtp, hook = receivers
    deliverer = deliverer_to(store, receivers, Clock())  # default levels: error and warning
    store.alerts.record("promoted", "info", {"what": "v0002 live", "versions": ["v0002"]})
    deliverer.step()
    (message,) = store.alerts.messages()
    assert message["channels"] == {} and "level 'info'" in message["not_sent"]
    assert hook.bodies == [] and smtp.mails == []


def test_what_a_dropper_wrote_stays_plain_text():
    hostile = "<https://evil.example|click> &\n\x1b[2J@channel.csv"
    message = compose("quarantine", "warning", "iris", [{"what": hostile, "files": [hostile], "why": "x\r\nBcc: a@b.c"}])
    for text in (message["subject"], message["text"].splitlines()[1]):
        assert "<" not in text and ">" not in text and "\x1b" not in text and "\r" not in text
    assert "\n" not in message["subject"] and len(message["text"].splitlines()) == 2  # no line of its own


def test_a_refused_login_or_a_closed_port_is_a_delivery_failure_in_one_line(receivers):
    smtp, hook = receivers
    wrong = Email(Smtp("127.0.0.1", smtp.port, "p@example.org", starttls=False, user="pipeline"), ("a@example.org",), "wrong")
    with pytest.raises(DeliveryFailed, match=r"^email: SMTPAuthenticationError"):
        wrong.send(compose("test", "info", "iris", [{"what": "hello"}]))
    closed = Webhook("http://127.0.0.1:9/")
    with pytest.raises(DeliveryFailed, match=r"^webhook: ConnectError"):
        closed.send(compose("test", "info", "iris", [{"what": "hello"}]))


def test_a_user_without_the_password_variable_is_refused_naming_it():
    alerts = Alerts(email=("a@example.org",), smtp=Smtp("smtp.example.org", 587, "p@example.org", user="pipeline"))
    with pytest.raises(ConfigError, match="PIPELINE_SMTP_PASSWORD"):
        channels_for(alerts, {})


def test_neither_folder_grows_without_end(store, receivers):
    """Events go once a message holds them; messages after MESSAGES_KEPT_DAYS (a channel gives
    up after a day, so none still waits by then)."""
    from tasks.alerts.deliverer import MESSAGES_KEPT_DAYS, PRUNE_EVERY_S

    clock = Clock()
    deliverer = deliverer_to(store, receivers, clock, group_s=0)
    quarantined(store, "old.csv")
    deliverer.step()
    assert store.alerts.event_ids() == [] and len(store.alerts.messages()) == 1
    clock.advance(MESSAGES_KEPT_DAYS * 86400 - 3600)
    quarantined(store, "recent.csv")
    deliverer.step()
    clock.advance(3600 + PRUNE_EVERY_S)
    quarantined(store, "new.csv")
    deliverer.step()
    assert [m["files"] for m in store.alerts.messages()] == [["recent.csv"], ["new.csv"]]
    assert store.alerts.event_ids() == []


def test_a_restart_removes_events_a_saved_message_already_holds(store, receivers):
    clock = Clock()
    event = quarantined(store, "held.csv")
    store.alerts.save_message(
        {
            **compose("quarantine", "warning", "iris", [event]),
            "id": "20261205T115900.000000-quarantine",
            "made_at": "2026-12-05T11:59:00.000+00:00",
            "event_ids": [event["id"]],
            "channels": {},
        }
    )  # as a stop between saving the message and removing its events leaves it
    deliverer_to(store, receivers, clock).step()
    assert store.alerts.event_ids() == [] and len(store.alerts.messages()) == 1
    assert receivers[1].bodies == []  # not sent twice
