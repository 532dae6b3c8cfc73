"""Comparison and trends render with the demo's data, in Chromium."""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance.registry.models import RegisteredModel
from tests.browser.conftest import assert_no_horizontal_overflow, login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_compare_candidate_with_production(page, demo, tmp_path):
    model = RegisteredModel.objects.get(name=demo.model_name)
    login(page, "risk_officer")
    page.goto(reverse("admin:registry_registeredmodel_change", args=[model.pk]))
    page.get_by_role("link", name="Compare versions ›").click()
    page.wait_for_url("**/compare/")
    assert page.locator("#id_a option:checked").inner_text().startswith("1.1.0")
    assert page.locator("#id_b option:checked").inner_text().startswith("1.0.0")
    text = page.inner_text("#compare-evaluations")
    assert "auc" in text and "B − A" in text
    assert "⚠" in text, "warnings travel with the evidence"
    assert page.locator("#compare-gates .chip").count() >= 2
    assert page.locator("#compare-lineage td.differs").count() >= 2
    screenshot(page, "compare", tmp_path)
    assert_no_horizontal_overflow(page)


def test_trends_draw_each_gated_metric_with_threshold_and_production(page, demo, tmp_path):
    model = RegisteredModel.objects.get(name=demo.model_name)
    login(page, "auditor")
    page.goto(reverse("admin:workspace_trends", args=[model.pk]))
    assert page.locator("svg.trend-chart").count() >= 2
    assert page.locator("svg.trend-chart line.threshold").count() >= 2
    assert page.locator("svg.trend-chart rect.production").count() >= 1
    assert page.locator("svg.trend-chart circle.point").count() >= 4
    assert page.locator("#calibration svg line.diagonal").count() >= 1
    assert page.locator("#calibration svg.roc-chart polyline.roc").count() >= 1
    screenshot(page, "trends", tmp_path)
    assert_no_horizontal_overflow(page)


def test_performance_evaluation_page_draws_roc_and_calibration(page, demo, tmp_path):
    """The evaluation page of a computed performance evaluation: the stored ROC curve and the
    calibration bins as inline SVG with their diagonals, nothing overflowing, nothing from elsewhere."""
    from governance.evaluations.models import Evaluation

    evaluation = Evaluation.objects.filter(kind="performance", source="computed", status="done").latest("id")
    login(page, "validator")
    page.goto(reverse("admin:evaluations_evaluation_change", args=[evaluation.pk]))
    roc = page.locator("#roc-curve svg.roc-chart")
    assert roc.count() == 1 and roc.locator("line.diagonal").count() == 1
    assert "false positive rate" in roc.text_content() and "AUC" in roc.text_content()
    cal = page.locator("#calibration svg.calibration-chart")
    assert cal.count() == 1 and cal.locator("circle.point").count() >= 3
    box = roc.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100
    assert_no_horizontal_overflow(page)
