"""What the request page says is still owed, and what a signer who cannot approve yet sees (defect 5)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import workflow as wf
from tests.factories.accounts import PASSWORD

pytestmark = pytest.mark.django_db


def _page(user, req) -> str:
    client = Client()
    client.force_login(user)
    return client.get(f"/admin/workflow/promotionrequest/{req.pk}/change/").content.decode()


def test_validator_sees_why_they_cannot_approve_until_an_override_is_on_record(
    version, developer, validator, risk_officer
):
    wf.good_evidence(version, fairness={"disparate_impact_ratio": 0.5})
    req = wf.request(version, developer)  # high -> staging: 1 approval, including a validator
    html = _page(validator, req)
    assert "You cannot approve yet" in html and "disparate_impact_ratio" in html
    assert 'data-set-value="approve"' not in html, "no Approve button that is always refused"
    assert 'data-set-value="reject"' in html and 'name="decision" value="reject"' in html
    assert "0 given · 1 signature still owed, including a validator" in html

    wf.approve(req, risk_officer, override_justification="Parity gap explained by the 2026 mix; memo 7.")
    req.refresh_from_db()
    assert req.status == "pending", "the policy still needs a validator"
    html = _page(validator, req)
    assert "1 given · 1 signature still owed, including a validator" in html, "never '1 of 1' while a role is owed"
    assert "override is on record" in html and risk_officer.username in html
    assert "You cannot approve yet" not in html and "Gates fail" not in html
    assert 'data-set-value="approve"' in html

    client = Client()
    client.force_login(validator)
    client.post(
        f"/admin/workflow/promotionrequest/{req.pk}/change/",
        {"decision": "approve", "justification": "Override read; evidence otherwise fine.", "password": PASSWORD},
    )
    req.refresh_from_db()
    assert req.status == "promoted"


def test_queue_counts_what_is_owed(version, developer, risk_officer):
    wf.good_evidence(version, fairness={"disparate_impact_ratio": 0.5})
    req = wf.request(version, developer)
    wf.approve(req, risk_officer, override_justification="Explained; memo 7.")
    client = Client()
    client.force_login(risk_officer)
    html = client.get("/admin/workflow/promotionrequest/?tab=open").content.decode()
    assert "1 given · 1 signature still owed, including a validator" in html
