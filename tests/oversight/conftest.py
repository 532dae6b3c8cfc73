from __future__ import annotations

import datetime as dt

import pytest

from audit.models import AuditEvent
from governance.oversight import clock
from tests.factories import accounts as account_factories
from tests.factories import workflow as wf


@pytest.fixture
def production(version, developer, validator, risk_officer):
    """The version in production, moved there by the workflow (validator + risk officer signatures)."""
    wf.good_evidence(version)
    wf.approve(wf.request(version, developer, "staging"), validator)
    req = wf.request(version, developer, "production")
    wf.approve(req, validator)
    wf.approve(req, risk_officer)
    version.refresh_from_db()
    assert version.stage == "production"
    return version


@pytest.fixture
def second_validator(db):
    return account_factories.person("validator")


@pytest.fixture
def travel(monkeypatch):
    """Move the oversight clock to a fixed instant: ``travel(dt.date(2028, 1, 1))``."""

    def to(day: dt.date | dt.datetime):
        moment = day if isinstance(day, dt.datetime) else dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
        monkeypatch.setattr(clock, "now", lambda: moment)
        monkeypatch.setattr(clock, "today", lambda: moment.date())
        return moment

    return to


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def last_event(action: str) -> AuditEvent | None:
    return AuditEvent.objects.filter(action=action).order_by("-seq").first()
