import json

import pytest
from django.core import mail
from django.db import IntegrityError, transaction

from governance.accounts.principal import Principal
from governance.common.errors import Conflict, IllegalTransition, PermissionRefused, ValidationFailed
from governance.workflow import services
from governance.workflow.models import Approval, StageTransition
from tests.factories import registry as registry_factories
from tests.factories import workflow as wf
from tests.factories.accounts import as_user, person
from tests.workflow.conftest import events, last_event

pytestmark = pytest.mark.django_db


def _denied(action="promotion_request.approve"):
    return json.loads(bytes(last_event(f"{action}.denied").record))["data"]["reason"]


def test_single_approval_promotes_to_staging_with_a_signature(version, developer, validator):
    wf.good_evidence(version)
    req = wf.request(version, developer)
    req = wf.approve(req, validator)
    assert req.status == "promoted" and req.decided_at
    version.refresh_from_db()
    assert version.stage == "staging"
    approval = req.approvals.get()
    assert approval.role == "validator" and approval.decision == "approve" and approval.reauthenticated
    assert approval.signature_meaning == f"I approve the promotion of {version.model.name} {version.version} to staging"
    assert approval.gate_snapshot == req.gate_results
    actions = [
        e.action
        for e in events("promotion_request.approve")
        + events("model_version.stage_change")
        + events("promotion_request.promote")
    ]
    assert actions == ["promotion_request.approve", "model_version.stage_change", "promotion_request.promote"]
    t = StageTransition.objects.get(model_version=version)
    assert (t.from_stage, t.to_stage, t.request_id) == ("development", "staging", req.pk)
    assert t.approvers[0]["username"] == validator.username
    assert sorted(t.evaluation_ids) == sorted({r["evaluation_id"] for r in req.gate_results})


def test_high_risk_production_needs_a_validator_and_a_risk_officer(staged, developer, validator, risk_officer):
    second_validator = person("validator")
    req = wf.request(staged, developer, "production")
    req = wf.approve(req, validator)
    assert req.status == "pending"
    req = wf.approve(req, second_validator)  # two approvals, but no risk officer yet
    assert req.status == "pending"
    assert services.approvals_outstanding(req) == {"approvals": 0, "roles": ["risk_officer"], "given": 2, "required": 2}
    req = wf.approve(req, risk_officer)
    assert req.status == "promoted"
    staged.refresh_from_db()
    assert staged.stage == "production"


def test_own_request_refused(version, developer, risk_officer):
    other = registry_factories.model_version(model=version.model, user=developer)
    wf.good_evidence(other)
    req = wf.request(other, risk_officer)
    with pytest.raises(PermissionRefused, match="own request"):
        wf.approve(req, risk_officer)
    assert "own request" in _denied()


def test_registrant_refused(model, developer, validator):
    dual = person("developer", "validator")
    v2 = registry_factories.model_version(model=model, user=dual)
    wf.good_evidence(v2)
    req = wf.request(v2, developer)
    with pytest.raises(PermissionRefused, match="registered this version"):
        wf.approve(req, dual)
    assert "registered" in _denied()


def test_twice_refused(staged, developer, validator):
    req = wf.request(staged, developer, "production")
    wf.approve(req, validator)
    with pytest.raises(Conflict, match="already signed"):
        wf.approve(req, validator)
    assert req.approvals.count() == 1


def test_database_allows_one_live_signature_per_approver(staged, developer, validator):
    req = wf.request(staged, developer, "production")
    wf.approve(req, validator)
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.create(
            request=req,
            approver=validator,
            role="validator",
            decision="approve",
            justification="again",
            signature_meaning="x",
        )


def test_service_account_never_signs(version, developer, pipeline):
    wf.good_evidence(version)
    req = wf.request(version, developer)
    with pytest.raises(PermissionRefused, match="service account"):
        wf.approve(req, pipeline, password="")
    with pytest.raises(PermissionRefused, match="service account"):
        wf.reject(req, pipeline, password="")


