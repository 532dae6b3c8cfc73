"""latest_evaluations feeds the workflow's gates; a finished evaluation refreshes open requests."""

from __future__ import annotations

import pytest

from governance.evaluations import selectors
from governance.evaluations.checks import metric_names
from governance.workflow.models import PromotionRequest
from governance.workflow.services import promotion_request_create
from tests.evaluations.conftest import events
from tests.factories import evaluations as f
from tests.factories.accounts import as_user

pytestmark = pytest.mark.django_db


def test_latest_evaluations_per_kind_and_dataset(version, pipeline):
    old = f.evaluation(version, pipeline, kind="reported", data={"auc": 0.6})
    new = f.evaluation(version, pipeline, kind="reported", data={"auc": 0.9})
    other = f.evaluation(version, pipeline, kind="reported", data={"auc": 0.7}, dataset="monthly")
    perf = f.evaluation(version, pipeline, kind="performance", params={"n_boot": 0})
    latest = selectors.latest_evaluations(version)
    assert {e.pk for e in latest} == {new.pk, other.pk, perf.pk} and old.pk not in {e.pk for e in latest}
    assert selectors.latest_evaluations(version.pk)[0].pk == perf.pk


@pytest.mark.parametrize("kind", ["fairness", "performance", "drift"])
def test_metrics_hold_every_name_a_policy_may_reference(kind, version, pipeline):
    ev = f.evaluation(version, pipeline, kind=kind, params={"n_boot": 0} if kind == "performance" else None)
    assert {n for n in metric_names(kind) if ":" not in n} <= set(ev.metrics)


def test_a_new_evaluation_refreshes_open_promotion_gates(
    g, version, developer, pipeline, django_capture_on_commit_callbacks
):
    req = promotion_request_create(by=as_user(developer), version=version, target_stage="staging", reason="ready")
    assert not req.gates_passed
    thresholds = [{"metric": "auc", "comparator": ">=", "threshold": 0.7}]
    with django_capture_on_commit_callbacks(execute=True):
        # reported metrics stand in for the policy's kinds (the default policies accept them)
        f.evaluation(
            version,
            pipeline,
            kind="reported",
            thresholds=thresholds,
            data={"auc": 0.8, "demographic_parity_difference": 0.05, "disparate_impact_ratio": 0.9},
        )
    req = PromotionRequest.objects.get(pk=req.pk)
    assert req.gates_passed, req.gate_results
    assert events("promotion_request.gates_refresh")
