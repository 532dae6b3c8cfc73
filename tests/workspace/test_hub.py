"""The version page as a hub; requests created and withdrawn from it, rollback from the model page:
the same services, refusals and audit events as the API."""

from __future__ import annotations

import pytest
from django.test import Client

from governance.workflow.models import PromotionRequest
from tests.factories import registry as registry_factories
from tests.factories import workflow as wf
from tests.workflow.conftest import last_event

pytestmark = pytest.mark.django_db


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def test_hub_links_everything(version, developer, risk_officer):
    evaluation = wf.evaluation(version, kind="performance")
    req = wf.request(version, developer)
    html = _client(risk_officer).get(f"/admin/registry/modelversion/{version.pk}/change/").content.decode()
    for text in (
        f"/admin/evaluations/evaluation/{evaluation.pk}/change/",
        f"/admin/workflow/promotionrequest/{req.pk}/change/",
        f"/admin/registry/registeredmodel/{version.model_id}/change/",
        'id="timeline"',
        'id="audit-events"',
        "model_version.create",
        "auc",
    ):
        assert text in html, text


def test_developer_creates_and_withdraws_a_request(version, developer):
    client = _client(developer)
    page = f"/admin/registry/modelversion/{version.pk}/change/"
    assert 'id="request-form"' in client.get(page).content.decode()
    missing = client.post(f"/admin/workspace/versions/{version.pk}/request/", {"target_stage": "staging"}, follow=True)
    assert "a reason is required" in missing.content.decode()
    assert last_event("promotion_request.create.denied").actor_username == developer.username
    client.post(
        f"/admin/workspace/versions/{version.pk}/request/", {"target_stage": "staging", "reason": "Ready for staging."}
    )
    req = PromotionRequest.objects.get(model_version=version)
    assert req.requested_by == developer and last_event("promotion_request.create").actor_username == developer.username
    refused = client.post(f"/admin/workspace/requests/{req.pk}/withdraw/", {"reason": ""}, follow=True)
    assert "a reason is required" in refused.content.decode()
    client.post(f"/admin/workspace/requests/{req.pk}/withdraw/", {"reason": "Wrong build."})
    req.refresh_from_db()
    assert req.status == "withdrawn" and last_event("promotion_request.withdraw").actor_username == developer.username


def test_validator_cannot_request(version, validator):
    response = _client(validator).post(
        f"/admin/workspace/versions/{version.pk}/request/", {"target_stage": "staging", "reason": "x"}, follow=True
    )
    assert "request promotions" in response.content.decode()
    assert not PromotionRequest.objects.filter(model_version=version).exists()
    assert last_event("promotion_request.create.denied").actor_username == validator.username


def test_risk_officer_rolls_back_from_the_model_page(staged, developer, validator, risk_officer):
    req = wf.request(staged, developer, "production")
    wf.approve(req, validator)
    wf.approve(req, risk_officer)
    successor = registry_factories.model_version(model=staged.model, user=developer)
    wf.good_evidence(successor)
    wf.approve(wf.request(successor, developer, "staging"), validator)
    req = wf.request(successor, developer, "production")
    wf.approve(req, validator)
    wf.approve(req, risk_officer)
    staged.refresh_from_db()
    assert staged.stage == "retired"
    client = _client(risk_officer)
    page = client.get(f"/admin/registry/registeredmodel/{staged.model_id}/change/").content.decode()
    assert 'id="rollback"' in page and f'value="{staged.pk}"' in page
    empty = client.post(f"/admin/workspace/models/{staged.model_id}/rollback/", {"version": staged.pk}, follow=True)
    assert "justification" in empty.content.decode()
    client.post(
        f"/admin/workspace/models/{staged.model_id}/rollback/",
        {"version": staged.pk, "reason": "Successor mis-scores the new product line."},
    )
    rollback = PromotionRequest.objects.get(model_version=staged, is_rollback=True)
    assert rollback.requested_by == risk_officer
    dev = _client(developer).get(f"/admin/registry/registeredmodel/{staged.model_id}/change/").content.decode()
    assert 'id="rollback"' not in dev


def test_a_rollback_naming_another_models_version_is_refused_and_audited(version, risk_officer):
    other = registry_factories.model_version()
    client = _client(risk_officer)
    page = client.post(
        f"/admin/workspace/models/{version.model_id}/rollback/",
        {"version": other.pk, "reason": "Wrong model."},
        follow=True,
    ).content.decode()
    assert f"no model version with id {other.pk}" in page
    assert not PromotionRequest.objects.filter(is_rollback=True).exists()
    refusal = last_event("promotion_request.create.denied")
    assert refusal is not None and refusal.object_id == str(other.pk)


def test_evaluation_page_links_version_requests_and_the_evaluation_it_superseded(version, developer, risk_officer):
    older = wf.evaluation(version, kind="performance", metrics={"auc": 0.71})
    newer = wf.evaluation(version, kind="performance", metrics={"auc": 0.76})
    req = wf.request(version, developer)
    html = _client(risk_officer).get(f"/admin/evaluations/evaluation/{newer.pk}/change/").content.decode()
    assert f"/admin/registry/modelversion/{version.pk}/change/" in html
    assert f"/admin/workflow/promotionrequest/{req.pk}/change/" in html
    assert f"/admin/evaluations/evaluation/{older.pk}/change/" in html
