"""Comparison and trends pages without a browser: the numbers, the difference, the shapes drawn."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import registry as registry_factories
from tests.factories import workflow as wf

pytestmark = pytest.mark.django_db


def _get(user, url) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_compare_shows_each_metric_and_the_difference(version, developer, risk_officer):
    other = registry_factories.model_version(model=version.model, user=developer)
    wf.evaluation(version, kind="performance", metrics={"auc": 0.70})
    wf.evaluation(other, kind="performance", metrics={"auc": 0.75})
    html = _get(risk_officer, f"/admin/workspace/models/{version.model_id}/compare/?a={version.pk}&b={other.pk}")
    assert "0.7000" in html and "0.7500" in html and "0.0500" in html
    assert "Gates under the current policies" in html


def test_trends_draw_threshold_and_points(version, risk_officer):
    wf.evaluation(version, kind="performance", metrics={"auc": 0.70})
    wf.evaluation(version, kind="performance", metrics={"auc": 0.72})
    html = _get(risk_officer, f"/admin/workspace/models/{version.model_id}/trends/")
    assert 'class="threshold"' in html and html.count('class="point"') >= 2


def test_trends_empty_state(model, risk_officer):
    html = _get(risk_officer, f"/admin/workspace/models/{model.pk}/trends/")
    assert "No evaluation of this model reports" in html


def test_auditor_reads_the_comparison(model, auditor):
    client = Client()
    client.force_login(auditor)
    assert client.get(f"/admin/workspace/models/{model.pk}/compare/").status_code == 200


def test_trends_draw_the_roc_curve_and_calibration_of_computed_performance(version, pipeline, risk_officer):
    from tests.factories import evaluations as ev_factories

    computed = ev_factories.evaluation(version, pipeline, kind="performance", params={"n_boot": 0})
    html = _get(risk_officer, f"/admin/workspace/models/{version.model_id}/trends/")
    assert f"ROC curve of evaluation {computed.pk}" in html and 'class="roc-chart"' in html
    assert f"Calibration of evaluation {computed.pk}" in html and html.count('class="diagonal"') >= 2
