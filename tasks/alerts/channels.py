"""Where messages go: a webhook (one JSON POST: ``text`` holds the whole message, as Slack,
Mattermost and Teams incoming webhooks read it, with the structured fields beside it) and
email (SMTP, STARTTLS, login with ``PIPELINE_SMTP_PASSWORD``). A send either returns or
raises ``DeliveryFailed`` with the cause in one line."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx

from tasks.config import Alerts, Smtp

SEND_TIMEOUT_S = 10.0  # a slow channel costs the deliverer this much per try, never a task


class DeliveryFailed(RuntimeError):
    """The channel did not accept the message (down, refused, timed out)."""


@dataclass(frozen=True)
class Webhook:
    url: str
    name: str = "webhook"

    def send(self, message: dict[str, Any]) -> None:
        body = {k: v for k, v in message.items() if k != "subject"}
        try:
            response = httpx.post(self.url, json=body, timeout=SEND_TIMEOUT_S)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{self.name}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 300:
            raise DeliveryFailed(f"{self.name}: HTTP {response.status_code}: {response.text[:200]}")


@dataclass(frozen=True)
class Email:
    smtp: Smtp
    recipients: tuple[str, ...]
    password: str | None = None
    name: str = "email"

    def send(self, message: dict[str, Any]) -> None:
        mail = EmailMessage()
        mail["Subject"] = message["subject"]  # one line already: no header can be injected
        mail["From"] = self.smtp.sender
        mail["To"] = ", ".join(self.recipients)
        mail.set_content(message["text"])  # plain text: nothing in it runs in a mail client
        try:
            with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=SEND_TIMEOUT_S) as server:
                if self.smtp.starttls:
                    server.starttls()
                if self.smtp.user:
                    server.login(self.smtp.user, self.password or "")
                server.send_message(mail)
        except (smtplib.SMTPException, OSError) as exc:  # OSError covers refused and timed out
            raise DeliveryFailed(f"{self.name}: {type(exc).__name__}: {exc}") from None


def channels_for(alerts: Alerts, env=None) -> list[Webhook | Email]:
    """The configured channels. ConfigError when the SMTP password is missing."""
    found: list[Webhook | Email] = []
    if alerts.webhook:
        found.append(Webhook(alerts.webhook))
    if alerts.email and alerts.smtp is not None:
        found.append(Email(alerts.smtp, alerts.email, alerts.smtp_password(env)))
    return found
