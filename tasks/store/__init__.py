"""The storage layer: the only code that knows where and how the pipeline's data is kept.

One data root (``PIPELINE_DATA_URL``: a local folder or ``s3://bucket/prefix``), one layout
on both backends, one part per kind of data:

    inbox/ claimed/         Inbox          drops, and who owns each one (claims)
    raw/ archive/           Batches        immutable content-hashed batches and their originals
    quarantine/<id>/        Quarantine     rejected input, each with reason.json
    features/               FeatureStore   train/test splits and the current.json pointer
    models/                 ModelRegistry  versions, cards, evaluations, champion.json
    metrics/                Reports        per-version reports, and latest/
    deployment/             Deployments    what the scoring server serves, since when, before
    scoring/inbox/ claimed/ Inbox          unlabelled drops to score, and their claims
    predictions/<id>/       Predictions    each scored file: its rows with predictions, summary
    resumes/<kind>/         Resumes        work a failed run left behind, rung for once
    alerts/                 AlertLog       events people are told about, messages and their delivery
    approvals/<version>/    Approvals      models waiting for a person's yes, and the decisions
    drift/                  DriftLog       checks of dropped, scored and served rows against the champion's reference
    dataset.json            DatasetRecord  which data set (name, schema) the root holds
    launcher.json           LauncherRecord which launcher runs on the root (while one does)

Commit rule on every part: content first, then one small file that makes it visible
(manifest, card, reason, pointer); readers trust only committed entries. "Exactly once"
steps (inbox claims, version numbers) use an exclusive create. Stages get a ``Store``
and never build a path themselves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tasks.config import DEFAULT_SETTLE_S
from tasks.store.alert_log import AlertLog
from tasks.store.approvals import Approvals
from tasks.store.backend import Backend, open_backend
from tasks.store.batches import Batches
from tasks.store.dataset_record import DatasetRecord
from tasks.store.deployments import Deployments
from tasks.store.drift_log import DriftLog
from tasks.store.features import FeatureStore
from tasks.store.inbox import SCORING_CLAIMED, SCORING_INBOX, Inbox
from tasks.store.launcher_record import LauncherRecord
from tasks.store.predictions import Predictions
from tasks.store.quarantine import Quarantine
from tasks.store.registry import ModelRegistry
from tasks.store.reports import Reports
from tasks.store.resumes import Resumes

# The top-level folders a person sees, by the Airflow asset (or role) that stands for each.
PART_FOLDERS = {
    "inbox": "inbox",
    "raw": "raw",
    "features": "features",
    "model": "models",
    "metrics": "metrics",
    "quarantine": "quarantine",
    "deployment": "deployment",
    "scoring_inbox": SCORING_INBOX,
    "predictions": "predictions",
    "drift": "drift",
}


# Work a failed run can leave behind, by what waits (each kind is one stage's input).
LEFT_BEHIND = (
    "claims",  # claimed drops not ingested
    "unvalidated_batches",  # batches not through the gate
    "untrained_features",  # the current feature set, no version trained on it
    "unevaluated_model",  # the newest version, not judged
    "undeployed_champion",  # the champion, not what the scoring server was confirmed to serve
    "scoring_claims",  # claimed scoring drops not scored
    "server_drift_checks",  # the scoring server's drift checks, not posted to Airflow yet
)
INTERRUPTED_WRITE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # the local writer's temp names (mkstemp)
LOW_SPACE_BYTES = 1 << 20  # below this a local data root is full (a batch needs more)


def part_uri(data_url: str, part: str) -> str:
    """The URI of one part of the layout, without opening the store (DAG parse time)."""
    from tasks.config import is_object_storage

    folder = PART_FOLDERS[part]
    if is_object_storage(data_url):
        return f"{data_url.rstrip('/')}/{folder}"
    return (Path(data_url.removeprefix("file://")) / folder).as_uri()


class Store:
    def __init__(self, backend: Backend, *, inbox_settle_s: float = DEFAULT_SETTLE_S):
        self.backend = backend
        self.dataset = DatasetRecord(backend)
        self.launcher = LauncherRecord(backend)
        self.inbox = Inbox(backend, settle_s=inbox_settle_s)
        self.batches = Batches(backend)
        self.quarantine = Quarantine(backend)
        self.features = FeatureStore(backend)
        self.registry = ModelRegistry(backend)
        self.reports = Reports(backend)
        self.deployments = Deployments(backend)
        self.scoring_inbox = Inbox(backend, settle_s=inbox_settle_s, folder=SCORING_INBOX, claimed=SCORING_CLAIMED)
        self.predictions = Predictions(backend)
        self.resumes = Resumes(backend)
        self.alerts = AlertLog(backend)
        self.approvals = Approvals(backend)
        self.drift = DriftLog(backend)

    @property
    def url(self) -> str:
        return self.backend.url

    def space_problem(self) -> str | None:
        """What makes the data root unable to take writes now (a full disk), or ``None``."""
        free = self.backend.free_bytes()
        if free is None or free >= LOW_SPACE_BYTES:
            return None
        return f"storage full: {self.backend.endpoint}: {free:,} bytes free"

    def left_behind(self, kind: str, older_than_s: float) -> list[str]:
        """What of ``kind`` (one of ``LEFT_BEHIND``) has waited more than ``older_than_s``
        seconds for the stage that takes it: the run that should have taken it failed."""
        import time

        cutoff = time.time() - older_than_s
        if kind == "claims":
            return _claims_older_than(self.inbox, cutoff)
        if kind == "scoring_claims":
            return _claims_older_than(self.scoring_inbox, cutoff)
        if kind == "server_drift_checks":
            return [i for i in self.drift.to_announce() if self.drift.made_at(i) <= cutoff]
        if kind == "unvalidated_batches":
            return [m["batch_id"] for m in self.batches.pending_validation() if _epoch(m["ingested_at"]) < cutoff]
        if kind == "untrained_features":
            current = self.features.current()
            newest = self.registry.newest_card()
            trained = newest is not None and current is not None and newest["features"] == current["fingerprint"]
            return [current["fingerprint"]] if current and not trained and _epoch(current["built_at"]) < cutoff else []
        if kind == "unevaluated_model":
            newest = self.registry.newest_card()
            waiting = newest is not None and self.registry.evaluation(newest["version"]) is None
            return [newest["version"]] if waiting and _epoch(newest["created_at"]) < cutoff else []
        if kind == "undeployed_champion":
            champion, live = self.registry.champion(), self.deployments.live()
            waiting = champion is not None and (live or {}).get("version") != champion["version"]
            return [champion["version"]] if waiting and _epoch(champion.get("promoted_at")) < cutoff else []
        raise ValueError(f"unknown kind of work {kind!r}: one of {', '.join(LEFT_BEHIND)}")

    def stalled_work(self, older_than_s: float) -> dict[str, list[str]]:
        """Every kind of work failed runs left behind for ``older_than_s`` seconds (empty when none)."""
        return {kind: items for kind in LEFT_BEHIND if (items := self.left_behind(kind, older_than_s))}

    def clean_debris(self, *, abandoned_after_s: float = 3600.0) -> list[str]:
        """Remove what failed writes left (storage full or down mid-write), so it never shows
        or fills the disk: quarantine folders without ``reason.json`` that no re-run will
        complete (no pending claim of either inbox or committed batch has their id), and the
        files of model versions reserved long ago that never got a card. Returns what it
        removed. (Scoring jobs: ``clean_scoring_debris``.)"""
        removed = []
        pending = {c.claim_id for c in [*self.inbox.pending(), *self.scoring_inbox.pending()]}
        for qid in self.quarantine.unfinished():
            if qid not in pending and self.batches.manifest(qid) is None:
                self.quarantine.discard(qid)
                removed.append(f"quarantine/{qid}")
        for version in self.registry.abandoned(abandoned_after_s):
            self.registry.remove_abandoned(version)
            removed.append(f"models/{version}")
        return removed

    def remove_interrupted_writes(self) -> list[str]:
        """Remove the temp files of local writes a killed process never finished (``.<name>.<random>.tmp``
        beside their target; the inbox folders are left alone: their temps are the droppers'). Only
        safe while nothing writes: the launcher calls it once it holds the data root, before
        Airflow starts. Object storage writes whole objects: nothing to remove. Returns the keys."""
        if not self.backend.can_rename:
            return []
        mine = [PART_FOLDERS["inbox"], PART_FOLDERS["scoring_inbox"]]
        removed = [
            key
            for key in self.backend.walk_files("")
            if INTERRUPTED_WRITE.match(key.rsplit("/", 1)[-1]) and not any(key.startswith(f"{f}/") for f in mine)
        ]
        for key in removed:
            self.backend.delete(key)
        return removed

    def clean_scoring_debris(self) -> list[str]:
        """Remove scoring jobs a failed write left without ``summary.json`` whose claim is
        gone (a pending claim's re-run completes its own). Returns what it removed."""
        removed = []
        pending = {c.claim_id for c in self.scoring_inbox.pending()}
        for job_id in self.predictions.unfinished():
            if job_id not in pending:
                self.predictions.discard(job_id)
                removed.append(f"predictions/{job_id}")
        return removed

    def quarantine_batch(
        self,
        manifest: dict[str, Any],
        *,
        stage: str,
        reason: str,
        details: dict[str, Any],
        files: dict[str, bytes] | None = None,
        trees: dict[str, Path] | None = None,
    ) -> dict[str, Any]:
        """Move a committed batch out of the data set into ``quarantine/<batch_id>/``.

        The quarantine entry (original, rows, reasons) is committed first and the batch
        removed after, so a crash in between leaves the batch pending, and the re-run
        quarantines it again to the same place."""
        batch_id = manifest["batch_id"]
        record = self.quarantine.commit(
            batch_id,
            file=manifest["source_file"],
            stage=stage,
            reason=reason,
            details={"batch_id": batch_id, "sha256": manifest["sha256"], "rows": manifest["rows"], **details},
            original_key=self.batches.original_key(manifest),
            copies={"batch/data.parquet": self.batches.data_key(batch_id)},
            files=files,
            trees=trees,
        )
        self.batches.remove(batch_id)
        return record

    def release_batch(self, quarantine_id: str, validation: dict[str, Any]) -> dict[str, Any]:
        """Move a batch the gate quarantined back into the data set, as validated: the batch
        is committed first and the quarantine entry removed after (a crash in between leaves
        both, and releasing again only finishes the removal)."""
        reason = self.quarantine.reason(quarantine_id)
        if reason is None:
            raise KeyError(f"no quarantine entry {quarantine_id!r}")
        batch_key = self.quarantine.key(quarantine_id, "batch/data.parquet")
        if "batch_id" not in reason or not self.backend.exists(batch_key):
            raise ValueError(
                f"quarantine/{quarantine_id} holds no batch (it was rejected at {reason['stage']}: "
                f"{reason['reason']}); fix the file and drop it again"
            )
        manifest = self.batches.manifest(reason["batch_id"])
        if manifest is None:
            manifest = {
                "batch_id": reason["batch_id"],
                "source_file": reason["file"],
                "sha256": reason["sha256"],
                "rows": reason["rows"],
                "ingested_at": reason["quarantined_at"],
                "released_from": quarantine_id,
            }
            self.batches.restore(
                manifest, batch_key, self.quarantine.key(quarantine_id, self.quarantine.original_name(reason)), validation
            )
        self.quarantine.remove(quarantine_id)
        return manifest


def _epoch(timestamp: str | None) -> float:
    """Seconds since the epoch of a recorded ISO time (``None``, from older records: long ago)."""
    from datetime import datetime

    return datetime.fromisoformat(timestamp).timestamp() if timestamp else 0.0


def _claims_older_than(inbox: Inbox, cutoff: float) -> list[str]:
    """Names of ``inbox``'s pending claims made before ``cutoff`` (epoch seconds)."""
    from tasks.store.inbox import claimed_at

    return [c.name for c in inbox.pending() if claimed_at(c.claim_id) < cutoff]


def open_store(data_url: str | None = None, env: Mapping[str, str] | None = None) -> Store:
    """The store at ``data_url``, or at ``PIPELINE_DATA_URL`` (default: the repo's ``data/``).
    ``env``: the settings to read instead of the process environment."""
    from tasks.config import Settings

    settings = Settings.from_env(env)
    return Store(open_backend(data_url or settings.data_url, env), inbox_settle_s=settings.inbox_settle_s)
