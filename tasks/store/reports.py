"""Evaluation outputs: ``metrics/<version>/`` and ``metrics/latest/``.

Each version's folder holds ``report.html``, ``confusion_matrix.png`` and
``metrics.json`` (written last). ``metrics/latest/`` holds copies of the newest, so
``metrics/latest/report.html`` is a plain key on any backend (no symlinks on S3).
"""

from __future__ import annotations

from typing import Any

from tasks.store.backend import StorePart

METRICS, LATEST, METRICS_FILE = "metrics", "latest", "metrics.json"


class Reports(StorePart):
    folder = METRICS

    def publish(self, version: str, metrics: dict[str, Any], files: dict[str, bytes]) -> None:
        """Write ``files`` and ``metrics.json`` for ``version``, then the same under ``latest/``."""
        for folder in (version, LATEST):
            if folder == LATEST and self.backend.is_link(f"{METRICS}/{LATEST}"):
                self.backend.delete_tree(f"{METRICS}/{LATEST}")  # data dirs from before the store had a symlink
            for name, data in files.items():
                self.backend.write_bytes(f"{METRICS}/{folder}/{name}", data)
            self.backend.write_json(f"{METRICS}/{folder}/{METRICS_FILE}", metrics)

    def metrics(self, version: str = LATEST) -> dict[str, Any] | None:
        return self.backend.read_json_or_none(f"{METRICS}/{version}/{METRICS_FILE}")

    def file(self, version: str, name: str) -> bytes:
        return self.backend.read_bytes(f"{METRICS}/{version}/{name}")
