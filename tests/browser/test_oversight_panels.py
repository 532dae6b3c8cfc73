"""The ongoing model risk management panels of the dashboard in Chromium (issue 17): validations due,
overdue findings and incidents with their Art. 73 deadline status, on the demo data eleven months and ten
days on (the oversight clock moved, so the revalidation is due soon, the open finding is overdue and the
incident's report deadline has passed). The image in docs/oversight.md comes from here."""

from __future__ import annotations

import datetime as dt

import pytest

from governance.oversight import clock
from tests.browser.conftest import assert_no_horizontal_overflow, login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_risk_officer_sees_the_oversight_panels(page, demo, monkeypatch, tmp_path):
    later = clock.now() + dt.timedelta(days=345)
    monkeypatch.setattr(clock, "now", lambda: later)
    monkeypatch.setattr(clock, "today", lambda: later.date())
    login(page, "risk_officer")
    due = page.locator("#dash-validations-due")
    assert due.is_visible()
    assert due.locator('[data-window="due_30"]').inner_text() == "1"
    assert demo.model_name in due.inner_text()
    findings = page.locator("#dash-overdue-findings")
    assert "medium" in findings.inner_text() and "d overdue" in findings.inner_text()
    incidents = page.locator("#dash-incidents")
    assert "overdue: not reported" in incidents.inner_text() and "Art. 73(2)" in incidents.inner_text()
    assert_no_horizontal_overflow(page)
    screenshot(page, "dashboard-oversight-panels", tmp_path)
    page.click("#dash-validations-due >> text=Inventory report for the risk committee")
    page.wait_for_url("**/documentationpack/inventory/")
    assert page.locator("#inventory-form").is_visible()
