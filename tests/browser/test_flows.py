"""The flows of issue 12 end to end in Chromium, as each demo role (no API, no 4xx/5xx)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance.accounts.principal import Principal
from governance.registry.models import ModelVersion
from governance.workflow import services
from governance.workflow.models import PromotionRequest
from tests.browser.conftest import login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _version(demo, number: str) -> ModelVersion:
    return ModelVersion.objects.get(model__name=demo.model_name, version=number)


def test_override_then_validator_signature_promotes(browser, page, demo, live_server, tmp_path):
    login(page, "risk_officer")
    page.locator("#dash-awaiting a").first.click()
    page.wait_for_url("**/promotionrequest/*/change/")
    request_url = page.url
    page.fill("#id_justification", "Evidence reviewed with the validator; parity gap explained.")
    page.fill("#id_override_justification", "Parity gap from the 2026 applicant mix; remediation plan RISK-12.")
    page.fill("#id_password", demo.password)
    page.get_by_role("button", name="Approve").click()
    page.wait_for_load_state()
    assert "Signed." in page.inner_text(".messagelist")
    assert "still owed, including a validator" in page.inner_text("#owed")
    screenshot(page, "request-override-on-record", tmp_path)

    validator = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900}).new_page()
    try:
        login(validator, "validator")
        validator.goto(request_url)
        assert "override is on record" in validator.inner_text("#override-on-record")
        validator.fill("#id_justification", "Override read; performance evidence fine.")
        validator.fill("#id_password", demo.password)
        validator.get_by_role("button", name="Approve").click()
        validator.wait_for_load_state()
        assert "is now promoted" in validator.inner_text(".messagelist")
    finally:
        validator.context.close()
    assert _version(demo, "1.1.0").stage == "staging"
    page.goto("/admin/")
    assert "Nothing awaits your signature" in page.inner_text("#dash-awaiting")
    assert "1" in page.inner_text("#dash-matrix")


def test_developer_creates_and_withdraws_a_request_and_cannot_sign_it(page, demo, tmp_path):
    v11 = _version(demo, "1.1.0")
    pending = PromotionRequest.objects.get(model_version=v11, status="pending")
    services.promotion_request_withdraw(
        by=Principal.for_user(demo.users["risk_officer"], auth="cli"), request=pending, reason="Superseded in the demo."
    )
    login(page, "developer")
    page.goto(reverse("admin:registry_modelversion_change", args=[v11.pk]))
    page.select_option("#id_target_stage", "staging")
    page.fill("#id_request_reason", "Retrained on the 2026 sample; ready for shadow scoring.")
    page.get_by_role("button", name="Request promotion").click()
    page.wait_for_load_state()
    assert "awaiting signatures" in page.inner_text(".messagelist")
    screenshot(page, "version-hub", tmp_path)
    req = PromotionRequest.objects.get(model_version=v11, status="pending")
    assert req.requested_by.username == "dana.developer"

    page.goto(reverse("admin:workflow_promotionrequest_change", args=[req.pk]))
    assert "you cannot sign your own request" in page.inner_text("#content")
    assert page.locator("#id_password").count() == 0

    page.goto(reverse("admin:registry_modelversion_change", args=[v11.pk]))
    page.fill(f"input[aria-label='Why withdraw request #{req.pk}']", "Wrong training window.")
    page.locator("#requests").get_by_role("button", name="Withdraw").click()
    page.wait_for_load_state()
    assert f"Request #{req.pk} withdrawn." in page.inner_text(".messagelist")
    req.refresh_from_db()
    assert req.status == "withdrawn"
