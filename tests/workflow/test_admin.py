import pytest
from django.test import Client

from governance.workflow.models import Policy
from tests.factories import workflow as wf
from tests.factories.accounts import PASSWORD
from tests.workflow.conftest import last_event

pytestmark = pytest.mark.django_db


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def test_queue_shows_requests_awaiting_my_signature(version, developer, risk_officer):
    wf.good_evidence(version, fairness={"disparate_impact_ratio": 0.7})
    req = wf.request(version, developer)
    page = _client(risk_officer).get("/admin/workflow/promotionrequest/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Awaiting my signature" in html and f"#{req.pk}" in html and version.model.name in html
    assert "chip fail" in html and "chip pass" in html and "Review &amp; sign" in html
    assert "cannot sign" not in html
    for tab in ("open", "decided"):
        assert _client(risk_officer).get(f"/admin/workflow/promotionrequest/?tab={tab}").status_code == 200


def test_queue_is_read_only_without_a_signing_role(version, developer, auditor):
    req = wf.request(version, developer)
    html = _client(auditor).get("/admin/workflow/promotionrequest/?tab=open").content.decode()
    assert "You can see the queue but not sign" in html and f"#{req.pk}" in html
    page = _client(auditor).get(f"/admin/workflow/promotionrequest/{req.pk}/change/").content.decode()
    assert "You cannot sign this request" in page and "Re-enter your password" not in page


def test_request_page_and_signing(version, developer, validator):
    wf.good_evidence(version)
    req = wf.request(version, developer)
    client = _client(validator)
    url = f"/admin/workflow/promotionrequest/{req.pk}/change/"
    html = client.get(url).content.decode()
    for text in (
        "Gate checklist",
        "Lineage of",
        version.artifact_sha256,
        "Evaluations of",
        "Audit trail",
        "promotion_request.create",
        "I approve the promotion of",
        "Re-enter your password",
    ):
        assert text in html, text
    refused = client.post(url, {"decision": "approve", "justification": "ok", "password": "nope"}, follow=True)
    assert "Refused" in refused.content.decode()
    assert last_event("promotion_request.approve.denied").actor_username == validator.username
    client.post(url, {"decision": "approve", "justification": "Evidence fine.", "password": PASSWORD})
    req.refresh_from_db()
    assert req.status == "promoted"
    assert last_event("promotion_request.approve").actor_username == validator.username


def test_override_form_for_risk_officers(staged, developer, risk_officer):
    wf.evaluation(staged, kind="drift", metrics={"max_psi": 0.3})
    req = wf.request(staged, developer, "production")
    client = _client(risk_officer)
    url = f"/admin/workflow/promotionrequest/{req.pk}/change/"
    assert "Override justification" in client.get(url).content.decode()
    client.post(
        url,
        {
            "decision": "approve",
            "justification": "ok",
            "password": PASSWORD,
            "override_justification": "Seasonal; memo 12.",
        },
    )
    approval = req.approvals.get()
    assert approval.is_override
    assert "Gate override on record" in client.get(url).content.decode()
    assert "gate override" in client.get("/admin/workflow/promotionrequest/?tab=open").content.decode()


def test_withdraw_from_admin(version, developer):
    req = wf.request(version, developer)
    client = _client(developer)
    client.post(f"/admin/workflow/promotionrequest/{req.pk}/change/", {"withdraw": "1", "reason": "wrong build"})
    req.refresh_from_db()
    assert req.status == "withdrawn"


def test_policy_edit_in_admin_creates_a_version(risk_officer):
    policy = Policy.objects.get(scope="tier_2", target_stage="staging", is_rollback=False, is_current=True)
    client = _client(risk_officer)
    url = f"/admin/workflow/policy/{policy.pk}/change/"
    assert client.get(url).status_code == 200
    data = {
        "description": policy.description,
        "required_kinds": '["performance"]',
        "checks": '[{"kind": "performance", "metric": "auc", "comparator": ">=", "threshold": "0.68"}]',
        "allowed_from_stages": '["development"]',
        "max_evaluation_age_days": 60,
        "approvals_required": 1,
        "required_roles": '["validator"]',
        "accepted_roles": '["risk_officer", "validator"]',
        "request_window_days": 30,
        "change_reason": "Annual review.",
    }
    response = client.post(url, data)
    assert response.status_code == 302
    new = Policy.objects.get(scope="tier_2", target_stage="staging", is_rollback=False, is_current=True)
    assert new.version == policy.version + 1 and new.checks[0]["threshold"] == "0.68"
    policy.refresh_from_db()
    assert policy.max_evaluation_age_days == 90 and not policy.is_current
    assert last_event("policy.revise").actor_username == risk_officer.username
    assert client.get(url).status_code == 200  # old version readable, not editable
    bad = dict(data, checks='[{"kind": "performance", "metric": "auc", "comparator": "~", "threshold": "1"}]')
    client.post(f"/admin/workflow/policy/{new.pk}/change/", bad)
    assert Policy.objects.get(pk=new.pk).is_current


def test_timeline(staged, developer, validator, risk_officer):
    req = wf.request(staged, developer, "production")
    wf.approve(req, validator)
    wf.approve(req, risk_officer)
    client = _client(risk_officer)
    html = client.get(f"/admin/workflow/promotionrequest/timeline/{staged.model_id}/").content.decode()
    assert "Stage timeline" in html and staged.version in html and f"request #{req.pk}" in html
    assert (
        client.get(
            f"/admin/workflow/promotionrequest/timeline/{staged.model_id}/", {"at": "2020-01-01T00:00:00"}
        ).status_code
        == 200
    )
