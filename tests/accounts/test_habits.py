"""The shared habits: one principal, one role rule, one refusal helper, one audit append per service call."""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from pathlib import Path

import pytest
from django.db import transaction
from django.test import RequestFactory

from audit.context import Actor
from audit.models import AuditEvent
from audit.services import audit_event_append, audit_unit
from governance.accounts.principal import Principal
from governance.accounts.roles import RISK_OFFICER, VALIDATOR, has_role
from governance.common.errors import Conflict, NotFound, PermissionRefused, ValidationFailed
from governance.common.refusals import RefusalWindow, record_refusal_windows, refusals
from governance.registry import services as registry
from governance.registry.models import RegisteredModel
from tests.factories.accounts import ADMIN, as_user, person

pytestmark = pytest.mark.django_db


def new_events(before: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(seq__gte=before).order_by("seq"))


def head() -> int:
    return AuditEvent.objects.count()


# --- one principal --------------------------------------------------------------------------------------------


def test_principal_derives_the_actor_from_the_user():
    user, pipeline = person("developer"), person("pipeline", is_service_account=True)
    p = Principal.for_user(user, auth="token")
    assert p.user == user and p.auth == "token"
    assert p.actor == Actor(type="user", id=str(user.pk), username=user.username, auth="token")
    assert Principal.for_user(pipeline, auth="token").actor.type == "service"


def test_principal_from_a_request_names_how_the_caller_authenticated():
    user = person("developer")
    request = RequestFactory().get("/")
    request.user = user
    assert Principal.for_request(request).auth == "session"
    request.auth = object()  # what DRF sets for token authentication
    assert Principal.for_request(request).auth == "token"

    class Oidc:
        principal_auth = "oidc"

    request.successful_authenticator = Oidc()
    assert Principal.for_request(request).actor.auth == "oidc"


def test_system_and_command_principals_have_no_user_and_no_role():
    job = Principal.system("celery:workflow.requests_expire", auth="celery")
    assert job.user is None and job.actor.id == "celery:workflow.requests_expire" and job.actor.type == "system"
    assert not job.has_role(RISK_OFFICER)
    command = Principal.for_command("issue_token")
    assert command.auth == "cli" and command.actor.id == "cli:issue_token"
    with pytest.raises(ValueError):
        Principal.system("x", auth="token")  # tokens belong to users
    with pytest.raises(ValueError):
        Principal.for_user(None, auth="session")


def test_a_system_principal_cannot_do_what_needs_a_person():
    with pytest.raises(PermissionRefused):
        registry.registered_model_create(
            by=ADMIN,
            name="by-nobody",
            purpose="p",
            business_unit="b",
            eu_ai_act_category="minimal",
            risk_tier="tier_3",
        )
    assert not RegisteredModel.objects.filter(name="by-nobody").exists()


# --- one role rule --------------------------------------------------------------------------------------------


def test_the_role_rule_active_users_only_superusers_explicit():
    validator = person("validator")
    assert has_role(validator, VALIDATOR) and not has_role(validator, RISK_OFFICER)
    assert as_user(validator).has_role(VALIDATOR, RISK_OFFICER)

    admin = person(is_superuser=True)
    assert has_role(admin, RISK_OFFICER)  # an active superuser holds every role...
    assert not has_role(admin, RISK_OFFICER, superusers=False)  # ...unless the rule says otherwise
    assert admin.has_role(RISK_OFFICER) and not admin.has_role(RISK_OFFICER, superusers=False)

    validator.is_active = False
    admin.is_active = False
    assert not has_role(validator, VALIDATOR) and not has_role(admin, RISK_OFFICER)
    assert not as_user(validator).has_role(VALIDATOR) and as_user(validator).roles == frozenset()
    with pytest.raises(ValueError):
        has_role(validator, "approver")  # a typo is a programming error, not a refusal


def test_an_inactive_superuser_registers_nothing():
    """registry used to skip is_active; the one rule does not."""
    admin = person(is_superuser=True)
    admin.is_active = False
    before = head()
    with pytest.raises(PermissionRefused):
        registry.registered_model_create(
            by=as_user(admin),
            name="by-inactive",
            purpose="p",
            business_unit="b",
            eu_ai_act_category="minimal",
            risk_tier="tier_3",
        )
    assert [e.action for e in new_events(before)] == ["registered_model.create.denied"]


# --- one refusal ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status"), [(PermissionRefused, 403), (NotFound, 404), (Conflict, 409), (ValidationFailed, 400)]
)
def test_a_refusal_is_audited_once_after_the_rollback_and_keeps_its_type(error, status):
    user = person("developer")
    by = as_user(user)
    before = head()
    with pytest.raises(error) as info:
        with refusals(by, "thing.change", {"type": "thing", "id": "7"}):
            # nested services: recorded once, by the innermost block
            with refusals(by, "thing.change", {"type": "thing", "id": "7"}, details={"attempt": 1}):
                with audit_unit(by.actor) as audit:
                    audit.add("thing.change", {"type": "thing", "id": "7"})
                    raise error("not like this", field="thing", details={"why": "tested"})
    assert info.value.status == status and info.value.fields == {"thing": ["not like this"]}
    (denied,) = new_events(before)  # the refused change left no event; its denial is on record
    record = json.loads(bytes(denied.record))
    assert record["action"] == "thing.change.denied" and record["actor"]["id"] == str(user.pk)
    assert record["data"] == {"reason": "not like this", "field": "thing", "why": "tested", "attempt": 1}