def test_role_not_accepted(version, developer, auditor):
    wf.good_evidence(version)
    req = wf.request(version, developer)
    other_dev = person("developer")
    for user in (auditor, other_dev):
        with pytest.raises(PermissionRefused, match="accepts signatures from"):
            wf.approve(req, user)


def test_wrong_password_and_empty_justification(version, developer, validator):
    wf.good_evidence(version)
    req = wf.request(version, developer)
    with pytest.raises(PermissionRefused, match="password"):
        wf.approve(req, validator, password="not-my-password")
    assert "password" in _denied()
    with pytest.raises(ValidationFailed):
        wf.approve(req, validator, justification="  ")
    with pytest.raises(ValidationFailed):
        wf.reject(req, validator, justification="")
    assert not req.approvals.exists()
    req.refresh_from_db()
    assert req.status == "pending"


def test_failing_gates_refuse_approval(version, developer, validator):
    wf.good_evidence(version, fairness={"disparate_impact_ratio": 0.7})
    req = wf.request(version, developer)
    assert not req.gates_passed
    with pytest.raises(Conflict, match="gates fail"):
        wf.approve(req, validator)
    with pytest.raises(PermissionRefused, match="only a risk officer"):
        wf.approve(req, validator, override_justification="I say so")
    assert not req.approvals.exists()


def test_missing_evidence_refuses_approval(version, developer, validator):
    req = wf.request(version, developer)
    with pytest.raises(Conflict, match="gates fail"):
        wf.approve(req, validator)


def test_risk_officer_override(staged, developer, validator, risk_officer):
    wf.evaluation(staged, kind="drift", metrics={"max_psi": 0.31})
    req = wf.request(staged, developer, "production")
    assert not req.gates_passed
    with pytest.raises(Conflict):
        wf.approve(req, risk_officer)  # no override justification: refused
    req = wf.approve(req, risk_officer, override_justification="PSI driven by a known seasonal shift; see memo 12.")
    approval = req.approvals.get()
    assert approval.is_override and approval.overridden_checks == ["drift:max_psi"] and approval.role == "risk_officer"
    # the override covers the failing check: the validator may now sign and the promotion happens
    req = wf.approve(req, validator)
    assert req.status == "promoted"
    data = json.loads(bytes(last_event("promotion_request.approve").record))["data"]
    assert data["override"] is False
    first = json.loads(bytes(events("promotion_request.approve")[-2].record))["data"]
    assert first["override"] is True and first["override_justification"].startswith("PSI")


def test_override_is_refused_when_gates_pass(version, developer, risk_officer):
    wf.good_evidence(version)
    req = wf.request(version, developer)
    with pytest.raises(ValidationFailed, match="nothing to override"):
        wf.approve(req, risk_officer, override_justification="just in case")


def test_reject(version, developer, validator, risk_officer, django_capture_on_commit_callbacks):
    wf.good_evidence(version)
    req = wf.request(version, developer)
    with django_capture_on_commit_callbacks(execute=True):
        req = wf.reject(req, risk_officer)
    assert req.status == "rejected"
    assert req.approvals.get().signature_meaning.startswith("I reject the promotion")
    assert mail.outbox[-1].to == [developer.email] and "rejected" in mail.outbox[-1].subject
    with pytest.raises(IllegalTransition):
        wf.approve(req, validator)
    version.refresh_from_db()
    assert version.stage == "development"


def test_notifications(version, developer, validator, risk_officer, django_capture_on_commit_callbacks):
    wf.good_evidence(version)
    with django_capture_on_commit_callbacks(execute=True):
        req = wf.request(version, developer)
    awaiting = mail.outbox[-1]
    assert "Awaiting your signature" in awaiting.subject
    assert set(awaiting.to) == {validator.email, risk_officer.email}
    with django_capture_on_commit_callbacks(execute=True):
        wf.approve(req, validator)
    assert mail.outbox[-1].to == [developer.email] and "promoted" in mail.outbox[-1].subject


