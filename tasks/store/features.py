"""Feature sets: ``features/<fingerprint>/`` (``train.parquet``, ``test.parquet``,
``manifest.json`` written last) and the ``features/current.json`` pointer.

The pointer is replaced in one write (a rename locally, one PUT on S3) and names only a
committed set. Old sets are pruned, never the current one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tasks.store.backend import StorePart

if TYPE_CHECKING:  # pandas is imported where data is read: DAG files parse without it
    import pandas as pd

FEATURES, CURRENT, MANIFEST = "features", "current.json", "manifest.json"
PARTS = ("train", "test")


class FeatureStore(StorePart):
    folder = FEATURES

    def manifest(self, fingerprint: str) -> dict[str, Any] | None:
        return self.backend.read_json_or_none(f"{FEATURES}/{fingerprint}/{MANIFEST}")

    def current(self) -> dict[str, Any] | None:
        """The manifest of the current feature set, or ``None`` before the first one."""
        pointer = self.backend.read_json_or_none(f"{FEATURES}/{CURRENT}")
        return None if pointer is None else self.manifest(pointer["fingerprint"])

    def commit(self, train: pd.DataFrame, test: pd.DataFrame, manifest: dict[str, Any], *, keep: int = 3) -> None:
        """Write both splits, the manifest, then point ``current.json`` at them."""
        fp = manifest["fingerprint"]
        for part, frame in zip(PARTS, (train, test)):
            self.backend.write_with(f"{FEATURES}/{fp}/{part}.parquet", lambda p, f=frame: f.to_parquet(p, index=False))
        self.backend.write_json(f"{FEATURES}/{fp}/{MANIFEST}", manifest)
        self.backend.write_json(f"{FEATURES}/{CURRENT}", {"fingerprint": fp, "built_at": manifest["built_at"]})
        self._prune(keep=keep, current=fp)

    def read(self, fingerprint: str, part: str) -> "pd.DataFrame":
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {part!r}")
        with self.backend.open(f"{FEATURES}/{fingerprint}/{part}.parquet") as fh:
            import pandas as pd

            return pd.read_parquet(fh)

    def _prune(self, *, keep: int, current: str) -> None:
        """Keep the newest ``keep`` committed sets (by build time) and always the current one."""
        sets = [m for name in self.backend.children(FEATURES) if name.startswith("f-") and (m := self.manifest(name))]
        sets.sort(key=lambda m: m["built_at"], reverse=True)
        for old in sets[keep:]:
            if old["fingerprint"] != current:
                self.backend.delete(f"{FEATURES}/{old['fingerprint']}/{MANIFEST}")
                self.backend.delete_tree(f"{FEATURES}/{old['fingerprint']}")
