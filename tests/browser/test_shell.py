"""The shell a new user meets: "/" leads somewhere, the API docs work offline, logins are refused
with a reason."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_root_leads_to_login_then_the_dashboard(page, demo):
    page.goto("/")
    assert "/admin/login/" in page.url, page.url
    page.fill("#id_username", "rita.risk")
    page.fill("#id_password", demo.password)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    assert page.url.rstrip("/").endswith("/admin"), page.url
    page.goto("/")
    assert page.url.rstrip("/").endswith("/admin"), "a signed-in user goes straight to the dashboard"
    page.click("#user-tools >> text=View site")
    assert page.url.rstrip("/").endswith("/admin")


def test_api_docs_render_operations_with_other_hosts_blocked(page, demo, external_requests):
    login(page, "auditor")
    page.goto("/api/docs/")
    page.wait_for_selector(".opblock", timeout=20_000)
    assert page.locator(".opblock").count() > 20
    assert page.get_by_text("/api/v1/promotions/").first.is_visible()
    page.goto("/api/redoc/")
    page.wait_for_selector("[data-section-id]", timeout=20_000)
    assert "mlgov" in page.title() or page.get_by_text("mlgov: model governance").count()
    assert external_requests == []


def test_wrong_password_is_refused(page, demo):
    login(page, "risk_officer", "not-the-password", expect_success=False)
    assert "/admin/login/" in page.url
    assert "enter the correct username and password" in page.inner_text(".errornote")


def test_pipeline_account_cannot_sign_in_to_the_admin(page, demo):
    login(page, "pipeline", "anything", expect_success=False)
    assert "/admin/login/" in page.url
    assert page.locator(".errornote").is_visible()
