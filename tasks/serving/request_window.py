"""The scoring server's requests, gathered into windows for the drift check.

A request only appends references to what it already built (its rows as numbers and its
predictions) to the open window: no copy, no concatenation, no check on the request path. A
window closes when it holds ``window_rows`` rows, when it has been open ``window_s`` seconds,
or when another model version answers (a window is checked against the reference of the
version that scored it). Closed windows wait in memory for the server's checker, which runs
off the request path (``ScoringServer``); at most ``MAX_WAITING`` wait, so a checker that
cannot write (storage down) never grows the server without bound: the oldest is dropped and
the drop is counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

MAX_WAITING = 10  # closed windows kept while the checker cannot keep up


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class ClosedWindow:
    """One window's requests, as the checker takes them."""

    version: str
    opened_at: str
    closed_at: str
    frames: list[pd.DataFrame]
    predictions: list[np.ndarray]

    @property
    def requests(self) -> int:
        return len(self.frames)

    def rows(self) -> tuple[pd.DataFrame, np.ndarray]:
        """The window's rows and their predictions, concatenated (by the checker, not a request)."""
        return pd.concat(self.frames, ignore_index=True), np.concatenate(self.predictions)


@dataclass
class RequestWindow:
    """The open window and the closed ones not yet checked. Used from the server's event loop
    only (requests and the checker's ``take`` alike), so it needs no lock."""

    window_rows: int
    window_s: float
    clock: Callable[[], float] = time.monotonic
    dropped: int = 0  # closed windows dropped because the checker could not keep up
    _version: str | None = None
    _opened: float = 0.0
    _opened_at: str = ""
    _rows: int = 0
    _frames: list[pd.DataFrame] = field(default_factory=list)
    _predictions: list[np.ndarray] = field(default_factory=list)
    _closed: list[ClosedWindow] = field(default_factory=list)

    def add(self, version: str, frame: pd.DataFrame, predictions: np.ndarray) -> None:
        """One answered request (the request path: appends only)."""
        if self._frames and version != self._version:
            self._close()
        if not self._frames:
            self._version, self._opened, self._opened_at = version, self.clock(), _now()
        self._frames.append(frame)
        self._predictions.append(predictions)
        self._rows += len(frame)
        if self._rows >= self.window_rows:
            self._close()

    def take(self, *, everything: bool = False) -> list[ClosedWindow]:
        """The windows to check now: the closed ones, and the open one once ``window_s`` is up
        (or always, with ``everything``: the server is stopping)."""
        if self._frames and (everything or self.clock() - self._opened >= self.window_s):
            self._close()
        closed, self._closed = self._closed, []
        return closed

    def put_back(self, windows: list[ClosedWindow]) -> None:
        """Windows the checker could not record (storage down): tried again on its next pass."""
        self._closed[:0] = windows
        self._bound()

    def _close(self) -> None:
        assert self._version is not None
        self._closed.append(ClosedWindow(self._version, self._opened_at, _now(), self._frames, self._predictions))
        self._frames, self._predictions, self._rows, self._version = [], [], 0, None
        self._bound()

    def _bound(self) -> None:
        while len(self._closed) > MAX_WAITING:
            self._closed.pop(0)
            self.dropped += 1
