"""The model registry: ``models/<version>/`` and ``models/champion.json``.

A version is ``model.joblib`` plus its card ``model.json`` (lineage, parameters, library
versions, the joblib file's sha256), written last. Version names are reserved with an
exclusive create (``reservation.json``), so two trainers can never take the same number;
an attempt that fails removes its folder (the number is taken by the next one), and a
reservation a crash left without a card is skipped by readers and removed an hour later.
Loading checks the sha256 first: joblib is pickle, and a pickle runs code when loaded.
``evaluation.json`` records that a version was judged; ``champion.json`` names the champion.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks.store.backend import StorageUnavailable, StorePart, sha256_file

MODELS = "models"
MODEL_FILE, CARD, RESERVATION, EVALUATION, CHAMPION = (
    "model.joblib",
    "model.json",
    "reservation.json",
    "evaluation.json",
    "champion.json",
)
REFERENCE = "reference.json"  # what the version learned from: the drift checks' reference
VERSION_RE = re.compile(r"^v(\d{4,})$")


class ModelIntegrityError(RuntimeError):
    """A model file does not match the sha256 recorded when it was trained."""


class ModelRegistry(StorePart):
    folder = MODELS

    def _key(self, version: str, name: str) -> str:
        if not VERSION_RE.match(version):
            raise ValueError(f"not a model version: {version!r}")
        return f"{MODELS}/{version}/{name}"

    def _numbers(self) -> list[str]:
        """Every version name in use, committed or only reserved."""
        return sorted((n for n in self.backend.children(MODELS) if VERSION_RE.match(n)), key=lambda v: int(v[1:]))

    def versions(self) -> list[str]:
        """Committed versions (with a card), oldest first."""
        return [v for v in self._numbers() if self.backend.exists(self._key(v, CARD))]

    def newest_card(self) -> dict[str, Any] | None:
        """The card of the newest committed version, or ``None`` before the first."""
        for version in reversed(self._numbers()):
            if (card := self.backend.read_json_or_none(self._key(version, CARD))) is not None:
                return card
        return None

    def card(self, version: str) -> dict[str, Any]:
        return self.backend.read_json(self._key(version, CARD))

    def register(self, save: Callable[[str], None], card: dict[str, Any]) -> dict[str, Any]:
        """Store a new version: ``save(path)`` writes the model file. Returns the full card."""
        with tempfile.TemporaryDirectory(prefix="pipeline-model-") as tmp:
            local = Path(tmp) / MODEL_FILE
            save(str(local))
            sha256 = sha256_file(local)
            version = self._reserve()
            card = {**card, "version": version, "sha256": sha256}
            try:
                self.backend.put_local(local, self._key(version, MODEL_FILE))
                self.backend.write_json(self._key(version, CARD), card)
            except BaseException:
                self._give_back(version)
                raise
        return card

    def _give_back(self, version: str) -> None:
        """After a failed attempt to store ``version``: remove what it wrote, reservation last,
        so no folder without a model stays and the number is free. Storage down as well: the
        folder stays until ``remove_abandoned``."""
        with suppress(StorageUnavailable, OSError):
            self._remove_uncommitted(version)

    def _reserve(self) -> str:
        """Take the next free version number with an exclusive create."""
        while True:
            numbers = self._numbers()
            version = f"v{(int(numbers[-1][1:]) + 1) if numbers else 1:04d}"
            stamp = json.dumps({"reserved_at": datetime.now(UTC).isoformat(timespec="seconds")}).encode()
            try:
                if self.backend.create_exclusive(self._key(version, RESERVATION), stamp):
                    return version
            except BaseException:
                self._remove_if_empty(version)  # the folder a failed reservation made
                raise

    def _remove_if_empty(self, version: str) -> None:
        with suppress(StorageUnavailable, OSError):
            if not self.backend.walk_files(f"{MODELS}/{version}"):
                self.backend.delete_tree(f"{MODELS}/{version}")

    def abandoned(self, older_than_s: float) -> list[str]:
        """Reserved versions that never got a card, reserved more than ``older_than_s`` ago
        (their training crashed, or failed with storage down)."""
        cutoff = datetime.now(UTC).timestamp() - older_than_s
        found = []
        for version in self._numbers():
            if self.backend.exists(self._key(version, CARD)):
                continue
            reservation = self.backend.read_json_or_none(self._key(version, RESERVATION))
            reserved_at = datetime.fromisoformat(reservation["reserved_at"]).timestamp() if reservation else 0.0
            if reserved_at < cutoff:
                found.append(version)
        return found

    def remove_abandoned(self, version: str) -> None:
        """Remove an abandoned attempt, its reservation last (its number is free again)."""
        if self.backend.exists(self._key(version, CARD)):
            raise ValueError(f"{version} is a committed version, not an abandoned attempt")
        self._remove_uncommitted(version)

    def _remove_uncommitted(self, version: str) -> None:
        for name in self.backend.walk_files(f"{MODELS}/{version}"):
            if name != RESERVATION:
                self.backend.delete(self._key(version, name))
        self.backend.delete_tree(f"{MODELS}/{version}")  # the reservation, and the empty folder

    def load(self, version: str) -> Any:
        """Load a version's model after checking its sha256 against the card."""
        return self.load_checked(version)[0]

    def load_checked(self, version: str) -> tuple[Any, str]:
        """The model and the sha256 it was checked against (the card's), from one read of each."""
        import joblib

        expected = self.card(version)["sha256"]
        with tempfile.TemporaryDirectory(prefix="pipeline-model-") as tmp:
            local = Path(tmp) / MODEL_FILE
            self.backend.get_local(self._key(version, MODEL_FILE), local)
            actual = sha256_file(local)
            if actual != expected:
                raise ModelIntegrityError(
                    f"{self.backend.uri(self._key(version, MODEL_FILE))}: sha256 {actual[:12]}... does not match "
                    f"model.json ({expected[:12]}...); refusing to load"
                )
            return joblib.load(local), expected

    def evaluation(self, version: str) -> dict[str, Any] | None:
        return self.backend.read_json_or_none(self._key(version, EVALUATION))

    def record_evaluation(self, version: str, record: dict[str, Any]) -> None:
        self.backend.write_json(self._key(version, EVALUATION), record)

    def save_reference(self, version: str, reference: dict[str, Any]) -> None:
        """What ``version`` learned from (``tasks.ml.drift``): drift checks compare against it."""
        self.backend.write_json(self._key(version, REFERENCE), reference)

    def reference(self, version: str) -> dict[str, Any] | None:
        return self.backend.read_json_or_none(self._key(version, REFERENCE))

    def update_evaluation(self, version: str, changes: dict[str, Any]) -> None:
        """A later decision on a judged version (an approval's answer): its scores stay."""
        self.record_evaluation(version, {**(self.evaluation(version) or {}), **changes})

    def unevaluated(self) -> list[str]:
        """Committed versions not judged yet, oldest first."""
        return [v for v in self.versions() if self.evaluation(v) is None]

    def champion(self) -> dict[str, Any] | None:
        """The champion pointer, or ``None`` when there is none yet. Raises on a corrupt file."""
        try:
            champion = self.backend.read_json(f"{MODELS}/{CHAMPION}")
        except FileNotFoundError:
            return None
        if not isinstance(champion, dict) or "version" not in champion:
            raise ValueError(f"{self.backend.uri(f'{MODELS}/{CHAMPION}')} has no 'version'")
        return champion

    def set_champion(self, record: dict[str, Any]) -> None:
        """Replace the pointer in one write."""
        self.backend.write_json(f"{MODELS}/{CHAMPION}", record)
