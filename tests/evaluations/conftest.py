from __future__ import annotations

import pytest

from audit.models import AuditEvent
from tests.factories import evaluations as ev_factories


@pytest.fixture(scope="session")
def g():
    return ev_factories.german()


def events(action: str, **filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("seq"))


def record(event: AuditEvent) -> dict:
    import json

    return json.loads(bytes(event.record))
