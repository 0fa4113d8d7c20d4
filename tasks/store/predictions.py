"""Scoring outputs: ``predictions/<job id>/``, one folder per scored file.

A job holds ``predictions.csv`` (every input column, then ``prediction`` and
``probability``), the dropped file under ``original/`` (its name is the dropper's, so it
never lands on the job's own files), and ``summary.json`` (rows, class counts, the model
version), written last: it commits the job, and a folder without it is an unfinished
attempt that the re-run overwrites and listings ignore.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks.store.backend import StorePart

PREDICTIONS, OUTPUT, SUMMARY, ORIGINAL = "predictions", "predictions.csv", "summary.json", "original"


class Predictions(StorePart):
    folder = PREDICTIONS

    def key(self, job_id: str, name: str = "") -> str:
        return f"{PREDICTIONS}/{job_id}/{name}".rstrip("/")

    def commit(self, job_id: str, *, output: Path, original: Path, file: str, summary: dict[str, Any]) -> dict[str, Any]:
        """Write the scored rows and the original, then ``summary.json``."""
        self.backend.put_local(output, self.key(job_id, OUTPUT))
        self.backend.put_local(original, self.key(job_id, f"{ORIGINAL}/{file}"))
        record = {"id": job_id, "file": file, "output": OUTPUT, "original": f"{ORIGINAL}/{file}", **summary}
        self.backend.write_json(self.key(job_id, SUMMARY), record)
        return record

    def summary(self, job_id: str) -> dict[str, Any] | None:
        return self.backend.read_json_or_none(self.key(job_id, SUMMARY))

    def output_uri(self, job_id: str) -> str:
        return self.backend.uri(self.key(job_id, OUTPUT))

    def read_output(self, job_id: str) -> bytes:
        return self.backend.read_bytes(self.key(job_id, OUTPUT))

    def jobs(self) -> list[str]:
        """Committed jobs, oldest first (job ids sort by claim time)."""
        return sorted(j for j in self.backend.children(PREDICTIONS) if self.backend.exists(self.key(j, SUMMARY)))

    def recent(self, count: int) -> list[dict[str, Any]]:
        """The ``count`` newest committed jobs' summaries, newest first."""
        found = []
        for job_id in reversed(sorted(self.backend.children(PREDICTIONS))):
            if (summary := self.summary(job_id)) is not None:
                found.append(summary)
                if len(found) == count:
                    break
        return found

    def unfinished(self) -> list[str]:
        """Job folders without ``summary.json``: attempts a failed write left."""
        return [j for j in self.backend.children(PREDICTIONS) if not self.backend.exists(self.key(j, SUMMARY))]

    def discard(self, job_id: str) -> None:
        self.backend.delete_tree(self.key(job_id))
