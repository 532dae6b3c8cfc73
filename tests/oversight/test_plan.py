"""The post-market monitoring plan of a high-risk model (issue 17.5): a record written by a risk officer,
composed with the model's monitoring schedules and policy thresholds (what the EU pack prints), over the API
and in the admin, linked from the version page."""

from __future__ import annotations

import hashlib

import pytest
from django.test import Client

from governance.common.errors import PermissionRefused, ValidationFailed
from governance.oversight import monitoring, services
from governance.oversight.models import PostMarketPlan
from governance.registry import services as registry_services
from tests.factories.accounts import as_user
from tests.oversight.conftest import last_event

pytestmark = pytest.mark.django_db

NARRATIVE = {
    "monitored": "Score drift of application data against the 2026 reference sample; AUC once defaults are known.",
    "data_collection": "Weekly extract of scored applications; outcomes joined after 90 days.",
    "responsibilities": "Model owner runs the pipelines; the validator reviews monthly; risk officers act.",
    "thresholds": "AUC below 0.70 or max PSI above 0.2 raises a review flag and a model review.",
}


def test_a_risk_officer_writes_and_revises_the_plan(production, risk_officer, validator):
    with pytest.raises(PermissionRefused):
        services.post_market_plan_set(by=as_user(validator), model=production.model, **NARRATIVE)
    with pytest.raises(ValidationFailed) as exc:
        services.post_market_plan_set(
            by=as_user(risk_officer), model=production.model, **{**NARRATIVE, "thresholds": " "}
        )
    assert exc.value.field == "thresholds" and not PostMarketPlan.objects.exists()
    plan = services.post_market_plan_set(by=as_user(risk_officer), model=production.model, **NARRATIVE)
    assert plan.revision == 1 and last_event("post_market_plan.set").record_json["data"]["before"] is None
    with pytest.raises(ValidationFailed) as exc:  # a revision needs its reason
        services.post_market_plan_set(by=as_user(risk_officer), model=production.model, review_cadence="Yearly.")
    assert exc.value.field == "reason"
    plan = services.post_market_plan_set(
        by=as_user(risk_officer), model=production.model, review_cadence="Yearly.", reason="Review cadence added."
    )
    assert plan.revision == 2 and plan.monitored == NARRATIVE["monitored"]
    data = last_event("post_market_plan.set").record_json["data"]
    assert data["before"]["review_cadence"] == "" and data["after"]["review_cadence"] == "Yearly."


def test_only_high_risk_models_keep_a_plan(production, risk_officer):
    registry_services.registered_model_update(
        by=as_user(risk_officer), model=production.model, data={"eu_ai_act_category": "minimal"}
    )
    with pytest.raises(ValidationFailed) as exc:
        services.post_market_plan_set(by=as_user(risk_officer), model=production.model, **NARRATIVE)
    assert exc.value.field == "model" and "high-risk" in exc.value.message


def test_the_plan_record_holds_schedules_and_thresholds(production, risk_officer):
    assert monitoring.post_market_plan(production.model) is None
    services.post_market_plan_set(by=as_user(risk_officer), model=production.model, **NARRATIVE)
    services.monitoring_schedule_create(
        by=as_user(risk_officer), version=production, kind="performance", cadence_days=30, grace_hours=72
    )
    record = monitoring.post_market_plan(production.model)
    assert record["narrative"]["thresholds"] == NARRATIVE["thresholds"] and record["revision"] == 1
    assert record["schedules"][0]["kind"] == "performance" and record["schedules"][0]["cadence_days"] == 30
    assert {"kind": "performance", "metric": "auc"}.items() <= record["thresholds"][0].items() or any(
        t["metric"] == "auc" for t in record["thresholds"]
    )
    assert record == monitoring.post_market_plan(production.model)  # stable: packs render the same bytes


def test_the_plan_over_the_api_and_in_the_admin(api_for, production, risk_officer, auditor):
    officer = api_for(risk_officer)
    body = {"model": production.model.pk, **NARRATIVE}
    response = officer.post("/api/v1/post-market-plans/", body, format="json", HTTP_IDEMPOTENCY_KEY="plan-1")
    assert response.status_code == 201, response.json()
    plan_id = response.json()["id"]
    again = officer.post("/api/v1/post-market-plans/", body, format="json", HTTP_IDEMPOTENCY_KEY="plan-1")
    assert again.status_code == 201 and PostMarketPlan.objects.get().revision == 1
    bad = api_for(auditor).post("/api/v1/post-market-plans/", body, format="json")
    assert bad.status_code == 403
    detail = api_for(auditor).get(f"/api/v1/post-market-plans/{plan_id}/").json()
    assert detail["record"]["narrative"]["monitored"] == NARRATIVE["monitored"] and "schedules" in detail["record"]
    client = Client()
    client.force_login(risk_officer)
    page = client.get(f"/admin/registry/modelversion/{production.pk}/change/").content.decode()
    assert 'id="oversight"' in page and f"/admin/oversight/postmarketplan/{plan_id}/change/" in page
    assert client.get(f"/admin/oversight/postmarketplan/{plan_id}/change/").status_code == 200
    response = client.post(
        f"/admin/oversight/postmarketplan/{plan_id}/change/",
        {**NARRATIVE, "review_cadence": "Every six months.", "change_reason": "Cadence set by the committee."},
    )
    assert response.status_code == 302
    assert PostMarketPlan.objects.get().revision == 2


def test_a_long_plan_is_written_revised_and_recorded_whole(api_for, production, risk_officer):
    """Risk officers write long plans: 30,000 characters in each narrative field are accepted over the API
    and revised (the event carries each text's first 2,000 characters and the SHA-256 of the whole, well
    under the audit record's size limit), and the plan reads back whole."""
    long = {name: f"{name}: " + "Weekly review of drift and outcomes. " * 819 + "End." for name in NARRATIVE}
    assert all(len(text) > 30_000 for text in long.values())
    officer = api_for(risk_officer)
    response = officer.post("/api/v1/post-market-plans/", {"model": production.model.pk, **long}, format="json")
    assert response.status_code == 201, response.json()
    revised = {**long, "thresholds": long["thresholds"] + " Also a PSI above 0.25."}
    response = officer.post(
        "/api/v1/post-market-plans/",
        {"model": production.model.pk, **revised, "reason": "PSI threshold added."},
        format="json",
    )
    assert response.status_code == 201, response.json()
    plan = PostMarketPlan.objects.get()
    assert plan.revision == 2 and all(getattr(plan, name) == text for name, text in revised.items())
    detail = officer.get(f"/api/v1/post-market-plans/{response.json()['id']}/").json()
    assert detail["record"]["narrative"]["thresholds"] == revised["thresholds"]
    data = last_event("post_market_plan.set").record_json["data"]
    assert data["after"]["thresholds"] == revised["thresholds"][:2000]
    assert data["after"]["thresholds_sha256"] == hashlib.sha256(revised["thresholds"].encode()).hexdigest()
    assert data["before"]["thresholds_sha256"] == hashlib.sha256(long["thresholds"].encode()).hexdigest()
    assert [r.revision for r in plan.revisions.order_by("revision")] == [1, 2]
    assert plan.revisions.get(revision=1).thresholds == long["thresholds"]
