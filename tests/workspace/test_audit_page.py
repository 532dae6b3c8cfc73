"""The audit page: auditors and risk officers verify the log and sign checkpoints; both audited."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditCheckpoint, AuditVerification
from tests.workflow.conftest import last_event

pytestmark = pytest.mark.django_db

URL = "/admin/workspace/audit/"


def _client(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("role", ["auditor", "risk_officer"])
def test_operator_verifies_and_signs(role, request, version, django_capture_on_commit_callbacks):
    user = request.getfixturevalue(role)
    client = _client(user)
    assert 'name="verify"' in client.get(URL).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(URL, {"verify": "1"})
    run = AuditVerification.objects.get()
    assert run.ok is True and run.trigger == f"ui:{user.username}"
    assert last_event("audit.verify").actor_username == user.username
    page = client.get(URL).content.decode()
    assert "passed" in page
    client.post(URL, {"checkpoint": "1"})
    checkpoint = AuditCheckpoint.objects.order_by("-size").first()
    event = last_event("audit.checkpoint")
    assert event.actor_username == user.username and checkpoint.size == event.seq + 1, "the request is inside it"


def test_others_cannot_operate_and_the_refusal_is_audited(validator, developer):
    client = _client(validator)
    assert 'name="verify"' not in client.get(URL).content.decode()
    response = client.post(URL, {"verify": "1"}, follow=True)
    assert "Refused" in response.content.decode()
    assert last_event("audit.verify.denied").actor_username == validator.username
    assert not AuditVerification.objects.exists()
    assert _client(developer).get(URL).status_code == 403


def test_verifications_partial_polls_while_running(auditor):
    from django.utils import timezone

    AuditVerification.objects.create(started_at=timezone.now(), trigger="ui:someone", message="checked 5 of 9")
    html = _client(auditor).get("/admin/workspace/audit/verifications/").content.decode()
    assert "data-pending" in html and "checked 5 of 9" in html
