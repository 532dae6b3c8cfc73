"""Dashboard panels (issue 17 items 1, 2 and 5): validations due in 30/60/90 days and overdue, overdue
findings, serious incidents with their Art. 73 deadline status. Time moves with the oversight clock."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from governance.oversight import dashboard, services
from tests.factories.accounts import as_user

pytestmark = pytest.mark.django_db
DAY0 = dt.date(2027, 1, 10)


def _html(user) -> str:
    client = Client()
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 200
    return response.content.decode()


def _panel(html: str, panel_id: str) -> str:
    return html.split(f'id="{panel_id}"')[1].split('<div class="card"')[0]


@pytest.fixture
def validated(production, validator, travel):
    """The tier-1 production version validated on DAY0 (next due DAY0 + 12 months)."""
    travel(DAY0)
    validation = services.validation_start(by=as_user(validator), version=production, scope="Annual.")
    services.validation_complete(by=as_user(validator), validation=validation, conclusion="fit for use")
    return production


@pytest.mark.parametrize(
    "today, windows",
    [
        (dt.date(2027, 9, 1), set()),  # 131 days ahead
        (dt.date(2027, 11, 1), {"due_90"}),  # 70 days
        (dt.date(2027, 11, 20), {"due_60", "due_90"}),  # 51 days
        (dt.date(2027, 12, 20), {"due_30", "due_60", "due_90"}),  # 21 days
        (dt.date(2028, 1, 11), {"overdue"}),  # a day late
    ],
)
def test_validations_due_by_window(validated, travel, risk_officer, today, windows):
    travel(today)
    panel = dashboard.validations_due()
    found = {name for name in ("overdue", "due_30", "due_60", "due_90") if panel[name]}
    assert found == windows
    html = _panel(_html(risk_officer), "dash-validations-due")
    for name in ("overdue", "due_30", "due_60", "due_90"):
        assert f'data-window="{name}">{1 if name in windows else 0}<' in html
    if "overdue" in windows:
        assert "overdue 1 d" in html and str(validated.model.name) in html


def test_overdue_findings_count_expired_risk_acceptances(production, developer, validator, risk_officer, travel):
    travel(DAY0)
    validation = services.validation_start(by=as_user(validator), version=production, scope="Annual.")
    late, accepted, fine = (
        services.finding_create(
            by=as_user(validator),
            validation=validation,
            severity=severity,
            description=f"{severity} issue",
            owner=developer,
            due_date=DAY0 + dt.timedelta(days=days),
        )
        for severity, days in (("high", 5), ("medium", 5), ("low", 60))
    )
    services.finding_accept_risk(
        by=as_user(risk_officer), finding=accepted, justification="Compensating control.", expires_on="2027-01-20"
    )
    travel(DAY0 + dt.timedelta(days=8))
    assert [r["finding"].pk for r in dashboard.overdue_findings()] == [late.pk]
    travel(DAY0 + dt.timedelta(days=12))  # the risk acceptance has expired: unresolved and overdue again
    rows = dashboard.overdue_findings()
    assert [(r["finding"].pk, r["days_overdue"]) for r in rows] == [(late.pk, 7), (accepted.pk, 7)]
    html = _panel(_html(risk_officer), "dash-overdue-findings")
    assert f"FND-{late.pk}" in html and f"FND-{accepted.pk}" in html and f"FND-{fine.pk}" not in html
    assert "7 d overdue" in html


def test_incidents_show_their_art73_deadline_status(production, risk_officer, auditor, developer, travel):
    aware = dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC)
    travel(aware + dt.timedelta(hours=1))
    general, death = (
        services.serious_incident_record(
            by=as_user(risk_officer),
            version=production,
            description=f"{category} incident",
            aware_at=aware,
            affected_persons="Applicants.",
            causal_link="Scores.",
            category=category,
        )
        for category in ("general", "death")
    )
    travel(aware + dt.timedelta(days=11))  # past the 10-day death deadline, within the general 15
    rows = dashboard.incident_deadlines()
    assert [(r["incident"].pk, r["status"]) for r in rows] == [(death.pk, "overdue"), (general.pk, "pending")]
    assert rows[1]["hours_remaining"] == 96.0
    html = _panel(_html(auditor), "dash-incidents")
    assert "overdue: not reported" in html and "pending, 96.0 h left" in html and "Art. 73(4)" in html
    services.serious_incident_report(
        by=as_user(risk_officer),
        incident=general,
        kind="initial",
        submitted_at=aware + dt.timedelta(days=11),
        authority="BaFin",
        summary="Initial.",
    )
    assert dashboard.incident_deadlines()[1]["status"] == "reported_on_time"
    travel(aware + dt.timedelta(days=50))  # reported long ago: off the dashboard, still in the register
    assert [r["incident"].pk for r in dashboard.incident_deadlines()] == [death.pk]
    assert 'id="dash-incidents"' not in _html(developer)


def test_empty_panels_read_well(risk_officer):
    html = _html(risk_officer)
    assert "No production version is overdue or due for revalidation in the next 90 days." in html
    assert "No unresolved finding is past its due date." in html
    assert "No serious incident awaits its report" in html
