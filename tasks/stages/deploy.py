"""Deploy: make the champion live in the scoring server (runs after every evaluation).

The server loads the registry's champion itself (``POST /reload``: sha256 checked, loaded
beside the serving model, then switched), so this stage only asks and checks the answer:
the champion live, or a clear reason why not while the old version keeps serving. The
confirmed deployment is recorded in the store (``deployment/``). Nothing new promoted and
already live: nothing to do (no event). Imports no Airflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tasks.results import StageResult
from tasks.store import Store

RELOAD_TIMEOUT_S = 120.0  # loading a big model from S3 takes a while; the old one serves meanwhile


class ScoringServerUnreachable(RuntimeError):
    """The scoring server did not answer (down, restarting): worth a retry."""


@dataclass
class DeployResult(StageResult):
    deployed: dict[str, Any] | None = None
    already_live: str | None = None
    refused: str | None = None  # the server could not load the champion

    def nothing_new(self) -> str | None:
        if self.deployed:
            return None
        return (
            f"{self.already_live} is already live: nothing to deploy"
            if self.already_live
            else "No champion yet: nothing to deploy"
        )

    def failure(self) -> str | None:
        return self.refused

    def event_extra(self) -> dict[str, Any]:
        return dict(self.deployed or {})

    def summary(self) -> dict[str, Any]:
        return self.event_extra() or {"live": self.already_live}

    def alerts(self) -> list[dict[str, Any]]:
        """A new champion live (the first of a data root says so)."""
        if not self.deployed:
            return []
        d = self.deployed
        was = f"replacing {d['previous']}" if d["previous"] else "the first champion of this data root"
        return [
            {
                "kind": "promoted",
                "level": "info",
                "what": f"{d['version']} is the champion, live in the scoring server ({was})",
                "why": d.get("promoted_because", ""),
                "versions": [v for v in (d["version"], d["previous"]) if v],
            }
        ]

    def log_lines(self) -> list[str]:
        if not self.deployed:
            return []
        d = self.deployed
        return [f"LIVE {d['version']} since {d['live_since']} (was {d['previous'] or 'none'}) on {d['server']}"]


def deploy_champion(store: Store, server_url: str) -> DeployResult:
    champion = store.registry.champion()
    if champion is None:
        return DeployResult()
    version = champion["version"]
    served = _reload(server_url, version)
    if served.status_code != 200:
        body = _json(served)
        return DeployResult(
            refused=f"the scoring server at {server_url} could not load {version}: {body.get('message', served.text[:200])}; "
            f"{body.get('model_version') or 'no model'} keeps serving. Fix the cause, then run deploy again (Clear the task)"
        )
    answer = _json(served)
    if answer.get("model_version") != version:
        return DeployResult(
            refused=f"the scoring server at {server_url} serves {answer.get('model_version')}, not the champion {version}: "
            "is PIPELINE_DATA_URL the same for the server and the pipeline?"
        )
    live = store.deployments.live()
    if live is not None and live.get("version") == version:  # live before (the server may have restarted since)
        return DeployResult(already_live=version)
    deployed = {
        "version": version,
        "sha256": answer["sha256"],
        "live_since": answer["live_since"],
        "previous": answer.get("previous") or (live or {}).get("version"),
        "server": server_url,
        "promoted_because": (store.registry.evaluation(version) or {}).get("reason", ""),
    }
    if champion.get("approval"):  # who said yes, how and when ([deploy] approval = "always")
        deployed["approval"] = champion["approval"]
    store.deployments.record(deployed)
    return DeployResult(deployed=deployed)


def _reload(server_url: str, version: str) -> httpx.Response:
    try:
        return httpx.post(f"{server_url}/reload", timeout=RELOAD_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise ScoringServerUnreachable(
            f"scoring server unreachable at {server_url} ({type(exc).__name__}: {exc}); {version} is not live yet, "
            "the version before keeps serving if the server runs. Airflow retries; start the server with pipeline run"
        ) from None


def served_version(server_url: str) -> str | None:
    """The version the scoring server answers with (``None``: none live, or not answering)."""
    try:
        return httpx.get(f"{server_url}/version", timeout=5).json().get("model_version")
    except (httpx.HTTPError, ValueError):
        return None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
