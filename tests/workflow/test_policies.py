import json

import pytest

from governance.common.errors import Conflict, PermissionRefused, ValidationFailed
from governance.workflow import services
from governance.workflow.models import Policy, PolicyFrozen
from tests.factories import registry as registry_factories
from tests.factories import workflow as wf
from tests.factories.accounts import as_user
from tests.workflow.conftest import last_event

pytestmark = pytest.mark.django_db


def test_default_policies_cover_every_tier_and_stage():
    current = Policy.objects.filter(is_current=True)
    for scope in ("tier_1", "tier_2", "tier_3", "high"):
        for stage in ("staging", "production"):
            assert current.filter(scope=scope, target_stage=stage, is_rollback=False).count() == 1
        rollback = current.get(scope=scope, target_stage="production", is_rollback=True)
        assert rollback.approvals_required == 1 and rollback.required_roles == ["risk_officer"]
    for scope in ("tier_1", "high"):
        prod = current.get(scope=scope, target_stage="production", is_rollback=False)
        assert prod.approvals_required >= 2
        assert set(prod.required_roles) == {"validator", "risk_officer"}
        metrics = {(c["metric"], c["comparator"], c["threshold"]) for c in prod.checks}
        assert ("demographic_parity_difference", "<=", "0.1") in metrics
        assert ("disparate_impact_ratio", ">=", "0.8") in metrics
        assert ("max_psi", "<=", "0.2") in metrics
        assert ("auc", ">=", "0.7") in metrics


def test_default_policies_are_audited_by_the_migration():
    event = last_event("policy.create")
    record = json.loads(bytes(event.record))
    assert record["actor"]["id"].startswith("migration:workflow")
    assert record["ctx"]["origin"] == "migration"


def test_most_specific_policy_applies(developer):
    high = registry_factories.registered_model(owner=developer, risk_tier="tier_3", eu_ai_act_category="high")
    limited = registry_factories.registered_model(owner=developer, risk_tier="tier_2", eu_ai_act_category="limited")
    assert services.policy_for(high, "production").scope == "high"
    assert services.policy_for(limited, "production").scope == "tier_2"
    assert services.policy_for(limited, "production", is_rollback=True).is_rollback


def test_revision_creates_a_new_version_and_keeps_the_old(risk_officer, version, developer):
    old = services.policy_for(version.model, "staging")
    req = wf.request(version, developer, "staging")
    new = services.policy_revise(
        by=as_user(risk_officer),
        policy=old,
        data={
            "approvals_required": 2,
            "checks": [{"kind": "performance", "metric": "auc", "comparator": ">=", "threshold": 0.75}],
        },
        reason="tighter after the 2026 review",
    )
    old.refresh_from_db()
    assert new.version == old.version + 1 and new.is_current and not old.is_current
    assert old.approvals_required == 1 and new.approvals_required == 2
    assert new.checks[0]["threshold"] == "0.75"
    req.refresh_from_db()
    assert req.policy_id == old.pk  # a request keeps the version it was judged under
    event = last_event("policy.revise")
    data = json.loads(bytes(event.record))["data"]
    assert data["changes"]["approvals_required"] == {"before": 1, "after": 2}
    assert services.policy_for(version.model, "staging").pk == new.pk
    with pytest.raises(Conflict):
        services.policy_revise(by=as_user(risk_officer), policy=old, data={"approvals_required": 3})


def test_policy_rows_never_change_in_place():
    policy = Policy.objects.filter(is_current=True).first()
    policy.approvals_required = 5
    with pytest.raises(PolicyFrozen):
        policy.save()


def test_only_risk_officers_revise_and_refusals_are_audited(validator):
    policy = Policy.objects.filter(is_current=True).first()
    with pytest.raises(PermissionRefused):
        services.policy_revise(by=as_user(validator), policy=policy, data={"approvals_required": 3})
    assert last_event("policy.revise.denied") is not None


@pytest.mark.parametrize(
    "data, field",
    [
        (
            {"checks": [{"kind": "fairness", "metric": "auc_typo", "comparator": "<=", "threshold": "0.1"}]},
            "checks[0].metric",
        ),
        (
            {"checks": [{"kind": "fairness", "metric": "disparate_impact_ratio", "comparator": "~", "threshold": "1"}]},
            "checks[0].comparator",
        ),
        (
            {"checks": [{"kind": "drift", "metric": "max_psi", "comparator": "<=", "threshold": "abc"}]},
            "checks[0].threshold",
        ),
        ({"required_roles": ["pipeline"]}, "required_roles"),
        ({"accepted_roles": ["validator"], "required_roles": ["risk_officer"]}, "required_roles"),
        ({"approvals_required": 0}, "approvals_required"),
    ],
)
def test_invalid_policy_edits_are_refused(risk_officer, data, field):
    policy = Policy.objects.get(scope="tier_1", target_stage="production", is_rollback=False, is_current=True)
    with pytest.raises(ValidationFailed) as info:
        services.policy_revise(by=as_user(risk_officer), policy=policy, data=data)
    assert field in info.value.fields


def test_named_reported_metric_check(risk_officer):
    policy = Policy.objects.get(scope="tier_3", target_stage="staging", is_current=True)
    new = services.policy_revise(
        by=as_user(risk_officer),
        policy=policy,
        data={
            "checks": [{"kind": "reported", "metric": "expected_loss_ratio", "comparator": "<", "threshold": "0.05"}]
        },
    )
    assert new.checks[0]["metric"] == "expected_loss_ratio"
