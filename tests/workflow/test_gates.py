import pytest

from governance.workflow import gates, services
from tests.factories import workflow as wf
from tests.factories.accounts import ADMIN_ACTOR, as_user

pytestmark = pytest.mark.django_db


def _rows(version, target="production"):
    policy = services.policy_for(version.model, target)
    return {f"{r['kind']}:{r['metric']}": r for r in gates.evaluate(policy, version)[0]}, policy


def test_missing_evidence(version):
    rows, _ = _rows(version)
    assert {r["outcome"] for r in rows.values()} == {"missing"}
    assert all(r["evaluation_id"] is None for r in rows.values())


def test_passing_evidence_records_value_threshold_and_source(version):
    perf, fair, drift = wf.good_evidence(version)
    rows, policy = _rows(version)
    assert {r["outcome"] for r in rows.values()} == {"pass"}
    auc = rows["performance:auc"]
    assert auc["value"] == "0.81" and auc["threshold"] == "0.7" and auc["comparator"] == ">="
    assert auc["evaluation_id"] == perf.pk and auc["source"] == "computed" and auc["dataset"] == "holdout-2026-10"
    assert rows["fairness:disparate_impact_ratio"]["evaluation_id"] == fair.pk
    assert rows["drift:max_psi"]["evaluation_id"] == drift.pk
    assert gates.evaluate(policy, version)[1] is True


def test_failing_evidence(version):
    wf.good_evidence(version, fairness={"disparate_impact_ratio": 0.79})
    rows, _ = _rows(version)
    assert rows["fairness:disparate_impact_ratio"]["outcome"] == "fail"
    assert rows["fairness:demographic_parity_difference"]["outcome"] == "pass"


def test_threshold_is_inclusive_and_exact(version):
    wf.good_evidence(version, fairness={"demographic_parity_difference": 0.1})
    rows, _ = _rows(version)
    assert rows["fairness:demographic_parity_difference"]["outcome"] == "pass"


def test_stale_evidence(version):
    wf.evaluation(version, kind="performance", age_days=120)
    rows, _ = _rows(version, "staging")
    assert rows["performance:auc"]["outcome"] == "stale"


def test_newest_evidence_wins(version):
    wf.evaluation(version, kind="performance", metrics={"auc": 0.9}, age_days=5)
    newest = wf.evaluation(version, kind="performance", metrics={"auc": 0.6})
    rows, _ = _rows(version, "staging")
    assert rows["performance:auc"]["evaluation_id"] == newest.pk and rows["performance:auc"]["outcome"] == "fail"


def test_reported_evidence_counts_unless_computed_is_required(version, risk_officer):
    wf.evaluation(
        version,
        kind="reported",
        metrics={"auc": 0.8, "demographic_parity_difference": 0.02, "disparate_impact_ratio": 0.95},
    )
    rows, policy = _rows(version, "staging")
    assert {r["outcome"] for r in rows.values()} == {"pass"}
    assert rows["performance:auc"]["source"] == "reported"
    strict = services.policy_revise(by=as_user(risk_officer), policy=policy, data={"require_computed": True})
    rows = {f"{r['kind']}:{r['metric']}": r for r in gates.evaluate(strict, version)[0]}
    assert {r["outcome"] for r in rows.values()} == {"not_computed"}


def test_required_kind_without_a_check_needs_fresh_evidence(version, risk_officer):
    policy = services.policy_for(version.model, "staging")
    policy = services.policy_revise(
        by=as_user(risk_officer),
        policy=policy,
        data={"required_kinds": ["drift", "fairness", "performance"]},
    )
    rows = {f"{r['kind']}:{r['metric']}": r for r in gates.evaluate(policy, version)[0]}
    assert rows["drift:"]["outcome"] == "missing" and rows["drift:"]["comparator"] == "exists"
    wf.evaluation(version, kind="drift")
    rows = {f"{r['kind']}:{r['metric']}": r for r in gates.evaluate(policy, version)[0]}
    assert rows["drift:"]["outcome"] == "pass"


def test_per_feature_drift_metric(version, risk_officer):
    policy = services.policy_for(version.model, "staging")
    policy = services.policy_revise(
        by=as_user(risk_officer),
        policy=policy,
        data={"checks": [{"kind": "drift", "metric": "psi:age_years", "comparator": "<=", "threshold": "0.2"}]},
    )
    from django.db import transaction

    from audit.services import audit_event_append
    from governance.evaluations.models import Evaluation

    with transaction.atomic():
        ev = Evaluation.objects.create(
            model_version=version,
            kind="drift",
            dataset="live",
            source="computed",
            status="done",
            metrics={"max_psi": 0.3},
            created_by=version.registered_by,
            result={"features": [{"feature": "age_years", "type": "numeric", "psi": 0.3}]},
        )
        audit_event_append(actor=ADMIN_ACTOR, action="evaluation.create", target={"type": "evaluation", "id": ev.pk})
    row = gates.evaluate(policy, version)[0][0]
    assert row["value"] == "0.3" and row["outcome"] == "fail"
