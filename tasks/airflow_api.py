"""Airflow's REST API, as the pipeline's tools use it: a real token from the home's generated
password (SimpleAuthManager). Plain HTTP with the standard library: imports no Airflow, so
the command line and the tests can use it without loading Airflow.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

# Written by Airflow's SimpleAuthManager into the Airflow home on first start.
PASSWORD_FILE = "simple_auth_manager_passwords.json.generated"
# The answers of providers-standard's ApprovalOperator (tests/test_approvals.py checks they match).
APPROVE, REJECT = "Approve", "Reject"


class ApiClient:
    """Airflow's REST API with a real token (SimpleAuthManager, generated password)."""

    def __init__(self, base_url: str, home: Path, username: str = "admin"):
        self.base_url = base_url.rstrip("/")
        self.home = home
        self.username = username
        self._token: str | None = None

    def password(self) -> str:
        return json.loads((self.home / PASSWORD_FILE).read_text())[self.username]

    def _request(self, method: str, path: str, body: Any = None, token: bool = True, timeout: float = 10) -> Any:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")

    def token(self) -> str:
        if self._token is None:
            reply = self._request("POST", "/auth/token", {"username": self.username, "password": self.password()}, token=False)
            self._token = reply["access_token"]
        return self._token

    def get(self, path: str, attempts: int = 6) -> Any:
        """GET with a bounded retry on 5xx. Airflow 3.3.2's /assets/events answers 500 while
        a run created by one of the listed events is still queued (its response model requires
        the run's start_date); it clears once the run starts."""
        for attempt in range(attempts):
            try:
                return self._request("GET", path)
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt == attempts - 1:
                    raise
                time.sleep(0.5)

    def patch(self, path: str, body: Any) -> Any:
        return self._request("PATCH", path, body)

    def post(self, path: str, body: Any, attempts: int = 1) -> Any:
        """POST; ``attempts`` > 1 retries a 5xx (on SQLite a busy database answers 500 after its
        5 s lock wait) for requests where a duplicate does no harm (a retrain, an undo's event)."""
        for attempt in range(attempts):
            try:
                return self._request("POST", path, body)
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt == attempts - 1:
                    raise
                time.sleep(1.0)

    def answer_approval(self, asked: dict[str, Any], approve: bool, reason: str) -> dict[str, Any]:
        """Answer the Required Action at ``asked`` (dag_id, run_id, task_id, map_index), as
        the UI does; HTTPError 409 when it was answered already."""
        path = (
            f"/api/v2/dags/{asked['dag_id']}/dagRuns/{asked['run_id']}/taskInstances/"
            f"{asked['task_id']}/{asked['map_index']}/hitlDetails"
        )
        return self.patch(path, {"chosen_options": [APPROVE if approve else REJECT], "params_input": {"reason": reason}})

    def asset_id(self, name: str) -> int:
        assets = self.get(f"/api/v2/assets?name_pattern={name}&limit=100")["assets"]
        return next(a["id"] for a in assets if a["name"] == name)

    def healthy(self) -> bool:
        try:
            health = self._request("GET", "/api/v2/monitor/health", token=False, timeout=2)
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return all(
            health.get(k, {}).get("status") == "healthy" for k in ("metadatabase", "scheduler", "triggerer", "dag_processor")
        )

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after&limit=100")["dag_runs"]

    def run_ids(self, dag_ids: list[str]) -> dict[str, set[str]]:
        """The runs each DAG has now, to tell the new ones apart later."""
        return {d: {r["dag_run_id"] for r in self.dag_runs(d)} for d in dag_ids}

    def new_successful_run(self, dag_id: str, before: set[str]) -> dict[str, Any] | None:
        """A run not in ``before`` that succeeded, or None yet; raises if a new run failed."""
        new = [r for r in self.dag_runs(dag_id) if r["dag_run_id"] not in before]
        if failed := [r for r in new if r["state"] == "failed"]:
            raise RuntimeError(f"{dag_id} run failed: {failed[0]['dag_run_id']}")
        return next((r for r in reversed(new) if r["state"] == "success"), None)

    def asset_events(self, **params: Any) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return self.get(f"/api/v2/assets/events?limit=100&order_by=-timestamp&{query}")["asset_events"]
