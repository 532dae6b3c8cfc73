"""The dashboard as the landing page, and the audit page, in Chromium."""

from __future__ import annotations

import pytest

from tests.browser.conftest import assert_no_horizontal_overflow, login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_risk_officer_lands_on_the_dashboard_and_opens_the_waiting_request(page, demo, tmp_path):
    login(page, "risk_officer")
    assert page.locator("#dash-awaiting").is_visible(), "the landing page after login is the dashboard"
    assert page.locator("#dash-matrix a").count() >= 1
    screenshot(page, "dashboard-risk-officer", tmp_path)
    assert_no_horizontal_overflow(page)
    page.locator("#dash-awaiting a").first.click()
    page.wait_for_url("**/promotionrequest/*/change/")
    assert "Gate checklist" in page.inner_text("#content")


def test_matrix_links_to_the_filtered_version_list(page, demo):
    login(page, "risk_officer")
    page.locator("#dash-matrix td a").first.click()
    page.wait_for_url("**/modelversion/?*")
    assert "german-credit-scoring" in page.inner_text("#result_list")


def test_auditor_sees_audit_state_first_and_runs_a_verification(page, demo, tmp_path):
    login(page, "auditor")
    cards = page.locator(".dash-grid > .card").evaluate_all("els => els.map(e => e.id)")
    assert cards[0] == "dash-audit", cards
    screenshot(page, "dashboard-auditor", tmp_path)
    page.click("#dash-audit a")
    page.wait_for_url("**/workspace/audit/")
    page.get_by_role("button", name="Verify the log now").click()
    page.wait_for_load_state()
    page.wait_for_selector("#verifications .chip.pass")
    assert "ui:alex.auditor" in page.inner_text("#verifications")
    page.get_by_role("button", name="Sign a checkpoint now").click()
    page.wait_for_load_state()
    assert "Checkpoint signed at size" in page.inner_text(".messagelist")
    screenshot(page, "audit-page", tmp_path)


def test_developer_sees_their_requests(page, demo):
    login(page, "developer")
    assert page.locator("#dash-mine").is_visible()
    assert page.locator("#dash-audit").count() == 0
