from __future__ import annotations

import pytest

from audit.models import AuditEvent
from tests.factories import workflow as wf


@pytest.fixture
def staged(version, developer, validator):
    """The version in staging, with fresh passing computed evidence."""
    wf.good_evidence(version)
    req = wf.request(version, developer, "staging")
    wf.approve(req, validator)
    version.refresh_from_db()
    assert version.stage == "staging"
    return version


def events(action: str, **filters):
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("seq"))


def last_event(action: str) -> AuditEvent | None:
    return AuditEvent.objects.filter(action=action).order_by("-seq").first()
