"""EU AI Act serious-incident register: Art. 73 deadlines per case, reports, deadline status."""

from __future__ import annotations

import datetime as dt

import pytest

from governance.common.errors import Conflict, IllegalTransition, PermissionRefused, ValidationFailed
from governance.oversight import selectors, services
from governance.oversight.models import IncidentReport, SeriousIncident
from governance.oversight.rules import ART73_DEADLINES
from tests.factories.accounts import as_user
from tests.oversight.conftest import last_event

pytestmark = pytest.mark.django_db

AWARE = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)


def _incident(version, officer, category="general", aware_at=AWARE):
    return services.serious_incident_record(
        by=as_user(officer),
        version=version,
        description="Applicants in one region were refused credit for a week.",
        aware_at=aware_at,
        affected_persons="About 400 applicants in region North.",
        causal_link="The model's score drove the refusals; the region feature drifted.",
        category=category,
    )


@pytest.mark.parametrize(
    ("category", "days", "paragraph"),
    [
        ("general", 15, "Art. 73(2)"),
        ("widespread_or_critical_infrastructure", 2, "Art. 73(3)"),
        ("death", 10, "Art. 73(4)"),
    ],
)
def test_art_73_deadline_for_each_case(version, risk_officer, travel, category, days, paragraph):
    travel(AWARE + dt.timedelta(hours=1))
    incident = _incident(version, risk_officer, category)
    assert incident.reporting_deadline == AWARE + dt.timedelta(days=days)
    assert incident.deadline_rule == paragraph == ART73_DEADLINES[category]["paragraph"]
    event = last_event("serious_incident.create")
    assert (
        event.record_json["data"]["deadline_days"] == days and event.record_json["data"]["deadline_rule"] == paragraph
    )


def test_awareness_in_the_future_is_refused(version, risk_officer, travel):
    travel(AWARE)
    with pytest.raises(ValidationFailed) as exc:
        _incident(version, risk_officer, aware_at=AWARE + dt.timedelta(minutes=5))
    assert exc.value.field == "aware_at"
    assert not SeriousIncident.objects.exists()
    denied = last_event("serious_incident.create.denied")
    assert denied.record_json["data"]["field"] == "aware_at" and denied.actor_username == risk_officer.username


def test_only_risk_officers_record_incidents(version, developer):
    with pytest.raises(PermissionRefused):
        _incident(version, developer)
    assert not SeriousIncident.objects.exists()


def test_unknown_category_is_refused_by_name(version, risk_officer):
    with pytest.raises(ValidationFailed) as exc:
        _incident(version, risk_officer, category="minor")
    assert exc.value.field == "category"


def test_deadline_status_pending_overdue_on_time_late(version, risk_officer, travel):
    travel(AWARE + dt.timedelta(days=1))
    incident = _incident(version, risk_officer)
    assert selectors.incident_deadline_status(incident, now=AWARE + dt.timedelta(days=3))["status"] == "pending"
    assert selectors.incident_deadline_status(incident, now=AWARE + dt.timedelta(days=16))["status"] == "overdue"
    travel(AWARE + dt.timedelta(days=20))
    services.serious_incident_report(
        by=as_user(risk_officer),
        incident=incident,
        kind="initial",
        submitted_at=AWARE + dt.timedelta(days=14),
        authority="Market surveillance authority (DE)",
        summary="Initial, incomplete report (Art. 73(5)).",
    )
    incident = selectors.incident_list().get(pk=incident.pk)
    assert selectors.incident_deadline_status(incident)["status"] == "reported_on_time"
    assert last_event("serious_incident.report").record_json["data"]["on_time"] is True
    services.serious_incident_report(
        by=as_user(risk_officer),
        incident=incident,
        kind="follow_up",
        submitted_at=AWARE + dt.timedelta(days=19),
        authority="Market surveillance authority (DE)",
        summary="Complete report with root cause.",
    )
    incident = selectors.incident_list().get(pk=incident.pk)
    status = selectors.incident_deadline_status(incident)
    assert status["follow_ups"] == 1


def test_a_late_initial_report_shows_late(version, risk_officer, travel):
    travel(AWARE + dt.timedelta(days=1))
    incident = _incident(version, risk_officer, "widespread_or_critical_infrastructure")
    travel(AWARE + dt.timedelta(days=5))
    services.serious_incident_report(
        by=as_user(risk_officer),
        incident=incident,
        kind="initial",
        submitted_at=AWARE + dt.timedelta(days=3),
        authority="Authority",
        summary="Late.",
    )
    incident = selectors.incident_list().get(pk=incident.pk)
    assert selectors.incident_deadline_status(incident)["status"] == "reported_late"


def test_report_order_and_dates(version, risk_officer, travel):
    travel(AWARE + dt.timedelta(days=2))
    incident = _incident(version, risk_officer)
    report = {"by": as_user(risk_officer), "incident": incident, "authority": "Authority", "summary": "s"}
    with pytest.raises(IllegalTransition):
        services.serious_incident_report(kind="follow_up", submitted_at=AWARE + dt.timedelta(days=1), **report)
    with pytest.raises(ValidationFailed) as exc:
        services.serious_incident_report(kind="initial", submitted_at=AWARE + dt.timedelta(days=3), **report)
    assert exc.value.field == "submitted_at"  # in the future
    with pytest.raises(ValidationFailed) as exc:
        services.serious_incident_report(kind="initial", submitted_at=AWARE - dt.timedelta(days=1), **report)
    assert exc.value.field == "submitted_at"  # before awareness
    services.serious_incident_report(kind="initial", submitted_at=AWARE + dt.timedelta(days=1), **report)
    with pytest.raises(Conflict):
        services.serious_incident_report(kind="initial", submitted_at=AWARE + dt.timedelta(days=1), **report)
    assert IncidentReport.objects.count() == 1
