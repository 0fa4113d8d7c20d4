"""The chain's assets: ``inbox -> raw -> features -> model -> metrics -> deployment``, the
scoring side ``scoring_inbox -> predictions``, and ``quarantine``.

Built when a DAG file asks (``chain_assets()``), not at import: their URIs follow
``PIPELINE_DATA_URL``, and the inbox carries its watchers (triggers):

- default: ``InboxTrigger`` claims new files before it fires;
- ``PIPELINE_INBOX_QUEUE`` set (an SQS queue fed by the bucket's ObjectCreated
  notifications): Airflow's ``MessageQueueTrigger`` fires on each upload, and an
  ``InboxTrigger`` with a long interval stays as the safety net (notifications are
  at-least-once and may be lost). Ingest then claims what is in the inbox itself.

Every asset a stage consumes also carries a ``LeftBehindTrigger``: when a run failed past
its last retry (storage down or full) and left that stage's input waiting, the stage is
rung once more as soon as storage works, with no new drop.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from airflow.sdk import Asset, AssetAlias, AssetWatcher

from tasks.config import DEFAULT_SETTLE_S, Settings, is_object_storage
from tasks.orchestration.inbox_trigger import LOCAL_POLL_S, OBJECT_POLL_S, QUEUE_SAFETY_SWEEP_S, InboxTrigger
from tasks.orchestration.resume_trigger import LeftBehindTrigger
from tasks.store import part_uri

SERVER_CHECKS_POLL_S = 5.0  # how soon a server window's drift check is posted (one small listing)

QUARANTINE_NAME = "quarantine"
# Tasks that may reject input have this alias as an outlet: an event lands on the quarantine
# asset only when something was rejected (a plain outlet would fire on every success), one
# per rejected file, so the Assets page lists each rejection with its reason.
QUARANTINED = AssetAlias(name="quarantined")
# The same for drift checks: one event on the drift asset per check (the file or window it
# checked, which features drifted, the scores), from the tasks that check.
DRIFT_NAME = "drift"
DRIFTED = AssetAlias(name="drifted")


@dataclass(frozen=True)
class ChainAssets:
    inbox: Asset
    raw: Asset
    features: Asset
    model: Asset
    metrics: Asset
    deployment: Asset
    scoring_inbox: Asset
    predictions: Asset
    quarantine: Asset
    drift: Asset


def resume_watcher(data_url: str, kind: str) -> AssetWatcher:
    """Rings the asset's stage again for ``kind`` of work a failed run left behind."""
    return AssetWatcher(name=f"resume_{kind}", trigger=LeftBehindTrigger(data_url, kind))


def scoring_watchers(data_url: str, settle_s: float = DEFAULT_SETTLE_S) -> list[AssetWatcher]:
    """The scoring inbox is watched like the training inbox when it has no queue (it is polled on S3).
    The scoring server's drift checks ring the same DAG, which posts them (the server has no
    Airflow credentials): at once, not after the left-behind wait."""
    interval = OBJECT_POLL_S if is_object_storage(data_url) else LOCAL_POLL_S
    return [
        AssetWatcher(name="scoring_new_files", trigger=InboxTrigger(data_url, interval, settle_s, inbox="scoring")),
        resume_watcher(data_url, "scoring_claims"),
        AssetWatcher(
            name="server_drift_checks",
            trigger=LeftBehindTrigger(data_url, "server_drift_checks", check_s=SERVER_CHECKS_POLL_S, after_s=0),
        ),
    ]


def inbox_watchers(data_url: str, inbox_queue: str | None, settle_s: float = DEFAULT_SETTLE_S) -> list[AssetWatcher]:
    if not inbox_queue:
        interval = OBJECT_POLL_S if is_object_storage(data_url) else LOCAL_POLL_S
        return [
            AssetWatcher(name="inbox_new_files", trigger=InboxTrigger(data_url, interval, settle_s)),
            resume_watcher(data_url, "claims"),
        ]
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    return [
        AssetWatcher(
            name="inbox_notifications",
            trigger=MessageQueueTrigger(
                scheme="sqs",
                sqs_queue=inbox_queue,
                aws_conn_id=None,  # the standard AWS_* variables, as for the data
                max_messages=10,
                waiter_delay=1,  # seconds between empty polls (default 60)
            ),
        ),
        AssetWatcher(name="inbox_safety_sweep", trigger=InboxTrigger(data_url, QUEUE_SAFETY_SWEEP_S)),
        resume_watcher(data_url, "claims"),
    ]


def chain_assets(settings: Settings | None = None) -> ChainAssets:
    """The assets for ``settings`` (default: the environment's), built once per data location."""
    settings = settings or Settings.from_env()
    return _chain_assets(settings.data_url, settings.inbox_queue, settings.inbox_settle_s)


@cache
def _chain_assets(data_url: str, inbox_queue: str | None, settle_s: float) -> ChainAssets:
    def asset(name: str, what: str, resumes: str | None = None, **kwargs) -> Asset:
        """``resumes``: the kind of left-behind work its stage is rung again for."""
        if resumes:
            kwargs["watchers"] = [*kwargs.get("watchers", []), resume_watcher(data_url, resumes)]
        return Asset(name=name, uri=part_uri(data_url, name), extra={"what": what}, **kwargs)

    return ChainAssets(
        inbox=asset(
            "inbox",
            "drop zone: labelled CSVs dropped here start the pipeline",
            watchers=inbox_watchers(data_url, inbox_queue, settle_s),
        ),
        raw=asset("raw", "immutable, content-hashed batches of accepted drops", resumes="unvalidated_batches"),
        features=asset("features", "train/test split of every validated batch", resumes="untrained_features"),
        model=asset("model", "versioned scikit-learn pipelines and the champion pointer", resumes="unevaluated_model"),
        metrics=asset("metrics", "evaluation reports; latest/report.html is the newest", resumes="undeployed_champion"),
        deployment=asset("deployment", "the champion live in the scoring server: version, since when, the one before"),
        scoring_inbox=asset(
            "scoring_inbox",
            "drop zone for unlabelled CSVs: each is scored by the live champion",
            watchers=scoring_watchers(data_url, settle_s),
        ),
        predictions=asset("predictions", "scored files: every input column plus prediction and probability"),
        quarantine=asset(QUARANTINE_NAME, "rejected drops and batches, each with its reason (pipeline quarantine)"),
        drift=asset(
            DRIFT_NAME, "drift checks of labelled batches and scored files against the champion's training data (pipeline drift)"
        ),
    )
