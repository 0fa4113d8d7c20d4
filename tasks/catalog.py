"""The catalogue: where every piece of data lives, and the Airflow assets that stand for it.

The one place that knows paths. Task functions take paths as arguments; DAG files
pass them from here. ``PIPELINE_DATA_DIR`` moves the data root (tests use a temp
folder); ``PIPELINE_CONFIG`` picks another parameters file.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow.sdk import Asset, AssetWatcher

from tasks.inbox_trigger import InboxClaimTrigger

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("PIPELINE_DATA_DIR", REPO_ROOT / "data")).resolve()
CONFIG_FILE = Path(os.environ.get("PIPELINE_CONFIG", REPO_ROOT / "pipeline.toml")).resolve()
EXPECTATIONS_FILE = REPO_ROOT / "expectations" / "raw.json"

INBOX_DIR = DATA_DIR / "inbox"  # drop zone
CLAIMED_DIR = DATA_DIR / "claimed"  # taken from the inbox, waiting for ingest
RAW_DIR = DATA_DIR / "raw"  # immutable batches: raw/<batch_id>/
ARCHIVE_DIR = DATA_DIR / "archive"  # original files of ingested batches
QUARANTINE_DIR = DATA_DIR / "quarantine"  # rejected input, each with reason.json
FEATURES_DIR = DATA_DIR / "features"  # train/test split: features/current.json -> f-<fingerprint>/
MODELS_DIR = DATA_DIR / "models"  # models/<version>/, models/champion.json
METRICS_DIR = DATA_DIR / "metrics"  # metrics/<version>/, metrics/latest

INBOX = Asset(
    name="inbox",
    uri=INBOX_DIR.as_uri(),
    extra={"what": "drop zone: labelled CSVs dropped here start the pipeline"},
    watchers=[
        AssetWatcher(
            name="inbox_new_files",
            trigger=InboxClaimTrigger(inbox=str(INBOX_DIR), claimed_dir=str(CLAIMED_DIR)),
        )
    ],
)
RAW = Asset(name="raw", uri=RAW_DIR.as_uri(), extra={"what": "immutable, content-hashed batches of accepted drops"})
FEATURES = Asset(name="features", uri=FEATURES_DIR.as_uri(), extra={"what": "train/test split of every validated batch"})
MODEL = Asset(name="model", uri=MODELS_DIR.as_uri(), extra={"what": "versioned scikit-learn pipelines and the champion pointer"})
METRICS = Asset(name="metrics", uri=METRICS_DIR.as_uri(), extra={"what": "evaluation reports; latest/report.html is the newest"})

# What every DAG of the chain shares: one run at a time (runs work from the files on
# disk, so a second concurrent run would race the first), no backfill, retries with backoff.
DAG_SETTINGS = {
    "start_date": datetime(2026, 1, 1, tzinfo=UTC),
    "catchup": False,
    "max_active_runs": 1,
    "default_args": {
        "retries": 2,
        "retry_delay": timedelta(seconds=10),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=5),
    },
}
