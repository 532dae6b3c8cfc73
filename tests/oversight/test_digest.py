"""The weekly digest (issue 17): a Celery beat task e-mails the risk officers what is overdue or due for
revalidation, the overdue findings and the incidents' Art. 73 deadline status; the send is audited."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.core import mail

from governance.oversight import services, tasks
from tests.factories.accounts import as_user, person
from tests.oversight.conftest import events

pytestmark = pytest.mark.django_db


@pytest.fixture
def locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox.clear()


def test_the_beat_schedule_runs_the_digest_on_mondays():
    entry = settings.CELERY_BEAT_SCHEDULE["oversight-weekly-digest"]
    assert entry["task"] == "oversight.weekly_digest"
    assert entry["schedule"].day_of_week == {1} and entry["schedule"].hour == {7}


def test_the_digest_lists_due_validations_overdue_findings_and_incidents(
    locmem, production, developer, validator, risk_officer, travel
):
    travel(dt.date(2027, 1, 10))
    validation = services.validation_start(by=as_user(validator), version=production, scope="Annual.")
    late = services.finding_create(
        by=as_user(validator),
        validation=validation,
        severity="high",
        description="Coefficients not reconciled.",
        owner=developer,
        due_date="2027-01-15",
    )
    services.validation_complete(by=as_user(validator), validation=validation, conclusion="fit with conditions")
    travel(dt.datetime(2027, 12, 27, 7, 0, tzinfo=dt.UTC))  # a Monday; revalidation due 2028-01-10 (14 days)
    incident = services.serious_incident_record(
        by=as_user(risk_officer),
        version=production,
        description="Refusals after a feed fault.",
        aware_at="2027-12-20T09:00:00Z",
        affected_persons="Applicants.",
        causal_link="Scores.",
    )
    other_officer = person("risk_officer")
    person("validator")  # not a recipient
    assert tasks.weekly_digest.apply().get() == 1
    [message] = mail.outbox
    assert sorted(message.to) == sorted([risk_officer.email, other_officer.email])
    assert message.subject == (
        "[mlgov] Model risk digest, week of 2027-12-27: 0 validation(s) overdue, 1 finding(s) overdue, "
        "1 incident report(s) owed"
    )
    body = message.body
    name = f"{production.model.name} {production.version}"
    assert "Validations overdue (0):\n  none" in body
    assert f"Validations due within 30 days (1):\n  - {name} (tier_1): due 2028-01-10" in body
    assert f"FND-{late.pk} high on {production}: Coefficients not reconciled." in body
    assert "346 day(s) overdue, open" in body
    assert f"INC-{incident.pk} on {production} (general, Art. 73(2)): report due 2028-01-04 09:00 UTC, pending" in body
    [event] = events("oversight_digest.send")
    data = event.record_json["data"]
    assert data["recipients"] == sorted([risk_officer.email, other_officer.email])
    assert (data["overdue_findings"], data["validations_due_30"], data["incidents_pending"]) == (1, 1, 1)
    assert event.actor_id == "celery:oversight.weekly_digest"


def test_no_risk_officer_address_sends_nothing_and_records_nothing(locmem, db):
    assert tasks.weekly_digest.apply().get() == 0
    assert mail.outbox == [] and events("oversight_digest.send") == []