def test_a_refusal_without_a_usable_target_is_still_recorded():
    before = head()
    with pytest.raises(ValidationFailed), refusals(ADMIN, "evaluation.create", {"type": "model_version", "id": ""}):
        raise ValidationFailed("model_version: is required", field="model_version")
    with pytest.raises(ValidationFailed), refusals(ADMIN, "evaluation.create", {"type": "x", "id": "1", "a b": 1}):
        raise ValidationFailed("odd target keys", field="body")
    first, second = new_events(before)
    assert first.object_id == "unknown" and second.object_id == "unrecordable"


def test_a_window_of_counted_refusals_is_one_denied_event_with_its_count():
    start = dt.datetime(2026, 11, 29, 17, 0, tzinfo=dt.UTC)
    unauthenticated = Actor(type="system", id="unauthenticated", auth="token")
    before = head()
    with transaction.atomic():
        record_refusal_windows(
            [
                RefusalWindow(
                    action="api_token.authenticate",
                    actor=unauthenticated,
                    source="ip:203.0.113.7",
                    count=3,
                    reasons={"unknown token": 2, "throttled": 1},
                    subjects=["made0001", "made0002"],
                    start=start,
                    end=start + dt.timedelta(seconds=60),
                )
            ]
        )
    (event,) = new_events(before)
    record = json.loads(bytes(event.record))
    assert record["action"] == "api_token.authenticate.denied" and record["actor"]["id"] == "unauthenticated"
    assert event.object_id == "ip:203.0.113.7"
    assert record["data"]["count"] == 3 and record["data"]["subjects"] == ["made0001", "made0002"]
    assert record["data"]["reasons"] == [{"reason": "throttled", "count": 1}, {"reason": "unknown token", "count": 2}]


def _denied_spellings(path: Path) -> list[int]:
    """Lines of ``path`` that spell a refusal's action: ``"<action>.denied"`` or ``f"{...}.denied"``."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if re.fullmatch(r"[a-z_]+(\.[a-z_]+)*\.denied", node.value):
                lines.append(node.lineno)
        elif isinstance(node, ast.JoinedStr) and node.values:
            last = node.values[-1]
            if isinstance(last, ast.Constant) and str(last.value).endswith(".denied"):
                lines.append(node.lineno)
    return lines


def test_refusal_events_are_spelled_only_by_the_refusal_helper():
    """Exactly one way to append a refusal: no module of governance/ names a ``.denied`` action
    but ``governance/common/refusals.py`` (windowed credential refusals included)."""
    root = Path(__file__).resolve().parents[2]
    helper = root / "governance" / "common" / "refusals.py"
    assert _denied_spellings(helper), "the helper itself must be found by the scan"
    offenders = {
        str(path.relative_to(root)): lines
        for path in root.joinpath("governance").rglob("*.py")
        if "migrations" not in path.parts and path != helper and (lines := _denied_spellings(path))
    }
    assert offenders == {}


# --- one append per service call ------------------------------------------------------------------------------


def test_a_unit_appends_exactly_its_events_together_at_the_end():
    actor = ADMIN.actor
    before = head()
    with audit_unit(actor) as audit:
        audit.add("thing.create", {"type": "thing", "id": "1"})
        assert head() == before  # nothing written (and no head lock) until the unit ends
        audit_event_append(actor=actor, action="thing.note", target={"type": "thing", "id": "1"})  # joins the unit
        with audit_unit() as inner:  # a service called by a service joins the outer unit
            inner.add("thing.inner", {"type": "thing", "id": "2"})
        try:
            with audit_unit() as failed:
                failed.add("thing.failed", {"type": "thing", "id": "3"})
                raise Conflict("inner refusal")
        except Conflict:
            pass
        assert head() == before
    assert [e.action for e in audit.events] == ["thing.create", "thing.note", "thing.inner"]
    assert [e.action for e in new_events(before)] == ["thing.create", "thing.note", "thing.inner"]
    seqs = [a.seq for a in audit.appended]
    assert seqs == list(range(seqs[0], seqs[0] + 3))  # contiguous: one append


def test_a_unit_that_fails_appends_nothing_and_keeps_nothing():
    before = head()
    with pytest.raises(RuntimeError), audit_unit(ADMIN.actor) as audit:
        RegisteredModel.objects.none()  # any work
        audit.add("thing.create", {"type": "thing", "id": "1"})
        raise RuntimeError("after the change")
    assert head() == before


def test_a_unit_needs_an_actor():
    with pytest.raises(ValueError), transaction.atomic(), audit_unit() as audit:
        audit.add("thing.create", {"type": "thing", "id": "1"})


def test_a_service_call_writes_exactly_its_events():
    developer, officer = person("developer"), person("risk_officer")
    model = registry.registered_model_create(
        by=as_user(developer),
        name="habit-model",
        purpose="p",
        business_unit="b",
        eu_ai_act_category="minimal",
        risk_tier="tier_3",
    )
    before = head()
    registry.registered_model_update(by=as_user(officer), model=model, data={"risk_tier": "tier_2", "purpose": "q"})
    (event,) = new_events(before)
    assert event.action == "registered_model.update" and event.actor_id == str(officer.pk)
    before = head()
    with pytest.raises(PermissionRefused):
        registry.registered_model_update(by=as_user(developer), model=model, data={"risk_tier": "tier_3"})
    assert [e.action for e in new_events(before)] == ["registered_model.update.denied"]
