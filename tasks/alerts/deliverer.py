"""The alert deliverer: turns recorded events into grouped messages and delivers them.

One process per stack runs it (``pipeline alerts deliver``, started by ``pipeline run`` when
the parameters file has an ``[alerts]`` table), so tasks only record an event (one small
write) and never wait for a channel. Grouping throttles per kind: the first event of a kind
goes out at once; events of the same kind within ``group_s`` after a message wait and go out
together when the window closes (a burst of 300 files is one or two messages). A channel that
fails is retried with backoff (5 s doubling to 5 min) for up to ``GIVE_UP_S`` (24 h), then
marked given up; its state is saved in the message, and the next try resumes after a restart.
Storage that fails is itself an alert (error, then info when it is back), kept in memory
until it can be saved.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tasks.alerts.channels import DeliveryFailed
from tasks.alerts.messages import compose
from tasks.config import Alerts
from tasks.store.backend import StorageUnavailable

FIRST_RETRY_S, MAX_RETRY_S = 5.0, 300.0
GIVE_UP_S = 24 * 3600.0
MESSAGES_KEPT_DAYS = 30  # what `pipeline alerts` can look back on; older messages are removed
PRUNE_EVERY_S = 3600.0
log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


DONE = ("delivered", "gave_up")  # channel states that need no more tries


def _undelivered(message: dict[str, Any]) -> bool:
    return any(state["state"] not in DONE for state in message.get("channels", {}).values())


class Deliverer:
    def __init__(self, store, alerts: Alerts, channels: list, dataset: str, clock=_now):
        self.store, self.alerts, self.channels, self.dataset, self.clock = store, alerts, channels, dataset, clock
        self.done: set[str] = set()  # event ids already in a message
        self.pending: dict[str, list[dict[str, Any]]] = {}  # kind -> events waiting for their window
        self.last_sent: dict[str, datetime] = {}  # kind -> when its last message was made
        # This process alone writes messages, so it keeps the ones a channel still waits for
        # (read once at start) and those changed since they were saved, instead of reading
        # them back every pass.
        self.open: dict[str, dict[str, Any]] = {}
        self.unsaved: dict[str, dict[str, Any]] = {}  # kept until storage takes them
        self.storage_down: str | None = None
        self.loaded = False
        self.pruned_at: datetime | None = None

    # -- one pass ---------------------------------------------------------------
    def step(self) -> None:
        """Read new events, make the messages whose time has come, deliver what is due."""
        try:
            if not self.loaded:
                self._load()
            self._read_new_events()
            if self.storage_down is not None:
                self._storage_is_back()
        except StorageUnavailable as exc:
            self._storage_failed(str(exc))
        now = self.clock()
        for kind in list(self.pending):
            if self._window_open(kind, now):
                continue
            events = self.pending.pop(kind)
            self._new_message(kind, events[0]["level"], events, now)
        self._save_unsaved()  # a message is kept before it is sent
        self._deliver_due(now)
        self._save_unsaved()
        self._prune(now)

    def _load(self) -> None:
        grouped: set[str] = set()
        for message in self.store.alerts.messages():
            grouped.update(message.get("event_ids", []))
            made = datetime.fromisoformat(message["made_at"])
            self.last_sent[message["event"]] = max(made, self.last_sent.get(message["event"], made))
            if _undelivered(message):
                self.open[message["id"]] = message
        # Events a message holds but a stop kept from being removed: removed now.
        self.store.alerts.forget_events([e for e in self.store.alerts.event_ids() if e in grouped])
        self.loaded = True

    def _read_new_events(self) -> None:
        waiting = {e["id"] for events in self.pending.values() for e in events}
        for event_id in self.store.alerts.event_ids():
            if event_id in self.done or event_id in waiting:
                continue
            if (event := self.store.alerts.event(event_id)) is not None:
                self.pending.setdefault(event["kind"], []).append(event)

    def _window_open(self, kind: str, now: datetime) -> bool:
        last = self.last_sent.get(kind)
        return last is not None and now < last + timedelta(seconds=self.alerts.group_s)

    # -- messages ----------------------------------------------------------------
    def _new_message(self, kind: str, level: str, events: list[dict[str, Any]], now: datetime) -> None:
        message = {
            "id": self.store.alerts.message_id(kind, now),
            "made_at": now.isoformat(timespec="milliseconds"),
            "event_ids": [e["id"] for e in events if "id" in e],
            **compose(kind, level, self.dataset, events),
        }
        if level in self.alerts.levels:
            message["channels"] = {
                c.name: {"state": "pending", "attempts": 0, "next_at": message["made_at"]} for c in self.channels
            }
        else:
            message["channels"] = {}
            message["not_sent"] = f"level '{level}' is not in [alerts] levels {list(self.alerts.levels)}"
        self.last_sent[kind] = now
        self.done.update(message["event_ids"])
        self.unsaved[message["id"]] = message
        if _undelivered(message):
            self.open[message["id"]] = message

    def _save_unsaved(self) -> None:
        for message_id, message in list(self.unsaved.items()):
            try:
                self.store.alerts.save_message(message)
                self.store.alerts.forget_events(message["event_ids"])  # the message holds them now
            except StorageUnavailable:
                return  # kept in memory, saved (and its events removed) once storage is back
            del self.unsaved[message_id]
            self.done.difference_update(message["event_ids"])

    def _prune(self, now: datetime) -> None:
        """Once an hour: remove messages older than MESSAGES_KEPT_DAYS no channel waits for."""
        if self.pruned_at is not None and (now - self.pruned_at).total_seconds() < PRUNE_EVERY_S:
            return
        try:
            removed = self.store.alerts.forget_messages_before(now - timedelta(days=MESSAGES_KEPT_DAYS), keep=set(self.open))
        except StorageUnavailable:
            return
        self.pruned_at = now
        if removed:
            log.info("Removed %d message(s) older than %d days", removed, MESSAGES_KEPT_DAYS)

    def _storage_failed(self, problem: str) -> None:
        if self.storage_down is None:
            self.storage_down = problem
            event = {
                "kind": "storage_unavailable",
                "level": "error",
                "what": problem,
                "fix": "check the storage; tasks are retried and the pipeline resumes by itself",
            }
            self._new_message("storage_unavailable", "error", [event], self.clock())

    def _storage_is_back(self) -> None:
        event = {
            "kind": "storage_back",
            "level": "info",
            "what": "storage answers again; work left behind resumes within a minute",
            "why": f"was: {self.storage_down}",
        }
        self.storage_down = None
        self._new_message("storage_back", "info", [event], self.clock())

    # -- delivery ----------------------------------------------------------------
    def _deliver_due(self, now: datetime) -> None:
        """Every channel of every message a channel still waits for, when due: try it once."""
        for message_id, message in list(self.open.items()):
            for channel in self.channels:
                state = message["channels"].get(channel.name)
                if state is None or state["state"] in DONE or now < datetime.fromisoformat(state["next_at"]):
                    continue
                self._try(channel, message, state, now)
                self.unsaved[message_id] = message
            if not _undelivered(message):
                del self.open[message_id]

    def _try(self, channel, message: dict[str, Any], state: dict[str, Any], now: datetime) -> None:
        state["attempts"] += 1
        try:
            channel.send(message)
        except DeliveryFailed as exc:
            state["last_error"] = str(exc)
            age = (now - datetime.fromisoformat(message["made_at"])).total_seconds()
            if age >= GIVE_UP_S:
                state["state"] = "gave_up"
                log.error("Gave up delivering %s to %s after %d tries: %s", message["id"], channel.name, state["attempts"], exc)
                return
            wait = min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** (state["attempts"] - 1))
            state["state"], state["next_at"] = "retrying", (now + timedelta(seconds=wait)).isoformat(timespec="milliseconds")
            log.warning(
                "Could not deliver %s to %s (try %d, next in %.0f s): %s",
                message["id"],
                channel.name,
                state["attempts"],
                wait,
                exc,
            )
            return
        state.update(state="delivered", delivered_at=now.isoformat(timespec="milliseconds"))
        state.pop("next_at", None)


def run_forever(deliverer: Deliverer, every: float = 1.0, stop=lambda: False) -> None:
    """Step every ``every`` seconds until ``stop()``; a bug in one pass is logged, not fatal."""
    while not stop():
        try:
            deliverer.step()
        except Exception:  # keep telling people even if one pass hit a bug
            log.exception("alert delivery pass failed; trying again")
        time.sleep(every)