def test_production_retires_previous_and_supersedes_other_requests(staged, developer, validator, risk_officer):
    model = staged.model
    req = wf.request(staged, developer, "production")
    wf.approve(req, validator)
    wf.approve(req, risk_officer)
    b = registry_factories.model_version(model=model, user=developer)
    c = registry_factories.model_version(model=model, user=developer)
    for v in (b, c):
        wf.good_evidence(v)
        wf.approve(wf.request(v, developer, "staging"), validator)
    req_b = wf.request(b, developer, "production")
    req_c = wf.request(c, developer, "production")
    wf.approve(req_c, validator)
    wf.approve(req_b, validator)
    req_b = wf.approve(req_b, risk_officer)
    assert req_b.status == "promoted"
    req_c.refresh_from_db()
    assert req_c.status == "superseded" and req_c.superseded_by_id == req_b.pk
    staged.refresh_from_db()
    b.refresh_from_db()
    assert staged.stage == "retired" and b.stage == "production"
    retired = StageTransition.objects.get(model_version=staged, to_stage="retired")
    assert retired.from_stage == "production" and retired.request_id == req_b.pk
    assert last_event("promotion_request.supersede").object_id == str(req_c.pk)
    with pytest.raises(IllegalTransition):
        wf.approve(req_c, risk_officer)


def test_evidence_change_invalidates_signatures(
    staged, developer, validator, risk_officer, django_capture_on_commit_callbacks
):
    req = wf.request(staged, developer, "production")
    wf.approve(req, validator)
    drift = wf.evaluation(staged, kind="drift", metrics={"max_psi": 0.4})
    with django_capture_on_commit_callbacks(execute=True):
        result = services.evaluation_recorded(drift, by=Principal.system("evaluations"))
    assert result["refreshed"] == [req.pk]
    req.refresh_from_db()
    assert not req.gates_passed
    approval = req.approvals.get()
    assert approval.invalidated_at and "drift:max_psi" in approval.invalidated_reason
    data = json.loads(bytes(last_event("promotion_request.gates_refresh").record))["data"]
    assert data["newly_failing"] == ["drift:max_psi"] and data["invalidated_approvals"] == [approval.pk]
    assert "Awaiting your signature" in mail.outbox[-1].subject
    # fixed evidence: the gates pass again, the validator must sign again (the old signature stays, invalidated)
    fixed = wf.evaluation(staged, kind="drift", metrics={"max_psi": 0.1})
    services.evaluation_recorded(fixed, by=Principal.system("evaluations"))
    req.refresh_from_db()
    assert req.gates_passed
    assert services.approvals_outstanding(req)["given"] == 0
    wf.approve(req, validator)
    req = wf.approve(req, risk_officer)
    assert req.status == "promoted" and req.approvals.count() == 3


def test_unchanged_evidence_does_not_write(staged, developer):
    req = wf.request(staged, developer, "production")
    before = len(events("promotion_request.gates_refresh"))
    services.promotion_gates_refresh(by=Principal.system("x"), request=req)
    assert len(events("promotion_request.gates_refresh")) == before


def test_monitoring_breach_flags_production_version(
    staged, developer, validator, risk_officer, django_capture_on_commit_callbacks
):
    req = wf.request(staged, developer, "production")
    wf.approve(req, validator)
    wf.approve(req, risk_officer)
    ok = wf.evaluation(staged, kind="drift", metrics={"max_psi": 0.1}, dataset="live-2026-11")
    assert services.evaluation_recorded(ok, by=Principal.system("evaluations"))["flag"] is None
    bad = wf.evaluation(staged, kind="drift", metrics={"max_psi": 0.35}, dataset="live-2026-12")
    with django_capture_on_commit_callbacks(execute=True):
        result = services.evaluation_recorded(bad, by=Principal.system("evaluations"))
    flag = staged.review_flags.get()
    assert result["flag"] == flag.pk and flag.breaches[0]["metric"] == "max_psi"
    assert last_event("model_version.review_flag").object_id == str(staged.pk)
    message = mail.outbox[-1]
    assert "Review needed" in message.subject
    assert developer.email in message.to and risk_officer.email in message.to
    flag = services.review_flag_resolve(
        by=as_user(risk_officer),
        flag=flag,
        resolution="Retrain scheduled; within tolerance for 30 days.",
    )
    assert flag.resolved_at
