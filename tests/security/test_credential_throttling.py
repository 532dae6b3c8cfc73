"""Defects 4 and 5 of issue 10: refused credentials are throttled per address and recorded as one
event per source and window with a count; admin logins and signing passwords lock out."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent, AuditHead
from governance.accounts.throttle import refusals_record
from tests.factories.accounts import PASSWORD, person

pytestmark = pytest.mark.django_db


def _reason_count(data: list[dict], reason: str) -> int:
    return sum(item["count"] for d in data for item in d["reasons"] if item["reason"] == reason)


def _later():
    return timezone.now() + dt.timedelta(minutes=2)


def test_a_flood_of_made_up_tokens_is_throttled_and_recorded_as_one_event(settings, pipeline, api_for):
    settings.REFUSAL_LIMITS = {**settings.REFUSAL_LIMITS, "token": 20}
    good = api_for(pipeline)  # issued before counting
    before = AuditHead.objects.get().size
    bad = APIClient(REMOTE_ADDR="203.0.113.7")
    codes = []
    for i in range(200):
        bad.credentials(HTTP_AUTHORIZATION=f"Token mlg_made{i:04d}_up")
        codes.append(bad.get("/api/v1/models/").status_code)
    assert codes[:20] == [401] * 20 and set(codes[20:]) == {429}
    response = bad.get("/api/v1/models/")
    assert int(response["Retry-After"]) > 0 and response.json()["error"]["code"] == "throttled"
    # no log row per refused request (a window that closed during the flood is recorded: one row)
    assert AuditHead.objects.get().size - before <= 1
    # another address is not throttled; a good token still works from there
    assert good.get("/api/v1/models/", REMOTE_ADDR="198.51.100.2").status_code == 200
    assert refusals_record(now=_later()) >= 1
    events = AuditEvent.objects.filter(seq__gte=before, action="api_token.authenticate.denied")
    assert events.count() <= 2, "one event per source and window (a flood may straddle two windows)"
    data = [event.record_json["data"] for event in events]
    assert sum(d["count"] for d in data) == 201
    assert {event.object_id for event in events} == {"ip:203.0.113.7"}
    assert _reason_count(data, "throttled") == 181
    assert refusals_record(now=_later()) == 0, "each window is recorded once"


def test_admin_logins_lock_out_per_account_and_address_and_are_audited(client, settings):
    settings.AXES_FAILURE_LIMIT = 5
    officer = person("risk_officer")
    before = AuditHead.objects.get().size
    codes = [
        client.post(
            "/admin/login/?next=/admin/",
            {"username": officer.username, "password": f"wrong-{i}"},
            REMOTE_ADDR="203.0.113.9",
        ).status_code
        for i in range(50)
    ]
    assert codes[:4] == [200] * 4 and codes[-1] == 429, codes
    # the right password no longer works for that account, from any address
    response = client.post(
        "/admin/login/?next=/admin/", {"username": officer.username, "password": PASSWORD}, REMOTE_ADDR="198.51.100.4"
    )
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    # and that address is locked for other accounts too
    other = person("validator")
    response = client.post(
        "/admin/login/?next=/admin/", {"username": other.username, "password": PASSWORD}, REMOTE_ADDR="203.0.113.9"
    )
    assert response.status_code == 429
    refusals_record(now=_later())
    events = AuditEvent.objects.filter(seq__gte=before, action="user.login.denied")
    assert events.exists(), "failed admin logins are audited"
    data = [event.record_json["data"] for event in events]
    assert _reason_count(data, "lockout started") >= 1
    assert officer.username in {s for d in data for s in d["subjects"]}


def test_wrong_signing_passwords_lock_signing(settings, version, developer):
    from governance.common.errors import DomainError
    from tests.factories import workflow

    settings.REFUSAL_LIMITS = {**settings.REFUSAL_LIMITS, "signing": 5}
    workflow.good_evidence(version)
    req = workflow.request(version, developer)
    validator = person("validator")
    for _ in range(5):
        with pytest.raises(DomainError, match="password re-entry failed"):
            workflow.approve(req, validator, password="not-it")
    with pytest.raises(DomainError, match="signing is locked"):
        workflow.approve(req, validator)  # the right password, after five wrong ones
    req.refresh_from_db()
    assert req.status == "pending"
    # the lockout ages out
    from governance.accounts.models import CredentialRefusalWindow

    CredentialRefusalWindow.objects.update(window_start=timezone.now() - dt.timedelta(hours=1))
    workflow.approve(req, validator)
