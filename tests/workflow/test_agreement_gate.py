"""Issue 12: a policy can make "reported and computed agree" a gate (``require_agreement``)."""

import json

import pytest
from django.urls import reverse

from governance.common.errors import Conflict, ValidationFailed
from governance.workflow import gates, services
from governance.workflow.models import Policy
from tests.factories import workflow as wf
from tests.factories.accounts import as_user
from tests.workflow.conftest import last_event

pytestmark = pytest.mark.django_db


def _strict(model, risk_officer, stage="staging", **data):
    policy = services.policy_for(model, stage)
    return services.policy_revise(
        by=as_user(risk_officer), policy=policy, data={"require_agreement": True, **data}, reason="reconcile evidence"
    )


def _agreement(rows):
    return {r["metric"]: r for r in rows if r["kind"] == gates.AGREEMENT}


def test_off_by_default_and_no_rows_without_both_sources(version, risk_officer):
    wf.good_evidence(version)
    wf.evaluation(version, kind="reported", metrics={"auc": 0.95})
    policy = services.policy_for(version.model, "staging")
    assert policy.require_agreement is False
    assert not _agreement(gates.evaluate(policy, version)[0])
    strict = _strict(version.model, risk_officer)
    rows, passed = gates.evaluate(strict, version)
    assert set(_agreement(rows)) == {"auc"}  # only auc was both reported and computed
    assert passed is False


def test_agreement_row_names_metric_values_and_gap(version, risk_officer, settings):
    settings.EVALUATION_DISCREPANCY_TOLERANCE = 0.02
    perf, _, _ = wf.good_evidence(version)  # computed auc 0.81
    reported = wf.evaluation(version, kind="reported", metrics={"auc": 0.9, "gini": 0.62})
    strict = _strict(version.model, risk_officer)
    rows, passed = gates.evaluate(strict, version)
    row = _agreement(rows)["auc"]
    assert row["outcome"] == "fail" and passed is False
    assert row["value"] == "0.09" and row["threshold"] == "0.02" and row["comparator"] == "<="
    assert row["reported"] == "0.9" and row["computed"] == "0.81"
    assert row["evaluation_id"] == perf.pk and row["reported_evaluation_id"] == reported.pk
    assert row["dataset"] == "holdout-2026-10" and row["source"] == "reconciliation"
    assert "by 0.09, tolerance 0.02" in gates.describe(row)


def test_within_tolerance_passes_and_other_datasets_do_not_pair(version, risk_officer, settings):
    settings.EVALUATION_DISCREPANCY_TOLERANCE = 0.02
    wf.good_evidence(version)  # auc 0.81 on holdout-2026-10
    wf.evaluation(version, kind="reported", metrics={"auc": 0.82})
    wf.evaluation(version, kind="reported", metrics={"auc": 0.75}, dataset="another-window")  # no computed twin
    rows, passed = gates.evaluate(_strict(version.model, risk_officer), version)
    assert _agreement(rows)["auc"]["outcome"] == "pass" and passed is True


def test_tolerance_is_the_one_setting(version, risk_officer, settings):
    wf.good_evidence(version)
    wf.evaluation(version, kind="reported", metrics={"auc": 0.9})
    strict = _strict(version.model, risk_officer)
    settings.EVALUATION_DISCREPANCY_TOLERANCE = 0.1
    assert _agreement(gates.evaluate(strict, version)[0])["auc"]["outcome"] == "pass"
    settings.EVALUATION_DISCREPANCY_TOLERANCE = 0.05
    assert _agreement(gates.evaluate(strict, version)[0])["auc"]["outcome"] == "fail"


def test_refused_promotion_says_which_metric_and_by_how_much_and_is_audited(
    version, developer, validator, risk_officer, settings
):
    settings.EVALUATION_DISCREPANCY_TOLERANCE = 0.02
    _strict(version.model, risk_officer)
    wf.good_evidence(version)
    wf.evaluation(version, kind="reported", metrics={"auc": 0.9})
    req = wf.request(version, developer, "staging")
    assert not req.gates_passed
    assert gates.failing(req.gate_results) == ["agreement:auc"]
    with pytest.raises(Conflict) as refused:
        wf.approve(req, validator)
    assert "agreement:auc" in refused.value.message and "differ by 0.09, tolerance 0.02" in refused.value.message
    assert not req.approvals.exists()
    version.refresh_from_db()
    assert version.stage == "development"  # nothing moved
    record = json.loads(bytes(last_event("promotion_request.approve.denied").record))["data"]
    assert "agreement:auc" in record["reason"] and "0.09" in record["reason"]


def test_a_risk_officer_override_covers_the_disagreement(version, developer, validator, risk_officer):
    _strict(version.model, risk_officer)
    wf.good_evidence(version)
    wf.evaluation(version, kind="reported", metrics={"auc": 0.9})
    req = wf.request(version, developer, "staging")
    req = wf.approve(req, risk_officer, override_justification="The pipeline's number used an older holdout.")
    assert req.approvals.get().overridden_checks == ["agreement:auc"]
    if req.status != "approved":  # the policy may still want a validator: the override now covers the gap
        wf.approve(req, validator)
    version.refresh_from_db()
    assert version.stage == "staging"


def test_policy_change_is_audited_and_validated(version, risk_officer):
    strict = _strict(version.model, risk_officer)
    assert strict.require_agreement is True and strict.version == 2
    details = json.loads(bytes(last_event("policy.revise").record))["data"]
    assert "require_agreement" in json.dumps(details)
    with pytest.raises(ValidationFailed, match="require_agreement: must be true or false"):
        services.policy_revise(by=as_user(risk_officer), policy=strict, data={"require_agreement": "yes"})
    assert Policy.objects.get(pk=strict.pk).is_current


def test_api_shows_the_policy_flag_and_the_agreement_row(version, developer, risk_officer, client, settings):
    settings.EVALUATION_DISCREPANCY_TOLERANCE = 0.02
    _strict(version.model, risk_officer)
    wf.good_evidence(version)
    reported = wf.evaluation(version, kind="reported", metrics={"auc": 0.9})
    req = wf.request(version, developer, "staging")
    client.force_login(risk_officer)
    body = client.get(f"/api/v1/promotions/{req.pk}/").json()
    assert body["policy"]["require_agreement"] is True
    row = next(r for r in body["gate_results"] if r["kind"] == "agreement")
    assert row == {**row, "metric": "auc", "value": "0.09", "threshold": "0.02", "outcome": "fail"}
    assert row["reported"] == "0.9" and row["computed"] == "0.81" and row["reported_evaluation_id"] == reported.pk
    plain = next(r for r in body["gate_results"] if r["kind"] == "performance")
    assert "reported" not in plain


def test_request_page_shows_the_agreement_row(version, developer, risk_officer, client, settings):
    settings.EVALUATION_DISCREPANCY_TOLERANCE = 0.02
    _strict(version.model, risk_officer)
    wf.good_evidence(version)
    reported = wf.evaluation(version, kind="reported", metrics={"auc": 0.9})
    req = wf.request(version, developer, "staging")
    client.force_login(risk_officer)
    page = client.get(reverse("admin:workflow_promotionrequest_change", args=[req.pk])).content.decode()
    assert "auc: reported = computed" in page and "|difference| ≤ 0.02" in page
    assert f"evaluation {reported.pk}" in page
