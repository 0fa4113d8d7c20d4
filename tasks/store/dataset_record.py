"""Which data set a data root holds: ``dataset.json``, written once, on first use.

A data root belongs to one data set (name and schema fingerprint). The record is made
with an exclusive create, so two first starts cannot record two data sets; a start with
another data set is refused, naming both, instead of mixing their rows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tasks.store.backend import StorePart

RECORD = "dataset.json"


class DatasetMismatch(RuntimeError):
    """The data root holds another data set than the parameters file describes."""


class DatasetRecord(StorePart):
    folder = RECORD

    def recorded(self) -> dict[str, Any] | None:
        return self.backend.read_json_or_none(RECORD)

    def bind(self, identity: dict[str, str], *, described_by: str) -> dict[str, Any]:
        """Record ``identity`` ({name, fingerprint}) if the root holds none yet; raise
        ``DatasetMismatch`` if it holds another. ``described_by`` names the config for the message."""
        record = self.recorded()
        if record is None:
            record = {**identity, "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")}
            if self.backend.create_exclusive(RECORD, json.dumps(record, indent=2).encode()):
                return record
            record = self.recorded() or record  # someone else recorded first: judge against theirs
        if (record["name"], record["fingerprint"]) != (identity["name"], identity["fingerprint"]):
            raise DatasetMismatch(
                f"data root {self.backend.url} holds data set '{record['name']}' (schema {record['fingerprint']}, "
                f"since {record.get('recorded_at', '?')}), but {described_by} describes '{identity['name']}' "
                f"(schema {identity['fingerprint']}). Fix: give '{identity['name']}' its own data root "
                f"(PIPELINE_DATA_URL), or start with the parameters file of '{record['name']}'"
            )
        return record
