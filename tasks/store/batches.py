"""Raw batches and their originals: ``raw/<batch_id>/`` and ``archive/<batch_id>/<name>``.

A batch is committed by its ``manifest.json``, written last: the archived original and
``data.parquet`` go first, so a reader that trusts only batches with a manifest never
sees half of one. Batches are immutable; ``validation.json`` records that the gate passed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.store.backend import StorePart, arrow_gives_memory_back

if TYPE_CHECKING:  # pandas is imported where data is read: DAG files parse without it
    import pandas as pd

RAW, ARCHIVE = "raw", "archive"
DATA_FILE, MANIFEST, VALIDATION, RETRACTION = "data.parquet", "manifest.json", "validation.json", "retraction.json"


def batch_id_for(fingerprint: str) -> str:
    """Content addressed: the same rows always make the same batch id."""
    return f"b-{fingerprint[:16]}"


class Batches(StorePart):
    folder = RAW

    def manifest(self, batch_id: str) -> dict[str, Any] | None:
        """The committed manifest, or ``None`` if the batch is not (or no longer) committed."""
        return self.backend.read_json_or_none(f"{RAW}/{batch_id}/{MANIFEST}")

    def committed(self) -> list[dict[str, Any]]:
        """Manifests of every committed batch, in ingest order."""
        manifests = [m for b in self.backend.children(RAW) if not b.startswith(".") and (m := self.manifest(b))]
        return sorted(manifests, key=lambda m: (m["ingested_at"], m["batch_id"]))

    def is_empty(self) -> bool:
        """No batch was ever ingested (nothing committed, nothing archived)."""
        return not self.committed() and not self.backend.children(ARCHIVE)

    def commit(self, batch_id: str, frame: pd.DataFrame, original: Path, manifest: dict[str, Any]) -> None:
        """Store the original and the parsed rows, then the manifest that makes them visible.

        Re-running after a crash rewrites the same content under the same keys."""
        self.backend.put_local(original, f"{ARCHIVE}/{batch_id}/{manifest['source_file']}")
        self.backend.write_with(f"{RAW}/{batch_id}/{DATA_FILE}", lambda p: frame.to_parquet(p, index=False))
        self.backend.write_json(f"{RAW}/{batch_id}/{MANIFEST}", manifest)

    def read(self, batch_id: str, columns: list[str] | None = None) -> pd.DataFrame:
        import pandas as pd

        arrow_gives_memory_back()
        with self.backend.failures_named(), self.backend.open(f"{RAW}/{batch_id}/{DATA_FILE}") as fh:
            # Each column freed as it is converted, none stacked into a 2-D block: a big batch is
            # not in memory twice while it is read.
            return pd.read_parquet(fh, columns=columns, to_pandas_kwargs={"self_destruct": True, "split_blocks": True})

    def validation(self, batch_id: str) -> dict[str, Any] | None:
        return self.backend.read_json_or_none(f"{RAW}/{batch_id}/{VALIDATION}")

    def mark_validated(self, batch_id: str, record: dict[str, Any]) -> None:
        self.backend.write_json(f"{RAW}/{batch_id}/{VALIDATION}", record)

    def pending_validation(self) -> list[dict[str, Any]]:
        """Committed batches the gate has not passed yet (and not retracted), in ingest order."""
        return [m for m in self.committed() if self.validation(m["batch_id"]) is None and not self.retraction(m["batch_id"])]

    def validated(self) -> list[dict[str, Any]]:
        """The data set: committed batches the gate passed and nobody retracted, in ingest order."""
        return [m for m in self.committed() if self.validation(m["batch_id"]) is not None and not self.retraction(m["batch_id"])]

    def retraction(self, batch_id: str) -> dict[str, Any] | None:
        return self.backend.read_json_or_none(f"{RAW}/{batch_id}/{RETRACTION}")

    def retract(self, batch_id: str, record: dict[str, Any]) -> None:
        """Take a batch out of the data set for good, keeping it (and why) for the record."""
        self.backend.write_json(f"{RAW}/{batch_id}/{RETRACTION}", record)

    def retracted(self) -> set[str]:
        return {m["batch_id"] for m in self.committed() if self.retraction(m["batch_id"])}

    def restore(self, manifest: dict[str, Any], data_key: str, original_key: str | None, validation: dict[str, Any]) -> None:
        """Bring a batch back from another part of the store (a released quarantine entry):
        content, original and validation record first, the manifest last."""
        batch_id = manifest["batch_id"]
        self.backend.copy(data_key, f"{RAW}/{batch_id}/{DATA_FILE}")
        if original_key is not None and self.backend.exists(original_key):
            self.backend.copy(original_key, self.original_key(manifest))
        self.backend.write_json(f"{RAW}/{batch_id}/{VALIDATION}", validation)
        self.backend.write_json(f"{RAW}/{batch_id}/{MANIFEST}", manifest)

    def data_key(self, batch_id: str) -> str:
        return f"{RAW}/{batch_id}/{DATA_FILE}"

    def original_key(self, manifest: dict[str, Any]) -> str:
        return f"{ARCHIVE}/{manifest['batch_id']}/{manifest['source_file']}"

    def remove(self, batch_id: str) -> None:
        """Take a batch out: the manifest first (readers stop trusting it), then the rest."""
        self.backend.delete(f"{RAW}/{batch_id}/{MANIFEST}")
        self.backend.delete_tree(f"{RAW}/{batch_id}")
        self.backend.delete_tree(f"{ARCHIVE}/{batch_id}")
