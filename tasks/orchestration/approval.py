"""The Required Action that holds a model for a person's yes (``[deploy] approval = "always"``).

``ModelApproval`` is providers-standard's ``ApprovalOperator``: the waiting model appears in
the UI's Required Actions and is answered there, through the REST API (``PATCH
.../hitlDetails``), or with ``pipeline approve|reject`` (which uses that API). On Airflow 3.3
the task waits in ``awaiting_input`` (no worker slot, no triggerer); the scheduler applies the
timeout with ``on_timeout`` as the default answer. What was decided is recorded in the store
(``tasks.stages.approve``) before Airflow acts on it: the first decision counts.

Settings are read when the task runs (the parameters file, like every task), so a changed
timeout needs no DAG change. A newer candidate supersedes an older waiting one: evaluation
records that, and the newer request closes the older Required Action through the REST API.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param
from airflow.sdk.exceptions import AirflowSkipException

from tasks.orchestration.alerting import alert_result, record_alert

log = logging.getLogger(__name__)

# Evaluate runs that may wait for a person at once: a waiting run must not hold back the
# evaluation of the next model (which supersedes it). The judging task itself runs one at a time.
RUNS_AT_ONCE = 16
REASON = "reason"
SUPERSEDED_CLOSED_AT_MOST = 20  # older requests a new one looks at to close in Airflow


def held_for_approval(judged: dict[str, str]) -> dict[str, str]:
    """The evaluate task's return (``{version: decision}``) when a version awaits approval, else
    empty: the evaluate task is a short circuit, so the approval tasks run only when needed."""
    from tasks.stages.evaluate import AWAITING_APPROVAL

    return judged if AWAITING_APPROVAL in judged.values() else {}


def held_version(context: dict[str, Any], evaluated_by: str) -> str | None:
    """The version the evaluation in this run held for approval (its XCom), or ``None``."""
    from tasks.stages.evaluate import AWAITING_APPROVAL

    judged = context["ti"].xcom_pull(task_ids=evaluated_by) or {}
    held = [version for version, decision in judged.items() if decision == AWAITING_APPROVAL]
    return held[-1] if held else None


def _user_name(user: Any) -> str | None:
    if user is None:
        return None
    return user.get("name") if isinstance(user, dict) else getattr(user, "name", str(user))


def _iso(value: Any) -> str:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else str(value)


class ModelApproval(ApprovalOperator):
    """Ask a person whether the model the evaluation task ``evaluated_by`` held may go live."""

    def __init__(self, *, evaluated_by: str, **kwargs: Any) -> None:
        super().__init__(
            subject="A model awaits approval",  # replaced by the version's own when the task runs
            params={REASON: Param("", type="string", title="Reason (optional)", description="Kept with the decision")},
            **kwargs,
        )
        self.evaluated_by = evaluated_by

    def execute(self, context: dict[str, Any]) -> Any:
        from tasks.orchestration.dag_defaults import config, store

        version = held_version(context, self.evaluated_by)
        if version is None:
            raise AirflowSkipException("Nothing awaits approval: the evaluation promoted or refused on its own")
        settings, data = config(), store()
        entry = data.approvals.entry(version)
        if entry is None or entry["decision"] is not None:
            raise AirflowSkipException(f"{version} is decided already: {(entry or {}).get('decision')}")
        self.subject = f"Approve model {version} of {settings.dataset.name} to go live?"
        self.body = request_body(entry)
        self.response_timeout = timedelta(seconds=settings.approval.timeout_s)
        self.defaults = [self.APPROVE if settings.approval.on_timeout == "approve" else self.REJECT]
        ti = context["ti"]
        data.approvals.asked(
            version, {"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id, "map_index": ti.map_index}
        )
        close_superseded(data)
        link = self.generate_link_to_ui_from_context(context=context)
        record_alert(
            "approval_waiting",
            "warning",
            lambda: {
                "what": f"{version} awaits approval before it goes live (answer within {settings.approval.timeout_s:g} s, "
                f"then on_timeout = {settings.approval.on_timeout})",
                "why": entry["reason"],
                "fix": f"pipeline approve {version}, or pipeline reject {version} --reason TEXT, "
                "or answer in the Airflow UI's Required Actions (link)",
                "versions": [version],
                "link": link,
            },
        )
        return super().execute(context)

    def execute_complete(self, context: dict[str, Any], event: dict[str, Any]) -> Any:
        from tasks.orchestration.dag_defaults import store
        from tasks.stages.approve import Answer, record_answer

        version = held_version(context, self.evaluated_by)
        if version is not None and "error" not in event:
            answer = Answer(
                approved=list(event["chosen_options"]) == [self.APPROVE],
                by=_user_name(event.get("responded_by_user")),
                at=_iso(event["responded_at"]),
                reason=str((event.get("params_input") or {}).get(REASON) or ""),
                timed_out=bool(event.get("timedout")),
            )
            result = record_answer(store(), version, answer)
            for line in result.log_lines():
                log.info(line)
            alert_result(result)
        return super().execute_complete(context=context, event=event)


def request_body(entry: dict[str, Any]) -> str:
    """What the person sees in Required Actions (Markdown; only numbers and the pipeline's words)."""
    metric, version = entry["metric"], entry["version"]
    champion = f"champion {entry['champion']}: {entry['champion_score']:.4f}" if entry.get("champion") else "no champion yet"
    return (
        f"**{version}**: {metric} {entry['score']:.4f} against the {champion}.\n\n"
        f"Evaluation: {entry['reason']}.\n\n"
        f"Report: the Pipeline page (/pipeline/reports/{version}).\n\n"
        f"From a terminal: `pipeline approve {version}` or `pipeline reject {version} --reason TEXT`."
    )


def close_superseded(data: Any) -> None:
    """Answer "Reject" in Airflow for requests a newer candidate superseded, so Required
    Actions lists only what still needs a person. Through the REST API with the stack's
    user (the generated SimpleAuthManager password in the Airflow home); when that is not
    possible the superseded request stays listed until its timeout, and answering it
    changes nothing (its decision is recorded)."""
    import urllib.error
    from pathlib import Path

    from airflow.configuration import AIRFLOW_HOME, conf

    from tasks.airflow_api import ApiClient

    superseded = [
        e for e in data.approvals.decided(SUPERSEDED_CLOSED_AT_MOST) if e["decision"]["how"] == "superseded" and e["asked"]
    ]
    if not superseded:
        return
    api = ApiClient(conf.get("api", "base_url"), Path(AIRFLOW_HOME))
    for entry in superseded:
        asked = entry["asked"]
        path = (
            f"/api/v2/dags/{asked['dag_id']}/dagRuns/{asked['run_id']}/taskInstances/"
            f"{asked['task_id']}/{asked['map_index']}/hitlDetails"
        )
        try:
            if api.get(path).get("response_received"):
                continue
            api.patch(path, {"chosen_options": [ApprovalOperator.REJECT], "params_input": {REASON: entry["decision"]["reason"]}})
            log.info("Closed the superseded request for %s in Airflow", entry["version"])
        except urllib.error.HTTPError as exc:
            if exc.code != 409:  # 409: answered meanwhile, which is all this wanted
                log.warning("Could not close the superseded request for %s in Airflow (%s)", entry["version"], exc)
        except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
            log.warning(
                "Could not close the superseded request for %s in Airflow (%s): it stays listed until its timeout",
                entry["version"],
                exc,
            )
