"""The dashboard is the landing page, ordered by role, with links into the filtered lists."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import workflow as wf

pytestmark = pytest.mark.django_db


def _html(user) -> str:
    client = Client()
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 200
    return response.content.decode()


def test_risk_officer_sees_requests_awaiting_signature_oldest_first(version, developer, risk_officer):
    wf.good_evidence(version)
    first = wf.request(version, developer)
    html = _html(risk_officer)
    assert html.index('id="dash-awaiting"') < html.index('id="dash-audit"')
    assert f"/admin/workflow/promotionrequest/{first.pk}/change/" in html
    assert "?model__risk_tier__exact=tier_1&amp;stage__exact=development" in html


def test_auditor_sees_the_audit_state_first(auditor, version):
    html = _html(auditor)
    assert html.index('id="dash-audit"') < html.index('id="dash-flags"')
    assert 'id="dash-awaiting"' not in html
    assert "Last verification" in html and "never verified" in html


def test_developer_sees_their_own_requests(version, developer):
    req = wf.request(version, developer)
    html = _html(developer)
    assert 'id="dash-mine"' in html and f"#{req.pk}" in html
    assert 'id="dash-audit"' not in html


def test_failed_gates_and_stale_production_evidence(staged, developer, validator, risk_officer):
    unfair = {"demographic_parity_difference": 0.4, "disparate_impact_ratio": 0.5}
    wf.evaluation(staged, kind="fairness", metrics=unfair)
    req = wf.request(staged, developer, "production")
    assert not req.gates_passed
    html = _html(risk_officer)
    assert "demographic_parity_difference" in html.split('id="dash-failed"')[1]


def test_empty_dashboard_reads_well(risk_officer):
    html = _html(risk_officer)
    assert "Nothing awaits your signature" in html
    assert "No production version breaches its policy" in html
