"""What the scoring server serves: ``deployment/live.json`` and ``deployment/history/``.

The deploy stage writes a record once the server confirmed a version went live:
``history/<when>-<version>.json`` first, then ``live.json`` (one write replaces it), so
the Pipeline page and ``pipeline status`` say what is live, since when, and what was
before, even while the server is down.
"""

from __future__ import annotations

from typing import Any

from tasks.store.backend import StorePart

DEPLOYMENT, LIVE, HISTORY = "deployment", "live.json", "history"


class Deployments(StorePart):
    folder = DEPLOYMENT

    def live(self) -> dict[str, Any] | None:
        """The last confirmed deployment, or ``None`` before the first."""
        return self.backend.read_json_or_none(f"{DEPLOYMENT}/{LIVE}")

    def record(self, deployment: dict[str, Any]) -> None:
        """Keep ``deployment`` (with ``version`` and ``live_since``) and make it the live one."""
        stamp = deployment["live_since"].replace(":", "").replace("-", "")
        self.backend.write_json(f"{DEPLOYMENT}/{HISTORY}/{stamp}-{deployment['version']}.json", deployment)
        self.backend.write_json(f"{DEPLOYMENT}/{LIVE}", deployment)

    def history(self, count: int) -> list[dict[str, Any]]:
        """The ``count`` newest deployments, newest first."""
        names = sorted(self.backend.children(f"{DEPLOYMENT}/{HISTORY}"), reverse=True)[:count]
        return [r for n in names if (r := self.backend.read_json_or_none(f"{DEPLOYMENT}/{HISTORY}/{n}")) is not None]
