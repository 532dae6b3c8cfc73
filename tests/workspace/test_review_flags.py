"""Review flags: breaches as a table, closed by a risk officer with a reason (audited), gone with the
version (defect 6)."""

from __future__ import annotations

import pytest
from django.test import Client

from governance.registry.models import Stage
from governance.workflow import services
from governance.workflow.models import ReviewFlag
from tests.factories import registry as registry_factories
from tests.factories import workflow as wf
from tests.factories.accounts import ADMIN
from tests.workflow.conftest import last_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def flagged(staged, developer, validator, risk_officer):
    req = wf.request(staged, developer, "production")
    wf.approve(req, validator)
    wf.approve(req, risk_officer)
    staged.refresh_from_db()
    assert staged.stage == Stage.PRODUCTION
    evaluation = wf.evaluation(staged, kind="drift", metrics={"max_psi": 0.41, "drift_share": 0.5})
    services.evaluation_recorded(evaluation, ADMIN)
    return ReviewFlag.objects.get(model_version=staged)


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def test_breaches_are_a_table_with_evaluation_links(flagged, risk_officer):
    html = _client(risk_officer).get(f"/admin/workflow/reviewflag/{flagged.pk}/change/").content.decode()
    assert '<table class="breaches">' in html
    assert "max_psi" in html and "0.41" in html and "&lt;= " in html
    assert f"/admin/evaluations/evaluation/{flagged.evaluation_id}/change/" in html
    assert "[{" not in html, "no raw JSON"


def test_risk_officer_closes_a_flag_with_a_reason(flagged, risk_officer, validator):
    url = f"/admin/workflow/reviewflag/{flagged.pk}/change/"
    refused = _client(validator).post(url, {"resolution": "fine"}, follow=True)
    assert refused.status_code in (200, 403)
    flagged.refresh_from_db()
    assert flagged.resolved_at is None
    empty = _client(risk_officer).post(url, {"resolution": "  "}, follow=True).content.decode()
    flagged.refresh_from_db()
    assert flagged.resolved_at is None and "resolution" in empty.lower()
    client = _client(risk_officer)
    assert "Production review needed" in client.get("/admin/workflow/promotionrequest/").content.decode()
    client.post(url, {"resolution": "PSI spike from the October campaign; recalibration planned (RISK-42)."})
    flagged.refresh_from_db()
    assert flagged.resolved_by == risk_officer and "RISK-42" in flagged.resolution
    event = last_event("review_flag.resolve")
    assert event.actor_username == risk_officer.username
    assert "Production review needed" not in client.get("/admin/workflow/promotionrequest/").content.decode()
    page = client.get(url).content.decode()
    assert "RISK-42" in page and risk_officer.username in page


def test_flag_disappears_when_the_version_leaves_production(flagged, risk_officer, developer, validator):
    client = _client(risk_officer)
    assert "Production review needed" in client.get("/admin/workflow/promotionrequest/").content.decode()
    successor = registry_factories.model_version(model=flagged.model_version.model, user=developer)
    wf.good_evidence(successor)
    wf.approve(wf.request(successor, developer, "staging"), validator)
    req = wf.request(successor, developer, "production")
    wf.approve(req, validator)
    wf.approve(req, risk_officer)
    flagged.model_version.refresh_from_db()
    assert flagged.model_version.stage == Stage.RETIRED
    assert "Production review needed" not in client.get("/admin/workflow/promotionrequest/").content.decode()
    assert not ReviewFlag.objects.filter(resolved_at__isnull=True, model_version__stage="production").exists()
    assert "0 review flags" in client.get("/admin/workflow/reviewflag/?state=open").content.decode()
    page = client.get(f"/admin/workflow/reviewflag/{flagged.pk}/change/").content.decode()
    assert "left production" in page
