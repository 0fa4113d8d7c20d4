"""Approval before a model goes live, without Airflow: the parameters, the store's first-answer-
wins decision, evaluation holding a challenger, superseding, and the promotion a yes leads to.
Answers through Airflow (Required Actions, REST API, the CLI) are in tests/test_approvals_e2e.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import iris_config_text

from tasks.config import Approval, ConfigError, duration_s, load_config
from tasks.stages.approve import Answer, promote_approved, record_answer
from tasks.stages.evaluate import AWAITING_APPROVAL, EvaluationResult, evaluate_version
from tasks.stages.train import train
from tasks.ui.approvals import decision_line, waiting_line


def _parameters(tmp_path: Path, deploy: str) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(iris_config_text() + "\n[deploy]\n" + deploy)
    return path


def test_approval_is_off_unless_asked_for(tmp_path):
    assert load_config(_parameters(tmp_path, "")).approval == Approval(required=False)


def test_the_deploy_table_reads_mode_timeout_and_what_a_timeout_decides(tmp_path):
    approval = load_config(
        _parameters(tmp_path, 'approval = "always"\napproval_timeout = "30m"\non_timeout = "approve"')
    ).approval
    assert approval == Approval(required=True, timeout_s=1800.0, on_timeout="approve")
    assert [duration_s(d) for d in ("90s", "30m", "24h", "2d", "1.5h")] == [90, 1800, 86400, 172800, 5400]


@pytest.mark.parametrize(
    ("deploy", "named"),
    [
        ('approval = "sometimes"', "deploy.approval"),
        ('approval_timeout = "tomorrow"', "deploy.approval_timeout"),
        ('approval_timeout = "0s"', "deploy.approval_timeout"),
        ('on_timeout = "ignore"', "deploy.on_timeout"),
        ('approvals = "always"', "deploy.approvals"),
    ],
)
def test_a_wrong_deploy_setting_is_refused_naming_the_key(tmp_path, deploy, named):
    with pytest.raises(ConfigError) as refused:
        load_config(_parameters(tmp_path, deploy))
    assert named in str(refused.value)


def test_the_first_decision_counts_and_a_later_one_learns_it(store):
    store.approvals.request("v0001", {"reason": "r"})
    first = store.approvals.decide("v0001", {"decision": "approved", "how": "answered", "by": "ann", "at": "t1"})
    second = store.approvals.decide("v0001", {"decision": "rejected", "how": "answered", "by": "bob", "at": "t2"})
    assert first == (True, {"version": "v0001", "decision": "approved", "how": "answered", "by": "ann", "at": "t1"})
    assert second[0] is False and second[1]["by"] == "ann"
    assert store.approvals.waiting() == [] and store.approvals.decided(5)[0]["decision"]["by"] == "ann"


@pytest.fixture
def held(featured):
    """A store whose first model evaluation held for approval."""
    featured.config = dataclasses.replace(featured.config, approval=Approval(required=True, timeout_s=60))
    version = train(featured.store, featured.config).card["version"]
    featured.metrics = evaluate_version(featured.store, version, featured.config)
    return featured


def _new_version(d) -> str:
    """A new version on the same features (as after a config change)."""
    last = d.store.registry.versions()[-1]
    d.store.backend.write_json(f"models/{last}/model.json", {**d.store.registry.card(last), "features": "f-other"})
    return train(d.store, d.config).card["version"]


def test_a_model_evaluation_would_promote_waits_and_the_champion_stays(held):
    store = held.store
    assert held.metrics["decision"] == AWAITING_APPROVAL
    assert store.registry.champion() is None  # not even the first model goes live unasked
    assert store.registry.evaluation("v0001")["decision"] == AWAITING_APPROVAL
    (waiting,) = store.approvals.waiting()
    assert waiting["version"] == "v0001" and waiting["metric"] == "f1_macro" and waiting["score"] > 0.8
    assert waiting["champion"] is None and waiting["asked"] is None
    assert "v0001 (f1_macro" in waiting_line(waiting) and "no champion yet" in waiting_line(waiting)
    assert EvaluationResult([held.metrics]).awaiting_approval() == "v0001"
    assert EvaluationResult([held.metrics]).alerts() == []  # told once Airflow asks (ModelApproval)


def test_an_approval_promotes_and_records_who_how_and_when(held):
    store = held.store
    result = record_answer(store, "v0001", Answer(approved=True, by="ann", at="2026-12-06T04:00:00+00:00", reason="looks right"))
    assert result.counted and result.alerts() == []
    promotion = promote_approved(store, "v0001")
    champion = store.registry.champion()
    assert champion["version"] == "v0001"
    assert champion["approval"] == {
        "decision": "approved",
        "how": "answered",
        "by": "ann",
        "at": "2026-12-06T04:00:00+00:00",
        "reason": "looks right",
    }
    assert promotion.event_extra()["approval"]["by"] == "ann" and promotion.event_extra()["decision"] == "promoted"
    assert store.registry.evaluation("v0001")["decision"] == "promoted"
    assert "approved by ann (answered)" in store.registry.evaluation("v0001")["reason"]
    assert decision_line(store.approvals.decided(1)[0]).startswith("v0001 approved by ann (answered) at 2026-12-06")


def test_a_rejection_keeps_the_champion_says_why_and_a_second_answer_changes_nothing(held):
    store = held.store
    result = record_answer(store, "v0001", Answer(approved=False, by="ann", at="t1", reason="the data looked odd"))
    (alert,) = result.alerts()
    assert alert["kind"] == "refused" and "rejected by ann" in alert["what"] and alert["why"] == "the data looked odd"
    late = record_answer(store, "v0001", Answer(approved=True, by="bob", at="t2"))
    assert not late.counted and late.decision["by"] == "ann" and late.alerts() == []
    assert "already decided" in late.log_lines()[0]
    assert promote_approved(store, "v0001").nothing_new() == "v0001 was rejected (answered): not promoted"
    assert store.registry.champion() is None
    assert store.registry.evaluation("v0001")["decision"] == "rejected"


@pytest.mark.parametrize("on_timeout", ["reject", "approve"])
def test_the_timeout_decides_as_configured(held, on_timeout):
    answer = Answer(approved=on_timeout == "approve", by=None, at="t1", timed_out=True)
    decision = record_answer(held.store, "v0001", answer).decision
    assert (decision["by"], decision["how"]) == ("timeout", "timeout")
    assert decision["reason"] == f"no answer within the approval timeout: on_timeout = {on_timeout}"
    promote_approved(held.store, "v0001")
    assert ((held.store.registry.champion() or {}).get("version") == "v0001") is (on_timeout == "approve")


def test_a_newer_candidate_supersedes_the_waiting_one(held):
    store = held.store
    newer = _new_version(held)
    assert evaluate_version(store, newer, held.config)["decision"] == AWAITING_APPROVAL
    assert [w["version"] for w in store.approvals.waiting()] == [newer]
    old = store.approvals.entry("v0001")["decision"]
    assert (old["decision"], old["how"], old["by"]) == ("rejected", "superseded", "pipeline")
    assert old["reason"] == f"superseded by {newer}, a newer candidate"
    # The superseded request's own answer, arriving late, changes nothing.
    assert not record_answer(store, "v0001", Answer(approved=True, by="ann", at="t9")).counted
    assert promote_approved(store, "v0001").promoted is None and store.registry.champion() is None


def test_a_worse_challenger_is_refused_without_asking_anyone(held):
    record_answer(held.store, "v0001", Answer(approved=True, by="ann", at="t1"))
    promote_approved(held.store, "v0001")
    dummy = dataclasses.replace(held.config, estimator="sklearn.dummy.DummyClassifier", params={})
    version = train(held.store, dummy).card["version"]
    metrics = evaluate_version(held.store, version, dummy)
    assert metrics["decision"] == "rejected" and held.store.approvals.waiting() == []
    assert held.store.approvals.entry(version) is None and held.store.registry.champion()["version"] == "v0001"


def test_the_cli_answers_are_the_operators_options():
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    from tasks.airflow_api import APPROVE, REJECT

    assert (APPROVE, REJECT) == (ApprovalOperator.APPROVE, ApprovalOperator.REJECT)
