"""Default policies for every risk tier and for EU AI Act high-risk and prohibited models, and the
workflow's model permissions for the roles. The policies are recorded in the audit log as created
by this migration (a named system actor), like any later revision by a risk officer."""

from django.db import migrations

PERF = {"kind": "performance", "metric": "auc", "comparator": ">=", "threshold": "0.7"}
DPD = {"kind": "fairness", "metric": "demographic_parity_difference", "comparator": "<=", "threshold": "0.1"}
DIR = {"kind": "fairness", "metric": "disparate_impact_ratio", "comparator": ">=", "threshold": "0.8"}
PSI = {"kind": "drift", "metric": "max_psi", "comparator": "<=", "threshold": "0.2"}
VAL, RISK = "validator", "risk_officer"

STRICT_STAGING = dict(required_kinds=["fairness", "performance"], checks=[PERF, DPD, DIR],
                      allowed_from_stages=["development"], max_evaluation_age_days=90, approvals_required=1,
                      required_roles=[VAL], accepted_roles=[VAL, RISK], request_window_days=30)
STRICT_PRODUCTION = dict(required_kinds=["drift", "fairness", "performance"], checks=[PERF, DPD, DIR, PSI],
                         allowed_from_stages=["staging"], max_evaluation_age_days=90, approvals_required=2,
                         required_roles=[RISK, VAL], accepted_roles=[RISK, VAL], request_window_days=14)
ROLLBACK = dict(required_kinds=[], checks=[], allowed_from_stages=["retired"], max_evaluation_age_days=365,
                approvals_required=1, required_roles=[RISK], accepted_roles=[RISK], request_window_days=7)

DEFAULTS = [
    # scope, target stage, is_rollback, fields, description
    ("high", "staging", False, STRICT_STAGING, "EU AI Act high-risk: validator sign-off on performance and fairness."),
    ("high", "production", False, STRICT_PRODUCTION,
     "EU AI Act high-risk: fresh performance, fairness and drift evidence; a validator and a risk officer sign."),
    ("high", "production", True, ROLLBACK, "Rollback of a high-risk model: one risk officer (not the requester)."),
    ("prohibited", "staging", False, {**STRICT_STAGING, "approvals_required": 2, "required_roles": [RISK, VAL],
                                      "accepted_roles": [RISK, VAL]},
     "Prohibited practice: research use in staging only, two signatures. Production is refused by rule."),
    ("tier_1", "staging", False, STRICT_STAGING, "Tier 1: validator sign-off on performance and fairness."),
    ("tier_1", "production", False, STRICT_PRODUCTION,
     "Tier 1: fresh performance, fairness and drift evidence; a validator and a risk officer sign."),
    ("tier_1", "production", True, ROLLBACK, "Rollback: one risk officer approval."),
    ("tier_2", "staging", False, {**STRICT_STAGING, "checks": [{**PERF, "threshold": "0.65"}],
                                  "required_kinds": ["performance"]}, "Tier 2: validator sign-off on performance."),
    ("tier_2", "production", False, {**STRICT_PRODUCTION, "checks": [PERF, DPD, PSI], "approvals_required": 1,
                                     "required_roles": [VAL], "request_window_days": 30},
     "Tier 2: performance, fairness and drift within thresholds; one validator signs."),
    ("tier_2", "production", True, ROLLBACK, "Rollback: one risk officer approval."),
    ("tier_3", "staging", False, {**STRICT_STAGING, "checks": [{**PERF, "threshold": "0.6"}],
                                  "required_kinds": ["performance"], "required_roles": [],
                                  "max_evaluation_age_days": 180}, "Tier 3: one validator or risk officer signs."),
    ("tier_3", "production", False, {**STRICT_PRODUCTION, "checks": [PERF, {**PSI, "threshold": "0.25"}],
                                     "required_kinds": ["drift", "performance"], "approvals_required": 1,
                                     "required_roles": [], "max_evaluation_age_days": 180,
                                     "request_window_days": 30},
     "Tier 3: performance and drift within thresholds; one validator or risk officer signs."),
    ("tier_3", "production", True, ROLLBACK, "Rollback: one risk officer approval."),
]

ROLE_PERMISSIONS = {
    "developer": ["view_promotionrequest", "add_promotionrequest", "view_policy", "view_stagetransition"],
    "pipeline": ["view_promotionrequest", "add_promotionrequest", "view_policy", "view_stagetransition"],
    "validator": ["view_promotionrequest", "view_approval", "view_policy", "view_stagetransition",
                  "view_reviewflag"],
    "risk_officer": ["view_promotionrequest", "add_promotionrequest", "view_approval", "view_policy", "add_policy",
                     "change_policy", "view_stagetransition", "view_reviewflag", "change_reviewflag"],
    "auditor": ["view_promotionrequest", "view_approval", "view_policy", "view_stagetransition", "view_reviewflag"],
}


def seed(apps, schema_editor):
    from django.utils import timezone

    from audit.context import Actor, request_context
    from audit.services import audit_event_append
    from governance.accounts.roles import grant_app_permissions

    Policy = apps.get_model("workflow", "Policy")
    actor = Actor.system("migration:workflow.0002_default_policies", auth="system")
    with request_context(origin="migration"):
        for scope, stage, rollback, fields, description in DEFAULTS:
            if Policy.objects.filter(scope=scope, target_stage=stage, is_rollback=rollback).exists():
                continue
            policy = Policy.objects.create(scope=scope, target_stage=stage, is_rollback=rollback, version=1,
                                           is_current=True, description=description, require_computed=False,
                                           created_at=timezone.now(), **fields)
            audit_event_append(
                actor=actor, action="policy.create",
                target={"type": "policy", "id": str(policy.pk), "scope": scope, "target_stage": stage,
                        "is_rollback": rollback, "version": 1},
                details={"description": description, "require_computed": False, **fields})

    grant_app_permissions(apps, "workflow", ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("workflow", "0001_initial"),
        ("accounts", "0002_roles"),
        ("audit", "0003_pending_events"),  # fixed: a later audit migration must not precede it
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
