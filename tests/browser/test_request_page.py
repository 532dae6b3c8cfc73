"""The request page at every width people use, and what it tells each signer (defects 4 and 5)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance.workflow.models import PromotionRequest
from tests.browser.conftest import assert_no_horizontal_overflow, login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _waiting(demo) -> PromotionRequest:
    return PromotionRequest.objects.get(model_version__model__name=demo.model_name, status="pending")


@pytest.mark.parametrize("width", [1280, 1400, 1600, 1920])
def test_request_page_does_not_overflow(page, demo, width, tmp_path):
    req = _waiting(demo)
    page.set_viewport_size({"width": width, "height": 1000})
    login(page, "risk_officer")
    page.goto(reverse("admin:workflow_promotionrequest_change", args=[req.pk]))
    screenshot(page, f"request-{width}", tmp_path)
    assert_no_horizontal_overflow(page)


@pytest.mark.parametrize("width", [1280, 1920])
def test_queue_does_not_overflow(page, demo, width):
    page.set_viewport_size({"width": width, "height": 1000})
    login(page, "risk_officer")
    page.goto(reverse("admin:workflow_promotionrequest_changelist") + "?tab=open")
    assert_no_horizontal_overflow(page)


def test_validator_sees_why_approval_waits_for_an_override(page, demo):
    req = _waiting(demo)
    login(page, "validator")
    page.goto(reverse("admin:workflow_promotionrequest_change", args=[req.pk]))
    assert "You cannot approve yet" in page.inner_text("#approve-blocked")
    assert page.get_by_role("button", name="Approve").count() == 0
    assert page.get_by_role("button", name="Reject").is_visible()
    assert "still owed, including a validator" in page.inner_text("#owed")


def test_risk_officer_closes_a_review_flag(page, demo):
    from governance.workflow.models import ReviewFlag

    flag = ReviewFlag.objects.filter(resolved_at__isnull=True, model_version__stage="production").first()
    assert flag is not None, "the demo flags its production version"
    login(page, "risk_officer")
    page.goto(reverse("admin:workflow_promotionrequest_changelist"))
    page.click(".banner.alert a")
    page.wait_for_url("**/reviewflag/*/change/")
    assert page.locator("table.breaches tbody tr").count() >= 1
    page.fill("#id_resolution", "Reviewed with the model owner; recalibration ticket RISK-7.")
    page.click("input[name=_save]")
    page.wait_for_url("**/reviewflag/?state=open")
    assert "Flag closed" in page.inner_text(".messagelist")
    flag.refresh_from_db()
    assert flag.resolved_by.username == "rita.risk"
