import datetime as dt
import json

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from governance.common.errors import Conflict, IllegalTransition, NotFound, PermissionRefused, ValidationFailed
from governance.workflow import services
from governance.workflow.models import PromotionRequest
from tests.factories import registry as registry_factories
from tests.factories import workflow as wf
from tests.factories.accounts import ADMIN, as_user, person
from tests.workflow.conftest import events, last_event

pytestmark = pytest.mark.django_db


def test_developer_requests_with_gates_stored(version, developer):
    wf.good_evidence(version)
    req = wf.request(version, developer, "staging")
    assert req.status == "pending" and req.from_stage == "development" and req.gates_passed
    assert req.policy.scope == "high" and req.policy.target_stage == "staging"
    assert {r["outcome"] for r in req.gate_results} == {"pass"}
    record = json.loads(bytes(last_event("promotion_request.create").record))
    assert record["object"]["id"] == str(req.pk) and record["data"]["gates_passed"] is True


def test_pipeline_and_risk_officer_may_request(model, developer, pipeline, risk_officer):
    v1 = registry_factories.model_version(model=model, user=pipeline)
    v2 = registry_factories.model_version(model=model, user=developer)
    assert wf.request(v1, pipeline).status == "pending"
    assert wf.request(v2, risk_officer).status == "pending"


def test_auditor_and_validator_cannot_request(version, auditor, validator):
    for user in (auditor, validator):
        with pytest.raises(PermissionRefused):
            wf.request(version, user)
    assert len(events("promotion_request.create.denied")) == 2


@pytest.mark.parametrize(
    "target, reason, error, field",
    [
        ("development", "x", ValidationFailed, "target_stage"),
        ("production", "x", ValidationFailed, "target_stage"),  # skips staging: the policy forbids it
        ("retired", "x", ValidationFailed, "target_stage"),
        ("staging", "   ", ValidationFailed, "reason"),
    ],
)
def test_bad_requests_are_refused_and_audited(version, developer, target, reason, error, field):
    before = PromotionRequest.objects.count()
    with pytest.raises(error) as info:
        services.promotion_request_create(by=as_user(developer), version=version, target_stage=target, reason=reason)
    assert field in info.value.fields
    assert PromotionRequest.objects.count() == before
    assert last_event("promotion_request.create.denied") is not None


def test_target_equal_to_current_stage(staged, developer):
    with pytest.raises(ValidationFailed, match="already in staging"):
        wf.request(staged, developer, "staging")


def test_unknown_version(developer):
    with pytest.raises(NotFound):
        services.promotion_request_create(by=as_user(developer), version=999999, target_stage="staging", reason="x")
    assert last_event("promotion_request.create.denied").object_id == "999999"


def test_duplicate_open_request(version, developer):
    first = wf.request(version, developer)
    with pytest.raises(Conflict) as info:
        wf.request(version, developer)
    assert str(first.pk) in info.value.message
    assert PromotionRequest.objects.filter(model_version=version).count() == 1


def test_database_refuses_a_second_open_request(version, developer):
    first = wf.request(version, developer)
    with pytest.raises(IntegrityError), transaction.atomic():
        PromotionRequest.objects.create(
            model_version=version,
            from_stage="development",
            target_stage="staging",
            reason="dup",
            requested_by=developer,
            policy=first.policy,
        )


def test_prohibited_model_never_reaches_production(developer, validator, risk_officer):
    model = registry_factories.registered_model(owner=developer, eu_ai_act_category="prohibited")
    version = registry_factories.model_version(model=model, user=developer)
    wf.good_evidence(version)
    req = wf.request(version, developer, "staging")
    wf.approve(req, validator)
    wf.approve(req, risk_officer)
    version.refresh_from_db()
    assert version.stage == "staging"
    with pytest.raises(PermissionRefused, match="prohibited"):
        wf.request(version, developer, "production")


def test_withdraw_by_requester(version, developer):
    req = wf.request(version, developer)
    req = services.promotion_request_withdraw(by=as_user(developer), request=req, reason="wrong build")
    assert req.status == "withdrawn" and req.decided_at
    assert last_event("promotion_request.withdraw").object_id == str(req.pk)
    # a new request may follow once the old one is closed
    assert wf.request(version, developer).status == "pending"


def test_withdraw_refusals(version, developer, validator):
    req = wf.request(version, developer)
    with pytest.raises(PermissionRefused):
        services.promotion_request_withdraw(by=as_user(validator), request=req, reason="x")
    with pytest.raises(ValidationFailed):
        services.promotion_request_withdraw(by=as_user(developer), request=req, reason="")
    services.promotion_request_withdraw(by=as_user(developer), request=req, reason="done")
    with pytest.raises(IllegalTransition):
        services.promotion_request_withdraw(by=as_user(developer), request=req, reason="again")
    denied = json.loads(bytes(last_event("promotion_request.withdraw.denied").record))
    assert denied["data"]["from"] == "withdrawn" and denied["data"]["to"] == "withdrawn"


def test_requests_expire(version, developer):
    req = wf.request(version, developer)
    later = timezone.now() + dt.timedelta(days=req.policy.request_window_days, hours=1)
    assert services.requests_expire(by=ADMIN, now=timezone.now()) == []
    assert services.requests_expire(by=ADMIN, now=later) == [req.pk]
    req.refresh_from_db()
    assert req.status == "expired"
    assert last_event("promotion_request.expire").object_id == str(req.pk)


def test_signing_a_stale_request_expires_it_and_is_refused(version, developer, validator, monkeypatch):
    wf.good_evidence(version)
    req = wf.request(version, developer)
    later = timezone.now() + dt.timedelta(days=req.policy.request_window_days + 1)
    monkeypatch.setattr(services.timezone, "now", lambda: later)
    with pytest.raises(IllegalTransition, match="expired"):
        wf.approve(req, validator)
    req.refresh_from_db()
    assert req.status == "expired" and not req.approvals.exists()
    assert last_event("promotion_request.approve.denied") is not None


def test_tasks_expire_entry_point(version, developer):
    from governance.workflow import tasks

    wf.request(version, developer)
    assert tasks.requests_expire.delay().get() == []


def test_rollback(staged, developer, validator, risk_officer):
    model = staged.model
    rob = person("risk_officer")
    req = wf.request(staged, developer, "production")
    wf.approve(req, validator)
    wf.approve(req, risk_officer)
    newer = registry_factories.model_version(model=model, user=developer)
    wf.good_evidence(newer)
    wf.approve(wf.request(newer, developer, "staging"), validator)
    req2 = wf.request(newer, developer, "production")
    wf.approve(req2, validator)
    wf.approve(req2, risk_officer)
    staged.refresh_from_db()
    assert staged.stage == "retired"
    # an ordinary request cannot bring a retired version back
    with pytest.raises(ValidationFailed, match="rollback"):
        wf.request(staged, developer, "production")
    with pytest.raises(PermissionRefused):
        services.rollback_request_create(by=as_user(developer), version=staged, reason="incident")
    with pytest.raises(ValidationFailed):
        services.rollback_request_create(by=as_user(risk_officer), version=staged, reason=" ")
    rb = services.rollback_request_create(
        by=as_user(risk_officer),
        version=staged,
        reason="Incident 4711: 1.x score drift in production; back to the previous.",
    )
    assert rb.is_rollback and rb.policy.is_rollback and rb.gates_passed
    with pytest.raises(PermissionRefused):  # own request
        wf.approve(rb, risk_officer)
    with pytest.raises(PermissionRefused):  # the rollback policy accepts risk officers only
        wf.approve(rb, validator)
    rb = wf.approve(rb, rob)
    assert rb.status == "promoted"
    staged.refresh_from_db()
    newer.refresh_from_db()
    assert staged.stage == "production" and newer.stage == "retired"
    t = staged.stage_transitions.order_by("-at", "-id").first()
    assert t.is_rollback and t.request_id == rb.pk
    promote = json.loads(bytes(last_event("promotion_request.promote").record))
    assert promote["data"]["is_rollback"] is True and promote["data"]["retired"] == newer.version


def test_rollback_needs_a_version_that_was_in_production(version, developer, risk_officer, validator):
    wf.good_evidence(version)
    wf.approve(wf.request(version, developer), validator)
    version.refresh_from_db()
    with pytest.raises(ValidationFailed):
        services.rollback_request_create(by=as_user(risk_officer), version=version, reason="x")
